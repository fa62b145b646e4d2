#include "engine/sequencer.h"

#include <algorithm>
#include <cassert>
#include <chrono>

#include "common/bytes.h"
#include "common/thread_name.h"
#include "engine/group_summary.h"
#include "integrity/entry.h"

namespace cairn::engine {

namespace {
constexpr size_t kHeadCacheEntriesMax = 1'000'000;
constexpr size_t kGroupSizeBytesMax = size_t{64} << 20;
// The appends waiting for the sequencer, in bytes (4096 appends of 4 MiB would be 16 GiB).
constexpr size_t kQueueSizeBytesMax = size_t{256} << 20;
// Groups smaller than this are committed by the sequencer thread itself (see CommitInline).
constexpr size_t kPipelinedGroupEventsMin = 64;
// Shared stores: how stale this node's view of the storage epochs may get (see
// RefreshStorageKeysIfDue).
constexpr int64_t kKeysRefreshIntervalMs = 1000;
// While waiting for the commit lock, the sequencer takes what the prefetcher decoded this often.
constexpr int64_t kLearnAheadPollUs = 500;
// Shared stores: groups are committed optimistically once no other node's commit has been seen
// for this long; an append is sequenced again at most kRaceRetriesMax times after lost races.
constexpr int64_t kContentionQuietMs = 2000;
constexpr int kRaceRetriesMax = 3;

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// What an append holds in memory while queued, strings and structures alike (the queue's and a
// group's byte bounds count this).
size_t AppendSizeBytes(const PreparedAppend& a) {
  size_t n = sizeof(PreparedAppend) + a.stream_id.size() + a.events.capacity() * sizeof(PreparedEvent);
  for (const auto& e : a.events) {
    n += e.event_id.size() + e.event_type.size() + e.content_type.size() + e.data.size() +
         e.metadata.size();
  }
  return n;
}
}  // namespace

struct Sequencer::Group {
  std::vector<std::unique_ptr<Pending>> pendings;
  std::vector<Result<AppendResult>> results;  // one per pending
  uint64_t failed_commits_seen = 0;           // failed_commits_ when prepared
  bool optimistic = false;                    // writer begun by BeginOptimisticCommit
  uint64_t base_size = 0;
  crypto::Hash root{};                        // root after this group
  bool wrote = false;                         // the group has events to commit
  bool touched = false;                       // Sequence changed the sequencer's id window
  std::optional<CommittedState> rebased_to;   // the state the writer's rebase brought the tree to
  size_t events = 0;                          // events proposed by the group's appends
  uint64_t appended_bytes = 0;                // data + metadata bytes of the events written
  std::unique_ptr<storage::CommitWriter> writer;
  integrity::CompactRange tree;
  std::unordered_map<std::string, storage::StreamHead> heads;  // heads changed by this group
  std::vector<std::pair<integrity::NodeId, crypto::Hash>> completed;
  std::string entry_buf, record_buf;
  GroupSummaryBuilder summary;                // shared stores: what other nodes learn of it
  std::vector<std::string_view> ids;          // scratch for the summary's runs
  std::vector<uint64_t> content_tags;
  int64_t recorded_at_ns = 0;
  uint32_t epoch = 0;
  Status broken;  // a failure after state was touched: the whole group fails
};

Result<std::unique_ptr<Sequencer>> Sequencer::Start(storage::LogStore* store,
                                                    keys::StorageKeys* keys,
                                                    const Options& options) {
  if (options.idempotency_window_events > IdWindow::kCapacityMax) {
    return Status::InvalidArgument("idempotency_window_events is at most " +
                                   std::to_string(IdWindow::kCapacityMax));
  }
  CAIRN_ASSIGN_OR_RETURN(storage::TreeState state, store->ReadTreeState());
  integrity::CompactRange tree;
  if (state.size > 0 || !state.compact_range.empty()) {
    auto parsed = integrity::CompactRange::Deserialize(state.compact_range);
    if (!parsed.ok()) return parsed.status().Annotate("stored tree state");
    if (parsed->size() != state.size) return Status::DataLoss("stored tree state is inconsistent");
    tree = std::move(parsed).value();
  }
  std::unique_ptr<Sequencer> s(new Sequencer(store, keys, options, std::move(tree)));
  s->committer_thread_ = std::thread([p = s.get()] {
    SetCurrentThreadName("cairn-committer");
    p->RunCommitter();
  });
  s->sequencer_thread_ = std::thread([p = s.get()] {
    SetCurrentThreadName("cairn-sequencer");
    p->RunSequencer();
  });
  return s;
}

Sequencer::Sequencer(storage::LogStore* store, keys::StorageKeys* keys, const Options& options,
                     integrity::CompactRange tree)
    : store_(store),
      keys_(keys),
      options_(options),
      cipher_(keys),
      metrics_(options.metrics),
      tree_(std::move(tree)),
      id_window_(options.idempotency_window_events) {
  committed_ = {tree_.size(), tree_.Root()};
  if (store->shared()) prefetcher_ = std::make_unique<RemotePrefetcher>(store, keys);
  // Nodes starting together would all begin optimistic and break each other's first groups
  // (each a deadlock PostgreSQL detects only after its deadlock_timeout): lock first until the
  // node has been alone for kContentionQuietMs.
  contention_seen_ns_ = MonotonicNowNs();
}

Sequencer::~Sequencer() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  not_empty_.notify_all();
  not_full_.notify_all();
  if (sequencer_thread_.joinable()) sequencer_thread_.join();  // drains the queue
  if (committer_thread_.joinable()) committer_thread_.join();  // commits what was handed off
}

CommittedState Sequencer::committed() const {
  std::lock_guard<std::mutex> lock(mu_);
  return committed_;
}

void Sequencer::SetCommitListener(std::function<void(uint64_t)> listener) {
  std::lock_guard<std::mutex> lock(mu_);
  listener_ = std::move(listener);
}

Result<AppendResult> Sequencer::Submit(PreparedAppend append) {
  std::promise<Result<AppendResult>> promise;
  auto done = promise.get_future();
  auto pending = std::make_unique<Pending>();
  pending->append = std::move(append);
  pending->done = [&promise](Result<AppendResult> result) {
    promise.set_value(std::move(result));
  };
  SubmitPending(std::move(pending), /*wait_for_room=*/true);
  return done.get();
}

void Sequencer::SubmitAsync(PreparedAppend append, AppendCallback done) {
  auto pending = std::make_unique<Pending>();
  pending->append = std::move(append);
  pending->done = std::move(done);
  SubmitPending(std::move(pending), /*wait_for_room=*/false);
}

void Sequencer::SubmitPending(std::unique_ptr<Pending> pending, bool wait_for_room) {
  assert(!pending->append.events.empty());
  assert(pending->done);
  Status refused;
  pending = Enqueue(std::move(pending), wait_for_room, &refused);
  if (pending) {  // not queued
    assert(!refused.ok());
    pending->done(std::move(refused));
    return;
  }
  not_empty_.notify_one();
}

std::unique_ptr<Sequencer::Pending> Sequencer::Enqueue(std::unique_ptr<Pending> pending,
                                                       bool wait_for_room, Status* refused) {
  const size_t size_bytes = AppendSizeBytes(pending->append);
  std::unique_lock<std::mutex> lock(mu_);
  // Bounded in appends and in bytes (an empty queue takes any one append the limits allow).
  const auto has_room = [&] {
    return queue_.size() < options_.queue_appends_max &&
           (queue_.empty() || queued_bytes_ + size_bytes <= kQueueSizeBytesMax);
  };
  // cairn's own writers ('$' streams: the audit trail, alerts, parked events) wait for as long
  // as it takes, as they always did: their records must not be lost to a busy queue. A client's
  // synchronous append (a delete's tombstone, on a request thread) waits at most
  // queue_wait_ms_max.
  const bool system = !pending->append.stream_id.empty() && pending->append.stream_id[0] == '$';
  if (wait_for_room && system) not_full_.wait(lock, [&] { return stopping_ || has_room(); });
  if (wait_for_room && !system) {
    const bool room = not_full_.wait_for(lock, std::chrono::milliseconds(options_.queue_wait_ms_max),
                                         [&] { return stopping_ || has_room(); });
    if (!room) {
      metrics_.RecordQueueFull();
      *refused = Status::Unavailable("the append queue stayed full for " +
                                     std::to_string(options_.queue_wait_ms_max) +
                                     " ms; nothing was written, re-send after a short wait");
      return pending;
    }
  }
  if (stopping_) {
    *refused = Status::Unavailable("the store is shutting down");
    return pending;
  }
  if (!has_room()) {
    metrics_.RecordQueueFull();
    *refused = Status::Unavailable(
        "the append queue is full (" + std::to_string(options_.queue_appends_max) +
        " appends or " + std::to_string(kQueueSizeBytesMax >> 20) +
        " MiB waiting); nothing was written, re-send after a short wait");
    return pending;
  }
  queued_events_ += pending->append.events.size();
  queued_bytes_ += size_bytes;
  queue_.push_back(std::move(pending));
  assert(queue_.size() <= options_.queue_appends_max);
  assert(queued_bytes_ <= kQueueSizeBytesMax || queue_.size() == 1);
  return nullptr;
}

Result<uint32_t> Sequencer::RotateStorageKey() {
  std::promise<Result<uint32_t>> promise;
  auto done = promise.get_future();
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return Status::Unavailable("the store is shutting down");
    tasks_.push_back(Task{[this, &promise] {
      uint64_t seen = 0;
      // Not while this node's previous group commits: the lock would be taken at a size that
      // group is about to extend, and the rotation would fail as if a commit had failed. First,
      // so that a roll-back after that group failed sees its failure.
      if (store_->shared()) WaitForCommitterIdle();
      Status s = RollBackIfNeeded(&seen);
      std::unique_ptr<storage::CommitWriter> lock;  // shared stores: rotate under the commit lock
      bool rebased = false;
      if (s.ok() && store_->shared()) {
        auto w = store_->BeginCommit(tree_.size());
        if (w.ok()) lock = std::move(w).value();
        else s = w.status();
        if (s.ok() && lock->rebased()) {
          rebased = true;
          s = Rebase(*lock->rebased());
        }
      }
      if (s.ok()) {
        const keys::StorageEpoch cur = keys_->current();
        s = keys_->Rotate(std::max(tree_.size(), cur.start_position));
      }
      ForgetUnconfirmedRebase(std::move(lock), rebased, s);
      if (s.ok()) promise.set_value(keys_->current().epoch);
      else promise.set_value(s);
    }});
  }
  not_empty_.notify_one();
  return done.get();
}

std::vector<std::unique_ptr<Sequencer::Pending>> Sequencer::TakeGroup(std::vector<Task>* tasks) {
  std::unique_lock<std::mutex> lock(mu_);
  not_empty_.wait(lock, [&] {
    return stopping_ || !queue_.empty() || !tasks_.empty() || !retry_.empty();
  });
  if (tasks != nullptr) tasks->swap(tasks_);
  std::vector<std::unique_ptr<Pending>> group;
  size_t events = 0, size_bytes = 0;
  // Appends of a group that lost a race first, in their order; then the queue.
  for (auto* from : {&retry_, &queue_}) {
    while (!from->empty()) {
      const PreparedAppend& next = from->front()->append;
      size_t n = next.events.size(), b = AppendSizeBytes(next);
      if (!group.empty() && (events + n > options_.group_events_max || size_bytes + b > kGroupSizeBytesMax)) {
        break;
      }
      events += n;
      size_bytes += b;
      if (from == &queue_) {
        queued_events_ -= n;
        assert(queued_bytes_ >= b);
        queued_bytes_ -= b;
      }
      group.push_back(std::move(from->front()));
      from->pop_front();
    }
    if (!retry_.empty()) break;  // the group is full
  }
  lock.unlock();
  not_full_.notify_all();
  return group;
}

void Sequencer::RunSequencer() {
  while (true) {
    // Take the next group only when the committer can take it next: appends that arrive during
    // a sync then join one group instead of trickling into many small ones.
    const bool contended = WaitToTakeNextGroup();
    // While other nodes commit too, lock first and take the group then: everything queued during
    // the lock wait joins it (docs/performance.md).
    std::unique_ptr<Group> begun;
    if (contended && HasWork()) begun = BeginGroup();
    std::vector<Task> tasks;
    // A begun group may hold the commit lock, which a task takes too: tasks wait for the next turn.
    auto pendings = TakeGroup(begun ? nullptr : &tasks);
    // Tasks (a storage key rotation) run before the group taken with them: appends queued
    // before the request may land in the new epoch, which is harmless.
    for (Task& t : tasks) t.run();
    if (pendings.empty()) {
      begun.reset();  // only tasks came: a begun writer rolls back, releasing the lock
      if (tasks.empty() && FinishedStopping()) break;
      continue;
    }
    std::unique_ptr<Group> group = Prepare(std::move(pendings), std::move(begun));
    if (group->events < kPipelinedGroupEventsMin) {
      CommitInline(*group);
    } else {
      HandOff(std::move(group));
    }
  }
  handoff_cv_.notify_all();
}

// Waits until the next group may be taken; returns whether other nodes commit too (a shared
// store, contention seen lately). Then only once the committer is idle: the next group must lock
// first and could not lock before this node's commit releases the lock anyway, so beginning it
// early gains nothing, while beginning it after that commit lets the commit's callers, answered
// by then, join it.
bool Sequencer::WaitToTakeNextGroup() {
  std::unique_lock<std::mutex> lock(mu_);
  const bool contended = LocksFirst();
  handoff_cv_.wait(lock, [&] { return handoff_ == nullptr && (!contended || !committing_); });
  return contended;
}

void Sequencer::WaitForCommitterIdle() {
  std::unique_lock<std::mutex> lock(mu_);
  handoff_cv_.wait(lock, [&] { return handoff_ == nullptr && !committing_; });
}

// Whether the next group of a shared store takes the commit lock before it is prepared: when
// other nodes committed lately, or when the store does not commit optimistically at all.
bool Sequencer::LocksFirst() const {
  if (!store_->shared()) return false;
  if (!store_->commits_optimistically()) return true;
  return MonotonicNowNs() - contention_seen_ns_.load() <= kContentionQuietMs * 1'000'000;
}

// Waits until an append (or a task) is queued; true when appends and no task are. A task (a
// storage key rotation) takes the commit lock itself, so it must run before a group begins.
bool Sequencer::HasWork() {
  std::unique_lock<std::mutex> lock(mu_);
  not_empty_.wait(lock, [&] { return stopping_ || !queue_.empty() || !tasks_.empty() || !retry_.empty(); });
  return (!queue_.empty() || !retry_.empty()) && tasks_.empty();
}

// Stopping with an empty queue: done once no group is in flight and none lost a race (whose
// appends would come back to retry_). Sets sequencer_done_ then.
bool Sequencer::FinishedStopping() {
  std::unique_lock<std::mutex> lock(mu_);
  handoff_cv_.wait(lock, [&] { return handoff_ == nullptr && !committing_; });
  if (!retry_.empty() || !queue_.empty() || !tasks_.empty()) return false;
  sequencer_done_ = true;
  return true;
}

// A small group has little to prepare, so overlapping it with the previous sync gains nothing,
// while handing it to the committer costs two thread switches. Commit it here, in order: after
// whatever the committer holds.
void Sequencer::CommitInline(Group& group) {
  {
    std::unique_lock<std::mutex> lock(mu_);
    handoff_cv_.wait(lock, [&] { return handoff_ == nullptr && !committing_; });
  }
  Commit(group);
}

void Sequencer::HandOff(std::unique_ptr<Group> group) {
  std::unique_lock<std::mutex> lock(mu_);
  handoff_cv_.wait(lock, [&] { return handoff_ == nullptr; });
  handoff_ = std::move(group);
  lock.unlock();
  handoff_cv_.notify_all();
}

void Sequencer::RunCommitter() {
  while (true) {
    std::unique_ptr<Group> group;
    {
      std::unique_lock<std::mutex> lock(mu_);
      handoff_cv_.wait(lock, [&] { return handoff_ != nullptr || sequencer_done_; });
      if (handoff_ == nullptr) return;  // sequencer done and nothing left
      group = std::move(handoff_);
      committing_ = true;
    }
    handoff_cv_.notify_all();
    Commit(*group);
    group.reset();  // its writer's destructor may touch the store: before the next group starts
    {
      std::lock_guard<std::mutex> lock(mu_);
      committing_ = false;
    }
    handoff_cv_.notify_all();
  }
}

// Shared stores: an administrator's rotation on another node makes a new epoch without extending
// the log (no rebase tells of it); pick it up at most kKeysRefreshIntervalMs later.
Status Sequencer::RefreshStorageKeysIfDue() {
  if (!store_->shared()) return Status::Ok();
  const int64_t now_ns = MonotonicNowNs();
  if (now_ns - keys_refreshed_ns_ < kKeysRefreshIntervalMs * 1'000'000) return Status::Ok();
  CAIRN_RETURN_IF_ERROR(keys_->Refresh());
  keys_refreshed_ns_ = now_ns;
  return Status::Ok();
}

Status Sequencer::MaybeRotateStorageKey(size_t events) {
  keys::StorageEpoch cur;
  auto due = [&] {
    cur = keys_->current();
    // After a failed commit the tree can be smaller than the epoch's recorded start (the epoch
    // was made for a group that never landed): it has then encrypted nothing yet.
    const uint64_t used = tree_.size() > cur.start_position ? tree_.size() - cur.start_position : 0;
    return used + events > options_.storage_key_encryptions_max;
  };
  if (!due()) return Status::Ok();
  // On a shared store another node may have rotated already: rotate only if it is still due.
  if (store_->shared()) {
    CAIRN_RETURN_IF_ERROR(keys_->Refresh());
    keys_refreshed_ns_ = MonotonicNowNs();
    if (!due()) return Status::Ok();
  }
  return keys_->Rotate(std::max(tree_.size(), cur.start_position));
}

// After a failed commit the prepared state ran ahead of the store: wait until no group is in
// flight, then reload the tree from the store and forget the caches. Returns, in *seen, the
// failure count the new group is built on (read in the same critical section as the check, so a
// failure that lands later is noticed at the group's commit). A failed reload is retried by the
// next group.
Status Sequencer::RollBackIfNeeded(uint64_t* seen) {
  uint64_t failures;
  {
    std::unique_lock<std::mutex> lock(mu_);
    *seen = failed_commits_;
    if (failed_commits_ == rolled_back_failures_) return Status::Ok();
    handoff_cv_.wait(lock, [&] { return handoff_ == nullptr && !committing_; });
    failures = *seen = failed_commits_;  // nothing is in flight: no failure can land now
  }
  CAIRN_ASSIGN_OR_RETURN(storage::TreeState state, store_->ReadTreeState());
  integrity::CompactRange tree;
  if (state.size > 0) {
    CAIRN_ASSIGN_OR_RETURN(tree, integrity::CompactRange::Deserialize(state.compact_range));
  }
  if (store_->shared()) CAIRN_RETURN_IF_ERROR(keys_->Refresh());  // another node's epochs
  tree_ = std::move(tree);
  head_cache_.clear();
  id_window_.Clear();
  id_window_loaded_ = false;
  learned_to_ = 0;
  std::lock_guard<std::mutex> lock(mu_);
  rolled_back_failures_ = failures;
  return Status::Ok();
}

// Begins a group: rolls back after a failed commit, begins the store's commit (a locked writer
// of a shared store waits for the commit lock here) and rebases onto other nodes' commits. A
// failure is kept in `broken`.
std::unique_ptr<Sequencer::Group> Sequencer::BeginGroup() {
  auto group = std::make_unique<Group>();
  Status setup = RollBackIfNeeded(&group->failed_commits_seen);
  if (setup.ok() && !id_window_loaded_) setup = RebuildIdWindow();
  if (setup.ok()) {
    group->optimistic = store_->shared() && !LocksFirst();
    auto writer = group->optimistic ? store_->BeginOptimisticCommit(tree_.size())
                                    : LockLearningAhead();
    if (writer.ok()) group->writer = std::move(writer).value();
    else setup = writer.status();
  }
  // A shared store's locked writer holds the commit lock now; another node may have extended the
  // log.
  if (setup.ok() && group->writer->rebased()) {
    contention_seen_ns_ = MonotonicNowNs();
    setup = Rebase(*group->writer->rebased());
    if (setup.ok()) group->rebased_to = CommittedState{tree_.size(), tree_.Root()};
  }
  if (setup.ok()) setup = RefreshStorageKeysIfDue();
  group->broken = setup;
  return group;
}

std::unique_ptr<Sequencer::Group> Sequencer::Prepare(std::vector<std::unique_ptr<Pending>> pendings,
                                                     std::unique_ptr<Group> begun) {
  std::unique_ptr<Group> group = begun ? std::move(begun) : BeginGroup();
  group->pendings = std::move(pendings);
  size_t events = 0;
  for (const auto& p : group->pendings) events += p->append.events.size();
  group->events = events;
  Status setup = group->broken;
  if (setup.ok()) setup = MaybeRotateStorageKey(events);
  if (!setup.ok()) {
    group->broken = setup;
    group->results.assign(group->pendings.size(), Result<AppendResult>(setup));
    return group;
  }
  group->base_size = tree_.size();
  group->tree = tree_;
  group->epoch = keys_->current().epoch;
  group->recorded_at_ns = std::max(NowNs(), last_recorded_at_ns_);
  group->results.reserve(group->pendings.size());
  for (auto& p : group->pendings) group->results.push_back(Sequence(*group, p->append));
  if (group->broken.ok() && group->tree.size() > tree_.size()) {
    for (const auto& [stream, head] : group->heads) group->writer->PutStreamHead(stream, head);
    group->writer->PutTreeState(TreeStateOf(*group));
    ApplySpeculatively(*group);
    // Optimistic: the rows travel now, while the previous group commits. A failure is kept by
    // the writer and returned by its Commit().
    if (group->optimistic) (void)group->writer->Stage();
  }
  return group;
}

// The tree state a group commits, with its summary when other nodes are writing too (a locked
// writer: another node's commit was seen lately). A node writing alone commits optimistically
// and leaves none — nobody is waiting to read it, and it costs the commit ~1 ms of TOAST writes;
// the first node to lock after it reads that group's records instead, once. So does the next
// node when a summary cannot be sealed.
storage::TreeState Sequencer::TreeStateOf(Group& group) {
  storage::TreeState state{group.tree.size(), group.tree.Serialize()};
  if (!store_->shared() || group.optimistic) return state;
  assert(group.summary.events() == state.size - group.base_size);
  if (group.summary.Seal(cipher_, group.epoch, group.base_size, group.recorded_at_ns, &state.group_summary).ok()) {
    state.group_from = group.base_size;
  } else {
    state.group_summary.clear();
  }
  return state;
}

// Every answer of a group depends on the state it was prepared on (expected versions, heads,
// the idempotency window). So either the group commits and every caller gets its own result, or
// every caller gets the failure: no caller is told "ok" or "wrong version" from a state that never
// became durable.
void Sequencer::Commit(Group& group) {
  Status commit = group.broken;
  const bool wrote = commit.ok() && group.wrote;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (commit.ok() && group.failed_commits_seen != failed_commits_) {
      commit = Status::Aborted("an earlier group commit failed; nothing of this append was written, retry it");
    }
  }
  const int64_t commit_start_ns = metrics_.enabled() ? MonotonicNowNs() : 0;
  if (commit.ok() && wrote && prefetcher_) prefetcher_->Skip(group.base_size, group.tree.size());
  if (commit.ok() && wrote) commit = group.writer->Commit();
  if (commit.ok() && !wrote && store_->shared()) commit = MakeAnswersDurable(group);
  if (commit.ok() && wrote && prefetcher_) prefetcher_->Applied(group.tree.size());
  if (RequeueIfRaceLost(group, commit)) return;
  if (commit.ok() && wrote && metrics_.enabled()) {
    metrics_.RecordCommit(group.tree.size() - group.base_size, group.appended_bytes,
                          MonotonicNowNs() - commit_start_ns);
  }
  std::function<void(uint64_t)> listener;
  uint64_t announce_size = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    // A failed group that changed the sequencer's state makes the next group roll back. On a
    // shared store any failed group does: it may have learned (rebase, stream heads) from another
    // node's commit that a crash of the database then lost.
    if (!commit.ok() && (wrote || group.touched || store_->shared())) {
      ++failed_commits_;
      last_failure_was_race_ = false;
    }
    if (commit.ok() && wrote) {
      // On a shared store the commit lock is released at COMMIT: this node's own notification,
      // and other nodes' later commits, may have been seen before this line.
      assert(store_->shared() || group.base_size == committed_.size);
      if (group.tree.size() > committed_.size) committed_ = {group.tree.size(), group.root};
      listener = listener_;
      announce_size = group.tree.size();
    }
    // A group that wrote nothing after a rebase: the rebased state is durable now.
    if (commit.ok() && !wrote && group.rebased_to && group.rebased_to->size > committed_.size) {
      committed_ = *group.rebased_to;
      listener = listener_;
      announce_size = committed_.size;
    }
  }
  if (listener) listener(announce_size);
  RecordAnswerLatencies(group);
  for (size_t i = 0; i < group.pendings.size(); ++i) {
    if (!commit.ok()) {
      // The storage may have written the batch before failing (a WAL fsync error, a lost
      // PostgreSQL COMMIT): all of it or none, known for sure only by a re-send.
      group.pendings[i]->done(commit.Annotate(std::string(kCommitFailedText)));
    } else {
      group.pendings[i]->done(std::move(group.results[i]));
    }
  }
}

// A task that took the commit lock (a storage key rotation) writes nothing to the log, but its
// rebase taught the sequencer another node's commits, which later groups build on: as for a group
// that writes nothing (MakeAnswersDurable), what it read must be durable. When that cannot be
// confirmed, or the task failed after rebasing, the next group reloads the sequencer's state
// instead (a database crash may have lost the commit it learned). Releases the lock.
void Sequencer::ForgetUnconfirmedRebase(std::unique_ptr<storage::CommitWriter> lock, bool rebased,
                                        const Status& task) {
  if (lock == nullptr) return;
  const Status durable = lock->FinishWithoutWriting();
  lock.reset();
  if (durable.ok() && (task.ok() || !rebased)) return;
  std::lock_guard<std::mutex> guard(mu_);
  ++failed_commits_;
  last_failure_was_race_ = false;
}

// A group on a shared store that writes nothing is answered from state it read outside a commit
// of its own: other nodes' commits learned in the rebase, stream heads read from the store. A
// commit of another node may be visible there before it is durable (its lock is released before
// its sync: storage/log_store.h), so the answers wait until everything read is durable — else a
// crash of the database could lose an event after this node had answered "already appended" or
// "wrong expected version" from it. If that cannot be confirmed the group fails, and the next
// group reloads the sequencer's state (see Commit).
Status Sequencer::MakeAnswersDurable(Group& group) {
  Status s = group.writer->FinishWithoutWriting();
  group.writer.reset();
  return s;
}

// A group that another node pre-empted (an optimistic race lost, or an optimistic group that
// wrote nothing while the log moved; kAborted from its writer) wrote nothing, and neither did a
// group prepared on top of it: their appends go back to the front of
// the line, to be sequenced again on the rolled-back state, unanswered. Returns whether the group
// was requeued.
bool Sequencer::RequeueIfRaceLost(Group& group, const Status& commit) {
  if (commit.ok() || commit.code() != StatusCode::kAborted) return false;
  // An optimistic group that wrote nothing answered from this node's view (a cached head that
  // says "wrong expected version"); its writer aborts when another node committed meanwhile.
  if (!group.wrote && !group.optimistic) return false;
  std::vector<std::unique_ptr<Pending>> exhausted;
  {
    std::lock_guard<std::mutex> lock(mu_);
    // kAborted from a writer means nothing was written: a lost optimistic race, a deadlock with
    // another node's transaction, an in-doubt commit that did not land.
    const bool lost = group.failed_commits_seen == failed_commits_;
    const bool follows_lost = group.failed_commits_seen != failed_commits_ && last_failure_was_race_;
    if (!lost && !follows_lost) return false;
    ++failed_commits_;  // the state the group was prepared on never became durable
    last_failure_was_race_ = true;
    for (auto& p : group.pendings) {
      if (++p->races_lost > kRaceRetriesMax) exhausted.push_back(std::move(p));
      else retry_.push_back(std::move(p));
    }
  }
  contention_seen_ns_ = MonotonicNowNs();
  not_empty_.notify_one();
  for (auto& p : exhausted) {
    p->done(Status::Aborted("other nodes extended the log first " + std::to_string(kRaceRetriesMax + 1) +
                            " times; nothing of this append was written, retry it"));
  }
  return true;
}

// One clock read per group: every client append of it is answered now.
void Sequencer::RecordAnswerLatencies(const Group& group) const {
  if (!metrics_.enabled()) return;
  const int64_t now_ns = MonotonicNowNs();
  for (const auto& p : group.pendings) {
    if (p->append.call_started_ns != 0) {
      metrics_.RecordAppendLatency(now_ns - p->append.call_started_ns);
    }
  }
}

Result<storage::StreamHead> Sequencer::HeadFor(Group& group, const std::string& stream_id) {
  if (auto it = group.heads.find(stream_id); it != group.heads.end()) return it->second;
  if (auto it = head_cache_.find(stream_id); it != head_cache_.end()) return it->second;
  CAIRN_ASSIGN_OR_RETURN(std::optional<storage::StreamHead> stored, store_->ReadStreamHead(stream_id));
  storage::StreamHead head = stored.value_or(storage::StreamHead{});
  // Never trimmed here: the cache holds heads of a group that may still be in flight. It is
  // trimmed in ApplySpeculatively, whose next reader runs after that group has committed. A
  // full cache takes no more store reads: appends that write nothing (a wrong expected version
  // on many streams) must not grow it without bound, and a head read from the store is the
  // committed one, read again next time.
  if (head_cache_.size() < kHeadCacheEntriesMax) head_cache_.emplace(stream_id, head);
  assert(head_cache_.size() <= kHeadCacheEntriesMax);
  return head;
}


// Event ids are unique within the idempotency window. A batch whose ids were all appended before,
// consecutively to the same stream, with the same content (ContentTag: type, content type,
// metadata and, unless it has protected fields, data) and an expected version that matched then,
// is a re-send: it succeeds again without writing. Any other reuse of an id is refused.
std::optional<Result<AppendResult>> Sequencer::CheckIdempotent(const PreparedAppend& append) {
  // The window already holds this group's earlier appends (see Sequence).
  auto find = [&](const EventIdKey& key) { return id_window_.Find(key); };
  std::vector<const IdRecord*> found;
  found.reserve(append.events.size());
  bool any = false;
  for (const PreparedEvent& ev : append.events) {
    found.push_back(find(EventIdKey::From(ev.event_id)));
    any = any || found.back() != nullptr;
  }
  if (!any) return std::nullopt;
  const IdRecord* first = found[0];
  const uint64_t tag = StreamTag(append.stream_id);
  bool replay = first != nullptr;
  for (size_t i = 0; replay && i < found.size(); ++i) {
    replay = found[i] != nullptr && found[i]->stream_tag == tag &&
             found[i]->version == first->version + i &&
             ContentTagsMatch(found[i]->content_tag, append.events[i].content_tag);
  }
  const ExpectedVersion& ev = append.expected;
  replay = replay && (ev.kind == ExpectedVersion::Kind::kAny ||
                      ev.kind == ExpectedVersion::Kind::kStreamExists ||
                      (ev.kind == ExpectedVersion::Kind::kNoStream && first->version == 0) ||
                      (ev.kind == ExpectedVersion::Kind::kExact && first->version > 0 &&
                       ev.version == first->version - 1));
  if (!replay) {
    for (size_t i = 0; i < found.size(); ++i) {
      if (found[i] == nullptr) continue;
      // Neither the stream nor the position: the caller may not be allowed to read them.
      return Result<AppendResult>(Status::AlreadyExists(
          "event " + FormatUuid(append.events[i].event_id) +
          " was already appended and this append is not an identical re-send of it"));
    }
  }
  AppendResult r;
  r.first_position = first->position;
  r.first_version = first->version;
  r.last_position = found.back()->position;
  r.last_version = found.back()->version;
  r.idempotent_replay = true;
  return Result<AppendResult>(r);
}

namespace {
Status CheckExpected(const std::string& stream_id, const ExpectedVersion& ev,
                     const storage::StreamHead& head) {
  const bool exists = head.next_version > 0;
  const int64_t current = exists ? static_cast<int64_t>(head.next_version - 1) : -1;
  bool ok = true;
  switch (ev.kind) {
    case ExpectedVersion::Kind::kAny: break;
    case ExpectedVersion::Kind::kNoStream: ok = !exists; break;
    case ExpectedVersion::Kind::kStreamExists: ok = exists; break;
    case ExpectedVersion::Kind::kExact: ok = exists && head.next_version - 1 == ev.version; break;
  }
  if (ok) return Status::Ok();
  std::string where = exists ? "is at version " + std::to_string(current) : "does not exist";
  return Status::WrongExpectedVersion("stream '" + stream_id + "' " + where + " (expected " +
                                          ev.ToString() + ")",
                                      current);
}
}  // namespace

Result<AppendResult> Sequencer::Sequence(Group& group, const PreparedAppend& append) {
  if (!group.broken.ok()) return group.broken;
  CAIRN_ASSIGN_OR_RETURN(storage::StreamHead head, HeadFor(group, append.stream_id));
  if (auto replay = CheckIdempotent(append)) return std::move(*replay);
  if (head.deleted) return Status::StreamDeleted("stream '" + append.stream_id + "' is deleted");
  CAIRN_RETURN_IF_ERROR(CheckExpected(append.stream_id, append.expected, head));
  if (append.events.size() > integrity::CompactRange::kSizeMax - group.tree.size()) {
    return Status::ResourceExhausted("the log holds the most events a tree of u64 size can");
  }

  AppendResult result;
  const uint64_t tag = StreamTag(append.stream_id);
  result.first_position = group.tree.size();
  result.first_version = head.next_version;
  integrity::Entry entry;
  entry.stream_id = append.stream_id;
  entry.recorded_at_ns = group.recorded_at_ns;
  for (const PreparedEvent& ev : append.events) {
    entry.position = group.tree.size();
    entry.stream_version = head.next_version;
    entry.event_id = ev.event_id;
    entry.event_type = ev.event_type;
    entry.content_type = ev.content_type;
    entry.metadata_hash = ev.metadata_hash;
    entry.data_hash = ev.data_hash;
    entry.stream_prev = head.next_version == 0 ? integrity::kZeroHash
                                               : crypto::HashFromBytes(head.last_leaf_hash);
    group.entry_buf.clear();
    integrity::EncodeEntry(entry, &group.entry_buf);
    const crypto::Hash leaf = integrity::LeafHash(group.entry_buf);
    group.completed.clear();
    group.tree.Append(leaf, &group.completed);
    assert(group.tree.size() == entry.position + 1);
    assert(!group.completed.empty() && group.completed[0].first.level == 0);
    for (const auto& [node, hash] : group.completed) {
      group.writer->PutNode({node.level, node.index}, crypto::HashView(hash));
    }
    Status sealed = cipher_.Seal(group.epoch, entry.position, group.entry_buf, ev.data,
                                 ev.metadata, &group.record_buf);
    if (!sealed.ok()) {
      group.broken = sealed;
      return sealed;
    }
    group.writer->PutRecord(entry.position, group.record_buf);
    group.appended_bytes += ev.data.size() + ev.metadata.size();
    group.writer->PutStreamIndex(append.stream_id, entry.stream_version, entry.position);
    // Speculative, like the rest of the sequencer's state: a failed commit clears the window.
    group.touched = true;
    id_window_.Insert(EventIdKey::From(ev.event_id),
                      {tag, entry.stream_version, entry.position, ev.content_tag});
    head.next_version += 1;
    head.last_position = entry.position;
    head.last_leaf_hash = crypto::HashString(leaf);
  }
  if (store_->shared() && !group.optimistic && !append.events.empty()) {
    group.ids.clear();
    group.content_tags.clear();
    for (const PreparedEvent& ev : append.events) {
      group.ids.push_back(ev.event_id);
      group.content_tags.push_back(ev.content_tag);
    }
    group.summary.AddRun(append.stream_id, result.first_version, group.ids, group.content_tags);
  }
  head.deleted = append.tombstone;
  result.last_position = head.last_position;
  result.last_version = head.next_version - 1;
  group.heads[append.stream_id] = std::move(head);
  return result;
}

// Makes the prepared group the sequencer's state, ahead of its commit.
void Sequencer::ApplySpeculatively(Group& group) {
  assert(group.tree.size() > tree_.size());
  tree_ = group.tree;
  group.root = tree_.Root();
  group.wrote = true;
  if (head_cache_.size() + group.heads.size() > kHeadCacheEntriesMax) head_cache_.clear();
  for (auto& [stream, head] : group.heads) head_cache_[stream] = head;
  last_recorded_at_ns_ = group.recorded_at_ns;
}

// Fills the positions of (*ahead) (from `from` on) that the prefetcher did not have from the
// summary of the group that brought the log to `state.size`, when it is needed and there is one.
// Returns how many it filled.
Result<uint64_t> Sequencer::TakeSummary(const storage::TreeState& state, uint64_t from,
                                        std::vector<std::optional<RemoteEntry>>* ahead) {
  assert(ahead->size() == state.size - from);
  if (state.group_summary.empty() || state.group_from >= state.size) return uint64_t{0};
  const uint64_t first = std::max(from, state.group_from);
  bool missing = false;
  for (uint64_t pos = first; pos < state.size && !missing; ++pos) missing = !(*ahead)[pos - from];
  if (!missing) return uint64_t{0};
  std::vector<RemoteEntry> entries;
  CAIRN_RETURN_IF_ERROR(OpenGroupSummary(cipher_, state.group_from, state.size, state.group_summary, &entries));
  uint64_t filled = 0;
  for (RemoteEntry& e : entries) {
    assert(e.position >= state.group_from && e.position < state.size);
    if (e.position < from || (*ahead)[e.position - from]) continue;
    (*ahead)[e.position - from] = std::move(e);
    ++filled;
  }
  return filled;
}

// Learns the events other nodes committed at [from, to): their ids (idempotency across nodes),
// the streams whose cached heads went stale, the latest recorded time. What the prefetcher
// decoded ahead is taken from it; the rest is read here.
Status Sequencer::LearnRemote(const storage::TreeState& state, uint64_t from) {
  const uint64_t to = state.size;
  std::vector<std::optional<RemoteEntry>> ahead;
  const size_t prefetched = prefetcher_ ? prefetcher_->Take(from, to, &ahead) : 0;
  if (prefetched == 0) ahead.assign(to - from, std::nullopt);
  CAIRN_ASSIGN_OR_RETURN(const uint64_t summarized, TakeSummary(state, from, &ahead));
  rebase_prefetched_.fetch_add(prefetched, std::memory_order_relaxed);
  rebase_summarized_.fetch_add(summarized, std::memory_order_relaxed);
  rebase_read_.fetch_add(to - from - prefetched - summarized, std::memory_order_relaxed);
  RemoteEntry read;
  for (uint64_t pos = from; pos < to;) {
    if (ahead[pos - from]) {
      Learn(*ahead[pos - from]);
      ++pos;
      continue;
    }
    uint64_t end = pos;  // the run of positions not prefetched
    while (end < to && !ahead[end - from]) ++end;
    Status inner;
    uint64_t next = pos;
    CAIRN_RETURN_IF_ERROR(store_->ScanRecords(pos, end - pos, [&](uint64_t p, std::string_view stored) {
      if (p != next) return false;
      inner = DecodeRemoteEntry(cipher_, p, stored, &read);
      if (!inner.ok()) return false;
      Learn(read);
      ++next;
      return true;
    }));
    CAIRN_RETURN_IF_ERROR(inner);
    if (next != end) return Status::DataLoss("no record at committed position " + std::to_string(next));
    pos = end;
  }
  return Status::Ok();
}

// A locked writer, while the sequencer learns what the prefetcher decodes during the wait for the
// commit lock (other nodes commit ~2 groups meanwhile): the lock is waited for on a helper thread.
Result<std::unique_ptr<storage::CommitWriter>> Sequencer::LockLearningAhead() {
  if (!prefetcher_) return store_->BeginCommit(tree_.size());
  auto locked = std::async(std::launch::async, [store = store_, base = tree_.size()] {
    return store->BeginCommit(base);
  });
  do {
    LearnAhead();
  } while (locked.wait_for(std::chrono::microseconds(kLearnAheadPollUs)) != std::future_status::ready);
  return locked.get();
}

void Sequencer::Learn(const RemoteEntry& e) {
  id_window_.Insert(e.id, {e.stream_tag, e.stream_version, e.position, e.content_tag});
  head_cache_.erase(e.stream_id);
  last_recorded_at_ns_ = std::max(last_recorded_at_ns_, e.recorded_at_ns);
}

// While waiting for the commit lock: learns what the prefetcher has decoded so far of other
// nodes' commits after this node's tree, so that the rebase under the lock learns only what
// came after. Those events are committed, so they stay true whatever the wait brings (a rollback
// forgets them with the window, and learned_to_ with it).
void Sequencer::LearnAhead() {
  if (!prefetcher_ || !id_window_loaded_) return;
  const uint64_t from = std::max(tree_.size(), learned_to_);
  std::vector<RemoteEntry> entries;
  const size_t n = prefetcher_->TakeConsecutive(from, &entries);
  for (const RemoteEntry& e : entries) Learn(e);
  learned_to_ = from + n;
  rebase_prefetched_.fetch_add(n, std::memory_order_relaxed);
  learned_before_lock_.fetch_add(n, std::memory_order_relaxed);
}

// Another engine sharing the store committed [tree_.size(), state.size): learn its events' ids
// (idempotency across nodes) and forget the heads of the streams it touched; then build on its
// tree. Runs under the store's commit lock.
Status Sequencer::Rebase(const storage::TreeState& state) {
  if (state.size < tree_.size()) {
    return Status::Aborted("an earlier group commit failed; nothing of this append was written, retry it");
  }
  const int64_t start_ns = MonotonicNowNs();
  Status s = RebaseOnto(state);
  rebases_.fetch_add(1, std::memory_order_relaxed);
  rebase_ns_.fetch_add(static_cast<uint64_t>(MonotonicNowNs() - start_ns), std::memory_order_relaxed);
  return s;
}

// The storage epochs are not refreshed here (a round trip under the lock): a record or summary
// sealed under an epoch this node does not know yet makes RecordCipher load it, and an epoch made
// without a commit is picked up by RefreshStorageKeysIfDue or before this node rotates itself.
Status Sequencer::RebaseOnto(const storage::TreeState& state) {
  const uint64_t from = tree_.size(), count = state.size - from;
  if (!id_window_loaded_ || count > options_.idempotency_window_events) {
    head_cache_.clear();
    id_window_.Clear();
    id_window_loaded_ = false;
    learned_to_ = 0;
  } else {
    // What LearnAhead took is committed, so within what the locked row says is committed.
    assert(learned_to_ <= state.size);
    CAIRN_RETURN_IF_ERROR(LearnRemote(state, std::clamp(learned_to_, from, state.size)));
  }
  integrity::CompactRange tree;
  if (state.size > 0) {
    CAIRN_ASSIGN_OR_RETURN(tree, integrity::CompactRange::Deserialize(state.compact_range));
  }
  if (tree.size() != state.size) return Status::DataLoss("stored tree state is inconsistent");
  tree_ = std::move(tree);
  if (!id_window_loaded_) CAIRN_RETURN_IF_ERROR(RebuildIdWindow());
  // committed_ stays: the state read under the lock may not be durable yet. The group's commit
  // (or MakeAnswersDurable) advances it.
  if (prefetcher_) prefetcher_->Applied(state.size);
  return Status::Ok();
}

bool Sequencer::AdvanceCommitted(const CommittedState& state, storage::TreeState* announced) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (state.size <= committed_.size) return false;
    committed_ = state;
  }
  if (prefetcher_) prefetcher_->Heard(state.size, announced);
  return true;
}

Status Sequencer::RebuildIdWindow() {
  const uint64_t size = tree_.size();
  const uint64_t n = std::min<uint64_t>(size, options_.idempotency_window_events);

  RemoteEntry e;
  Status inner;
  Status s = store_->ScanRecords(size - n, n, [&](uint64_t pos, std::string_view stored) {
    inner = DecodeRemoteEntry(cipher_, pos, stored, &e);
    if (!inner.ok()) return false;
    id_window_.Insert(e.id, {e.stream_tag, e.stream_version, pos, e.content_tag});
    last_recorded_at_ns_ = std::max(last_recorded_at_ns_, e.recorded_at_ns);
    return true;
  });
  if (!s.ok()) return s;
  if (!inner.ok()) return inner;
  id_window_loaded_ = true;
  if (prefetcher_) prefetcher_->Applied(size);
  return Status::Ok();
}

}  // namespace cairn::engine
