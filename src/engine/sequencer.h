// Sequencer: the single writer of the log, with group commit (DESIGN.md, the append path, step 4).
//
// Callers hand it validated, pre-hashed appends (PreparedAppend) from any thread; Submit() blocks
// until the append is durable or has failed. Two threads form a pipeline:
//  - the sequencer thread takes every queued append (up to group_events_max events), checks
//    expected versions against the stream heads, assigns positions and versions, builds entries,
//    leaf hashes, stream chains and the compact range, encrypts the records at rest into one
//    CommitWriter, and hands the group to
//  - the committer thread, which commits it (one LogStore transaction, one sync) and answers the
//    callers.
// So group N+1 is prepared while group N waits for its fsync. Small groups (few events, little
// crypto) are committed by the sequencer thread itself, after any group the committer holds. The sequencer's state (tree, heads,
// idempotency window) runs ahead of what is committed; if a commit fails, every group prepared on
// top of it fails too (the store refuses its base size), and the sequencer reloads its state from
// the store before the next group. Callers are only ever answered "ok" after their group's sync.
//
// Shared stores (several nodes on one PostgreSQL database): BeginCommit() takes the store's
// commit lock; when the writer reports that other nodes extended the log, the sequencer rebases
// under that lock (Rebase: their event ids and stream heads, their tree; a storage epoch they
// made is loaded when one of their records or summaries names it) before
// sequencing, so expected versions are checked against the whole log and the nodes never fork it.
// While other nodes write too, there is no pipeline: the sequencer begins the next group only once
// its committer is idle (the group could not lock before that commit releases the lock), waits
// for the lock (on a helper thread, learning meanwhile what the prefetcher decodes of the other
// nodes' commits), and only then takes the queued appends, so that everything that arrived during
// the wait joins the group (BeginGroup, then TakeGroup; tasks wait, as they lock themselves).
// Each commit leaves a summary of its group for the next holder (group_summary.h). Once no other node has written for kContentionQuietMs (counted from the start), groups are
// committed optimistically instead (BeginOptimisticCommit): the next group's rows are sent while
// the previous one commits, and the lock is taken only at commit. A group that loses the race to another node (kAborted:
// nothing written) is not answered: its appends are sequenced again, first in line, on the
// rolled-back state, at most kRaceRetriesMax times; and the sequencer locks first again.
//
// Invariants (asserted): positions are dense and strictly increasing; a stream's versions are
// dense; every entry's stream_prev is the leaf hash of the stream's previous event; the committed
// tree size equals the compact range's size.
//
// Thread safety: Submit() and committed() are safe from any thread. The queue is bounded
// (queue_appends_max appends, kQueueSizeBytesMax bytes): Submit() waits while it is full
// (back-pressure): a client's append at most Options::queue_wait_ms_max, then it answers
// kUnavailable (a delete on one of the server's request threads must not hold it for as long as
// other writers keep the queue full); cairn's own appends to '$' streams (audit, alerts, parked
// events) for as long as it takes. SubmitAsync() never waits and answers kUnavailable at once.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "common/status.h"
#include "engine/engine_metrics.h"
#include "engine/event_store.h"
#include "engine/id_window.h"
#include "engine/record_codec.h"
#include "engine/remote_prefetch.h"
#include "engine/types.h"
#include "integrity/merkle.h"
#include "keys/storage_keys.h"
#include "storage/log_store.h"

namespace cairn::engine {

// How a failed commit is answered: the storage may have written the batch before failing (a WAL
// fsync error, a lost PostgreSQL COMMIT), so the caller is told to re-send, not that nothing was
// written.
inline constexpr std::string_view kCommitFailedText =
    "commit failed: all of this append or none of it is stored; re-send it with the same event "
    "ids to settle which (it is appended at most once)";

struct PreparedEvent {
  std::string event_id;  // 16 bytes
  std::string event_type;
  std::string content_type;
  std::string data;
  std::string metadata;
  crypto::Hash data_hash{};
  crypto::Hash metadata_hash{};
  uint64_t content_tag = 0;  // ContentTag (id_window.h), computed in the caller's thread
};

struct PreparedAppend {
  std::string stream_id;
  ExpectedVersion expected;
  std::vector<PreparedEvent> events;
  bool tombstone = false;  // the single event is the stream's tombstone
  // MonotonicNowNs() at a client's append call, for the append latency metric; 0 = not observed
  // (system appends, metrics off).
  int64_t call_started_ns = 0;
};

struct CommittedState {
  uint64_t size = 0;
  crypto::Hash root{};
};

class Sequencer {
 public:
  // Loads the committed tree state and starts the sequencer thread. Called with the store open.
  static Result<std::unique_ptr<Sequencer>> Start(storage::LogStore* store, keys::StorageKeys* keys,
                                                  const Options& options);
  ~Sequencer();  // finishes queued appends, then stops the thread
  Sequencer(const Sequencer&) = delete;
  Sequencer& operator=(const Sequencer&) = delete;

  // Blocks until the append is durable (or failed); a client's append (not a '$' stream) answers
  // kUnavailable after waiting Options::queue_wait_ms_max for room in a full queue (nothing
  // written).
  Result<AppendResult> Submit(PreparedAppend append);
  // Queues the append and returns; `done` runs exactly once with the result, on the sequencer
  // or committer thread (or at once on this thread when the append is not queued: the store is
  // shutting down, or the queue is full: kUnavailable, nothing written, safe to re-send).
  // `done` must be quick and must not call back into the store. Never waits: its callers are
  // threads that serve many calls (gRPC's callback threads).
  void SubmitAsync(PreparedAppend append, AppendCallback done);
  CommittedState committed() const;
  // Starts a new storage epoch at the next position to be assigned, on the sequencer thread
  // between two groups (so no group straddles it). Blocks until the epoch is durable; returns
  // its number. kUnavailable when the store is shutting down.
  Result<uint32_t> RotateStorageKey();
  // Called on the sequencer thread after each successful commit with the new tree size (and
  // after a rebase onto other nodes' commits).
  void SetCommitListener(std::function<void(uint64_t)> listener);
  // Shared stores: another node committed `state` (read from the store). Publishes it as
  // committed if it is ahead of what this node knows; returns whether it was. `announced`: the
  // tree row it was read from, with its group summary (the prefetcher may take the summary).
  bool AdvanceCommitted(const CommittedState& state, storage::TreeState* announced = nullptr);

  // Other nodes' events this node learned while rebasing onto their commits (shared stores):
  // how many its prefetcher had decoded ahead, how many the summary of the group before the lock
  // told it (group_summary.h), and how many it read under the commit lock. `ahead_summarized`:
  // of the entries the prefetcher decoded, how many came from group summaries (not records).
  struct RebaseReads {
    uint64_t prefetched = 0;
    uint64_t ahead_summarized = 0;
    uint64_t learned_before_lock = 0;  // of `prefetched`: learned before waiting for the lock
    uint64_t summarized = 0;
    uint64_t read = 0;
    uint64_t rebases = 0;
    uint64_t rebase_ns = 0;  // total time in Rebase (under the commit lock)
  };
  RebaseReads rebase_reads() const {
    return {rebase_prefetched_.load(std::memory_order_relaxed),
            prefetcher_ ? prefetcher_->summarized() : 0,
            learned_before_lock_.load(std::memory_order_relaxed),
            rebase_summarized_.load(std::memory_order_relaxed),
            rebase_read_.load(std::memory_order_relaxed), rebases_.load(std::memory_order_relaxed),
            rebase_ns_.load(std::memory_order_relaxed)};
  }

 private:
  struct Pending {
    PreparedAppend append;
    AppendCallback done;
    int races_lost = 0;  // optimistic commits of this append that another node pre-empted
  };
  struct Task {  // work run on the sequencer thread between groups
    std::function<void()> run;
  };
  struct Group;  // one group commit in preparation or in flight (sequencer.cc)

  // Queues `pending` (waiting for room when `wait_for_room`); gives it back when it was not
  // queued, with the reason.
  std::unique_ptr<Pending> Enqueue(std::unique_ptr<Pending> pending, bool wait_for_room,
                                   Status* refused);
  void SubmitPending(std::unique_ptr<Pending> pending, bool wait_for_room);

  Sequencer(storage::LogStore* store, keys::StorageKeys* keys, const Options& options,
            integrity::CompactRange tree);
  void RunSequencer();
  void RunCommitter();
  // Takes the next group's appends and, unless `tasks` is nullptr, the queued tasks.
  std::vector<std::unique_ptr<Pending>> TakeGroup(std::vector<Task>* tasks);
  bool LocksFirst() const;
  void WaitForCommitterIdle();
  bool WaitToTakeNextGroup();
  bool HasWork();
  std::unique_ptr<Group> BeginGroup();
  // `begun`: a group BeginGroup() began (nullptr: begin one now).
  std::unique_ptr<Group> Prepare(std::vector<std::unique_ptr<Pending>> pendings,
                                 std::unique_ptr<Group> begun = nullptr);
  void HandOff(std::unique_ptr<Group> group);
  void CommitInline(Group& group);
  void Commit(Group& group);
  Status MakeAnswersDurable(Group& group);
  void ForgetUnconfirmedRebase(std::unique_ptr<storage::CommitWriter> lock, bool rebased,
                               const Status& task);
  void RecordAnswerLatencies(const Group& group) const;
  bool RequeueIfRaceLost(Group& group, const Status& commit);
  bool FinishedStopping();
  Status RollBackIfNeeded(uint64_t* seen);
  Result<AppendResult> Sequence(Group& group, const PreparedAppend& append);
  Result<storage::StreamHead> HeadFor(Group& group, const std::string& stream_id);
  std::optional<Result<AppendResult>> CheckIdempotent(const PreparedAppend& append);
  void ApplySpeculatively(Group& group);
  storage::TreeState TreeStateOf(Group& group);
  Status RebuildIdWindow();
  Status Rebase(const storage::TreeState& state);  // timed; RebaseOnto does the work
  Status RebaseOnto(const storage::TreeState& state);
  Status LearnRemote(const storage::TreeState& state, uint64_t from);
  void LearnAhead();
  Result<std::unique_ptr<storage::CommitWriter>> LockLearningAhead();
  void Learn(const RemoteEntry& e);
  Result<uint64_t> TakeSummary(const storage::TreeState& state, uint64_t from,
                               std::vector<std::optional<RemoteEntry>>* ahead);
  Status RefreshStorageKeysIfDue();
  Status MaybeRotateStorageKey(size_t events);

  storage::LogStore* const store_;
  keys::StorageKeys* const keys_;
  const Options options_;
  RecordCipher cipher_;  // sequencer thread only
  const EngineMetrics metrics_;

  // Sequencer-thread state: the tree as prepared (ahead of committed_ by at most two groups),
  // and caches of heads and event ids as prepared.
  integrity::CompactRange tree_;
  std::unordered_map<std::string, storage::StreamHead> head_cache_;
  IdWindow id_window_;
  bool id_window_loaded_ = false;
  // Other nodes' events at [tree_.size(), learned_to_) are already in id_window_ (LearnAhead);
  // reset with the window.
  uint64_t learned_to_ = 0;
  std::atomic<uint64_t> learned_before_lock_{0};
  int64_t last_recorded_at_ns_ = 0;
  int64_t keys_refreshed_ns_ = 0;  // MonotonicNowNs() of the last storage-key refresh
  // MonotonicNowNs() when another node's commit was last seen (a rebase or a lost race).
  std::atomic<int64_t> contention_seen_ns_{0};
  std::atomic<uint64_t> rebase_prefetched_{0}, rebase_summarized_{0}, rebase_read_{0}, rebases_{0},
      rebase_ns_{0};
  std::unique_ptr<RemotePrefetcher> prefetcher_;  // shared stores only

  mutable std::mutex mu_;  // guards everything below
  std::condition_variable not_empty_, not_full_, handoff_cv_;
  std::deque<std::unique_ptr<Pending>> queue_;
  std::deque<std::unique_ptr<Pending>> retry_;  // appends of groups that lost a race, in order
  bool last_failure_was_race_ = false;          // the latest failed commit lost a race
  size_t queued_events_ = 0;
  size_t queued_bytes_ = 0;  // AppendSizeBytes of the appends in queue_
  std::vector<Task> tasks_;
  bool stopping_ = false;
  std::unique_ptr<Group> handoff_;   // prepared, waiting for the committer (at most one)
  bool committing_ = false;          // the committer holds a group
  bool sequencer_done_ = false;      // no more groups will be handed off
  uint64_t failed_commits_ = 0;      // groups prepared before a failure are doomed
  uint64_t rolled_back_failures_ = 0;  // failed_commits_ at the last roll-back
  CommittedState committed_;
  std::function<void(uint64_t)> listener_;
  std::thread sequencer_thread_, committer_thread_;
};

}  // namespace cairn::engine
