// GroupRunner: one consumer group at work — its buffer of events read from the log, the
// deliveries in flight, its consumers, and the thread that delivers (docs/consumers.md).
//
// A group on "$all" reads the log from its read cursor; a group on one stream reads that
// stream's events through the stream index (StreamPageSource) and moves its cursor past other
// streams' positions.
//
// At least once: an event is done only when acked, skipped or parked. The delivery thread reads
// ahead (bounded by GroupLimits::buffer_events_max / buffer_bytes_max), hands each ready event to
// one consumer with room (at most its max in-flight), round-robin among the consumers that may
// receive it; replayed parked events go first. A delivery comes back ready when it is nacked
// with retry, when its ack timeout passes, or when its consumer leaves. An event delivered
// `retry_limit` times, or nacked with park, is parked in `$parked-<group>` (a reference, never
// the payload). An event that no connected consumer may receive waits for one that may (counted
// in unauthorized_waiting): a consumer with a narrower grant cannot move the group past it.
//
// The position (GroupStore) is saved by the delivery thread at most every
// checkpoint_interval_ms or after checkpoint_changes_max changes, and on Stop(). Reading stops
// while done_above_max done events wait above an undone one, so what is saved stays bounded; an
// undone event that consumers receive times out, is retried and finally parked, so the group
// moves on; one that no connected consumer may receive holds it until a consumer that may joins
// (or the policy changes).
//
// Thread safety: every public method is safe to call from any thread. Wake() is cheap (commit
// observers call it). Stop() joins the thread; afterwards every method is a no-op.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <vector>

#include "common/status.h"
#include "engine/event_store.h"
#include "subscribe/group_consumer.h"
#include "subscribe/group_settings.h"
#include "subscribe/group_store.h"
#include "subscribe/stream_page_source.h"

namespace cairn::subscribe {

enum class NackAction : uint8_t { kRetry, kPark, kSkip };

struct GroupCounters {
  uint64_t done_below = 0;
  uint64_t read_position = 0;
  uint32_t consumers = 0;
  uint32_t in_flight = 0;
  uint64_t acked = 0;
  uint64_t parked = 0;
  uint64_t skipped = 0;
  // Events that no connected consumer may receive, waiting for one that may (as of the latest
  // delivery round that judged every pending event; 0 without consumers).
  uint64_t unauthorized_waiting = 0;
  uint64_t replay_pending = 0;
  uint64_t withdrawn = 0;  // taken back unsent after a reload revoked their type (Withdraw)
  uint64_t index_pages = 0;  // pages read through a stream's index (a group on one stream)
  uint64_t stalled = 0;    // consumers dropped because they stopped reading (WriteStalled)
  // References in `$parked-<group>` below this version are replayed and done: the stream's
  // event count minus it is what is parked now.
  uint64_t replay_next = 0;
};

// What caps a consumer's in-flight request: the group's max_in_flight (cairn.v1), or only the
// server's in_flight_max (EventStoreDB, whose groups have no such setting: each connection's
// buffer size is its own). A request of 0 takes the group's either way.
enum class InFlightBound : uint8_t { kGroup, kServer };

struct JoinResult {
  uint64_t consumer_id = 0;
  uint32_t max_in_flight = 0;
};

class GroupRunner {
 public:
  GroupRunner(engine::EventStore* store, GroupStore* groups, GroupLimits limits,
              GroupSettings settings, GroupPosition position);
  ~GroupRunner();
  GroupRunner(const GroupRunner&) = delete;
  GroupRunner& operator=(const GroupRunner&) = delete;

  void Start();
  // Joins the thread, saves the position when `save` (not for a deleted group) and ends every
  // consumer with `why`.
  void Stop(const Status& why, bool save);
  void Wake();

  // kResourceExhausted beyond consumers_per_group_max; kUnavailable once stopped.
  Result<JoinResult> Join(std::shared_ptr<GroupConsumer> consumer, uint32_t max_in_flight,
                          InFlightBound bound = InFlightBound::kGroup);
  // Its deliveries become ready for others. No Closed() call.
  void Leave(uint64_t consumer_id);
  // Unknown ids, and ids now delivered to another consumer, are ignored.
  void Ack(uint64_t consumer_id, const std::vector<uint64_t>& ack_ids);
  void Nack(uint64_t consumer_id, const std::vector<uint64_t>& ack_ids, NackAction action,
            std::string_view reason);

  // Queues the references parked so far for replay — at most `count_max` more beyond those
  // already queued, when set; returns how many are pending.
  Result<uint64_t> ReplayParked(std::optional<uint64_t> count_max = std::nullopt);
  // Changes max_in_flight, retry_limit and ack_timeout_ms (validated by the engine).
  void Update(const GroupSettings& settings);
  GroupSettings settings() const;
  GroupCounters counters() const;

 private:
  struct Pending;
  struct Slot;
  struct Assignment;
  struct ParkJob;

  void Run();
  void Round();
  void BeginRounds();
  // Reads ahead into the buffer; true when more is there to read and room to buffer it.
  bool Fill();
  void FillReplay();
  void Dispatch();
  void Park(std::vector<ParkJob> jobs);
  void MaybeSave(bool force);

  // Under mu_.
  Pending* Find(uint64_t ack_id);
  bool DeliveredTo(const Pending& p, uint64_t consumer_id) const;
  void Release(Pending* p);
  void WithdrawnLocked(uint64_t consumer_id, const WithdrawnDelivery& withdrawn);
  void MarkDone(uint64_t ack_id);
  void AdvanceDoneBelow();
  void ExpireLocked(int64_t now_ms);
  void AssignLocked(std::vector<Assignment>* out, std::vector<ParkJob>* parks);
  Slot* PickLocked(const Pending& p, bool* anyone_may);
  uint32_t MaxInFlightLocked(const Slot& slot) const;
  bool FillAllowedLocked() const;
  GroupPosition PositionLocked() const;

  engine::EventStore* const store_;
  GroupStore* const groups_;
  const GroupLimits limits_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool wake_ = false;
  bool stopping_ = false;
  // Stop() has taken the consumers and saves the position: later acks and nacks are ignored (no
  // save would keep them; their events are delivered again after a restart).
  bool closed_ = false;
  GroupSettings settings_;
  std::map<uint64_t, Pending> main_;    // by position
  std::map<uint64_t, Pending> replay_;  // by version in the parked stream
  std::set<uint64_t> done_above_;
  uint64_t done_below_ = 0;
  uint64_t read_cursor_ = 0;
  // A group on one stream (not "$all"): its reads go through the stream index. Used only by the
  // delivery thread (Fill), outside mu_.
  std::optional<StreamPageSource> stream_source_;
  // Rounds started at once in a row while catching up (the delivery thread's); at most
  // kImmediateRoundsMax (256 pages of up to 256 events: ~0.1 s of reading here), then the group
  // waits for its tick (50 ms): a group far behind takes at most about two thirds of a core.
  static constexpr uint32_t kImmediateRoundsMax = 256;
  uint32_t immediate_rounds_ = 0;
  uint64_t replay_next_ = 0;  // next parked version to load
  uint64_t replay_end_ = 0;
  size_t buffered_bytes_ = 0;  // of main_ (bounded by buffer_bytes_max)
  size_t replay_bytes_ = 0;    // of replay_ (bounded by replay_buffer_bytes_max)
  std::map<uint64_t, Slot> consumers_;
  uint64_t consumer_id_last_ = 0;
  uint64_t rr_last_ = 0;  // round robin: the consumer that got the last delivery
  GroupCounters counters_;
  uint64_t changes_unsaved_ = 0;
  int64_t saved_at_ms_ = 0;
  std::thread thread_;
};

}  // namespace cairn::subscribe
