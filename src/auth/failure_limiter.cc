#include "auth/failure_limiter.h"

#include <cassert>
#include <cstdio>
#include <cstring>

#include "common/source_key.h"

namespace cairn::auth {
namespace {

int64_t BucketIndex(int64_t now_unix_s) {
  // Floor division, so that negative test clocks still land in distinct buckets.
  int64_t q = now_unix_s / FailureLimiter::kBucketS;
  if (now_unix_s % FailureLimiter::kBucketS < 0) --q;
  return q;
}

}  // namespace

FailureLimiter::FailureLimiter(int64_t failures_per_minute_max, size_t sources_max)
    : failures_max_(failures_per_minute_max), sources_max_(sources_max) {
  assert(failures_max_ >= 1);
  assert(sources_max_ >= 1);
}

int64_t FailureLimiter::CountInWindow(const Entry& e, int64_t now_unix_s) {
  const int64_t current = BucketIndex(now_unix_s);
  int64_t total = 0;
  for (size_t i = 0; i < kBuckets; ++i) {
    int64_t age = current - e.bucket_index[i];
    if (e.counts[i] > 0 && age >= 0 && age < static_cast<int64_t>(kBuckets)) total += e.counts[i];
  }
  return total;
}

bool FailureLimiter::IsLimited(std::string_view address, int64_t now_unix_s) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(SourceKey(address));
  if (it == entries_.end()) return false;
  return CountInWindow(it->second, now_unix_s) >= failures_max_;
}

FailureLimiter::Refusal FailureLimiter::RefuseLocked(Entry& e, int64_t now_unix_s) {
  const int64_t bucket = BucketIndex(now_unix_s);
  Refusal r;
  r.limited = true;
  r.first_in_bucket = e.refusal_bucket != bucket;
  e.refusal_bucket = bucket;
  return r;
}

FailureLimiter::Refusal FailureLimiter::CheckLimited(std::string_view address,
                                                    int64_t now_unix_s) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(SourceKey(address));
  if (it == entries_.end() || CountInWindow(it->second, now_unix_s) < failures_max_) return {};
  return RefuseLocked(it->second, now_unix_s);
}

FailureLimiter::Refusal FailureLimiter::BeginCheck(std::string_view address, int64_t now_unix_s) {
  std::string key = SourceKey(address);
  std::lock_guard<std::mutex> lock(mu_);
  auto flying = in_flight_.find(key);
  const int64_t checks = flying == in_flight_.end() ? 0 : flying->second;
  auto it = entries_.find(key);
  const int64_t failures = it == entries_.end() ? 0 : CountInWindow(it->second, now_unix_s);
  // Never more than kChecksInFlightMax at once, whatever the configured budget (up to 10^6).
  const bool admitted = checks < kChecksInFlightMax && (failures == 0 || failures + checks < failures_max_);
  if (!admitted) {
    if (it != entries_.end()) return RefuseLocked(it->second, now_unix_s);
    // Refused for its checks in flight alone: no entry to remember the bucket in.
    return Refusal{true, false};
  }
  if (flying == in_flight_.end()) flying = in_flight_.emplace(std::move(key), 0).first;
  flying->second += 1;
  assert(flying->second <= kChecksInFlightMax);
  return {};
}

void FailureLimiter::EndCheck(std::string_view address, int64_t now_unix_s, bool failed) {
  std::string key = SourceKey(address);
  std::lock_guard<std::mutex> lock(mu_);
  auto flying = in_flight_.find(key);
  assert(flying != in_flight_.end() && flying->second > 0 && "EndCheck without BeginCheck");
  if (flying != in_flight_.end() && --flying->second == 0) in_flight_.erase(flying);
  if (failed) RecordFailureLocked(std::move(key), now_unix_s);
}

size_t FailureLimiter::checks_in_flight() const {
  std::lock_guard<std::mutex> lock(mu_);
  size_t n = 0;
  for (const auto& [key, checks] : in_flight_) n += checks;
  return n;
}

void FailureLimiter::RecordFailure(std::string_view address, int64_t now_unix_s) {
  std::lock_guard<std::mutex> lock(mu_);
  RecordFailureLocked(SourceKey(address), now_unix_s);
}

void FailureLimiter::RecordFailureLocked(std::string key, int64_t now_unix_s) {
  auto it = entries_.find(key);
  if (it == entries_.end()) {
    if (entries_.size() >= sources_max_) EvictOneLocked(now_unix_s);
    lru_.push_front(key);
    it = entries_.emplace(std::move(key), Entry{}).first;
    it->second.lru = lru_.begin();
  } else {
    lru_.splice(lru_.begin(), lru_, it->second.lru);
  }
  Entry& e = it->second;
  const int64_t current = BucketIndex(now_unix_s);
  const size_t slot = static_cast<size_t>(((current % static_cast<int64_t>(kBuckets)) +
                                           static_cast<int64_t>(kBuckets)) %
                                          static_cast<int64_t>(kBuckets));
  if (e.bucket_index[slot] != current) {
    e.bucket_index[slot] = current;
    e.counts[slot] = 0;
  }
  if (e.counts[slot] < UINT32_MAX) ++e.counts[slot];
  assert(entries_.size() <= sources_max_ && lru_.size() == entries_.size());
}

void FailureLimiter::EvictOneLocked(int64_t now_unix_s) {
  assert(!lru_.empty());
  for (size_t scanned = 0; scanned < kEvictionScanMax && lru_.size() > 1; ++scanned) {
    auto oldest = entries_.find(lru_.back());
    assert(oldest != entries_.end());
    if (CountInWindow(oldest->second, now_unix_s) < failures_max_) break;  // not limited: evict
    lru_.splice(lru_.begin(), lru_, oldest->second.lru);  // limited: a second chance
  }
  entries_.erase(lru_.back());
  lru_.pop_back();
}

size_t FailureLimiter::tracked_sources() const {
  std::lock_guard<std::mutex> lock(mu_);
  return entries_.size();
}

}  // namespace cairn::auth
