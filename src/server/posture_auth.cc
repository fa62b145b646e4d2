// Posture checks of authentication: CAIRN-AUTH-*, and CAIRN-FILE-004 (JWKS files holding
// symmetric keys readable by others).
#include <sys/stat.h>

#include <nlohmann/json.hpp>
#include <string>

#include "common/trusted_file.h"
#include "server/posture_internal.h"

namespace cairn::server::posture {
namespace {

constexpr size_t kHs256SecretBytesMin = 32;  // RFC 7518 §3.2: at least the hash size
constexpr size_t kJwksFileSizeBytesMax = 1 << 20;
constexpr size_t kJwksKeysMax = 256;

std::string ApiKeyName(const auth::ApiKeyConfig& key, size_t i) {
  return "auth.api_keys[" + std::to_string(i) + "] (id \"" + key.id + "\")";
}

void CheckApiKeys(const Config& config, const PostureContext& context, Findings* out) {
  const int64_t age_max_s = static_cast<int64_t>(config.doctor.api_key_age_days_max) * kDayS;
  for (size_t i = 0; i < config.auth.api_keys.size(); ++i) {
    const auth::ApiKeyConfig& key = config.auth.api_keys[i];
    const std::string name = ApiKeyName(key, i);
    if (!key.expires_unix_s) {
      out->Add("CAIRN-AUTH-001", Severity::kMedium, name + " has no `expires`: a leaked key works forever",
               "add expires = <date> to the key (and rotate it before then)");
    } else if (*key.expires_unix_s <= context.now_unix_s) {
      out->Add("CAIRN-AUTH-007", Severity::kLow,
               name + " expired; it is refused but still configured",
               "remove the expired [[auth.api_keys]] entry");
    }
    if (key.created_unix_s && context.now_unix_s - *key.created_unix_s > age_max_s) {
      out->Add("CAIRN-AUTH-002", Severity::kMedium,
               name + " was created " +
                   std::to_string((context.now_unix_s - *key.created_unix_s) / kDayS) +
                   " days ago (doctor.api_key_age_days_max = " +
                   std::to_string(config.doctor.api_key_age_days_max) + ")",
               "issue a new key (cairn apikey new), move clients to it, and remove this one");
    }
  }
}

// Key ids and lengths of the symmetric (oct) keys in a JWKS document; never the key bytes.
struct OctKey {
  std::string kid;
  size_t size_bytes = 0;
};

// A member's string value, or "" when it is absent or not a string (nlohmann's value() would
// throw on a member of another type, and the JWKS file is the operator's, not ours).
std::string StringMember(const nlohmann::json& object, const char* name) {
  const auto it = object.find(name);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::vector<OctKey> OctKeys(const std::string& jwks_text) {
  std::vector<OctKey> keys;
  const nlohmann::json doc = nlohmann::json::parse(jwks_text, nullptr, false);
  if (!doc.is_object() || !doc.contains("keys") || !doc["keys"].is_array()) return keys;
  size_t seen = 0;
  for (const nlohmann::json& jwk : doc["keys"]) {
    if (++seen > kJwksKeysMax) break;
    if (!jwk.is_object() || StringMember(jwk, "kty") != "oct") continue;
    const nlohmann::json& k = jwk.contains("k") ? jwk["k"] : nlohmann::json();
    if (!k.is_string()) continue;
    std::string_view text = k.get_ref<const std::string&>();
    while (!text.empty() && text.back() == '=') text.remove_suffix(1);
    keys.push_back(OctKey{StringMember(jwk, "kid"), text.size() * 3 / 4});  // base64url length
  }
  return keys;
}

void CheckJwks(const std::string& issuer_name, const std::string& path, Findings* out) {
  Result<std::string> text = ReadSmallFile(path, "JWKS file", kJwksFileSizeBytesMax);
  if (!text.ok()) return;  // missing or unreadable: auth/ refuses it at start
  const std::vector<OctKey> keys = OctKeys(*text);
  for (const OctKey& key : keys) {
    if (key.size_bytes >= kHs256SecretBytesMin) continue;
    out->Add("CAIRN-AUTH-004", Severity::kHigh,
             issuer_name + ".jwks_file " + path + ": HS256 key \"" + key.kid + "\" has " +
                 std::to_string(key.size_bytes) + " bytes (fewer than " +
                 std::to_string(kHs256SecretBytesMin) + "): guessable offline from one token",
             "use an asymmetric key (ES256, EdDSA) or a random HS256 secret of at least 32 bytes");
  }
  const std::optional<mode_t> mode = FileMode(path);
  if (!keys.empty() && mode && (*mode & 077) != 0) {
    out->Add("CAIRN-FILE-004", Severity::kHigh,
             issuer_name + ".jwks_file " + path + " holds symmetric (HS256) keys and has mode " +
                 ModeText(*mode) + ": whoever reads it can mint tokens",
             "chmod 600 " + path + ", or publish only asymmetric public keys");
  }
}

void CheckJwtIssuers(const Config& config, Findings* out) {
  for (size_t i = 0; i < config.auth.jwt.size(); ++i) {
    const auth::JwtIssuerConfig& jwt = config.auth.jwt[i];
    const std::string name = "auth.jwt[" + std::to_string(i) + "]";
    if (jwt.audience.empty()) {
      out->Add("CAIRN-AUTH-003", Severity::kHigh,
               name + " (issuer \"" + jwt.issuer +
                   "\") has no audience: tokens the issuer made for other services are accepted",
               "set " + name + ".audience to the audience your identity provider puts in cairn's "
               "tokens");
    }
    if (jwt.leeway_s > kJwtLeewaySecondsMax) {
      out->Add("CAIRN-AUTH-005", Severity::kMedium,
               name + ".leeway_s = " + std::to_string(jwt.leeway_s) +
                   ": expired tokens stay usable that long",
               "set " + name + ".leeway_s to at most 60 (30 is the default)");
    }
    if (jwt.jwks_url.rfind("http://", 0) == 0) {
      out->Add("CAIRN-AUTH-006", Severity::kHigh,
               name + ".jwks_url uses http://: whoever is on the path can substitute signing keys",
               "use an https:// JWKS URL (with jwks_ca_file for a private CA)");
    }
    if (!jwt.jwks_file.empty()) CheckJwks(name, jwt.jwks_file, out);
    // One issuer is the organisation's IdP; next to others (a partner's, a CI system's) each
    // should assert only the roles it is trusted with.
    if (config.auth.jwt.size() > 1 && !jwt.roles_allowed) {
      out->Add("CAIRN-AUTH-008", Severity::kMedium,
               name + " (issuer \"" + jwt.issuer + "\") has no roles_allowed: its tokens may claim "
               "any role of the policy, admin included, next to " +
                   std::to_string(config.auth.jwt.size() - 1) + " other issuer(s)",
               "set " + name + ".roles_allowed to the roles this issuer may assert ([] for none: "
               "bind its principals to roles in the policy instead)");
    }
  }
}

}  // namespace

void CheckAuth(const Config& config, const PostureContext& context, Findings* out) {
  CheckApiKeys(config, context, out);
  CheckJwtIssuers(config, out);
}

}  // namespace cairn::server::posture
