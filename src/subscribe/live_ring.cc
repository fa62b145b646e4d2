#include "subscribe/live_ring.h"

#include <algorithm>
#include <cassert>
#include <mutex>

namespace cairn::subscribe {
namespace {

// Entry fields, hashes and the shared_ptr control block, beyond data and metadata.
constexpr size_t kEventOverheadBytes = 256;

}  // namespace

size_t EventCostBytes(const LiveEvent& event) {
  return event.data.size() + event.metadata.size() + event.stored_data.size() +
         event.entry.stream_id.size() + event.entry.event_type.size() + event.wire.size() +
         kEventOverheadBytes;
}

LiveRing::LiveRing(uint64_t start_position, size_t events_max, size_t bytes_max)
    : events_max_(events_max), bytes_max_(bytes_max), begin_(start_position) {
  assert(events_max_ > 0);
  assert(bytes_max_ > 0);
}

void LiveRing::Append(std::vector<SharedEvent> events) {
  std::unique_lock<std::shared_mutex> lock(mu_);
  for (auto& event : events) {
    assert(event != nullptr);
    assert(event->entry.position == begin_ + events_.size());
    bytes_ += EventCostBytes(*event);
    events_.push_back(std::move(event));
  }
  while (events_.size() > 1 && (events_.size() > events_max_ || bytes_ > bytes_max_)) {
    bytes_ -= EventCostBytes(*events_.front());
    events_.pop_front();
    ++begin_;
  }
  assert(events_.size() <= std::max<size_t>(events_max_, 1));
}

bool LiveRing::Read(uint64_t from, size_t count_max, std::vector<SharedEvent>* out) const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  if (from < begin_) return false;
  const uint64_t end = begin_ + events_.size();
  if (from >= end) return true;
  const size_t offset = static_cast<size_t>(from - begin_);
  const size_t n = static_cast<size_t>(std::min<uint64_t>(count_max, end - from));
  out->insert(out->end(), events_.begin() + offset, events_.begin() + offset + n);
  return true;
}

void LiveRing::Restart(uint64_t position) {
  std::deque<SharedEvent> dropped;  // released after the lock
  std::unique_lock<std::shared_mutex> lock(mu_);
  assert(position >= begin_ + events_.size());
  dropped.swap(events_);
  begin_ = position;
  bytes_ = 0;
}

uint64_t LiveRing::begin() const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  return begin_;
}

uint64_t LiveRing::end() const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  return begin_ + events_.size();
}

size_t LiveRing::size_bytes() const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  return bytes_;
}

}  // namespace cairn::subscribe
