#include "auth/jwt.h"

#include <algorithm>
#include <cassert>
#include <cctype>
#include <cmath>
#include <optional>
#include <set>

#include "auth/base64url.h"
#include "auth/http_fetch.h"
#include "auth/json_strict.h"
#include "auth/jws_verify.h"

namespace cairn::auth {
namespace {

using json = nlohmann::json;

// NumericDate bounds: up to 2^53 (exactly representable as a double; far beyond any real date).
constexpr int64_t kNumericDateMax = int64_t{1} << 53;

Status Reject(const char* reason) { return Status::Unauthenticated(reason); }

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

bool HasControlChars(std::string_view s) {
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) return true;
  }
  return false;
}

// A NumericDate claim: nullopt when it is not a finite number within [0, 2^53].
// A NumericDate in whole seconds. A fractional one is rounded down (`exp`: expires earlier) or,
// with `round_up`, up (`nbf`, `iat`: valid later), so rounding never widens the leeway.
std::optional<int64_t> NumericDate(const json& v, bool round_up = false) {
  if (v.is_number_unsigned()) {
    uint64_t u = v.get<uint64_t>();
    if (u > static_cast<uint64_t>(kNumericDateMax)) return std::nullopt;
    return static_cast<int64_t>(u);
  }
  if (v.is_number_integer()) {
    int64_t i = v.get<int64_t>();
    if (i < 0 || i > kNumericDateMax) return std::nullopt;
    return i;
  }
  if (v.is_number_float()) {
    double d = v.get<double>();
    if (!std::isfinite(d) || d < 0 || d > static_cast<double>(kNumericDateMax)) return std::nullopt;
    return static_cast<int64_t>(round_up ? std::ceil(d) : std::floor(d));
  }
  return std::nullopt;
}

struct DecodedJws {
  json header;
  json payload;
  std::string_view signing_input;
  std::string signature;
};

Result<DecodedJws> Decode(std::string_view token) {
  if (token.size() > kJwtSizeMaxBytes) return Reject("token too large");
  size_t dot1 = token.find('.');
  if (dot1 == std::string_view::npos) return Reject("malformed token");
  size_t dot2 = token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos) {
    return Reject("malformed token");
  }
  std::string_view h64 = token.substr(0, dot1);
  std::string_view p64 = token.substr(dot1 + 1, dot2 - dot1 - 1);
  std::string_view s64 = token.substr(dot2 + 1);
  if (h64.empty() || p64.empty()) return Reject("malformed token");
  auto header_text = Base64UrlDecode(h64);
  auto payload_text = Base64UrlDecode(p64);
  auto signature = Base64UrlDecode(s64);
  if (!header_text || !payload_text || !signature) return Reject("malformed token");
  DecodedJws out;
  auto header = ParseStrictJson(*header_text);
  if (!header || !header->is_object()) return Reject("malformed token header");
  auto payload = ParseStrictJson(*payload_text);
  if (!payload || !payload->is_object()) return Reject("malformed token claims");
  out.header = std::move(*header);
  out.payload = std::move(*payload);
  out.signing_input = token.substr(0, dot2);
  out.signature = std::move(*signature);
  return out;
}

struct Header {
  JwsAlg alg;
  std::string kid;
  std::string typ;  // "jwt", "at+jwt" (canonical), or "" when the header has none
};

// The `typ` values cairn accepts, in canonical form: "jwt" or "at+jwt"; "" for anything else.
std::string CanonicalTyp(std::string_view t) {
  for (std::string_view accepted : {"jwt", "at+jwt"}) {
    if (EqualsIgnoreCase(t, accepted) || EqualsIgnoreCase(t, "application/" + std::string(accepted))) {
      return std::string(accepted);
    }
  }
  return "";
}

Result<Header> CheckHeader(const json& h) {
  auto alg_it = h.find("alg");
  if (alg_it == h.end() || !alg_it->is_string()) return Reject("malformed token header");
  Header out{};
  // Covers "none", "None", "NONE" and every algorithm cairn does not verify.
  if (!ParseJwsAlg(alg_it->get_ref<const std::string&>(), &out.alg)) {
    return Reject("algorithm not allowed");
  }
  if (h.contains("crit")) return Reject("critical header not supported");
  if (auto typ = h.find("typ"); typ != h.end()) {
    if (!typ->is_string()) return Reject("malformed token header");
    // RFC 7515 4.1.9: "JWT" and "application/jwt" are the same media type; RFC 9068: at+jwt.
    out.typ = CanonicalTyp(typ->get_ref<const std::string&>());
    if (out.typ.empty()) return Reject("token type not accepted");
  }
  if (auto kid = h.find("kid"); kid != h.end()) {
    if (!kid->is_string() || !IsValidKid(kid->get_ref<const std::string&>())) {
      return Reject("invalid key id");
    }
    out.kid = kid->get<std::string>();
  }
  // jku, jwk, x5u, x5c: deliberately ignored (never trusted, never fetched).
  return out;
}

Result<std::vector<std::string>> Roles(const json& payload, const std::string& claim) {
  std::vector<std::string> roles;
  auto it = payload.find(claim);
  if (it == payload.end()) return roles;
  auto valid = [](const json& v) {
    if (!v.is_string()) return false;
    const auto& s = v.get_ref<const std::string&>();
    return !s.empty() && s.size() <= kRoleSizeMaxBytes && !HasControlChars(s);
  };
  if (it->is_string()) {
    if (!valid(*it)) return Reject("invalid roles claim");
    roles.push_back(it->get<std::string>());
    return roles;
  }
  if (!it->is_array() || it->size() > kRolesMax) return Reject("invalid roles claim");
  for (const json& r : *it) {
    if (!valid(r)) return Reject("invalid roles claim");
    roles.push_back(r.get<std::string>());
  }
  return roles;
}

Result<Principal> CheckClaims(const json& c, const JwtIssuerConfig& config, int64_t now_unix_s) {
  const int64_t leeway_s = config.leeway_s;
  auto exp_it = c.find("exp");
  if (exp_it == c.end()) return Reject("token has no expiry");
  std::optional<int64_t> exp = NumericDate(*exp_it);
  if (!exp) return Reject("invalid expiry claim");
  if (now_unix_s > *exp + leeway_s) return Reject("token expired");
  if (auto nbf_it = c.find("nbf"); nbf_it != c.end()) {
    std::optional<int64_t> nbf = NumericDate(*nbf_it, /*round_up=*/true);
    if (!nbf) return Reject("invalid not-before claim");
    if (now_unix_s + leeway_s < *nbf) return Reject("token not yet valid");
  }
  if (auto iat_it = c.find("iat"); iat_it != c.end()) {
    std::optional<int64_t> iat = NumericDate(*iat_it, /*round_up=*/true);
    if (!iat) return Reject("invalid issued-at claim");
    if (now_unix_s + leeway_s < *iat) return Reject("token issued in the future");
  }

  auto aud_it = c.find("aud");
  if (aud_it == c.end()) return Reject("audience not accepted");
  bool aud_ok = false;
  if (aud_it->is_string()) {
    aud_ok = aud_it->get_ref<const std::string&>() == config.audience;
  } else if (aud_it->is_array() && aud_it->size() <= kAudiencesMax) {
    for (const json& a : *aud_it) {
      if (!a.is_string()) return Reject("invalid audience claim");
      if (a.get_ref<const std::string&>() == config.audience) aud_ok = true;
    }
  } else {
    return Reject("invalid audience claim");
  }
  if (!aud_ok) return Reject("audience not accepted");

  auto sub_it = c.find("sub");
  if (sub_it == c.end() || !sub_it->is_string()) return Reject("invalid subject");
  const std::string& sub = sub_it->get_ref<const std::string&>();
  if (sub.empty() || sub.size() > kSubjectSizeMaxBytes || HasControlChars(sub)) {
    return Reject("invalid subject");
  }

  Principal p;
  CAIRN_ASSIGN_OR_RETURN(p.roles, Roles(c, config.roles_claim));
  if (config.roles_allowed) {
    const std::vector<std::string>& allowed = *config.roles_allowed;
    std::erase_if(p.roles, [&](const std::string& role) {
      return std::find(allowed.begin(), allowed.end(), role) == allowed.end();
    });
  }
  p.id = config.name.empty() ? "jwt:" + sub : "jwt:" + config.name + ":" + sub;
  p.method = AuthMethod::kJwt;
  p.expires_unix_s = *exp;
  return p;
}

}  // namespace

Status ValidateJwtIssuerConfig(const JwtIssuerConfig& c) {
  auto bad = [](const std::string& m) { return Status::InvalidArgument(m); };
  if (c.issuer.empty() || c.issuer.size() > 1024) return bad("issuer must be 1..1024 bytes");
  if (c.audience.empty() || c.audience.size() > 1024) return bad("audience must be 1..1024 bytes");
  if (c.name.size() > kIssuerNameSizeMaxBytes ||
      !std::all_of(c.name.begin(), c.name.end(), [](unsigned char ch) {
        return std::isalnum(ch) || ch == '.' || ch == '_' || ch == '-';
      })) {
    return bad("name must be 1..64 of [A-Za-z0-9._-]");
  }
  if (c.jwks_file.empty() == c.jwks_url.empty()) {
    return bad("exactly one of jwks_file and jwks_url must be set");
  }
  if (!c.jwks_url.empty()) {
    Status url = CheckFetchUrl(c.jwks_url);
    if (!url.ok()) return bad("jwks_url: " + url.message());
  }
  if (!c.jwks_ca_file.empty() && c.jwks_url.empty()) return bad("jwks_ca_file needs jwks_url");
  if (c.roles_claim.empty() || c.roles_claim.size() > 256) return bad("roles_claim must be 1..256 bytes");
  if (c.roles_allowed) {
    if (c.roles_allowed->size() > kRolesMax) return bad("roles_allowed has more than 64 roles");
    for (const std::string& role : *c.roles_allowed) {
      if (role.empty() || role.size() > kRoleSizeMaxBytes || HasControlChars(role)) {
        return bad("roles_allowed names must be 1..128 bytes without control characters");
      }
    }
  }
  if (!c.require_typ.empty() && c.require_typ != "at+jwt" && c.require_typ != "jwt") {
    return bad("require_typ must be \"at+jwt\", \"jwt\" or empty");
  }
  if (c.leeway_s < 0 || c.leeway_s > kLeewayMaxS) return bad("leeway_s must be 0..60");
  if (c.jwks_refresh_interval_s < 1 || c.jwks_refresh_interval_s > kJwksIntervalMaxS) {
    return bad("jwks_refresh_interval_s must be 1..86400");
  }
  if (c.jwks_refetch_min_interval_s < 1 || c.jwks_refetch_min_interval_s > kJwksIntervalMaxS) {
    return bad("jwks_refetch_min_interval_s must be 1..86400");
  }
  return Status::Ok();
}

Result<std::unique_ptr<JwtVerifier>> JwtVerifier::Create(const std::vector<JwtIssuerConfig>& issuers) {
  if (issuers.size() > kJwtIssuersMax) {
    return Status::InvalidArgument("more than " + std::to_string(kJwtIssuersMax) + " JWT issuers");
  }
  std::unique_ptr<JwtVerifier> v(new JwtVerifier());
  std::set<std::string> seen, names;
  size_t unnamed = 0;
  for (size_t i = 0; i < issuers.size(); ++i) {
    const std::string where = "auth.jwt[" + std::to_string(i) + "]";
    Status valid = ValidateJwtIssuerConfig(issuers[i]);
    if (!valid.ok()) return valid.Annotate(where);
    if (!seen.insert(issuers[i].issuer).second) {
      return Status::InvalidArgument(where + ": issuer configured twice");
    }
    if (issuers[i].name.empty() && ++unnamed > 1) {
      return Status::InvalidArgument(
          where + ": with several issuers at most one may go without a name (principals are "
                  "jwt:<name>:<sub>; a sub is unique only within its issuer)");
    }
    if (!issuers[i].name.empty()) {
      if (!names.insert(issuers[i].name).second) {
        return Status::InvalidArgument(where + ": name '" + issuers[i].name + "' used twice");
      }
      v->named_prefixes_.push_back(issuers[i].name + ":");
    }
    auto source = JwksSource::Create(issuers[i]);
    if (!source.ok()) return source.status().Annotate(where + ": loading JWKS");
    v->issuers_.push_back(Issuer{issuers[i], std::move(source).value()});
  }
  return v;
}

const JwtVerifier::Issuer* JwtVerifier::FindIssuer(std::string_view iss) const {
  for (const Issuer& i : issuers_) {
    if (i.config.issuer == iss) return &i;
  }
  return nullptr;
}

Result<Principal> JwtVerifier::Verify(std::string_view token, int64_t now_unix_s) const {
  CAIRN_ASSIGN_OR_RETURN(DecodedJws jws, Decode(token));
  CAIRN_ASSIGN_OR_RETURN(Header header, CheckHeader(jws.header));
  if (jws.signature.empty()) return Reject("signature invalid");

  auto iss_it = jws.payload.find("iss");
  if (iss_it == jws.payload.end() || !iss_it->is_string()) return Reject("issuer not trusted");
  const Issuer* issuer = FindIssuer(iss_it->get_ref<const std::string&>());
  if (issuer == nullptr) return Reject("issuer not trusted");

  std::shared_ptr<const JwkSet> keys = issuer->keys->Current();
  assert(keys != nullptr);
  const Jwk* key = keys->Find(header.kid);
  if (key == nullptr && !header.kid.empty()) {
    // Maybe the issuer rotated its keys: refetch (rate-limited) and look once more.
    issuer->keys->RefetchForUnknownKid(now_unix_s);
    keys = issuer->keys->Current();
    key = keys->Find(header.kid);
  }
  if (key == nullptr) return Reject(header.kid.empty() ? "key id required" : "unknown key id");
  if (key->alg != header.alg) return Reject("algorithm does not match key");
  // RFC 8725 3.11: an issuer whose access tokens say what they are refuses its other JWTs.
  if (!issuer->config.require_typ.empty() && header.typ != issuer->config.require_typ) {
    return Reject("token type not accepted");
  }
  if (!VerifyJwsSignature(*key, jws.signing_input, jws.signature)) return Reject("signature invalid");
  CAIRN_ASSIGN_OR_RETURN(Principal p, CheckClaims(jws.payload, issuer->config, now_unix_s));
  if (issuer->config.name.empty()) {
    // The unnamed issuer's jwt:<sub> must not read as a named issuer's jwt:<name>:<sub>.
    const std::string_view sub = std::string_view(p.id).substr(4);  // after "jwt:"
    for (const std::string& prefix : named_prefixes_) {
      if (sub.substr(0, prefix.size()) == prefix) return Reject("invalid subject");
    }
  }
  return p;
}

uint64_t JwtVerifier::key_generation() const {
  uint64_t sum = 0;
  for (const Issuer& issuer : issuers_) sum += issuer.keys->generation();
  return sum;
}

}  // namespace cairn::auth
