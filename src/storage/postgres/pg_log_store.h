// The PostgreSQL backend of LogStore: several stateless cairn nodes on one database.
//
// Every node opens the same database; the log's state (tree size and compact range) is one row,
// locked FOR UPDATE by BeginCommit() for the whole commit transaction, so the nodes' commits are
// serialised and never fork the log (LogStore: "Shared backends"). A commit is one transaction
// (records, stream index, stream heads, Merkle nodes, the new tree state), followed by
// NOTIFY cairn_commit once it is durable; DestroyKeyMaterial sends NOTIFY cairn_key. A listener
// connection turns other nodes' notifications into ChangeListener calls, and calls on_resync
// after a reconnect.
//
// Schema: versioned migrations (pg_schema.cc) applied at open under an advisory lock, so nodes
// starting together apply each migration once. A database whose schema is newer than this build
// knows is refused (kFailedPrecondition).
//
// Connections: a bounded pool (pool_connections_max, each checked out by one thread at a time);
// a broken connection is dropped and replaced at the next use, with exponential backoff between
// failed connection attempts (backoff_ms_min..backoff_ms_max). While the database is unreachable
// every call fails with kUnavailable at once instead of waiting; reads are retried once on a
// fresh connection. A full disk on the server is kResourceExhausted. Error messages name the
// operation and the SQLSTATE, never the connection string, a password or stored values.
//
// Durability: a commit returns once it is as durable as the server's synchronous_commit makes it
// (on by default). A locked writer's transaction commits with synchronous_commit off, so that its
// COMMIT returns, and the commit lock is released, at the commit record, before the WAL flush;
// the writer then runs a durability barrier: one statement, committed with the session's
// synchronous_commit, that updates a row of cairn_flush and notifies the other nodes. Its flush
// covers the WAL up to it, so every commit visible before it is durable after it. Other nodes
// can see such a commit before its flush: under the lock they build on it (their own commit comes
// later in the WAL, so it cannot be durable without it), while ReadTreeState() runs a barrier of
// its own on the connection it read with when it may have seen one (a tree size beyond what is
// known to be durable), and CommitWriter::FinishWithoutWriting() on the writer's connection.
// A barrier proves only what was read on a connection made before it: a restart of the server
// ends every older connection. A connection lost during COMMIT or the barrier leaves the outcome in doubt: the
// writer resolves it by reading the log back on a new connection and then running a barrier; if
// that fails too it reports kUnavailable ("outcome unknown"), and a re-send of the same events is
// answered idempotently by event id.
//
// Erasure: DestroyKeyMaterial deletes the row and rewrites the key table (VACUUM FULL: a plain
// VACUUM leaves the bytes in the pages' free space) before returning, so the live table files no
// longer hold the bytes; the rewrite locks the key table for a time proportional to its size.
// When it cannot rewrite (older snapshots, the table's lock), the purge stays pending in the
// database and some node's purger thread rewrites the table later (PgOptions::key_purge_*).
// Copies in PostgreSQL's WAL (pg_wal, its archive), replicas and backups are beyond the store's
// reach: docs/deployment.md says how a KEK rotation covers them.
//
// Thread safety: as LogStore. Ownership: the store owns its pool and listener thread; writers and
// callbacks must not outlive it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "common/status.h"
#include "storage/log_store.h"

namespace cairn::storage {

struct PgOptions {
  // libpq connection string (key=value or postgresql:// URI) without a password.
  std::string conninfo;
  // Overrides the connection string's sslmode when non-empty (disable .. verify-full).
  std::string sslmode;
  // The password, read from this file (mode 0600 or stricter) when set; otherwise libpq's own
  // sources apply (PGPASSWORD, PGPASSFILE). Never logged.
  std::string password_file;
  size_t pool_connections_max = 8;    // 2 .. 256
  int64_t connect_timeout_ms = 5000;  // per connection attempt
  int64_t acquire_timeout_ms = 30000; // waiting for a pooled connection when all are busy
  int64_t backoff_ms_min = 50;        // after a failed connection attempt
  int64_t backoff_ms_max = 2000;
  // Statement timeout for reads and writes other than the commit lock wait, in ms (0 = none).
  int64_t statement_timeout_ms = 60000;
  bool listen = true;  // start the LISTEN/NOTIFY thread (off for offline tools)
  // Apply the schema migrations this cairn knows at open (`cairn serve`, `cairn init`). Off
  // (offline tools): the schema must already be at this cairn's version (kFailedPrecondition
  // otherwise), so that a newer `cairn read` run against a shared database cannot change the
  // schema under the nodes that serve it.
  bool migrate = true;
  // Open for reading only (`cairn verify`): no migration (the schema must already be at this
  // cairn's version), no key purger, no listener, and every session is READ ONLY, so that no
  // statement of this store can change the database (a write fails with kUnavailable). A store
  // that is not read-only refuses connections to a read-only server (a standby): kUnavailable.
  bool read_only = false;
  // BeginOptimisticCommit really is optimistic (LogStore); false: it locks first, like
  // BeginCommit (for nodes that all write all the time, where optimism only loses races).
  bool optimistic_commits = true;
  // A key destroy waits at most this long for transactions older than its delete to end before
  // it rewrites the key table (their snapshots would keep the deleted rows in the new files).
  int64_t key_purge_wait_ms_max = 10000;
  // After a wait that ran out, destroys during this long do not wait at all.
  int64_t key_purge_no_wait_ms = 60000;
  // After a destroy that could not purge (older transactions, or the key table's lock not
  // granted within 2 s, or an error), a background thread checks this often whether it can
  // (doubling the interval, up to 5 min, while it cannot), and then rewrites the key table
  // again. The pending purge is recorded in the database (cairn_key_purge) by the deleting
  // transaction, so every node's purger looks for it: at start, and then every
  // key_purge_poll_ms while this node knows of none (one single-row read).
  int64_t key_purge_retry_ms = 5000;
  int64_t key_purge_poll_ms = 60000;
};

Result<std::unique_ptr<LogStore>> OpenPgLogStore(const PgOptions& options);

// Drops every cairn table of the database (tests and `cairn migrate` re-runs only).
Status DropPgSchemaForTest(const PgOptions& options);

}  // namespace cairn::storage
