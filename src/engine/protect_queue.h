// ProtectQueue: the appends waiting to have their protected fields encrypted, and the threads
// that do it (EventStore::AppendAsync). Protection may wait on the KMS (a new subject's key is
// wrapped, a key not in the cache unwrapped) and on a durable put of the new key; AppendAsync's
// callers are gRPC callback threads, which every callback-API call of the server shares, so that
// work runs here instead.
//
// Order: each stream has one lane (a thread of its own among `lanes`, chosen by the stream's
// hash), which runs its work in order of posting; so the appends of one stream reach the
// sequencer in the order they were posted (a client may pipeline appends with exact expected
// versions). While a stream has work queued or running, Busy() says so, and an append of it
// that needs no protection must be posted too (behind the others) instead of going ahead.
//
// Bounds: at most appends_max appends and bytes_max bytes of events wait (not yet started);
// Post() refuses one more at once (the caller answers kUnavailable). The destructor runs every
// task already queued, then joins.
//
// Thread safety: every method may be called from any thread.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/string_hash.h"
#include "common/task_runner.h"

namespace cairn::engine {

class ProtectQueue {
 public:
  // lanes ≥ 1, appends_max ≥ 1, bytes_max ≥ 1.
  ProtectQueue(size_t lanes, size_t appends_max, uint64_t bytes_max);
  ~ProtectQueue();  // runs the queued tasks, then joins (before the sequencer they submit to stops)

  // Queues `work` for an append of `bytes` bytes of events to `stream_id`, behind the work
  // posted for that stream before; false (nothing queued, `work` dropped without running) when
  // the queue is full by count or by bytes.
  bool Post(std::string_view stream_id, uint64_t bytes, std::function<void()> work);
  // Whether work for `stream_id` is queued or running.
  bool Busy(std::string_view stream_id) const;
  uint64_t queued_bytes() const { return queued_bytes_.load(std::memory_order_relaxed); }

 private:
  bool Reserve(uint64_t bytes);  // the count and bytes bounds
  void Release(uint64_t bytes);
  void Enter(std::string_view stream_id);
  void Leave(const std::string& stream_id);

  const size_t appends_max_;
  const uint64_t bytes_max_;
  std::atomic<size_t> queued_{0};          // tasks posted and not started; ≤ appends_max_
  std::atomic<uint64_t> queued_bytes_{0};  // their bytes; ≤ bytes_max_ (or one larger task)
  std::atomic<size_t> busy_total_{0};      // tasks posted and not finished, all streams
  mutable std::mutex busy_mu_;
  std::unordered_map<std::string, size_t, StringHash, std::equal_to<>> busy_;  // busy_mu_
  std::vector<std::unique_ptr<TaskRunner>> lanes_;  // last: destroyed (drained) first
};

}  // namespace cairn::engine
