#include "engine/protect_queue.h"

#include <cassert>
#include <utility>

namespace cairn::engine {

ProtectQueue::ProtectQueue(size_t lanes, size_t appends_max, uint64_t bytes_max)
    : appends_max_(appends_max), bytes_max_(bytes_max) {
  assert(lanes >= 1 && appends_max_ >= 1 && bytes_max_ >= 1);
  lanes_.reserve(lanes);
  for (size_t i = 0; i < lanes; ++i) {
    lanes_.push_back(std::make_unique<TaskRunner>(1, appends_max_, "cairn-protect"));
  }
}

ProtectQueue::~ProtectQueue() {
  lanes_.clear();  // each runs what it holds, then joins
  assert(busy_total_.load() == 0 && queued_.load() == 0);
}

bool ProtectQueue::Reserve(uint64_t bytes) {
  if (queued_.fetch_add(1, std::memory_order_relaxed) >= appends_max_) {
    queued_.fetch_sub(1, std::memory_order_relaxed);
    return false;
  }
  uint64_t queued = queued_bytes_.load(std::memory_order_relaxed);
  do {
    // One append larger than the whole bound still gets through an empty queue.
    if (queued > 0 && (bytes > bytes_max_ || queued > bytes_max_ - bytes)) {
      queued_.fetch_sub(1, std::memory_order_relaxed);
      return false;
    }
  } while (!queued_bytes_.compare_exchange_weak(queued, queued + bytes, std::memory_order_relaxed));
  return true;
}

void ProtectQueue::Release(uint64_t bytes) {
  const uint64_t before = queued_bytes_.fetch_sub(bytes, std::memory_order_relaxed);
  assert(before >= bytes);
  (void)before;
  const size_t count_before = queued_.fetch_sub(1, std::memory_order_relaxed);
  assert(count_before >= 1);
  (void)count_before;
}

void ProtectQueue::Enter(std::string_view stream_id) {
  std::lock_guard<std::mutex> lock(busy_mu_);
  auto it = busy_.find(stream_id);
  if (it == busy_.end()) it = busy_.emplace(std::string(stream_id), 0).first;
  ++it->second;
  busy_total_.fetch_add(1, std::memory_order_release);
}

void ProtectQueue::Leave(const std::string& stream_id) {
  std::lock_guard<std::mutex> lock(busy_mu_);
  auto it = busy_.find(stream_id);
  assert(it != busy_.end() && it->second > 0);
  if (--it->second == 0) busy_.erase(it);
  busy_total_.fetch_sub(1, std::memory_order_release);
}

bool ProtectQueue::Busy(std::string_view stream_id) const {
  if (busy_total_.load(std::memory_order_acquire) == 0) return false;  // the common case
  std::lock_guard<std::mutex> lock(busy_mu_);
  return busy_.find(stream_id) != busy_.end();
}

bool ProtectQueue::Post(std::string_view stream_id, uint64_t bytes, std::function<void()> work) {
  assert(work);
  if (!Reserve(bytes)) return false;
  Enter(stream_id);
  TaskRunner& lane = *lanes_[StringHash()(stream_id) % lanes_.size()];
  const bool posted = lane.Post([this, bytes, stream = std::string(stream_id),
                                 work = std::move(work)] {
    Release(bytes);
    work();  // hands the append to the sequencer (or answers it)
    Leave(stream);
  });
  if (!posted) {
    Release(bytes);
    Leave(std::string(stream_id));
  }
  return posted;
}

}  // namespace cairn::engine
