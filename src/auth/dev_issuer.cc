#include "auth/dev_issuer.h"

#include <sys/stat.h>
#include <unistd.h>

#include <sstream>

#include <nlohmann/json.hpp>

#include "auth/base64url.h"
#include "auth/jwks_source.h"
#include "auth/jwt.h"
#include "common/bytes.h"
#include "crypto/ed25519.h"
#include "crypto/secure.h"
#include "crypto/sha256.h"
#include "crypto/x509.h"

namespace cairn::auth {
namespace {

using json = nlohmann::json;

constexpr size_t kKeyFileSizeMaxBytes = 4096;

bool HasWhitespaceOrControl(const std::string& s) {
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f) return true;
  }
  return false;
}

struct DevKey {
  std::string kid;
  crypto::SecureBytes seed;
  std::string issuer;
};

Result<DevKey> ReadDevKey(const std::string& key_file) {
  struct stat st {};
  if (::stat(key_file.c_str(), &st) != 0) return Status::IOError("cannot stat " + key_file);
  if ((st.st_mode & 077) != 0) {
    return Status::PermissionDenied(key_file + " is readable by group or others (want mode 0600)");
  }
  CAIRN_ASSIGN_OR_RETURN(std::string text, ReadSmallFile(key_file, "dev issuer key", kKeyFileSizeMaxBytes));
  std::istringstream in(text);
  std::string format, kid, seed64, issuer, extra;
  in >> format >> kid >> seed64 >> issuer;
  bool trailing = static_cast<bool>(in >> extra);
  crypto::Cleanse(&text);
  DevKey key;
  auto seed = Base64Decode(seed64);
  crypto::Cleanse(&seed64);
  if (format != kDevIssuerFormat || !IsValidKid(kid) || issuer.empty() || trailing || !seed ||
      seed->size() != crypto::kEd25519SeedSizeBytes) {
    if (seed) crypto::Cleanse(&*seed);
    return Status::InvalidArgument(key_file + " is not a cairn dev issuer key file");
  }
  key.kid = kid;
  key.seed = crypto::SecureBytes(*seed);
  crypto::Cleanse(&*seed);
  key.issuer = issuer;
  return key;
}

// The public half of the key `kid`, as the JWKS file: replaced whole (rename), never torn.
Status WriteDevJwks(const std::string& dir, const std::string& kid, std::string_view public_key) {
  json jwk = {{"kty", "OKP"}, {"crv", "Ed25519"}, {"x", Base64UrlEncode(public_key)},
              {"kid", kid},   {"alg", "EdDSA"},   {"use", "sig"}};
  json jwks = {{"keys", json::array({jwk})}};
  return crypto::ReplaceFile(dir + "/" + kDevIssuerJwksFile, jwks.dump(2) + "\n", 0644);
}

}  // namespace

Status CreateDevIssuer(const std::string& dir, const std::string& issuer) {
  if (issuer.empty() || issuer.size() > 1024 || HasWhitespaceOrControl(issuer)) {
    return Status::InvalidArgument("dev issuer must be 1..1024 characters without whitespace");
  }
  CAIRN_ASSIGN_OR_RETURN(crypto::Ed25519PrivateKey key, crypto::Ed25519PrivateKey::Generate());
  const std::string kid =
      "dev-" + HexEncode(crypto::HashView(crypto::Sha256(key.public_key())).substr(0, 8));
  std::string seed64 = Base64Encode(key.seed().view());
  std::string line = std::string(kDevIssuerFormat) + " " + kid + " " + seed64 + " " + issuer + "\n";
  crypto::Cleanse(&seed64);
  // Written beside and linked into place: a crash leaves no partial key file, and an existing one
  // is never overwritten.
  Status written = crypto::WritePrivateFile(dir + "/" + kDevIssuerKeyFile, line);
  crypto::Cleanse(&line);
  CAIRN_RETURN_IF_ERROR(written);
  return WriteDevJwks(dir, kid, key.public_key());  // the public half follows the new key
}

Status EnsureDevIssuerJwks(const std::string& dir) {
  if (::access((dir + "/" + kDevIssuerJwksFile).c_str(), F_OK) == 0) return Status::Ok();
  CAIRN_ASSIGN_OR_RETURN(DevKey dev, ReadDevKey(dir + "/" + kDevIssuerKeyFile));
  CAIRN_ASSIGN_OR_RETURN(crypto::Ed25519PrivateKey key,
                         crypto::Ed25519PrivateKey::FromSeed(dev.seed.view()));
  return WriteDevJwks(dir, dev.kid, key.public_key());
}

Result<std::string> MintToken(const std::string& key_file, const MintRequest& r) {
  if (r.audience.empty() || r.sub.empty() || r.sub.size() > kSubjectSizeMaxBytes) {
    return Status::InvalidArgument("audience and sub (1..256 bytes) are required");
  }
  if (r.ttl_s < 1 || r.ttl_s > kMintTtlMaxS) return Status::InvalidArgument("ttl must be 1 s..31 days");
  if (r.now_unix_s < 0) return Status::InvalidArgument("now must not be negative");
  if (r.roles.size() > kRolesMax) return Status::InvalidArgument("too many roles");
  CAIRN_ASSIGN_OR_RETURN(DevKey dev, ReadDevKey(key_file));
  CAIRN_ASSIGN_OR_RETURN(crypto::Ed25519PrivateKey key, crypto::Ed25519PrivateKey::FromSeed(dev.seed.view()));

  json header = {{"alg", "EdDSA"}, {"typ", "JWT"}, {"kid", dev.kid}};
  json claims = {{"iss", r.issuer.empty() ? dev.issuer : r.issuer},
                 {"aud", r.audience},
                 {"sub", r.sub},
                 {"iat", r.now_unix_s},
                 {"nbf", r.now_unix_s},
                 {"exp", r.now_unix_s + r.ttl_s}};
  if (!r.roles.empty()) claims["roles"] = r.roles;
  std::string signing_input;
  try {
    signing_input = Base64UrlEncode(header.dump()) + "." + Base64UrlEncode(claims.dump());
  } catch (const std::exception&) {  // invalid UTF-8 in a claim
    return Status::InvalidArgument("claims must be valid UTF-8");
  }
  CAIRN_ASSIGN_OR_RETURN(std::string signature, key.Sign(signing_input));
  std::string token = signing_input + "." + Base64UrlEncode(signature);
  if (token.size() > kJwtSizeMaxBytes) return Status::InvalidArgument("token larger than 8 KiB");
  return token;
}

}  // namespace cairn::auth
