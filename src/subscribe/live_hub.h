// LiveHub: the live fan-out of one server — one reader of newly committed events, one shared
// bounded ring, and a small pool of delivery threads that serve every subscriber in turn.
//
// Commit wake-ups come from EventStore::AddCommitObserver; the hub's reader thread then reads the
// new events from the store once (ReadAll) into the LiveRing and wakes the subscribers; while
// there are no subscribers it reads nothing and restarts the ring at the log's end instead. Each
// subscriber is a LiveSubscription with its own LiveCursor (catch-up from storage, then live
// from the ring; see live_cursor.h) and a LiveSink, the transport (the gRPC reactor), that has at
// most ONE write in flight: a delivery thread asks the cursor for the next batch only when the
// previous write is done, so a subscriber costs no thread while it waits or while its client
// reads slowly. Delivery threads never block on a client. Live subscribers are served ahead of
// catching-up ones, which still get a share of the delivery time (run_queues.h).
//
// Ends of a subscription (LiveSink::End, called exactly once, never concurrently with Deliver):
//  - kResourceExhausted, detail = resume position: a live subscriber fell behind — its position
//    left the ring, or it is more than `lag_events_max` events behind the ring's end (checked
//    whenever the ring grows, also while its write is stuck);
//  - kUnavailable, detail = resume position: the hub shuts down (server shutdown) or the client
//    went away (Cancel);
//  - the cursor's errors (policy revoked, credential expired, read failures).
// The resume position is the position after everything handed to the sink: subscribing again
// from it loses nothing and repeats nothing.
//
// Limits: at most `subscribers_max` subscriptions (Subscribe() fails with kResourceExhausted);
// the ring holds at most `ring_events_max` events and `ring_bytes_max` bytes; each batch is
// bounded by LiveCursorLimits. Idle subscribers are re-run every `tick_ms`, so that policy
// reloads, credential expiry and checkpoints reach them without new events.
//
// Thread safety: every method may be called from any thread. Shutdown() ends every subscription
// and stops the threads; the hub must then stay alive until every sink is closed, and be
// destroyed before the store.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "common/status.h"
#include "engine/event_store.h"
#include "subscribe/live_access.h"
#include "subscribe/live_cursor.h"
#include "subscribe/live_request.h"
#include "subscribe/live_ring.h"
#include "subscribe/run_queues.h"

namespace cairn::subscribe {

struct LiveHubOptions {
  size_t subscribers_max = 1024;
  // One principal's share of subscribers_max, so that one client cannot take every slot.
  size_t subscribers_per_principal_max = 256;
  size_t ring_events_max = 65536;
  size_t ring_bytes_max = size_t{64} << 20;
  size_t lag_events_max = 32768;     // a live subscriber further behind than this is ended
  size_t delivery_threads = 2;
  size_t hub_read_events_max = 4096;  // events per ReadAll of the hub's reader
  int64_t tick_ms = 200;
  // A subscriber whose last write has not completed for this long (its client stopped reading:
  // flow control holds the write) is ended with RESOURCE_EXHAUSTED, as a live subscriber that
  // fell behind is, so that it cannot hold its slot (subscribers_max) forever.
  int64_t write_stall_ms_max = 60000;
  LiveCursorLimits cursor;
  // Encodes an event in the transport's wire form once, on the hub's reader, for every
  // subscriber (LiveEvent::wire); called for events without a protection rule only, which
  // every reader is shown the same, and only while a subscription with LiveRequest::wire_form
  // is open (events read meanwhile have none; the transport then encodes them itself). Empty:
  // no wire forms.
  std::function<std::string(const engine::RecordedEvent&)> wire_encoder;
  // Given to every subscriber's LiveAccess (live_access.h): a credential revoked while it
  // subscribes ends the subscription at its next refresh. Empty: not checked.
  CredentialCheck credential_check;
};

// The transport of one subscription (the gRPC reactor). The hub calls it from its threads, one
// call at a time per subscription.
class LiveSink {
 public:
  virtual ~LiveSink() = default;
  // Starts writing `batch` (never kNone) and returns at once; the sink calls
  // LiveSubscription::WriteDone when the write completed.
  virtual void Deliver(LiveBatch batch) = 0;
  // Finishes the call with `status` (never OK). Called at most once; nothing follows it.
  virtual void End(const Status& status) = 0;
};

class LiveHub;

// One subscriber's handle, held by its sink.
class LiveSubscription : public std::enable_shared_from_this<LiveSubscription> {
 public:
  // Schedules the first delivery; call once, after keeping the handle where WriteDone and
  // Cancel can reach it.
  void Start();
  // The previous Deliver's write completed (ok = false: the stream is broken).
  void WriteDone(bool ok);
  // The client went away: ends the subscription (the sink still gets End, to finish the call).
  void Cancel();
  // The sink is going away: no call reaches it after Close() returns. Idempotent.
  void Close();

  // Position after everything handed to the sink.
  uint64_t delivered_position() const;

 private:
  friend class LiveHub;
  LiveSubscription(LiveHub* hub, std::unique_ptr<LiveCursor> cursor, LiveSink* sink,
                   std::string principal_id);

  // Asks to end with `code` and `reason` (for kResourceExhausted and kUnavailable the message
  // and detail add the resume position). Runs End now unless a delivery is running, which then
  // ends it instead of delivering.
  void RequestEnd(StatusCode code, const std::string& reason);
  // One turn of a delivery thread: Next() and Deliver/End. Returns true to be run again now.
  bool RunOnce(int64_t now_ms, int64_t now_unix_s);
  // A write has been in flight for more than `max_ms`.
  bool WriteStalled(int64_t now_ms, int64_t max_ms) const;
  // Marks it queued unless it is queued, running, writing, ended or closed; true when queued.
  bool TryQueue();
  // `status` with the resume position as detail when the client should resume (mu_ held).
  Status WithResumePosition(const Status& status) const;
  // Calls sink_->End(status) with running_ set; mu_ held on entry and on return.
  void EndLocked(std::unique_lock<std::mutex>& lock, const Status& status);

  LiveHub* const hub_;
  const std::unique_ptr<LiveCursor> cursor_;
  LiveSink* const sink_;
  const std::string principal_id_;  // counted in the hub's per-principal share
  mutable std::mutex mu_;
  std::condition_variable idle_cv_;  // signalled when running_ becomes false
  bool queued_ = false;
  bool running_ = false;
  bool dirty_ = false;         // woken while running: run again
  bool write_in_flight_ = false;
  int64_t write_started_ms_ = 0;  // steady clock, of the write in flight
  bool ended_ = false;
  bool closed_ = false;
  std::optional<Status> end_wanted_;
  uint64_t delivered_position_ = 0;
};

class LiveHub {
 public:
  // Starts the reader and delivery threads and registers the commit observer. `store` and
  // `policies` must outlive the hub.
  static Result<std::unique_ptr<LiveHub>> Start(engine::EventStore* store,
                                                const policy::PolicyHolder* policies,
                                                LiveHubOptions options);
  ~LiveHub();
  LiveHub(const LiveHub&) = delete;
  LiveHub& operator=(const LiveHub&) = delete;

  // Registers a subscription for `principal`; LiveSubscription::Start() begins delivery. Errors:
  // kInvalidArgument (ValidateLiveRequest), kResourceExhausted (subscribers_max),
  // kUnavailable (shut down), and LiveAccess::Refresh's (checked before anything is sent).
  Result<std::shared_ptr<LiveSubscription>> Subscribe(const LiveRequest& request,
                                                      const Principal& principal, LiveSink* sink);

  // Ends every subscription with kUnavailable and stops the threads. Idempotent.
  void Shutdown();

  size_t subscriber_count() const;
  const LiveRing& ring() const { return ring_; }
  const LiveHubOptions& options() const { return options_; }

 private:
  friend class LiveSubscription;
  LiveHub(engine::EventStore* store, const policy::PolicyHolder* policies, LiveHubOptions options);

  void OnCommit(uint64_t tree_size);
  void RunReader();
  // Reads [ring end, target) into the ring; `wire_form`: encode the shared wire forms.
  Status ReadCommitted(uint64_t target, bool wire_form);
  // After the ring grew (or at a tick): ends laggards, schedules the others.
  void WakeSubscribers(bool check_lag);
  void Schedule(const std::shared_ptr<LiveSubscription>& sub);
  void RunDelivery();
  void Remove(LiveSubscription* sub);

  engine::EventStore* const store_;
  const policy::PolicyHolder* const policies_;
  const LiveHubOptions options_;
  LiveRing ring_;
  uint64_t observer_ = 0;

  mutable std::mutex mu_;
  std::condition_variable reader_cv_;
  bool reading_ = false;  // guarded by mu_: the reader is in ReadCommitted (mu_ released)
  std::condition_variable delivery_cv_;
  bool stopping_ = false;
  uint64_t committed_size_ = 0;  // the latest tree size the observer reported
  std::unordered_map<LiveSubscription*, std::shared_ptr<LiveSubscription>> subscribers_;
  size_t wire_form_subscribers_ = 0;  // guarded by mu_: those of subscribers_ with wire_form
  // guarded by mu_: open subscriptions per principal id (entries > 0 only; ≤ subscribers_max)
  std::unordered_map<std::string, size_t> per_principal_;
  // guarded by mu_: live subscriptions first (run_queues.h); each subscription at most once
  RunQueues<std::shared_ptr<LiveSubscription>> run_queue_;
  std::thread reader_;
  std::vector<std::thread> deliverers_;
  std::once_flag shutdown_once_;
};

}  // namespace cairn::subscribe
