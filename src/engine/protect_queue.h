// ProtectQueue: the appends waiting to have their protected fields encrypted, and the threads
// that do it (EventStore::AppendAsync). Protection may wait on the KMS (a new subject's key is
// wrapped, a key not in the cache unwrapped) and on a durable put of the new key; AppendAsync's
// callers are gRPC callback threads, which every callback-API call of the server shares, so that
// work runs here instead.
//
// Bounds: at most appends_max appends and bytes_max bytes of events wait; Post() refuses one
// more at once (the caller answers kUnavailable). Tasks run in order of posting on `threads`
// threads (named "cairn-protect"); the destructor runs every task already queued, then joins.
//
// Thread safety: Post() and the accessors may be called from any thread.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>

#include "common/task_runner.h"

namespace cairn::engine {

class ProtectQueue {
 public:
  // threads ≥ 1, appends_max ≥ 1, bytes_max ≥ 1.
  ProtectQueue(size_t threads, size_t appends_max, uint64_t bytes_max);
  ~ProtectQueue();  // runs the queued tasks, then joins (before the sequencer they submit to stops)

  // Queues `work` for an append of `bytes` bytes of events; false (nothing queued, `work`
  // dropped without running) when the queue is full by count or by bytes.
  bool Post(uint64_t bytes, std::function<void()> work);
  uint64_t queued_bytes() const { return queued_bytes_.load(std::memory_order_relaxed); }

 private:
  const uint64_t bytes_max_;
  std::atomic<uint64_t> queued_bytes_{0};  // of tasks posted and not started; ≤ bytes_max_
  TaskRunner runner_;                      // last: destroyed (drained) first
};

}  // namespace cairn::engine
