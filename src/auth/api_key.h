// API keys: `cairn_<id>_<secret>`, of which only SHA-256(whole key string) is configured.
//
// Format: the literal prefix "cairn_", then the id ([A-Za-z0-9-]{1,64}, never '_'), then '_',
// then the secret: 32..256 base64url characters [A-Za-z0-9_-]. Because the id has no '_', the
// key splits at the first '_' after the prefix; the secret itself may contain '_'.
// Verification looks the id up, then compares the lowercase hex SHA-256 of the whole presented
// string with the configured `secret_sha256` using crypto::ConstantTimeEquals; an expired key
// (expires_unix_s < now) is refused only after its secret matched, so the answer for a wrong
// secret never depends on the expiry.
//
// Errors: kUnauthenticated with "malformed api key", "unknown api key", "api key invalid",
// "api key expired"; never the key or its hash. Config errors are kInvalidArgument. The first
// two of a key's id tell the audit trail apart; a caller gets "api key invalid" for both
// (server/status_map.h), so that it cannot learn which ids exist.
// Thread safety: an ApiKeyVerifier is immutable after Create; Verify() is thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "auth/auth_config.h"
#include "common/principal.h"
#include "common/status.h"

namespace cairn::auth {

inline constexpr std::string_view kApiKeyPrefix = "cairn_";
inline constexpr std::string_view kApiKeyUnknownText = "unknown api key";
inline constexpr std::string_view kApiKeyInvalidText = "api key invalid";
inline constexpr size_t kApiKeyIdSizeMaxBytes = 64;
inline constexpr size_t kApiKeySecretSizeMinChars = 32;
inline constexpr size_t kApiKeySecretSizeMaxChars = 256;
inline constexpr size_t kApiKeySecretRandomBytes = 32;  // → 43 base64url characters
inline constexpr size_t kApiKeysMax = 10000;

bool IsValidApiKeyId(std::string_view id);

// Splits `key` into id and secret (views into `key`); false when the format is wrong.
bool SplitApiKey(std::string_view key, std::string_view* id, std::string_view* secret);

// Lowercase hex SHA-256 of the whole key string: the value to configure as `secret_sha256`.
std::string ApiKeyHash(std::string_view key);

struct GeneratedApiKey {
  std::string key;            // cairn_<id>_<43 base64url chars>; shown once, never stored
  std::string secret_sha256;  // ApiKeyHash(key), for the configuration
};

// A fresh key for `id` with 32 bytes from the CSPRNG. kInvalidArgument for a bad id.
Result<GeneratedApiKey> GenerateApiKey(std::string_view id);

class ApiKeyVerifier {
 public:
  // Validates ids (format, unique), hashes (64 hex digits; upper case is accepted and folded),
  // roles (non-empty strings) and the count (≤ kApiKeysMax).
  static Result<std::unique_ptr<ApiKeyVerifier>> Create(const std::vector<ApiKeyConfig>& keys);

  // Principal{"apikey:" + id, configured roles, kApiKey, expires_unix_s or 0}.
  Result<Principal> Verify(std::string_view key, int64_t now_unix_s) const;
  // The roles the configuration gives the API key of `principal_id` ("apikey:<id>") now: its
  // configured roles while it is configured and unexpired; empty otherwise (and for other
  // principals). For identities that act without presenting the key (webhook deliveries).
  std::vector<std::string> ConfiguredRoles(std::string_view principal_id, int64_t now_unix_s) const;
  // The configured ids, sorted.
  std::vector<std::string> Ids() const;
  // Whether `principal` (admitted by some verifier's Verify) is still configured exactly as it
  // was: its id with the same secret_sha256, roles and expiry. True for principals that are not
  // API keys. For calls that run on after a reload replaced the keys.
  bool InForce(const Principal& principal) const;
  // Whether `id` is configured here and in `other` with the same hash, roles and expiry.
  bool SameEntry(const ApiKeyVerifier& other, const std::string& id) const;

 private:
  ApiKeyVerifier() = default;
  std::unordered_map<std::string, ApiKeyConfig> by_id_;
};

}  // namespace cairn::auth
