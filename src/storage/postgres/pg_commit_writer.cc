// PgLogStore::BeginCommit / BeginOptimisticCommit and their CommitWriter: one transaction per
// group commit, under the row lock of cairn_tree, rows sent as arrays (one statement per table,
// whatever the group's size); records, index entries and Merkle nodes packed into runs
// (pg_runs.h). A locked writer takes the lock first (SELECT ... FOR UPDATE); an
// optimistic one sends its records, index entries and nodes first (Stage) and takes the lock with
// the conditional tree update in Commit(), so that on one node the next group's rows travel while
// the previous group's COMMIT flushes.
//
// A locked writer commits asynchronously (synchronous_commit off for its transaction): its COMMIT
// returns, and the lock is released, once the commit record is written, and the writer then waits
// for the WAL flush with a durability barrier (PgLogStore::Barrier) that also notifies the other
// nodes. So the next node's hold does not include this one's flush, while nothing of the commit is
// acknowledged, announced or shown to a reader before it is durable (pg_log_store.h).
#include <pqxx/binarystring>
#include <pqxx/result>
#include <pqxx/connection>
#include <pqxx/except>
#include <pqxx/transaction>

#include <cassert>
#include <chrono>
#include <map>
#include <stdexcept>
#include <thread>

#include "storage/postgres/pg_errors.h"
#include "common/steady_clock.h"
#include "storage/postgres/pg_runs.h"
#include "storage/postgres/pg_store.h"

namespace cairn::storage::pg {

namespace {

// Outcome resolution after a connection lost during COMMIT: attempts, the longest wait for the
// commit lock in each, and the pause between them (at most ~20 s in all).
constexpr int kResolveAttemptsMax = 6;
constexpr int64_t kResolveLockWaitMs = 3000;
constexpr int64_t kResolvePauseMs = 300;
// BeginCommit: attempts after its lock wait was chosen as a deadlock victim.
constexpr int kBeginRetriesMax = 3;
// An optimistic writer gives way instead of waiting long behind another node's commit:
//  - while it stages its rows, at most kRowWaitMs for another transaction's uncommitted row at
//    the same key (another node's group at the same positions: one of the two is doomed);
//  - in Commit(), at most kOptimisticLockWaitMs for the commit lock. A locked writer of another
//    node that holds the lock and needs a row this writer staged waits for this transaction
//    while this transaction waits for its lock: a deadlock, which PostgreSQL would break only
//    after its deadlock_timeout (1 s by default, settable by superusers only) and perhaps by
//    failing the locked writer. On one node the lock is held by the node's own previous group
//    for a few milliseconds, so a cut wait there is rare and costs one retry.
// Either way the writer fails with kAborted having written nothing, and the sequencer sequences
// the group again and locks first (it has seen another node). A locked writer never gives way:
// it would find the optimistic node's next group staged at the same positions every time.
constexpr int64_t kRowWaitMs = 50;
constexpr int64_t kOptimisticLockWaitMs = 200;

// An array literal built element by element: "{a,b,c}".
class ArrayText {
 public:
  void Add(int64_t v) {
    Sep();
    text_ += std::to_string(v);
  }
  void AddBool(bool v) {
    Sep();
    text_ += v ? 't' : 'f';
  }
  void AddText(std::string_view s) {
    Sep();
    text_.push_back('"');
    for (char c : s) {
      if (c == '"' || c == '\\') text_.push_back('\\');
      text_.push_back(c);
    }
    text_.push_back('"');
  }
  std::string Done() const { return "{" + text_ + "}"; }
  bool empty() const { return text_.empty(); }

 private:
  void Sep() {
    if (!text_.empty()) text_.push_back(',');
  }
  std::string text_;
};

// Byte strings packed into one bytea parameter, addressed by offset and length arrays.
struct Blob {
  std::string bytes;
  ArrayText offsets, lengths;
  void Add(std::string_view v) {
    offsets.Add(static_cast<int64_t>(bytes.size()));
    lengths.Add(static_cast<int64_t>(v.size()));
    bytes.append(v);
  }
};

uint64_t MonotonicNs() { return static_cast<uint64_t>(SteadyNowNs()); }

bool IsUniqueViolation(const std::exception& e) {
  return dynamic_cast<const pqxx::unique_violation*>(&e) != nullptr;
}

// lock_timeout expired (SQLSTATE 55P03, lock_not_available).
bool IsLockTimeout(const std::exception& e) {
  const auto* sql = dynamic_cast<const pqxx::sql_error*>(&e);
  return sql != nullptr && sql->sqlstate() == "55P03";
}

class PgCommitWriter final : public CommitWriter {
 public:
  // `locked_at_ns`: when BeginCommit obtained the lock; nullopt for an optimistic writer.
  PgCommitWriter(PgLogStore* store, PgPool::Lease lease, std::unique_ptr<pqxx::work> tx,
                 uint64_t base_size, std::optional<TreeState> rebased,
                 std::optional<uint64_t> locked_at_ns)
      : store_(store),
        lease_(std::move(lease)),
        tx_(std::move(tx)),
        base_size_(base_size),
        rebased_(std::move(rebased)),
        optimistic_(!locked_at_ns.has_value()),
        locked_at_ns_(locked_at_ns.value_or(0)) {
    assert(!optimistic_ || !rebased_);
  }

  ~PgCommitWriter() override {
    if (tx_ != nullptr && locked_at_ns_ != 0) CountHold(MonotonicNs());  // dropped: a rollback
    try {
      tx_.reset();  // rolls back an uncommitted transaction, releasing the lock
    } catch (...) {
      lease_.Discard();
    }
  }

  const std::optional<TreeState>& rebased() const override { return rebased_; }

  // Rolls back (releasing the lock), then runs a barrier on this writer's connection: made
  // before anything the group read, so it still being there proves the server did not restart
  // since, and the barrier makes everything the group saw durable.
  Status FinishWithoutWriting() override {
    if (tx_ == nullptr) return Status::FailedPrecondition("commit writer already used");
    try {
      // An optimistic group was sequenced without the lock, on this node's view: its answers (a
      // "wrong expected version" from a cached head) hold only if no other node committed since.
      uint64_t size_now = base_size_;
      if (optimistic_) {
        size_now = static_cast<uint64_t>(tx_->exec_prepared("tree_size")[0][0].as<int64_t>());
      }
      tx_->abort();
      tx_.reset();
      if (locked_at_ns_ != 0) CountHold(MonotonicNs());
      if (size_now != base_size_) {
        store_->commit_counters().races_lost.fetch_add(1, std::memory_order_relaxed);
        return Status::Aborted("another node extended the log while this group was sequenced");
      }
      store_->Barrier(lease_.conn(), std::nullopt);
      return Status::Ok();
    } catch (const std::exception& e) {
      if (tx_ != nullptr && locked_at_ns_ != 0) CountHold(MonotonicNs());
      tx_.reset();
      DropConnectionIfBroken(e);
      return FromException(e, "confirming that what a group read is durable");
    }
  }

  void PutRecord(uint64_t position, std::string_view stored_record) override {
    assert(records_ == 0 || position == last_position_ + 1);
    if (records_ == 0) first_position_ = position;
    record_runs_.Add(position, stored_record);
    last_position_ = position;
    ++records_;
  }
  void PutStreamIndex(std::string_view stream_id, uint64_t version, uint64_t position) override {
    index_runs_.Add(stream_id, version, position);
    buffered_ += stream_id.size() + 16;
  }
  void PutStreamHead(std::string_view stream_id, const StreamHead& head) override {
    heads_[std::string(stream_id)] = head;
    buffered_ += stream_id.size() + 64;
  }
  void PutNode(NodeKey key, std::string_view hash) override { node_runs_.Add(key, hash); }
  void PutTreeState(const TreeState& state) override { tree_ = state; }
  size_t buffered_size_bytes() const override {
    return buffered_ + record_runs_.size_bytes() + node_runs_.size_bytes();
  }

  Status Stage() override {
    if (!optimistic_ || tx_ == nullptr || !staged_.ok()) return staged_;
    staged_ = CheckRecordPositions(base_size_);
    if (!staged_.ok()) return staged_;
    try {
      SendRows();
    } catch (const std::exception& e) {
      staged_ = Failure(e, "sending a group's rows");
    }
    return staged_;
  }

  Status Commit() override {
    // A failed Stage() is answered first: its connection loss also ended the transaction.
    if (!staged_.ok()) {
      tx_.reset();
      return staged_;
    }
    if (tx_ == nullptr) return Status::FailedPrecondition("commit writer already used");
    const uint64_t base = rebased_ ? rebased_->size : base_size_;
    const uint64_t commit_start_ns = MonotonicNs();
    CountHoldOnExit count(this, commit_start_ns);
    if (Status placed = CheckRecordPositions(base); !placed.ok()) {
      tx_.reset();  // rolls back, releasing the lock
      return placed;
    }
    try {
      if (optimistic_ && !ExecuteOptimistic(base)) {
        tx_.reset();
        store_->commit_counters().races_lost.fetch_add(1, std::memory_order_relaxed);
        return Status::Aborted("another node extended the log first; nothing of this group was written");
      }
      if (!optimistic_) Execute(base);
      tx_->commit();
      tx_.reset();
      count.released_ns = MonotonicNs();
      Status durable = optimistic_ ? Status::Ok() : WaitDurable(count.released_ns);
      count.committed = durable.ok();
      if (durable.ok() && tree_) store_->NoteDurable(tree_->size);
      return durable;
    } catch (const pqxx::in_doubt_error&) {
      tx_.reset();
      lease_.Discard();
      store_->pool().DropIdle();
      return ResolveInDoubt();
    } catch (const std::exception& e) {
      Status s = Failure(e, "committing a group");
      tx_.reset();
      return s;
    }
  }

 private:
  // Maps a failure of this writer's transaction to a Status. An optimistic writer's row that
  // collides with another node's (same position) means that node extended the log first:
  // kAborted, like a lost race in Commit(); so does an optimistic writer's wait that
  // lock_timeout cut (it gave way, see kRowWaitMs). A lost connection is never reused.
  Status Failure(const std::exception& e, std::string_view what) {
    const bool gave_way = optimistic_ && IsLockTimeout(e);
    Status s = optimistic_ && IsUniqueViolation(e)
                   ? Status::Aborted("another node wrote these positions first; nothing of this group was written")
               : gave_way ? Status::Aborted("another node is committing at these positions; this "
                                            "group gave way and wrote nothing")
                          : FromException(e, what);
    if (gave_way) store_->commit_counters().row_waits_cut.fetch_add(1, std::memory_order_relaxed);
    if (s.code() == StatusCode::kAborted) {
      store_->commit_counters().races_lost.fetch_add(1, std::memory_order_relaxed);
    }
    if (IsConnectionLoss(e)) {
      tx_.reset();
      lease_.Discard();
      store_->pool().DropIdle();
    } else if (IsReadOnlyRefusal(e)) {
      tx_.reset();
      lease_.Discard();  // its server is read-only now: the next connection may reach the primary
    }
    return s;
  }

  // A group's records extend the log: they start at its size `base` and end where the new tree
  // state does. The record table's key is a run's first position only, so this (with the
  // conditional tree update) is what keeps runs from overlapping; checked before anything is
  // sent.
  Status CheckRecordPositions(uint64_t base) const {
    if (records_ == 0) return Status::Ok();
    if (first_position_ == base && (!tree_ || tree_->size == last_position_ + 1)) return Status::Ok();
    return Status::FailedPrecondition(
        "a group's records must extend the log from its size " + std::to_string(base) +
        " (records at " + std::to_string(first_position_) + ".." + std::to_string(last_position_) +
        "); nothing was written");
  }

  // The rows no other transaction reads before the commit: records, index entries, nodes. An
  // optimistic writer's waits are cut (kRowWaitMs, kOptimisticLockWaitMs: see there).
  void SendRows() {
    if (rows_sent_) return;
    rows_sent_ = true;
    if (optimistic_) tx_->exec("SET LOCAL lock_timeout = " + std::to_string(kRowWaitMs));
    if (!record_runs_.empty()) SendRecordRuns();
    if (!index_runs_.empty()) SendIndexRuns();
    if (!node_runs_.empty()) SendNodeRuns();
    // The lock wait that follows is bounded by the holder's commit, not by the statement timeout
    // (restored by notify_restore_timeout once the lock is held).
    if (optimistic_) {
      tx_->exec("SET LOCAL statement_timeout = 0; SET LOCAL lock_timeout = " +
                std::to_string(kOptimisticLockWaitMs));
    }
  }

  void SendRecordRuns() {
    ArrayText first_positions, ends;
    Blob records;
    for (const RecordRun& run : record_runs_.runs()) {
      assert(run.count() >= 1 && run.count() <= kRecordRunRecordsMax);
      first_positions.Add(static_cast<int64_t>(run.first_position));
      ArrayText run_ends;
      for (int32_t end : run.ends) run_ends.Add(end);
      ends.AddText(run_ends.Done());
      records.Add(run.records);
    }
    tx_->exec_prepared("insert_record_runs", first_positions.Done(), ends.Done(), Bin(records.bytes),
                       records.offsets.Done(), records.lengths.Done());
  }

  void SendIndexRuns() {
    ArrayText streams, first_versions, first_positions, counts;
    for (const IndexRun& run : index_runs_.runs()) {
      streams.AddText(run.stream_id);
      first_versions.Add(static_cast<int64_t>(run.first_version));
      first_positions.Add(static_cast<int64_t>(run.first_position));
      counts.Add(run.count);
    }
    tx_->exec_prepared("insert_index_runs", streams.Done(), first_versions.Done(),
                       first_positions.Done(), counts.Done());
  }

  void SendNodeRuns() {
    ArrayText levels, first_indexes;
    Blob hashes;
    for (const NodeRun& run : node_runs_.runs()) {
      assert(run.count() >= 1 && run.count() <= kNodeRunHashesMax);
      levels.Add(run.level);
      first_indexes.Add(static_cast<int64_t>(run.first_index));
      hashes.Add(run.hashes);
    }
    tx_->exec_prepared("insert_node_runs", levels.Done(), first_indexes.Done(), Bin(hashes.bytes),
                       hashes.offsets.Done(), hashes.lengths.Done());
  }

  // The conditional update of the tree row (matches only while the log is at `base`), with the
  // group's summary for the next node to lock the row.
  pqxx::result TreeUpdate(uint64_t base) {
    return tx_->exec_prepared("tree_update", static_cast<int64_t>(tree_->size), Bin(tree_->compact_range),
                              static_cast<int64_t>(base), static_cast<int64_t>(tree_->group_from),
                              Bin(tree_->group_summary));
  }

  // Locked writer: everything under the lock taken in BeginCommit.
  void Execute(uint64_t base) {
    SendRows();
    SendHeads();
    if (tree_) {
      assert(tree_->size >= base);
      const pqxx::result r = TreeUpdate(base);
      // Cannot happen while the row lock is held; checked because a fork would be unrecoverable.
      if (r.affected_rows() != 1) throw std::logic_error("tree state moved under the commit lock");
    }
    // No notification here: this transaction commits before its WAL flush (LockSql); the
    // notification follows the flush (WaitDurable).
  }

  // A broken connection is never reused, and the pool's idle ones may be broken too.
  void DropConnectionIfBroken(const std::exception& e) {
    if (IsReadOnlyRefusal(e)) {  // its server is read-only now: the next may reach the primary
      lease_.Discard();
      return;
    }
    if (!IsConnectionLoss(e) && lease_.conn().is_open()) return;
    lease_.Discard();
    store_->pool().DropIdle();
  }

  // After the asynchronous COMMIT of a locked writer: the durability barrier on this writer's
  // connection, with the notification of the new size. If it fails, the commit may or may not be
  // there and durable: ResolveInDoubt decides.
  Status WaitDurable(uint64_t released_ns) {
    Status s;
    try {
      store_->Barrier(lease_.conn(), tree_ ? std::optional<uint64_t>(tree_->size) : std::nullopt);
    } catch (const std::exception& e) {
      DropConnectionIfBroken(e);
      s = ResolveInDoubt();
    }
    PgCommitCounters& c = store_->commit_counters();
    c.durable_waits.fetch_add(1, std::memory_order_relaxed);
    c.durable_wait_ns.fetch_add(MonotonicNs() - released_ns, std::memory_order_relaxed);
    return s;
  }

  // Optimistic writer: the rows (unless Stage() sent them), then the tree update, which waits for
  // the lock and, once it holds it, matches only if the log is still at `base` (READ COMMITTED
  // re-reads the row after the holder's commit); then the heads. False: the race was lost.
  bool ExecuteOptimistic(uint64_t base) {
    assert(tree_.has_value());
    SendRows();
    const uint64_t wait_start_ns = MonotonicNs();
    const pqxx::result r = TreeUpdate(base);
    locked_at_ns_ = MonotonicNs();
    PgCommitCounters& c = store_->commit_counters();
    c.locks.fetch_add(1, std::memory_order_relaxed);
    c.lock_wait_ns.fetch_add(locked_at_ns_ - wait_start_ns, std::memory_order_relaxed);
    if (r.affected_rows() != 1) return false;
    tx_->exec_prepared("notify_restore_timeout", std::string(kCommitChannel), std::to_string(tree_->size));
    SendHeads();
    return true;
  }

  void SendHeads() {
    if (!heads_.empty()) {
      ArrayText streams, next_versions, last_positions, deleted;
      Blob hashes;
      for (const auto& [stream, head] : heads_) {
        streams.AddText(stream);
        next_versions.Add(static_cast<int64_t>(head.next_version));
        last_positions.Add(static_cast<int64_t>(head.last_position));
        hashes.Add(head.last_leaf_hash);
        deleted.AddBool(head.deleted);
      }
      tx_->exec_prepared("upsert_heads", streams.Done(), next_versions.Done(), last_positions.Done(),
                         Bin(hashes.bytes), hashes.offsets.Done(), hashes.lengths.Done(),
                         deleted.Done());
    }
  }

  // The connection died during COMMIT, or (a locked writer) the durability barrier after it
  // failed: the transaction is either entirely there or entirely absent, and its server process
  // may still be finishing it (it goes on after losing the client). The last record of the group,
  // read under the commit lock that transaction held until it ended, tells which; a barrier
  // then makes sure that what is there is durable (a locked writer's COMMIT did not wait for the
  // flush) and tells the other nodes.
  //
  // The read and the barrier run on one connection, without a retry: a barrier proves what was
  // read durable only if the server did not restart in between (which would have lost an
  // unflushed commit), and a restart ends every connection made before it.
  Status ResolveInDoubt() {
    store_->commit_counters().in_doubt.fetch_add(1, std::memory_order_relaxed);
    const std::string_view mine = records_ > 0 ? record_runs_.last_record() : std::string_view();
    const std::optional<uint64_t> size = tree_ ? std::optional<uint64_t>(tree_->size) : std::nullopt;
    for (int attempt = 0; attempt < kResolveAttemptsMax && records_ > 0; ++attempt) {
      std::optional<std::string> stored;
      const Status s = store_->Run("resolving a commit in doubt", false, [&](pqxx::connection& c) {
        stored = ReadLastRecordUnderLock(c);
        if (stored && *stored == mine) store_->Barrier(c, size);
      });
      if (s.ok() && !stored) {
        return Status::Unavailable("PostgreSQL connection lost during commit; nothing was written");
      }
      if (s.ok() && *stored != mine) {
        return Status::Aborted("the commit did not land (another node wrote position " +
                               std::to_string(last_position_) + ")");
      }
      if (s.ok()) return Status::Ok();
      std::this_thread::sleep_for(std::chrono::milliseconds(kResolvePauseMs));
    }
    return Status::Unavailable(
        "PostgreSQL connection lost during commit and the outcome is unknown; re-send the append "
        "(appends are idempotent by event id)");
  }

  std::optional<std::string> ReadLastRecordUnderLock(pqxx::connection& c) {
    pqxx::work tx(c);  // rolled back at the end: only reads, under the lock
    tx.exec("SET LOCAL lock_timeout = " + std::to_string(kResolveLockWaitMs));
    tx.exec("SELECT 1 FROM cairn_tree WHERE id = 1 FOR UPDATE");
    const pqxx::result r = tx.exec_prepared("record", static_cast<int64_t>(last_position_));
    if (r.empty()) return std::nullopt;
    return pqxx::binarystring(r[0][0]).str();
  }

  // Adds this writer's hold (lock → now) and Commit() time to the store's counters on every way
  // out of Commit(): the lock is released there whatever the outcome.
  struct CountHoldOnExit {
    CountHoldOnExit(PgCommitWriter* w, uint64_t start_ns) : writer(w), commit_start_ns(start_ns) {}
    ~CountHoldOnExit() {
      const uint64_t now_ns = MonotonicNs();
      PgCommitCounters& c = writer->store_->commit_counters();
      c.commit_ns.fetch_add(now_ns - commit_start_ns, std::memory_order_relaxed);
      writer->CountHold(released_ns != 0 ? released_ns : now_ns);
      if (!committed) return;
      c.commits.fetch_add(1, std::memory_order_relaxed);
      c.records.fetch_add(writer->records_, std::memory_order_relaxed);
    }
    PgCommitWriter* writer;
    uint64_t commit_start_ns;
    uint64_t released_ns = 0;  // COMMIT returned: the lock is released (0: at the exit)
    bool committed = false;
  };

  void CountHold(uint64_t now_ns) {
    if (locked_at_ns_ == 0) return;  // an optimistic writer that never reached the lock
    assert(now_ns >= locked_at_ns_);
    store_->commit_counters().hold_ns.fetch_add(now_ns - locked_at_ns_, std::memory_order_relaxed);
  }

  PgLogStore* store_;
  PgPool::Lease lease_;  // declared before tx_: the transaction ends before the lease returns
  std::unique_ptr<pqxx::work> tx_;
  const uint64_t base_size_;
  const std::optional<TreeState> rebased_;
  const bool optimistic_;
  uint64_t locked_at_ns_;  // steady clock, when the lock was obtained; 0 before (optimistic)
  bool rows_sent_ = false;
  Status staged_;  // a failed Stage(): Commit() returns it

  RecordRunBuilder record_runs_;
  uint64_t first_position_ = 0;
  uint64_t last_position_ = 0;
  uint64_t records_ = 0;
  IndexRunBuilder index_runs_;
  std::map<std::string, StreamHead> heads_;
  NodeRunBuilder node_runs_;
  std::optional<TreeState> tree_;
  size_t buffered_ = 0;
};

}  // namespace

Result<std::unique_ptr<CommitWriter>> PgLogStore::BeginCommit(uint64_t base_tree_size) {
  return Begin(base_tree_size, /*optimistic=*/false);
}

Result<std::unique_ptr<CommitWriter>> PgLogStore::BeginOptimisticCommit(uint64_t base_tree_size) {
  return Begin(base_tree_size, /*optimistic=*/options_.optimistic_commits);
}

Result<std::unique_ptr<CommitWriter>> PgLogStore::Begin(uint64_t base_tree_size, bool optimistic) {
  for (int attempt = 0;; ++attempt) {
    CAIRN_ASSIGN_OR_RETURN(PgPool::Lease lease, pool_->Acquire());
    try {
      auto tx = std::make_unique<pqxx::work>(lease.conn());
      if (optimistic) {
        commit_counters_.optimistic.fetch_add(1, std::memory_order_relaxed);
        return std::unique_ptr<CommitWriter>(new PgCommitWriter(
            this, std::move(lease), std::move(tx), base_tree_size, std::nullopt, std::nullopt));
      }
      // Waits while another node commits; held until this writer commits or is dropped.
      const uint64_t wait_start_ns = MonotonicNs();
      const pqxx::result r = tx->exec(lock_sql_);
      const uint64_t locked_at_ns = MonotonicNs();
      if (r.size() != 1) throw std::runtime_error("tree state row missing");
      TreeState state;
      state.size = static_cast<uint64_t>(r[0][0].as<int64_t>());
      state.compact_range = pqxx::binarystring(r[0][1]).str();
      state.group_from = static_cast<uint64_t>(r[0][2].as<int64_t>());
      state.group_summary = pqxx::binarystring(r[0][3]).str();
      std::optional<TreeState> rebased;
      if (state.size != base_tree_size) rebased = std::move(state);
      commit_counters_.locks.fetch_add(1, std::memory_order_relaxed);
      commit_counters_.lock_wait_ns.fetch_add(locked_at_ns - wait_start_ns, std::memory_order_relaxed);
      if (rebased) commit_counters_.rebased.fetch_add(1, std::memory_order_relaxed);
      return std::unique_ptr<CommitWriter>(new PgCommitWriter(this, std::move(lease), std::move(tx),
                                                              base_tree_size, std::move(rebased),
                                                              locked_at_ns));
    } catch (const std::exception& e) {
      const bool lost = IsConnectionLoss(e);
      if (lost) {
        lease.Discard();
        pool_->DropIdle();  // the retry must run on a fresh connection
      } else if (IsReadOnlyRefusal(e)) {
        lease.Discard();  // a read-only server (a demoted primary): never reused for writing
      }
      // The lock wait can be chosen as a deadlock victim (another node's optimistic writer holds
      // rows this node's committing group needs): nothing was done, take the lock again.
      const bool victim = dynamic_cast<const pqxx::transaction_rollback*>(&e) != nullptr;
      if (victim) commit_counters_.lock_victims.fetch_add(1, std::memory_order_relaxed);
      if (victim && attempt < kBeginRetriesMax) continue;
      if (!lost || attempt > 0) return FromException(e, "beginning a commit");
    }
  }
}

}  // namespace cairn::storage::pg
