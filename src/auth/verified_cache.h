// VerifiedCache: principals of credentials that verified recently, keyed by the SHA-256 of the
// exact credential bytes, so that a client sending the same JWT (or client certificate) on every
// call pays for one signature check per `entry_age_s_max`, not one per call.
//
// An entry is valid from the time it was verified (a clock that goes back re-verifies, so `nbf`
// keeps its meaning) until the earlier of the credential's own expiry and `entry_age_s_max` after
// it was verified. Only successes are cached; failures always take the full path (and count
// against the failure limiter). Each entry remembers the `generation` of the keys that verified
// it (JwtVerifier::key_generation; 0 where nothing is reloaded): a lookup with another generation
// misses, so a key removed from an issuer's JWKS stops admitting cached tokens as soon as the
// key set without it is loaded (periodically, or by an unknown-kid refetch).
//
// Bounded: at most `entries_max` entries; when full, the oldest insertion is evicted.
// Thread safety: all methods may be called concurrently (one mutex; lookups are O(1)).
#pragma once

#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "common/principal.h"

namespace cairn::auth {

class VerifiedCache {
 public:
  VerifiedCache(size_t entries_max, int64_t entry_age_s_max);

  // The cached principal for `credential`, if one is valid at `now_unix_s` and was verified
  // under keys of `generation`.
  std::optional<Principal> Find(std::string_view kind, std::string_view credential,
                                int64_t now_unix_s, uint64_t generation) const;
  // `generation` must be read before the verification began, so that keys replaced during it
  // make the entry stale rather than current.
  void Insert(std::string_view kind, std::string_view credential, const Principal& principal,
              int64_t now_unix_s, uint64_t generation);
  size_t size() const;

 private:
  struct Entry {
    Principal principal;
    int64_t verified_at_unix_s = 0;  // before this (a clock set back) the entry is not used
    int64_t valid_until_unix_s = 0;
    uint64_t generation = 0;
  };
  static std::string Key(std::string_view kind, std::string_view credential);

  const size_t entries_max_;
  const int64_t entry_age_s_max_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, Entry> entries_;  // guarded by mu_
  std::deque<std::string> order_;                   // insertion order, for eviction
};

}  // namespace cairn::auth
