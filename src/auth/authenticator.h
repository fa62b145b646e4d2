// Authenticator: the one entry point the server calls to turn call credentials into a Principal.
//
// Order of checks in Authenticate():
//   1. the failure limiter: an address with too many recent failures is refused at once with
//      "too many authentication failures" (its credentials are not looked at); only its first
//      such refusal in each FailureLimiter::kBucketS seconds is to be recorded (*record_failure);
//   2. `authorization` present: it must be "Bearer <credential>" (scheme case-insensitive,
//      exactly one space, a non-empty credential without spaces);
//        "cairn_..."  → API key (auth/api_key.h)
//        otherwise    → JWT (auth/jwt.h)
//      or "Basic base64(id:key)" (the EventStoreDB clients' credentials) → the API key `key`,
//      whose id must be `id` (auth/basic_credentials.h);
//      A client certificate, if any, is not consulted when an authorization header is present;
//   3. no authorization but a client certificate → mTLS mapping (auth/mtls.h), refused with
//      "certificate expired" after its notAfter (a connection outlives the handshake's check);
//   4. nothing → "no credentials".
// Every failure is kUnauthenticated with a short generic reason and is recorded against
// `peer_address` in the failure limiter. Reasons never contain the credential or claim values.
//
// A JWT or client certificate that verified is remembered for up to kVerifiedCacheEntryAgeSMax
// (never past its expiry), keyed by the SHA-256 of its exact bytes: repeated calls with the same
// credential skip the signature check (verified_cache.h). A JWT is remembered only until the next
// load of any issuer's key set (JwtVerifier::key_generation), so a withdrawn key stops admitting
// the tokens it signed at the first load without it.
//
// Key refresh: Create() starts one background thread when JWT issuers are configured; it
// rereads each issuer's jwks_file / refetches its jwks_url every jwks_refresh_interval_s
// (a failure keeps the last good keys). The destructor wakes it through a condition variable
// and joins it, so destruction is prompt even with long intervals.
//
// Thread safety: Authenticate(), ConfiguredRoles(), CheckApiKeyInForce() and ReplaceApiKeys() are
// thread-safe and may be called from many threads at once (the API keys are an immutable
// verifier swapped under a mutex).
// Ownership: the Authenticator copies what it needs from the config.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string_view>
#include <thread>
#include <vector>

#include "auth/api_key.h"
#include "auth/auth_config.h"
#include "auth/failure_limiter.h"
#include "auth/jwt.h"
#include "auth/mtls.h"
#include "auth/verified_cache.h"
#include "common/principal.h"
#include "common/status.h"

namespace cairn::auth {

struct CallCredentials {
  std::string_view authorization;  // value of the "authorization" metadata ("Bearer …"), may be empty
  std::string_view peer_cert_pem;  // verified client certificate, empty when none
  std::string_view peer_address;   // "127.0.0.1" / "::1": the rate-limit key
};

inline constexpr size_t kAuthorizationSizeMaxBytes = 8192 + 7;  // "Bearer " + kJwtSizeMaxBytes
inline constexpr int64_t kFailuresPerMinuteMaxLimit = 1000000;
inline constexpr int64_t kFailureSourcesMaxLimit = 10000000;
// Verified JWTs and client certificates are remembered (by SHA-256 of their bytes) for at most
// this long, and never past their own expiry; see verified_cache.h.
inline constexpr size_t kVerifiedCacheEntriesMax = 10000;
inline constexpr int64_t kVerifiedCacheEntryAgeSMax = 60;

class Authenticator {
 public:
  // Validates the whole configuration (kInvalidArgument naming the field), loads every JWKS
  // (a file or URL that cannot be loaded at start is an error) and starts the refresher.
  static Result<std::unique_ptr<Authenticator>> Create(const AuthConfig& config);

  Authenticator(const Authenticator&) = delete;
  Authenticator& operator=(const Authenticator&) = delete;
  ~Authenticator();  // stops and joins the refresher

  // On failure, *record_failure (when given) says whether the failure deserves an audit record:
  // false for a rate-limited refusal that is not its source's first in the current bucket
  // (count it, do not record it).
  Result<Principal> Authenticate(const CallCredentials& creds, int64_t now_unix_s,
                                 bool* record_failure = nullptr) const;

  // The roles the configuration gives `principal_id`'s credential now, without the credential
  // (ApiKeyVerifier::ConfiguredRoles; empty for JWT and mTLS principals, whose roles travel
  // only in the credential they present).
  std::vector<std::string> ConfiguredRoles(std::string_view principal_id, int64_t now_unix_s) const;

  // Replaces the API keys (`[[auth.api_keys]]`) with `keys`, validated as Create validates them:
  // from the next call on, a removed key is refused and an added one admitted (API keys are
  // never cached). On an error (kInvalidArgument naming the key) the keys in force stay.
  struct ApiKeysReplaced {
    size_t keys = 0;                   // configured now
    std::vector<std::string> added;    // ids, sorted
    std::vector<std::string> removed;  // ids, sorted
    std::vector<std::string> changed;  // ids whose hash, roles or expiry changed, sorted
  };
  Result<ApiKeysReplaced> ReplaceApiKeys(const std::vector<ApiKeyConfig>& keys);
  // For a call that runs on after it was admitted: OK when its credential is not an API key, or
  // its API key is still configured as it was when the call was admitted; kUnauthenticated
  // "api key revoked" when a reload removed or changed it. A map lookup; thread-safe.
  Status CheckApiKeyInForce(const Principal& principal) const;

  // For tests and metrics.
  const JwtVerifier& jwt() const { return *jwt_; }
  size_t tracked_failure_sources() const { return limiter_.tracked_sources(); }

 private:
  Authenticator(const AuthConfig& config);
  Result<Principal> Check(const CallCredentials& creds, int64_t now_unix_s) const;
  template <typename Verify>
  Result<Principal> Cached(std::string_view kind, std::string_view credential, int64_t now_unix_s,
                           uint64_t generation, const Verify& verify) const;
  void RefreshLoop();
  bool Stopping();  // the destructor has begun

  std::unique_ptr<JwtVerifier> jwt_;
  std::shared_ptr<const ApiKeyVerifier> ApiKeys() const;

  mutable std::mutex api_keys_mu_;
  std::shared_ptr<const ApiKeyVerifier> api_keys_;  // guarded by api_keys_mu_; never null
  std::unique_ptr<MtlsMapper> mtls_;
  mutable FailureLimiter limiter_;
  mutable VerifiedCache verified_;

  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  bool stop_ = false;  // guarded by stop_mu_
  std::thread refresher_;
};

}  // namespace cairn::auth
