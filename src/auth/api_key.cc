#include "auth/api_key.h"

#include <algorithm>
#include <cassert>

#include "auth/base64url.h"
#include "common/bytes.h"
#include "crypto/secure.h"
#include "crypto/sha256.h"

namespace cairn::auth {

bool IsValidApiKeyId(std::string_view id) {
  if (id.empty() || id.size() > kApiKeyIdSizeMaxBytes) return false;
  for (char c : id) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
    if (!ok) return false;
  }
  return true;
}

bool SplitApiKey(std::string_view key, std::string_view* id, std::string_view* secret) {
  if (key.size() > kApiKeyPrefix.size() + kApiKeyIdSizeMaxBytes + 1 + kApiKeySecretSizeMaxChars) {
    return false;
  }
  if (key.substr(0, kApiKeyPrefix.size()) != kApiKeyPrefix) return false;
  std::string_view rest = key.substr(kApiKeyPrefix.size());
  size_t sep = rest.find('_');  // the id never contains '_': the first one ends it
  if (sep == std::string_view::npos) return false;
  std::string_view i = rest.substr(0, sep);
  std::string_view s = rest.substr(sep + 1);
  if (!IsValidApiKeyId(i)) return false;
  if (s.size() < kApiKeySecretSizeMinChars || s.size() > kApiKeySecretSizeMaxChars) return false;
  if (!IsBase64UrlAlphabet(s)) return false;
  *id = i;
  *secret = s;
  return true;
}

std::string ApiKeyHash(std::string_view key) { return HexEncode(crypto::HashView(crypto::Sha256(key))); }

Result<GeneratedApiKey> GenerateApiKey(std::string_view id) {
  if (!IsValidApiKeyId(id)) return Status::InvalidArgument("api key id must match [A-Za-z0-9-]{1,64}");
  crypto::SecureBytes secret = crypto::RandomSecret(kApiKeySecretRandomBytes);
  GeneratedApiKey out;
  std::string encoded = Base64UrlEncode(secret.view());
  out.key = std::string(kApiKeyPrefix) + std::string(id) + "_" + encoded;
  crypto::Cleanse(&encoded);
  out.secret_sha256 = ApiKeyHash(out.key);
  std::string_view check_id, check_secret;
  assert(SplitApiKey(out.key, &check_id, &check_secret) && check_id == id);
  (void)check_id;
  (void)check_secret;
  return out;
}

Result<std::unique_ptr<ApiKeyVerifier>> ApiKeyVerifier::Create(const std::vector<ApiKeyConfig>& keys) {
  if (keys.size() > kApiKeysMax) return Status::InvalidArgument("more than 10000 api keys");
  std::unique_ptr<ApiKeyVerifier> v(new ApiKeyVerifier());
  for (size_t i = 0; i < keys.size(); ++i) {
    const std::string where = "auth.api_keys[" + std::to_string(i) + "]: ";
    ApiKeyConfig k = keys[i];
    if (!IsValidApiKeyId(k.id)) return Status::InvalidArgument(where + "id must match [A-Za-z0-9-]{1,64}");
    auto raw = HexDecode(k.secret_sha256);
    if (k.secret_sha256.size() != 64 || !raw) {
      return Status::InvalidArgument(where + "secret_sha256 must be 64 hex digits");
    }
    k.secret_sha256 = HexEncode(*raw);  // lowercase
    for (const std::string& role : k.roles) {
      if (role.empty() || role.size() > 128) return Status::InvalidArgument(where + "bad role");
    }
    std::string id = k.id;
    if (!v->by_id_.emplace(id, std::move(k)).second) {
      return Status::InvalidArgument(where + "id configured twice");
    }
  }
  return v;
}

Result<Principal> ApiKeyVerifier::Verify(std::string_view key, int64_t now_unix_s) const {
  std::string_view id, secret;
  if (!SplitApiKey(key, &id, &secret)) return Status::Unauthenticated("malformed api key");
  // The same work whether the id exists or not (hash, constant-time compare), so that the time
  // of a refusal does not tell which ids are configured.
  static const std::string kNoKeyHash(64, '0');  // no key hashes to it
  auto it = by_id_.find(std::string(id));
  const bool known = it != by_id_.end();
  const std::string presented = ApiKeyHash(key);
  const bool matches =
      crypto::ConstantTimeEquals(presented, known ? it->second.secret_sha256 : kNoKeyHash);
  if (!known) return Status::Unauthenticated(std::string(kApiKeyUnknownText));
  const ApiKeyConfig& config = it->second;
  if (!matches) return Status::Unauthenticated(std::string(kApiKeyInvalidText));
  if (config.expires_unix_s && *config.expires_unix_s < now_unix_s) {
    return Status::Unauthenticated("api key expired");
  }
  Principal p;
  p.id = "apikey:" + config.id;
  p.roles = config.roles;
  p.method = AuthMethod::kApiKey;
  p.expires_unix_s = config.expires_unix_s.value_or(0);
  p.api_key_sha256 = config.secret_sha256;
  return p;
}

bool ApiKeyVerifier::InForce(const Principal& principal) const {
  constexpr std::string_view kPrefix = "apikey:";
  if (principal.method != AuthMethod::kApiKey || !principal.id.starts_with(kPrefix)) return true;
  auto it = by_id_.find(principal.id.substr(kPrefix.size()));
  if (it == by_id_.end()) return false;
  const ApiKeyConfig& config = it->second;
  return config.secret_sha256 == principal.api_key_sha256 && config.roles == principal.roles &&
         config.expires_unix_s.value_or(0) == principal.expires_unix_s;
}

bool ApiKeyVerifier::SameEntry(const ApiKeyVerifier& other, const std::string& id) const {
  auto a = by_id_.find(id);
  auto b = other.by_id_.find(id);
  if (a == by_id_.end() || b == other.by_id_.end()) return false;
  return a->second.secret_sha256 == b->second.secret_sha256 &&
         a->second.roles == b->second.roles && a->second.expires_unix_s == b->second.expires_unix_s;
}

std::vector<std::string> ApiKeyVerifier::ConfiguredRoles(std::string_view principal_id,
                                                        int64_t now_unix_s) const {
  constexpr std::string_view kPrefix = "apikey:";
  if (!principal_id.starts_with(kPrefix)) return {};
  auto it = by_id_.find(std::string(principal_id.substr(kPrefix.size())));
  if (it == by_id_.end()) return {};
  const ApiKeyConfig& config = it->second;
  if (config.expires_unix_s && *config.expires_unix_s < now_unix_s) return {};
  return config.roles;
}

std::vector<std::string> ApiKeyVerifier::Ids() const {
  std::vector<std::string> ids;
  ids.reserve(by_id_.size());
  for (const auto& [id, key] : by_id_) ids.push_back(id);
  std::sort(ids.begin(), ids.end());
  return ids;
}

}  // namespace cairn::auth
