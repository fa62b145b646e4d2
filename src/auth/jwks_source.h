// The key set of one trusted issuer, loaded from `jwks_file` or `jwks_url` and kept current.
//
// Reload() rereads the file or refetches the URL; a failed reload keeps the last good key set
// (an IdP outage must not lock everybody out) and returns the error for the caller to log.
// RefetchForUnknownKid() is the on-demand path taken when a token names a kid that is not in the
// set (the IdP rotated keys): it reloads at most once per `jwks_refetch_min_interval_s`, measured
// on the caller's clock, so a flood of tokens with random kids cannot turn cairn into a
// request amplifier against the IdP. A caller that finds a refetch in progress does not wait for
// it (request threads must not queue behind the network): its token is refused as naming an
// unknown key, and the refetch serves the tokens that come after it. Only the one caller that
// refetches waits, at most the fetch's timeout (plus a periodic reload it may follow).
//
// The file (jwks_file) and the trust roots of the URL's TLS (jwks_ca_file) decide who may mint
// tokens: a file that others may write is refused (kFailedPrecondition, ReadTrustedFile; one the
// group may write is a `cairn doctor` finding, CAIRN-FILE-003). Reloads run one at a time, so a slow load never replaces a newer set.
//
// Limits: file or response ≤ kJwksSizeMaxBytes, CA file ≤ kJwksCaSizeMaxBytes; see auth/jwk.h
// for the document limits.
// Thread safety: all methods are thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "auth/auth_config.h"
#include "auth/jwk.h"
#include "common/status.h"
#include "common/trusted_file.h"

namespace cairn::auth {


class JwksSource {
 public:
  // Loads the key set once; an error when that first load fails. `config` must have exactly one
  // of jwks_file / jwks_url (validated by the Authenticator).
  static Result<std::unique_ptr<JwksSource>> Create(const JwtIssuerConfig& config);

  JwksSource(const JwksSource&) = delete;
  JwksSource& operator=(const JwksSource&) = delete;

  // The current key set; never null after Create succeeded.
  std::shared_ptr<const JwkSet> Current() const;

  // Loads the key set again. On success it replaces the current set; on failure the current set
  // stays and the error is returned.
  Status Reload();

  // Reloads unless a refetch for an unknown kid happened less than jwks_refetch_min_interval_s
  // before `now_unix_s`, or one is in progress (not waited for). True when this call reloaded
  // successfully. Callers look the kid up once more either way.
  bool RefetchForUnknownKid(int64_t now_unix_s);

  // Number of load attempts so far (the first load included); for tests and metrics.
  uint64_t load_count() const { return load_count_.load(); }

  // Grows by one each time a load withdraws or replaces a key (JwkSet::AdmitsAllOf is false);
  // a load of the same keys, or of more, leaves it. Whoever remembers what the set admitted (the
  // Authenticator's VerifiedCache) forgets it when this changes, so a key the issuer withdrew
  // stops admitting tokens at the next load, while a flood of unknown kids (each refetch
  // loading the same set) does not empty the cache.
  uint64_t generation() const { return generation_.load(std::memory_order_acquire); }

 private:
  explicit JwksSource(const JwtIssuerConfig& config) : config_(config) {}
  Result<JwkSet> Load();

  const JwtIssuerConfig config_;
  std::mutex reload_mu_;                  // serialises Reload (periodic and refetch)
  mutable std::mutex mu_;                 // guards current_
  std::shared_ptr<const JwkSet> current_;
  std::mutex refetch_mu_;                 // serialises unknown-kid refetches
  bool refetched_ = false;                // guarded by refetch_mu_
  int64_t last_refetch_unix_s_ = 0;       // guarded by refetch_mu_
  std::atomic<uint64_t> load_count_{0};
  std::atomic<uint64_t> generation_{0};
};

}  // namespace cairn::auth
