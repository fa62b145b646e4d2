// PgCommitStats: what the commit lock costs one cairn node on PostgreSQL.
//
// Every commit transaction of a PostgreSQL store takes the row lock of cairn_tree and holds it
// until COMMIT (or rollback), so commits of all nodes sharing the database are serialised
// (pg_log_store.h): in BeginCommit() (SELECT ... FOR UPDATE) or, for an optimistic writer, in
// Commit() (the conditional tree update, after the rows were sent). The store keeps running
// totals of how long its writers waited for that lock and how long they held it; `cairn bench
// --postgres` prints the means per commit. On one node the wait is mostly the node's own previous
// group still committing; with several nodes it includes the other nodes' commits.
//
// Cost: a few steady_clock reads and relaxed atomic adds per commit. Thread safety: a snapshot
// may be taken at any time, also while commits run; its fields are read one by one, so a snapshot
// taken mid-commit may count a lock whose hold is not added yet.
#pragma once

#include <cstdint>
#include <optional>

#include "storage/log_store.h"

namespace cairn::storage {

struct PgCommitStats {
  uint64_t locks = 0;         // writers that obtained the lock (in BeginCommit or, optimistic, in Commit)
  uint64_t rebased = 0;       // of those: the log had been extended by another node
  uint64_t commits = 0;       // writers whose Commit() succeeded
  uint64_t records = 0;       // records (events) written by those commits
  uint64_t lock_wait_ns = 0;  // total time in BeginCommit waiting for the lock (all locks)
  uint64_t hold_ns = 0;       // total time from lock to COMMIT or rollback (all locks)
  uint64_t commit_ns = 0;     // Commit() — the writes, COMMIT and (locked) the durability wait
  uint64_t optimistic = 0;    // writers begun optimistically (lock taken in Commit)
  uint64_t races_lost = 0;    // writers that found the log extended by another node (kAborted)
  uint64_t lock_victims = 0;  // BeginCommit lock waits PostgreSQL broke as deadlocks (retried)
  uint64_t row_waits_cut = 0;  // optimistic writers whose wait for a row or the lock was cut (kAborted)
  // Locked writers release the lock at their commit record and then wait for the WAL flush (a
  // durability barrier, pg_log_store.h): how many did, and the total time of those waits.
  uint64_t durable_waits = 0;
  uint64_t durable_wait_ns = 0;
  uint64_t barriers = 0;  // all durability barriers run (commits, in-doubt resolution, reads)
  uint64_t in_doubt = 0;  // commits whose outcome had to be resolved by reading the log back
  uint64_t listener_connects = 0;  // connection attempts of the LISTEN thread (reconnects)
};

// The totals of a PostgreSQL store since it was opened; nullopt for any other store or nullptr.
std::optional<PgCommitStats> PgCommitStatsOf(LogStore* store);

}  // namespace cairn::storage
