// PgLogStore: LogStore on PostgreSQL (see pg_log_store.h for the contract). Internal header.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include <pqxx/binarystring>
#include <pqxx/connection>
#include <pqxx/nontransaction>

#include "storage/log_store.h"
#include "storage/small_values.h"
#include "storage/postgres/pg_log_store.h"
#include "storage/postgres/pg_notify_senders.h"
#include "storage/postgres/pg_pool.h"
#include "storage/postgres/pg_stats.h"


namespace cairn::storage::pg {

// NOTIFY channels.
inline constexpr const char* kCommitChannel = "cairn_commit";
inline constexpr const char* kKeyChannel = "cairn_key";
// The session advisory lock a purger holds while it rewrites the key table ("cairn" 2).
inline constexpr int64_t kKeyPurgeLockKey = 0x636169726e0002;
inline constexpr int64_t kKekRotationLockKey = 0x636169726e0003;
// Rows fetched per round trip by scans (bounds the memory of one page).
inline constexpr int64_t kScanPageRowsMax = 512;
// Record runs fetched per round trip by ScanRecords: at most this many, and no more runs once
// their records reach kScanPageRecordBytesMax (the run that reaches it included). Runs hold
// ≤ kRecordRunBytesMax bytes, or one larger record (≤ the engine's event limit, 1 MiB), so a
// page holds ≤ ~512 KB of small records and ≤ about 4 MiB plus one record of large ones.
inline constexpr int64_t kScanPageRecordRunsMax = 64;
inline constexpr int64_t kScanPageRecordBytesMax = int64_t{4} << 20;

// A bytea parameter holding a copy of `v`.
inline pqxx::binarystring Bin(std::string_view v) { return pqxx::binarystring(v.data(), v.size()); }

// Running totals behind PgCommitStatsOf (pg_stats.h): relaxed atomics, added to by the commit
// writers (one add per field per commit), read by Snapshot().
struct PgCommitCounters {
  std::atomic<uint64_t> locks{0}, rebased{0}, commits{0}, records{0}, optimistic{0}, races_lost{0},
      lock_victims{0}, row_waits_cut{0}, barriers{0}, durable_waits{0}, in_doubt{0},
      listener_connects{0};
  std::atomic<uint64_t> lock_wait_ns{0}, hold_ns{0}, commit_ns{0}, durable_wait_ns{0};
  PgCommitStats Snapshot() const;
};

// Session settings of every connection (PrepareStatements): a session idle inside a transaction
// this long is ended by the server (no legitimate hold of the commit lock waits that long), and
// the server drops a peer that stops answering keepalives after idle + interval × count seconds.
inline constexpr int64_t kIdleInTransactionTimeoutMs = 60000;
inline constexpr int kKeepaliveIdleS = 10;
inline constexpr int kKeepaliveIntervalS = 5;
inline constexpr int kKeepaliveCount = 4;

// Prepares the statements every connection uses and sets its session (PgPool on_connect):
// statement and lock timeouts, synchronous_commit = on whatever the database's default, and the
// bounds above.
void PrepareStatements(pqxx::connection& conn, int64_t statement_timeout_ms);

class PgLogStore final : public LogStore {
 public:
  PgLogStore(const PgOptions& options, std::string conninfo);
  ~PgLogStore() override;

  Status Start();  // migrations, then the listener thread (when options.listen)

  Result<std::unique_ptr<CommitWriter>> BeginCommit(uint64_t base_tree_size) override;
  Result<std::unique_ptr<CommitWriter>> BeginOptimisticCommit(uint64_t base_tree_size) override;
  bool shared() const override { return true; }
  bool commits_optimistically() const override { return options_.optimistic_commits; }
  // A session advisory lock (kKekRotationLockKey) on a connection of its own, outside the pool.
  Result<std::unique_ptr<NodeLock>> TryLockAcrossNodes(NodeLockKind kind) override;
  void SetChangeListener(ChangeListener listener) override;
  Result<TreeState> ReadTreeState() override;
  Result<TreeState> ReadTreeStateWithSummary() override;
  Result<std::optional<StreamHead>> ReadStreamHead(std::string_view stream_id) override;
  Result<std::string> ReadRecord(uint64_t position) override;
  Status ScanRecords(uint64_t from_position, uint64_t limit,
                     const std::function<bool(uint64_t, std::string_view)>& fn) override;
  Result<std::vector<StreamIndexEntry>> ReadStreamIndex(std::string_view stream_id,
                                                        uint64_t from_version, bool backwards,
                                                        uint64_t limit) override;
  Status ReadNodes(std::span<const NodeKey> keys, std::vector<std::string>* hashes) override;
  Status ScanLeafHashes(uint64_t from_index, uint64_t limit,
                        const std::function<bool(uint64_t, std::string_view)>& fn) override;
  Status ScanStreamHeads(const std::function<bool(std::string_view, const StreamHead&)>& fn) override;
  Status PutCheckpoint(uint64_t tree_size, std::string_view signed_note) override;
  Result<std::optional<std::pair<uint64_t, std::string>>> ReadLatestCheckpoint() override;
  Status ScanCheckpoints(const std::function<bool(uint64_t, std::string_view)>& fn) override;
  Status PutKeyMaterial(std::string_view name, std::string_view wrapped) override;
  Result<bool> PutKeyMaterialIfAbsent(std::string_view name, std::string_view wrapped) override;
  Result<bool> ReplaceKeyMaterialIf(std::string_view name, std::string_view expected,
                                    std::string_view wrapped) override;
  Result<std::optional<std::string>> ReadKeyMaterial(std::string_view name) override;
  Status ScanKeyMaterial(std::string_view prefix,
                         const std::function<bool(std::string_view, std::string_view)>& fn) override;
  Status ScanKeyMaterialAfter(
      std::string_view prefix, std::string_view start_after,
      const std::function<bool(std::string_view, std::string_view)>& fn) override;
  Status DestroyKeyMaterial(std::string_view name) override;
  Result<DestroyReport> DestroyKeyMaterials(std::span<const std::string> names) override;
  Result<DestroyReport> DestroyKeyMaterialsIf(std::span<const ExpectedKeyMaterial> expected,
                                              size_t* destroyed) override;
  // A plain DELETE (and the key notification): no wait for older snapshots, no VACUUM FULL.
  Status DeleteUnusedKeyMaterial(std::string_view name) override;
  Status PutMeta(std::string_view name, std::string_view value) override;
  Result<std::optional<std::string>> ReadMeta(std::string_view name) override;
  Status PutMetaIfAbsent(std::string_view name, std::string_view value) override;
  Status ScanMeta(std::string_view prefix,
                  const std::function<bool(std::string_view, std::string_view)>& fn) override;

  // Runs `fn` on a pooled connection; a lost connection is dropped and, when `retry`, `fn` runs
  // once more on a fresh one (only for work that may run twice: reads, idempotent writes).
  Status Run(std::string_view what, bool retry, const std::function<void(pqxx::connection&)>& fn);
  // Whether a destroy's bytes may still be in the key table's files (its wait for older
  // snapshots ran out and no purge since has dropped them). For tests and status.
  bool KeyPurgePending();
  // Whether cairn's role may rewrite the key table (checked at open, and by every rewrite);
  // false: erased keys stay in its files, and every destroy reports a pending purge.
  bool can_purge_keys() const { return can_purge_keys_.load(); }
  PgPool& pool() { return *pool_; }
  PgCommitCounters& commit_counters() { return commit_counters_; }

  // The durability barrier on `conn`: one statement, committed synchronously, that updates a row
  // of cairn_flush (so that its COMMIT flushes the WAL up to it: every commit that was visible
  // before it is durable once it returns) and, with `commit_size`, notifies the other nodes of a
  // commit up to that size. Throws what pqxx throws. A read-only store writes nothing: it waits
  // until the server's WAL is flushed up to where it was inserted when the wait began (the same
  // guarantee for every commit visible before; a hot standby's replayed WAL is flushed already).
  void Barrier(pqxx::connection& conn, std::optional<uint64_t> commit_size);
  // Records that the log is durable up to `size` (a confirmed commit, a barrier, another node's
  // notification, which it sends only once its commit is durable).
  void NoteDurable(uint64_t size);

 private:
  void RunListener();
  // The cairn_tree row, with the group summary columns or without them.
  Result<TreeState> ReadTreeRow(bool with_summary);
  // Sessions, prepared transactions and replication slots whose snapshot horizon (xmin) is at
  // or before the 64-bit transaction `txid`: they may still see a row it deleted, so VACUUM keeps
  // it. On `tx` / on a pooled connection.
  static int64_t SnapshotsBeforeOn(pqxx::nontransaction& tx, uint64_t txid);
  Result<int64_t> CountSnapshotsBefore(uint64_t txid);
  // Polls CountSnapshotsBefore until none is left or options_.key_purge_wait_ms_max passes;
  // returns how many are left. After a wait that ran out, the destroys of the next
  // options_.key_purge_no_wait_ms look once and do not wait (one holder must not stall them all).
  Result<int64_t> WaitForSnapshotsBefore(uint64_t txid);
  // Deletes the names (only those still holding their bytes when `compare`) in one
  // transaction that also records the pending purge, then purges (DestroyKeyMaterials).
  Result<DestroyReport> DestroyKeys(std::span<const ExpectedKeyMaterial> keys, bool compare,
                                    size_t* destroyed);
  // VACUUM FULL of the key table (on `c`'s session `tx` / on a pooled connection); false when
  // its lock was not granted within a bound or the role may not rewrite it.
  bool VacuumOn(pqxx::connection& c, pqxx::nontransaction& tx);
  Result<bool> VacuumKeyTable();
  // The purge of the deletes up to `txid` is pending (in memory; the delete's transaction
  // recorded it in cairn_key_purge) / done (in memory and in cairn_key_purge).
  void NotePendingPurge(uint64_t txid);
  void ClearPendingPurge(uint64_t covered_txid);
  // After a destroy that could not purge (on any node: cairn_key_purge), rewrites the key table
  // once the snapshots older than its delete have ended and nobody holds a lock on it, under a
  // session advisory lock (kKeyPurgeLockKey: one node at a time). true: done (or nothing
  // pending); false: still blocked (or another node is purging). On the purger thread (RunPurger): at
  // start, then every key_purge_retry_ms while a purge is pending, backing off (to 5 min) while
  // blocked or failing, and every key_purge_poll_ms while none is.
  Result<bool> RetryPendingPurge();
  void RunPurger();
  // At open: whether the role may rewrite the key table (can_purge_keys); logs once if not.
  void CheckKeyPurgePrivilege();
  // Pages through a (name, bytes) table by name from `prefix` with two prepared statements
  // (first page: name >= $1, next pages: name > $1; both LIMIT $2).
  // Names with `prefix` greater than `start_after` (empty: all), in order, page by page.
  Status ScanNames(std::string_view what, const char* page_statement, const char* next_statement,
                   std::string_view prefix,
                   const std::function<bool(std::string_view, std::string_view)>& fn,
                   std::string_view start_after = {});
  void FirstAttemptDone();
  Result<std::unique_ptr<CommitWriter>> Begin(uint64_t base_tree_size, bool optimistic);
  void Notify(const std::string& channel, const std::string& payload, int sender_pid);
  // Whether backend `pid` is a session of the role this store connects as (pg_stat_activity).
  // nullopt when the lookup failed.
  std::optional<bool> SessionOfOwnRole(int pid);

  const PgOptions options_;
  std::unique_ptr<PgPool> pool_;
  const std::string conninfo_;  // with the password: never logged
  const std::string lock_sql_;  // BeginCommit's statement
  PgCommitCounters commit_counters_;
  // The largest tree size known to be durable (NoteDurable). A tree row read with a larger size
  // may come from a commit whose WAL flush is still running: ReadTreeRow makes it durable first.
  std::atomic<uint64_t> durable_size_{0};

  std::mutex listener_mu_;
  ChangeListener listener_;  // guarded by listener_mu_
  NotifySenders senders_;    // used on the listener thread only
  std::atomic<bool> stopping_{false};
  // When a wait for old snapshots last ran out (SteadyNowMs; far past: never).
  std::atomic<int64_t> snapshot_wait_ran_out_ms_{INT64_MIN / 2};
  std::thread listener_thread_;
  // The newest delete (64-bit txid) whose rows may still be in the key table's files.
  std::mutex purge_mu_;
  std::condition_variable purge_cv_;              // wakes the purger: shutdown, a new pending purge
  std::optional<uint64_t> purge_pending_txid_;    // guarded by purge_mu_
  std::atomic<bool> vacuum_skip_warned_{false};   // "may not vacuum" is logged once
  std::atomic<bool> can_purge_keys_{true};
  std::thread purger_thread_;
  // Set once the listener's first connection attempt is over (listening, or failed); Start()
  // waits for it so that a store is listening when OpenPgLogStore returns.
  std::mutex first_attempt_mu_;
  std::condition_variable first_attempt_cv_;
  bool first_attempt_done_ = false;  // guarded by first_attempt_mu_
};

}  // namespace cairn::storage::pg
