// LiveCursor: one subscriber's place in the log and the work of producing its next batch.
//
// The cursor is a log position, next_position(): every event before it was considered (delivered,
// or skipped by a filter or by the policy). Next() continues from there: from the shared
// LiveRing when the position is inside it, from storage (EventStore::ReadAll) when it is older
// (catch-up), and waits when it is at the ring's end. A stream subscription that starts at a
// stream version reads the stream itself (EventStore::ReadStream) until its end, then continues
// in log order from max(log size seen before that last read, last event + 1). Because the cursor
// is one position, moving between storage and ring can neither skip nor repeat an event, and the
// order is log order.
//
// Each Next() first refreshes the LiveAccess (the policy in force, the credential's expiry);
// then every event passes the request's filters, `subscribe` for its stream and type, and the
// transport's filter (LiveRequest::filter); only then are events of protected types shown
// through EventStore::Reveal with the caller's `read.pii`.
//
// Once the cursor reaches the ring's end for the first time it answers kCaughtUp and is live. A
// live cursor whose position has been evicted from the ring fails with kResourceExhausted (the
// subscriber fell behind); the hub usually notices first (LiveHub's lag check).
//
// Thread safety: Next() is not thread-safe (one delivery runs it at a time); next_position()
// and live() may be read from any thread.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "common/status.h"
#include "engine/event_store.h"
#include "subscribe/live_access.h"
#include "subscribe/live_request.h"
#include "subscribe/live_ring.h"

namespace cairn::subscribe {

struct LiveCursorLimits {
  size_t batch_events_max = 512;         // events per batch (one message)
  size_t batch_bytes_max = size_t{1} << 20;  // about; one event may exceed it on its own
  size_t scan_events_max = 8192;         // events considered per Next() before it yields
  size_t read_events_max = 512;          // events per storage read
};

struct LiveBatch {
  enum class Kind : uint8_t { kNone, kEvents, kCheckpoint, kCaughtUp };
  Kind kind = Kind::kNone;
  std::vector<SharedEvent> events;  // kEvents: in log order, each in this reader's view
  // kEvents: checkpoints among the events (the request's checkpoint_every_events was reached),
  // in order: each after its first `events_before` events, at `next_position` (<= the batch's).
  // At most one per place (events.size() + 1 in all).
  struct Checkpoint {
    size_t events_before = 0;
    uint64_t next_position = 0;
  };
  std::vector<Checkpoint> checkpoints;
  // Every event before next_position was considered (kEvents: through the last event at least).
  uint64_t next_position = 0;
  // kNone: true when there is more to consider right away (call Next() again), false when the
  // cursor waits for the log to grow.
  bool more = false;
};

class LiveCursor {
 public:
  // `request` must be valid (ValidateLiveRequest). `store` and `ring` must outlive the cursor.
  LiveCursor(engine::EventStore* store, const LiveRing* ring, LiveRequest request,
             LiveAccess access, LiveCursorLimits limits);

  // The next batch; `now_ms` (steady clock) paces checkpoints, `now_unix_s` the expiry check.
  // Errors end the subscription: those of LiveAccess::Refresh, kResourceExhausted (fell out of
  // the ring, detail = next_position()), kStreamDeleted, and read/reveal failures.
  Result<LiveBatch> Next(int64_t now_ms, int64_t now_unix_s);

  uint64_t next_position() const { return next_position_.load(std::memory_order_acquire); }
  const LiveRequest& request() const { return request_; }
  bool live() const { return live_.load(std::memory_order_acquire); }

 private:
  enum class Source : uint8_t { kEvents, kWait, kFellBehind };
  // Appends the next chunk of events at the cursor to *chunk.
  Result<Source> ReadChunk(std::vector<SharedEvent>* chunk);
  Result<Source> ReadStreamChunk(std::vector<SharedEvent>* chunk);
  // Adds `event` to the batch if it is wanted (filters, policy), in the reader's view.
  Status Consider(const SharedEvent& event, LiveBatch* batch, size_t* batch_bytes);
  void CountCheckpoint(LiveBatch* batch);
  bool CheckpointDue(int64_t now_ms) const;
  LiveBatch Marker(LiveBatch::Kind kind, int64_t now_ms);
  void Advance(uint64_t next);

  engine::EventStore* store_;
  const LiveRing* ring_;
  const LiveRequest request_;
  LiveAccess access_;
  const LiveCursorLimits limits_;
  bool stream_mode_;        // reading the stream itself (kVersion start) before log order
  uint64_t stream_version_next_ = 0;
  // Set when the stream read reached the stream's end: continue in log order from here.
  std::optional<uint64_t> switch_to_log_at_;
  std::atomic<uint64_t> next_position_{0};
  std::atomic<bool> live_{false};
  uint64_t reported_position_ = 0;  // what the subscriber knows was considered
  uint64_t considered_since_checkpoint_ = 0;  // towards request_.checkpoint_every_events
  int64_t last_report_ms_ = 0;
};

}  // namespace cairn::subscribe
