// Counts authentication failures per source address and refuses addresses that fail too often.
//
// Window: the last 60 s in kBuckets fixed buckets of kBucketS seconds each (an approximation of a
// sliding window: a failure is forgotten 50..60 s after it happened). An address with
// `failures_per_minute_max` or more failures in the window is limited: IsLimited() is true and
// the Authenticator refuses it without looking at its credentials. Refused calls are not
// recorded, so a limited address recovers once its old failures leave the window.
// Sources: an IPv4 address, or an IPv6 /64 (one host commonly holds a whole /64, so counting its
// addresses one by one would give it 2^64 budgets); an IPv4-mapped IPv6 address counts as its
// IPv4 address. Anything else counts as its text, truncated to kAddressSizeMaxBytes.
// Memory: at most `sources_max` sources are tracked; inserting one more evicts the source whose
// last failure is the oldest (LRU) — but a limited source is passed over (moved to the front, at
// most kEvictionScanMax times per insert), so that failing from many fresh addresses does not
// free a limited one.
// Checks in flight: a credential check is admitted with BeginCheck() and settled with EndCheck(),
// which records its failure. While checks of a source are in flight they count against its
// budget: a source with failures in the window is admitted only while failures + checks in flight
// stay below the limit, so concurrent calls cannot all be checked before the first failure is
// recorded; no source has more than kChecksInFlightMax checks in flight, also without failures
// (its own legitimate concurrency is not throttled, but one burst of guesses is bounded).
// Time is the caller's `now_unix_s` (tests drive it).
// Thread safety: thread-safe (one mutex; every operation is O(1) amortised).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <list>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "common/source_key.h"

namespace cairn::auth {

class FailureLimiter {
 public:
  static constexpr int64_t kWindowS = 60;
  static constexpr int64_t kBucketS = 10;
  static constexpr size_t kBuckets = kWindowS / kBucketS;
  static constexpr size_t kAddressSizeMaxBytes = kSourceKeySizeBytesMax;  // common/source_key.h
  static constexpr size_t kEvictionScanMax = 32;
  static constexpr uint32_t kChecksInFlightMax = 256;

  // Both limits must be ≥ 1 (the Authenticator validates the configuration).
  FailureLimiter(int64_t failures_per_minute_max, size_t sources_max);

  bool IsLimited(std::string_view address, int64_t now_unix_s) const;
  // For a call from `address`: whether it is limited and, if so, whether it is the source's
  // first refusal in the current kBucketS-second bucket — the one worth an audit record; the
  // others of the bucket are only counted, so that a refused source cannot fill the audit trail
  // and the logs at the rate it sends calls.
  struct Refusal {
    bool limited = false;
    bool first_in_bucket = false;
  };
  Refusal CheckLimited(std::string_view address, int64_t now_unix_s);
  void RecordFailure(std::string_view address, int64_t now_unix_s);
  // CheckLimited() that, when the source is not limited, also admits one check: the caller must
  // call EndCheck() for the same address exactly once (with whether the check failed).
  Refusal BeginCheck(std::string_view address, int64_t now_unix_s);
  void EndCheck(std::string_view address, int64_t now_unix_s, bool failed);
  size_t checks_in_flight() const;
  size_t tracked_sources() const;

 private:
  struct Entry {
    std::array<int64_t, kBuckets> bucket_index{};  // now / kBucketS of each slot's counts
    std::array<uint32_t, kBuckets> counts{};
    std::list<std::string>::iterator lru;          // position in lru_ (front = most recent)
    int64_t refusal_bucket = INT64_MIN;            // the bucket of the last recorded refusal
  };
  static int64_t CountInWindow(const Entry& e, int64_t now_unix_s);
  // Makes room for one more source (mu_ held).
  void EvictOneLocked(int64_t now_unix_s);
  Refusal RefuseLocked(Entry& e, int64_t now_unix_s);
  void RecordFailureLocked(std::string key, int64_t now_unix_s);

  const int64_t failures_max_;
  const size_t sources_max_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, Entry> entries_;  // guarded by mu_
  std::list<std::string> lru_;                      // guarded by mu_
  // Checks admitted by BeginCheck() and not yet ended, per source (no entry at zero); at most one
  // entry per call in flight. Guarded by mu_.
  std::unordered_map<std::string, uint32_t> in_flight_;
};

}  // namespace cairn::auth
