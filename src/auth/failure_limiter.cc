#include "auth/failure_limiter.h"

#include <cassert>

namespace cairn::auth {
namespace {

int64_t BucketIndex(int64_t now_unix_s) {
  // Floor division, so that negative test clocks still land in distinct buckets.
  int64_t q = now_unix_s / FailureLimiter::kBucketS;
  if (now_unix_s % FailureLimiter::kBucketS < 0) --q;
  return q;
}

std::string Key(std::string_view address) {
  return std::string(address.substr(0, FailureLimiter::kAddressSizeMaxBytes));
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
  auto it = entries_.find(Key(address));
  if (it == entries_.end()) return false;
  return CountInWindow(it->second, now_unix_s) >= failures_max_;
}

void FailureLimiter::RecordFailure(std::string_view address, int64_t now_unix_s) {
  std::lock_guard<std::mutex> lock(mu_);
  std::string key = Key(address);
  auto it = entries_.find(key);
  if (it == entries_.end()) {
    if (entries_.size() >= sources_max_) {
      assert(!lru_.empty());
      entries_.erase(lru_.back());
      lru_.pop_back();
    }
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

size_t FailureLimiter::tracked_sources() const {
  std::lock_guard<std::mutex> lock(mu_);
  return entries_.size();
}

}  // namespace cairn::auth
