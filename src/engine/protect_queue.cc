#include "engine/protect_queue.h"

#include <cassert>
#include <utility>

namespace cairn::engine {

ProtectQueue::ProtectQueue(size_t threads, size_t appends_max, uint64_t bytes_max)
    : bytes_max_(bytes_max), runner_(threads, appends_max, "cairn-protect") {
  assert(bytes_max_ >= 1);
}

ProtectQueue::~ProtectQueue() = default;

bool ProtectQueue::Post(uint64_t bytes, std::function<void()> work) {
  assert(work);
  uint64_t queued = queued_bytes_.load(std::memory_order_relaxed);
  do {
    // One append larger than the whole bound still gets through an empty queue.
    if (queued > 0 && (bytes > bytes_max_ || queued > bytes_max_ - bytes)) return false;
  } while (!queued_bytes_.compare_exchange_weak(queued, queued + bytes, std::memory_order_relaxed));
  const bool posted = runner_.Post([this, bytes, work = std::move(work)] {
    const uint64_t before = queued_bytes_.fetch_sub(bytes, std::memory_order_relaxed);
    assert(before >= bytes);
    (void)before;
    work();
  });
  if (!posted) queued_bytes_.fetch_sub(bytes, std::memory_order_relaxed);
  return posted;
}

}  // namespace cairn::engine
