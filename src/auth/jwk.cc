#include "auth/jwk.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include <cassert>
#include <map>
#include <set>

#include "auth/base64url.h"
#include "auth/json_strict.h"
#include "crypto/openssl_ptr.h"
#include "crypto/secure.h"

namespace cairn::auth {
namespace {

using json = nlohmann::json;

using crypto::BnPtr;
struct BldDeleter {
  void operator()(OSSL_PARAM_BLD* p) const { OSSL_PARAM_BLD_free(p); }
};
struct ParamsDeleter {
  void operator()(OSSL_PARAM* p) const { OSSL_PARAM_free(p); }
};
struct PkeyCtxDeleter {
  void operator()(EVP_PKEY_CTX* p) const { EVP_PKEY_CTX_free(p); }
};

Status Bad(size_t index, const std::string& what) {
  return Status::InvalidArgument("JWKS key " + std::to_string(index) + ": " + what);
}

// A base64url member of the JWK, decoded; an error when absent, not a string or not base64url.
Result<std::string> Member(const json& jwk, const char* name, size_t index) {
  auto it = jwk.find(name);
  if (it == jwk.end() || !it->is_string()) return Bad(index, std::string("missing '") + name + "'");
  auto bytes = Base64UrlDecode(it->get_ref<const std::string&>());
  if (!bytes || bytes->empty()) return Bad(index, std::string("bad base64url in '") + name + "'");
  return std::move(*bytes);
}

std::shared_ptr<evp_pkey_st> Share(EVP_PKEY* p) { return {p, EvpPkeyDeleter()}; }

Result<std::shared_ptr<evp_pkey_st>> FromData(const char* type, OSSL_PARAM* params, size_t index) {
  std::unique_ptr<EVP_PKEY_CTX, PkeyCtxDeleter> ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  EVP_PKEY* pkey = nullptr;
  if (!ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1 || pkey == nullptr) {
    return Bad(index, "invalid public key");
  }
  auto shared = Share(pkey);
  // Full public-key validation (EC: on the curve, not the point at infinity, right order).
  std::unique_ptr<EVP_PKEY_CTX, PkeyCtxDeleter> check(EVP_PKEY_CTX_new_from_pkey(nullptr, pkey, nullptr));
  if (!check || EVP_PKEY_public_check(check.get()) != 1) return Bad(index, "invalid public key");
  return shared;
}

Result<std::shared_ptr<evp_pkey_st>> RsaKey(const json& jwk, size_t index) {
  CAIRN_ASSIGN_OR_RETURN(std::string n, Member(jwk, "n", index));
  CAIRN_ASSIGN_OR_RETURN(std::string e, Member(jwk, "e", index));
  if (n.size() > kRsaModulusBitsMax / 8 + 1 || e.size() > 8) return Bad(index, "RSA key too large");
  BnPtr bn_n(BN_bin2bn(reinterpret_cast<const uint8_t*>(n.data()), static_cast<int>(n.size()), nullptr));
  BnPtr bn_e(BN_bin2bn(reinterpret_cast<const uint8_t*>(e.data()), static_cast<int>(e.size()), nullptr));
  if (!bn_n || !bn_e) return Status::Internal("out of memory");
  size_t bits = static_cast<size_t>(BN_num_bits(bn_n.get()));
  if (bits < kRsaModulusBitsMin) return Bad(index, "RSA modulus shorter than 2048 bits");
  if (bits > kRsaModulusBitsMax) return Bad(index, "RSA modulus longer than 8192 bits");
  if (!BN_is_odd(bn_e.get()) || BN_is_one(bn_e.get())) return Bad(index, "invalid RSA exponent");
  // FIPS 186-5 / SP 800-56B: 65537 <= e (odd, so 17 bits or more). A small exponent such as 3
  // is what signature forgeries against lax PKCS#1 v1.5 verifiers need.
  if (BN_num_bits(bn_e.get()) < 17) return Bad(index, "RSA exponent below 65537");
  std::unique_ptr<OSSL_PARAM_BLD, BldDeleter> bld(OSSL_PARAM_BLD_new());
  if (!bld || OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, bn_n.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, bn_e.get()) != 1) {
    return Status::Internal("out of memory");
  }
  std::unique_ptr<OSSL_PARAM, ParamsDeleter> params(OSSL_PARAM_BLD_to_param(bld.get()));
  if (!params) return Status::Internal("out of memory");
  // RSA public_check in OpenSSL 3 only checks the modulus and exponent shape; that is enough.
  return FromData("RSA", params.get(), index);
}

Result<std::shared_ptr<evp_pkey_st>> EcKey(const json& jwk, size_t index) {
  CAIRN_ASSIGN_OR_RETURN(std::string x, Member(jwk, "x", index));
  CAIRN_ASSIGN_OR_RETURN(std::string y, Member(jwk, "y", index));
  // RFC 7518 §6.2.1.2: the coordinates are the full 32 bytes for P-256.
  if (x.size() != 32 || y.size() != 32) return Bad(index, "P-256 coordinates must be 32 bytes");
  std::string point = "\x04" + x + y;
  char group[] = "prime256v1";
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, group, 0),
      OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size()),
      OSSL_PARAM_construct_end(),
  };
  return FromData("EC", params, index);
}

Result<std::shared_ptr<evp_pkey_st>> Ed25519Key(const json& jwk, size_t index) {
  CAIRN_ASSIGN_OR_RETURN(std::string x, Member(jwk, "x", index));
  if (x.size() != 32) return Bad(index, "Ed25519 public key must be 32 bytes");
  EVP_PKEY* p = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr,
                                            reinterpret_cast<const uint8_t*>(x.data()), x.size());
  if (p == nullptr) return Bad(index, "invalid Ed25519 public key");
  return Share(p);
}

std::optional<std::string> OptionalString(const json& jwk, const char* name, size_t index,
                                          Status* error) {
  auto it = jwk.find(name);
  if (it == jwk.end()) return std::nullopt;
  if (!it->is_string()) {
    *error = Bad(index, std::string("'") + name + "' must be a string");
    return std::nullopt;
  }
  return it->get<std::string>();
}

}  // namespace

void EvpPkeyDeleter::operator()(evp_pkey_st* p) const { EVP_PKEY_free(p); }

const char* JwsAlgName(JwsAlg alg) {
  switch (alg) {
    case JwsAlg::kRS256: return "RS256";
    case JwsAlg::kES256: return "ES256";
    case JwsAlg::kEdDSA: return "EdDSA";
    case JwsAlg::kHS256: return "HS256";
  }
  return "?";
}

bool ParseJwsAlg(std::string_view name, JwsAlg* alg) {
  for (JwsAlg a : {JwsAlg::kRS256, JwsAlg::kES256, JwsAlg::kEdDSA, JwsAlg::kHS256}) {
    if (name == JwsAlgName(a)) {
      *alg = a;
      return true;
    }
  }
  return false;
}

bool IsValidKid(std::string_view kid) {
  if (kid.empty() || kid.size() > kKidSizeMaxBytes) return false;
  for (char c : kid) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-' || c == '+' || c == '/' || c == '=' || c == ':';
    if (!ok) return false;
  }
  return kid.find("..") == std::string_view::npos;
}

const Jwk* JwkSet::Find(std::string_view kid) const {
  if (kid.empty()) return keys.size() == 1 ? &keys[0] : nullptr;
  for (const Jwk& k : keys) {
    if (k.kid == kid) return &k;
  }
  return nullptr;
}

namespace {

bool SameKey(const Jwk& a, const Jwk& b) {
  if (a.kid != b.kid || a.alg != b.alg) return false;
  if (a.alg == JwsAlg::kHS256) {
    if (a.hmac_key == nullptr || b.hmac_key == nullptr) return false;
    auto as = a.hmac_key->span(), bs = b.hmac_key->span();
    return crypto::ConstantTimeEquals(
        std::string_view(reinterpret_cast<const char*>(as.data()), as.size()),
        std::string_view(reinterpret_cast<const char*>(bs.data()), bs.size()));
  }
  return a.public_key != nullptr && b.public_key != nullptr &&
         EVP_PKEY_eq(a.public_key.get(), b.public_key.get()) == 1;
}

}  // namespace

bool JwkSet::AdmitsAllOf(const JwkSet& earlier) const {
  // A token without kid is served by the only key of a one-key set (Find): it must stay the same.
  const Jwk* unnamed_before = earlier.Find("");
  const Jwk* unnamed_now = Find("");
  if (unnamed_before != nullptr && (unnamed_now == nullptr || !SameKey(*unnamed_before, *unnamed_now))) {
    return false;
  }
  for (const Jwk& key : earlier.keys) {
    if (key.kid.empty()) continue;  // reachable only as the unnamed key, checked above
    const Jwk* now = Find(key.kid);
    if (now == nullptr || !SameKey(key, *now)) return false;
  }
  return true;
}

// Overwrites the text of every symmetric key ('k') in a parsed JWKS when it goes out of scope,
// so that an HS256 secret does not stay behind in freed heap memory. (The parser's own token
// buffer is beyond reach; the caller wipes the document text.)
class SecretMembersWiper {
 public:
  explicit SecretMembersWiper(json* doc) : doc_(doc) {}
  ~SecretMembersWiper() {
    auto keys = doc_->find("keys");
    if (keys == doc_->end() || !keys->is_array()) return;
    for (json& jwk : *keys) {
      if (!jwk.is_object()) continue;
      auto k = jwk.find("k");
      if (k != jwk.end() && k->is_string()) crypto::Cleanse(&k->get_ref<std::string&>());
    }
  }
  SecretMembersWiper(const SecretMembersWiper&) = delete;
  SecretMembersWiper& operator=(const SecretMembersWiper&) = delete;

 private:
  json* doc_;
};

namespace {

// The key's material by its pinned algorithm (RSA ≥ 2048 bits, a P-256 point, an Ed25519 key,
// an HMAC secret of 32..1024 bytes) into `key`.
Status LoadKeyMaterial(const json& jwk, size_t i, Jwk* out) {
  Jwk& key = *out;
  switch (key.alg) {
    case JwsAlg::kRS256: {
      CAIRN_ASSIGN_OR_RETURN(key.public_key, RsaKey(jwk, i));
      break;
    }
    case JwsAlg::kES256: {
      CAIRN_ASSIGN_OR_RETURN(key.public_key, EcKey(jwk, i));
      break;
    }
    case JwsAlg::kEdDSA: {
      CAIRN_ASSIGN_OR_RETURN(key.public_key, Ed25519Key(jwk, i));
      break;
    }
    case JwsAlg::kHS256: {
      CAIRN_ASSIGN_OR_RETURN(std::string k, Member(jwk, "k", i));
      crypto::SecureBytes secret(k);
      crypto::Cleanse(&k);
      if (secret.size() < kHmacKeySizeMinBytes) return Bad(i, "HS256 key shorter than 32 bytes");
      if (secret.size() > kHmacKeySizeMaxBytes) return Bad(i, "HS256 key longer than 1024 bytes");
      key.hmac_key = std::make_shared<const crypto::SecureBytes>(std::move(secret));
      break;
    }
  }
  return Status::Ok();
}

// Whether a key's "key_ops" (when present) allow verifying signatures: it must list "verify"
// and no encryption operation (a key also used to decrypt or unwrap would make the IdP an
// oracle). False without an error for a key to leave out; false with *error for a malformed list.
bool VerifiesPerKeyOps(const json& jwk, size_t i, Status* error) {
  auto it = jwk.find("key_ops");
  if (it == jwk.end()) return true;
  if (!it->is_array()) {
    *error = Bad(i, "'key_ops' must be a list of strings");
    return false;
  }
  bool verify = false;
  for (const json& op : *it) {
    if (!op.is_string()) {
      *error = Bad(i, "'key_ops' must be a list of strings");
      return false;
    }
    const std::string& name = op.get_ref<const std::string&>();
    if (name == "verify") verify = true;
    if (name == "encrypt" || name == "decrypt" || name == "wrapKey" || name == "unwrapKey" ||
        name == "deriveKey" || name == "deriveBits") {
      return false;
    }
  }
  return verify;
}

}  // namespace

namespace {

// Key i of a set: nullopt for a key cairn does not verify with (another type, curve, use, alg
// or key_ops; a kid no token can name); an error for a malformed or unusable one.
Result<std::optional<Jwk>> ParseKey(const json& jwk, size_t i, JwksOrigin origin) {
  if (!jwk.is_object()) return Bad(i, "not an object");
  Status error;
  auto kty = OptionalString(jwk, "kty", i, &error);
  auto use = OptionalString(jwk, "use", i, &error);
  auto alg_name = OptionalString(jwk, "alg", i, &error);
  auto kid = OptionalString(jwk, "kid", i, &error);
  auto crv = OptionalString(jwk, "crv", i, &error);
  if (!error.ok()) return error;
  if (!kty) return Bad(i, "missing 'kty'");
  if (kid && !IsValidKid(*kid)) return std::optional<Jwk>();  // no token can name it (CheckHeader)
  Jwk key;
  key.kid = kid.value_or("");
  if (*kty == "RSA") {
    key.alg = JwsAlg::kRS256;
  } else if (*kty == "EC" && crv == "P-256") {
    key.alg = JwsAlg::kES256;
  } else if (*kty == "OKP" && crv == "Ed25519") {
    key.alg = JwsAlg::kEdDSA;
  } else if (*kty == "oct") {
    if (use && *use != "sig") return std::optional<Jwk>();  // an encryption key: not ours
    if (origin == JwksOrigin::kUrl) {
      return Bad(i, "symmetric ('oct') keys are accepted only from jwks_file");
    }
    key.alg = JwsAlg::kHS256;
  } else {
    return std::optional<Jwk>();  // a key type cairn does not verify with
  }
  if (use && *use != "sig") return std::optional<Jwk>();                   // an encryption key
  if (alg_name && *alg_name != JwsAlgName(key.alg)) return std::optional<Jwk>();  // another alg
  if (!VerifiesPerKeyOps(jwk, i, &error)) {  // not for verifying (RFC 7517 §4.3)
    if (!error.ok()) return error;
    return std::optional<Jwk>();
  }
  CAIRN_RETURN_IF_ERROR(LoadKeyMaterial(jwk, i, &key));
  return std::optional<Jwk>(std::move(key));
}

// Leaves out every key whose kid another key has too: which of them signed is ambiguous.
void DropDuplicateKids(std::vector<Jwk>* keys) {
  std::map<std::string, size_t> count;
  for (const Jwk& k : *keys) {
    if (!k.kid.empty()) ++count[k.kid];
  }
  std::erase_if(*keys, [&](const Jwk& k) { return !k.kid.empty() && count[k.kid] > 1; });
}

}  // namespace

// A file is the operator's own: any bad key refuses it whole. A fetched set leaves out the keys
// it cannot use (malformed, too short, a duplicated kid, an 'oct' key) and may end up empty: one
// bad key must not keep the last good set — and a key the issuer withdrew — trusted.
Result<JwkSet> ParseJwks(std::string_view json_text, JwksOrigin origin) {
  if (json_text.size() > kJwksSizeMaxBytes) return Status::InvalidArgument("JWKS larger than 1 MiB");
  auto doc = ParseStrictJson(json_text);
  if (!doc || !doc->is_object()) return Status::InvalidArgument("JWKS is not a JSON object");
  SecretMembersWiper wiper(&*doc);
  auto keys_it = doc->find("keys");
  if (keys_it == doc->end() || !keys_it->is_array()) {
    return Status::InvalidArgument("JWKS has no 'keys' array");
  }
  if (keys_it->size() > kJwksKeysMax) return Status::InvalidArgument("JWKS has more than 64 keys");
  const bool fetched = origin == JwksOrigin::kUrl;
  JwkSet set;
  std::set<std::string> kids;
  try {
    for (size_t i = 0; i < keys_it->size(); ++i) {
      Result<std::optional<Jwk>> key = ParseKey((*keys_it)[i], i, origin);
      if (!key.ok() && fetched) continue;
      if (!key.ok()) return key.status();
      if (!key->has_value()) continue;
      if (!fetched && !(*key)->kid.empty() && !kids.insert((*key)->kid).second) {
        return Bad(i, "duplicate 'kid'");
      }
      set.keys.push_back(std::move(**key));
    }
  } catch (const std::exception&) {
    return Status::InvalidArgument("JWKS is malformed");
  }
  if (fetched) DropDuplicateKids(&set.keys);
  if (set.keys.empty() && !fetched) return Status::InvalidArgument("JWKS has no usable key");
  assert(set.keys.size() <= kJwksKeysMax);
  return set;
}

}  // namespace cairn::auth
