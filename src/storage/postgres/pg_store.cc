// PgLogStore: statements, reads, checkpoints, key material and metadata.
#include "storage/postgres/pg_store.h"

#include <pqxx/binarystring>
#include <pqxx/result>
#include <pqxx/connection>
#include <pqxx/except>
#include <pqxx/nontransaction>
#include <pqxx/transaction>

#include <algorithm>
#include <cassert>
#include <chrono>
#include <map>
#include <stdexcept>
#include <thread>

#include "common/log.h"
#include "common/steady_clock.h"
#include "storage/postgres/pg_errors.h"
#include "storage/postgres/pg_runs.h"
#include "storage/postgres/pg_schema.h"

namespace cairn::storage::pg {

namespace {

std::string Bytes(const pqxx::field& f) { return pqxx::binarystring(f).str(); }
int64_t I64(uint64_t v) { return static_cast<int64_t>(v); }

// nullopt for a row no commit of the engine writes (storage::WellFormed, negative numbers).
std::optional<StreamHead> HeadFromRow(const pqxx::row& row, int first) {
  const int64_t next_version = row[first].as<int64_t>();
  const int64_t last_position = row[first + 1].as<int64_t>();
  if (next_version < 0 || last_position < 0) return std::nullopt;
  StreamHead h;
  h.next_version = static_cast<uint64_t>(next_version);
  h.last_position = static_cast<uint64_t>(last_position);
  h.last_leaf_hash = Bytes(row[first + 2]);
  h.deleted = row[first + 3].as<bool>();
  if (!WellFormed(h)) return std::nullopt;
  return h;
}

Status DamagedHead(std::string_view stream_id) {
  return Status::DataLoss("stream head of '" + std::string(stream_id) + "' is damaged");
}

// The commit lock. Its wait is exempt from the statement timeout (another node's commit may take
// a while); set_config restores the timeout for the rest of the transaction. One round trip:
// PostgreSQL 13+ times each statement of a query string separately.
std::string LockSql(int64_t statement_timeout_ms) {
  // synchronous_commit off: see the async_commit statement below.
  return "SET LOCAL statement_timeout = 0; SET LOCAL synchronous_commit = off; "
         "SELECT size, compact_range, group_from, group_summary, set_config('statement_timeout', '" +
         std::to_string(statement_timeout_ms) + "', true) FROM cairn_tree WHERE id = 1 FOR UPDATE";
}

}  // namespace

void SetServerKeepalives(pqxx::transaction_base& tx) {
  tx.exec("SET tcp_keepalives_idle = " + std::to_string(kKeepaliveIdleS));
  tx.exec("SET tcp_keepalives_interval = " + std::to_string(kKeepaliveIntervalS));
  tx.exec("SET tcp_keepalives_count = " + std::to_string(kKeepaliveCount));
}

void PrepareStatements(pqxx::connection& conn, int64_t statement_timeout_ms) {
  {
    pqxx::nontransaction tx(conn);
    tx.exec("SET statement_timeout = " + std::to_string(statement_timeout_ms));
    tx.exec("SET lock_timeout = 0");
    // Durability does not depend on the database's or role's defaults: a commit not under the
    // lock is acknowledged only after its WAL flush (the locked path turns it off per transaction
    // and syncs with the barrier instead).
    tx.exec("SET synchronous_commit = on");
    // The commit lock (SELECT ... FOR UPDATE of the tree row) and the reads under it assume READ
    // COMMITTED: after waiting for another node's commit they see it. Under a database or role
    // default of REPEATABLE READ or SERIALIZABLE that wait ends in a serialization failure and
    // every contended append would abort: the level is set here, whatever the defaults.
    tx.exec("SET default_transaction_isolation = 'read committed'");
    // A node that holds the commit lock and then stalls (a paused VM, a lost network) must not
    // hold every node's appends for the hours the OS takes to notice: PostgreSQL ends a session
    // idle inside a transaction, or whose peer stopped answering keepalives, and its lock goes.
    tx.exec("SET idle_in_transaction_session_timeout = " +
            std::to_string(kIdleInTransactionTimeoutMs));
    SetServerKeepalives(tx);
  }
  conn.prepare("tree", "SELECT size, compact_range FROM cairn_tree WHERE id = 1");
  conn.prepare("tree_size", "SELECT size FROM cairn_tree WHERE id = 1");
  conn.prepare("tree_with_summary",
               "SELECT size, compact_range, group_from, group_summary FROM cairn_tree WHERE id = 1");
  conn.prepare("head",
               "SELECT next_version, last_position, last_leaf_hash, deleted FROM cairn_stream_heads "
               "WHERE stream_id = $1");
  // Record runs (pg_runs.h): one record is cut out of the run that holds it by the server; a scan
  // reads the run that may hold its first position, then up to $2 runs after it.
  conn.prepare("record",
               "SELECT substring(r.records FROM coalesce(r.ends[$1 - r.first_position], 0) + 1 "
               "  FOR r.ends[$1 - r.first_position + 1] - coalesce(r.ends[$1 - r.first_position], 0)) "
               "FROM (SELECT first_position, ends, records FROM cairn_record_runs "
               "      WHERE first_position <= $1 ORDER BY first_position DESC LIMIT 1) AS r "
               "WHERE $1 - r.first_position < cardinality(r.ends)");
  conn.prepare("record_runs",
               "(SELECT first_position, ends, records FROM cairn_record_runs "
               " WHERE first_position <= $1 ORDER BY first_position DESC LIMIT 1) "
               "UNION ALL "
               "(SELECT first_position, ends, records FROM "
               "  (SELECT first_position, ends, records, "
               "          sum(octet_length(records)) OVER (ORDER BY first_position) AS upto "
               "     FROM (SELECT first_position, ends, records FROM cairn_record_runs "
               "            WHERE first_position > $1 ORDER BY first_position LIMIT $2) AS runs"
               "  ) AS page "
               " WHERE upto - octet_length(records) < $3)");
  // Runs (pg_runs.h): the run that may hold the first key (greatest first key ≤ it), then the
  // runs after it; each run holds at least one entry, so $3 runs cover a limit of $3 entries.
  conn.prepare("index_fwd",
               "(SELECT first_version, first_position, count FROM cairn_index_runs "
               " WHERE stream_id = $1 AND first_version <= $2 ORDER BY first_version DESC LIMIT 1) "
               "UNION ALL "
               "(SELECT first_version, first_position, count FROM cairn_index_runs "
               " WHERE stream_id = $1 AND first_version > $2 ORDER BY first_version LIMIT $3)");
  conn.prepare("index_back",
               "SELECT first_version, first_position, count FROM cairn_index_runs "
               "WHERE stream_id = $1 AND first_version <= $2 ORDER BY first_version DESC LIMIT $3");
  conn.prepare("nodes",
               "SELECT k.level, k.idx, substring(r.hashes FROM ((k.idx - r.first_idx) * 32 + 1)::int FOR 32) "
               "FROM unnest($1::smallint[], $2::bigint[]) AS k(level, idx) "
               "CROSS JOIN LATERAL (SELECT first_idx, hashes FROM cairn_node_runs n "
               "  WHERE n.level = k.level AND n.first_idx <= k.idx "
               "  ORDER BY n.first_idx DESC LIMIT 1) AS r "
               "WHERE k.idx < r.first_idx + length(r.hashes) / 32");
  conn.prepare("leaves",
               "(SELECT first_idx, hashes FROM cairn_node_runs "
               " WHERE level = 0 AND first_idx <= $1 ORDER BY first_idx DESC LIMIT 1) "
               "UNION ALL "
               "(SELECT first_idx, hashes FROM cairn_node_runs "
               " WHERE level = 0 AND first_idx > $1 ORDER BY first_idx LIMIT $2)");
  conn.prepare("heads_page",
               "SELECT stream_id, next_version, last_position, last_leaf_hash, deleted "
               "FROM cairn_stream_heads WHERE stream_id > $1 ORDER BY stream_id LIMIT $2");
  conn.prepare("heads_first",
               "SELECT stream_id, next_version, last_position, last_leaf_hash, deleted "
               "FROM cairn_stream_heads ORDER BY stream_id LIMIT $1");
  conn.prepare("checkpoint_put",
               "INSERT INTO cairn_checkpoints (tree_size, note) VALUES ($1, $2) "
               "ON CONFLICT (tree_size) DO NOTHING");
  conn.prepare("checkpoint_latest",
               "SELECT tree_size, note FROM cairn_checkpoints ORDER BY tree_size DESC LIMIT 1");
  conn.prepare("checkpoints_page",
               "SELECT tree_size, note FROM cairn_checkpoints WHERE tree_size >= $1 "
               "ORDER BY tree_size LIMIT $2");
  conn.prepare("key_put",
               "INSERT INTO cairn_key_material (name, wrapped) VALUES ($1, $2) "
               "ON CONFLICT (name) DO UPDATE SET wrapped = EXCLUDED.wrapped");
  conn.prepare("key_put_if_absent",
               "INSERT INTO cairn_key_material (name, wrapped) VALUES ($1, $2) "
               "ON CONFLICT (name) DO NOTHING");
  conn.prepare("key_replace_if",
               "UPDATE cairn_key_material SET wrapped = $3 WHERE name = $1 AND wrapped = $2");
  conn.prepare("key_get", "SELECT wrapped FROM cairn_key_material WHERE name = $1");
  conn.prepare("keys_page",
               "SELECT name, wrapped FROM cairn_key_material WHERE name >= $1 ORDER BY name LIMIT $2");
  conn.prepare("keys_next",
               "SELECT name, wrapped FROM cairn_key_material WHERE name > $1 ORDER BY name LIMIT $2");
  conn.prepare("key_delete", "DELETE FROM cairn_key_material WHERE name = $1");
  conn.prepare("key_delete_if", "DELETE FROM cairn_key_material WHERE name = $1 AND wrapped = $2");
  // The pending purge (schema 6): the newest deleting transaction wins; a purge clears what it
  // covered and leaves a newer one.
  conn.prepare("purge_note",
               "INSERT INTO cairn_key_purge (id, txid) VALUES (1, $1) ON CONFLICT (id) "
               "DO UPDATE SET txid = GREATEST(cairn_key_purge.txid, EXCLUDED.txid)");
  conn.prepare("purge_get", "SELECT txid FROM cairn_key_purge WHERE id = 1");
  conn.prepare("purge_clear", "DELETE FROM cairn_key_purge WHERE id = 1 AND txid <= $1");
  conn.prepare("notify", "SELECT pg_notify($1, $2)");
  // A locked writer's transaction commits with synchronous_commit off (set with the lock, LockSql):
  // its COMMIT returns at the commit record, releasing the commit lock before the WAL flush,
  // which the barrier below then waits for.
  // The durability barrier (PgLogStore::Barrier), run outside a transaction block: one
  // statement, one implicit transaction, committed with the session's synchronous_commit.
  conn.prepare("flush", "UPDATE cairn_flush SET n = n + 1 WHERE slot = pg_backend_pid() % 64");
  conn.prepare("flush_notify",
               "WITH f AS (UPDATE cairn_flush SET n = n + 1 WHERE slot = pg_backend_pid() % 64 "
               "RETURNING 1) SELECT (SELECT count(*) FROM f), pg_notify($1, $2)");
  // An optimistic commit waits for the lock in its tree update with no statement timeout and a
  // short lock timeout; this notification, sent right after, restores both for the rest of the
  // transaction.
  conn.prepare("notify_restore_timeout",
               "SELECT pg_notify($1, $2), set_config('statement_timeout', '" +
                   std::to_string(statement_timeout_ms) + "', true), "
                   "set_config('lock_timeout', '0', true)");
  conn.prepare("meta_put",
               "INSERT INTO cairn_meta (name, value) VALUES ($1, $2) "
               "ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value");
  conn.prepare("meta_put_if_absent",
               "INSERT INTO cairn_meta (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING");
  conn.prepare("meta_get", "SELECT value FROM cairn_meta WHERE name = $1");
  conn.prepare("meta_page",
               "SELECT name, value FROM cairn_meta WHERE name >= $1 ORDER BY name LIMIT $2");
  conn.prepare("meta_next",
               "SELECT name, value FROM cairn_meta WHERE name > $1 ORDER BY name LIMIT $2");
  conn.prepare("insert_record_runs",
               "INSERT INTO cairn_record_runs (first_position, ends, records) "
               "SELECT p, e::int[], substring($3::bytea FROM o + 1 FOR l) "
               "FROM unnest($1::bigint[], $2::text[], $4::int[], $5::int[]) AS t(p, e, o, l)");
  conn.prepare("insert_index_runs",
               "INSERT INTO cairn_index_runs (stream_id, first_version, first_position, count) "
               "SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::int[])");
  conn.prepare("upsert_heads",
               "INSERT INTO cairn_stream_heads (stream_id, next_version, last_position, "
               "last_leaf_hash, deleted) "
               "SELECT s, nv, lp, substring($4::bytea FROM o + 1 FOR l), d "
               "FROM unnest($1::text[], $2::bigint[], $3::bigint[], $5::int[], $6::int[], "
               "$7::boolean[]) AS t(s, nv, lp, o, l, d) "
               "ON CONFLICT (stream_id) DO UPDATE SET next_version = EXCLUDED.next_version, "
               "last_position = EXCLUDED.last_position, last_leaf_hash = EXCLUDED.last_leaf_hash, "
               "deleted = EXCLUDED.deleted");
  conn.prepare("insert_node_runs",
               "INSERT INTO cairn_node_runs (level, first_idx, hashes) "
               "SELECT lv, ix, substring($3::bytea FROM o + 1 FOR l) "
               "FROM unnest($1::smallint[], $2::bigint[], $4::int[], $5::int[]) AS t(lv, ix, o, l)");
  conn.prepare("tree_update",
               "UPDATE cairn_tree SET size = $1, compact_range = $2, group_from = $4, group_summary = $5 "
               "WHERE id = 1 AND size = $3");
}

PgLogStore::PgLogStore(const PgOptions& options, std::string conninfo)
    : options_(options), conninfo_(std::move(conninfo)), lock_sql_(LockSql(options.statement_timeout_ms)) {
  PoolSettings ps;
  ps.conninfo = conninfo_;
  ps.connections_max = options.pool_connections_max;
  ps.acquire_timeout_ms = options.acquire_timeout_ms;
  ps.backoff_ms_min = options.backoff_ms_min;
  ps.backoff_ms_max = options.backoff_ms_max;
  const int64_t timeout_ms = options.statement_timeout_ms;
  const bool read_only = options.read_only;
  ps.on_connect = [timeout_ms, read_only](pqxx::connection& c) {
    // libpqxx 6 would otherwise reopen a disconnected connection on its next use, without the
    // session settings below: a broken one must fail and be dropped instead.
    c.inhibit_reactivation(true);
    {
      pqxx::nontransaction tx(c);
      if (read_only) {
        tx.exec("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY");
      } else if (tx.exec("SHOW transaction_read_only")[0][0].as<std::string>() == "on") {
        throw ReadOnlyServer();  // a writer's pool keeps only connections that can write
      }
    }
    PrepareStatements(c, timeout_ms);
  };
  pool_ = std::make_unique<PgPool>(std::move(ps));
}

Status PgLogStore::Run(std::string_view what, bool retry,
                       const std::function<void(pqxx::connection&)>& fn) {
  for (int attempt = 0;; ++attempt) {
    CAIRN_ASSIGN_OR_RETURN(PgPool::Lease lease, pool_->Acquire());
    try {
      fn(lease.conn());
      return Status::Ok();
    } catch (const std::exception& e) {
      const bool lost = IsConnectionLoss(e);
      if (lost || !lease.conn().is_open() || IsReadOnlyRefusal(e)) lease.Discard();
      if (lost) pool_->DropIdle();  // the retry must run on a fresh connection
      if (!(lost && retry && attempt == 0)) return FromException(e, what);
    }
  }
}

Result<TreeState> PgLogStore::ReadTreeState() { return ReadTreeRow(false); }

Result<TreeState> PgLogStore::ReadTreeStateWithSummary() { return ReadTreeRow(true); }

// A row whose size is beyond what is known to be durable may come from a locked commit whose
// WAL flush is still running (it released the lock at its commit record): the barrier, run after
// the read, makes it durable before anybody is told of it. After a crash of PostgreSQL such a
// commit could otherwise be lost after a reader had seen it, or a checkpoint had been signed on it.
Result<TreeState> PgLogStore::ReadTreeRow(bool with_summary) {
  TreeState state;
  CAIRN_RETURN_IF_ERROR(Run("reading the tree state", true, [&](pqxx::connection& c) {
    {
      pqxx::nontransaction tx(c);
      const pqxx::result r = tx.exec_prepared(with_summary ? "tree_with_summary" : "tree");
      if (r.size() != 1) throw std::runtime_error("tree state row missing");
      state.size = static_cast<uint64_t>(r[0][0].as<int64_t>());
      state.compact_range = Bytes(r[0][1]);
      if (with_summary) {
        state.group_from = static_cast<uint64_t>(r[0][2].as<int64_t>());
        state.group_summary = Bytes(r[0][3]);
      }
    }
    if (state.size > durable_size_.load(std::memory_order_acquire)) Barrier(c, std::nullopt);
  }));
  NoteDurable(state.size);
  return state;
}

namespace {

// At most this long for the WAL flush a read-only barrier waits for (a synchronous commit
// flushes within milliseconds; a stalled disk ends in an error, not a hang).
constexpr int64_t kReadOnlyFlushWaitMsMax = 10000;
constexpr int64_t kReadOnlyFlushPollMs = 2;

void WaitForWalFlush(pqxx::connection& conn) {
  pqxx::nontransaction tx(conn);
  const pqxx::result r = tx.exec(
      "SELECT CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_current_wal_insert_lsn()::text END");
  if (r[0][0].is_null()) return;  // a standby: what it shows was flushed before it was replayed
  const std::string lsn = r[0][0].as<std::string>();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kReadOnlyFlushWaitMsMax);
  while (!tx.exec_params("SELECT pg_current_wal_flush_lsn() >= $1::pg_lsn", lsn)[0][0].as<bool>()) {
    if (std::chrono::steady_clock::now() >= deadline) {
      // As a statement timeout (SQLSTATE 57014): kUnavailable, worth a retry.
      throw pqxx::sql_error("the WAL flush was not reached in time", "", "57014");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(kReadOnlyFlushPollMs));
  }
}

}  // namespace

void PgLogStore::Barrier(pqxx::connection& conn, std::optional<uint64_t> commit_size) {
  if (options_.read_only) {
    assert(!commit_size);  // a read-only store never commits
    WaitForWalFlush(conn);
    commit_counters_.barriers.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  pqxx::nontransaction tx(conn);
  const uint64_t updated =
      commit_size ? tx.exec_prepared("flush_notify", std::string(kCommitChannel),
                                     std::to_string(*commit_size))[0][0].as<uint64_t>()
                  : static_cast<uint64_t>(tx.exec_prepared("flush").affected_rows());
  // A statement that changed no row commits without flushing the WAL: it would prove nothing.
  if (updated != 1) throw std::runtime_error("the durability barrier updated no row of cairn_flush");
  commit_counters_.barriers.fetch_add(1, std::memory_order_relaxed);
}

void PgLogStore::NoteDurable(uint64_t size) {
  uint64_t known = durable_size_.load(std::memory_order_relaxed);
  while (size > known && !durable_size_.compare_exchange_weak(known, size, std::memory_order_acq_rel)) {
  }
}

Result<std::optional<StreamHead>> PgLogStore::ReadStreamHead(std::string_view stream_id) {
  std::optional<StreamHead> head;
  bool damaged = false;
  CAIRN_RETURN_IF_ERROR(Run("reading a stream head", true, [&](pqxx::connection& c) {
    pqxx::nontransaction tx(c);
    const pqxx::result r = tx.exec_prepared("head", std::string(stream_id));
    head.reset();
    damaged = false;
    if (r.empty()) return;
    head = HeadFromRow(r[0], 0);
    damaged = !head.has_value();
  }));
  if (damaged) return DamagedHead(stream_id);
  return head;
}

Result<std::string> PgLogStore::ReadRecord(uint64_t position) {
  std::optional<std::string> record;
  CAIRN_RETURN_IF_ERROR(Run("reading a record", true, [&](pqxx::connection& c) {
    pqxx::nontransaction tx(c);
    const pqxx::result r = tx.exec_prepared("record", I64(position));
    if (!r.empty()) record = Bytes(r[0][0]);
  }));
  if (!record) return Status::NotFound("no record at position " + std::to_string(position));
  return std::move(*record);
}

namespace {

// The runs a scan meets, in order: each starts at or after the end of the one before (the first
// row of a page may be the run the previous page ended in, met again). Runs that overlap can only
// be rows written around the engine; a scan that skipped them would disagree with a point read
// (which takes the run with the greatest first position) about the same position, so the
// verifier would check one record while readers are served another.
class RunOrder {
 public:
  explicit RunOrder(std::string_view what) : what_(what) {}
  Status Meet(uint64_t first, uint64_t count) {
    if (met_ && first != last_first_ && first < end_) {
      return Status::DataLoss(std::string(what_) + " runs overlap at position " +
                              std::to_string(first) + " (rows written around cairn)");
    }
    assert(!met_ || first >= last_first_);
    met_ = true;
    last_first_ = first;
    end_ = std::max(end_, first + count);
    return Status::Ok();
  }

 private:
  std::string_view what_;
  bool met_ = false;
  uint64_t last_first_ = 0;
  uint64_t end_ = 0;
};

}  // namespace

Status PgLogStore::ScanRecords(uint64_t from_position, uint64_t limit,
                               const std::function<bool(uint64_t, std::string_view)>& fn) {
  uint64_t next = from_position, left = limit;
  struct FetchedRun {
    uint64_t first_position;
    std::string ends;  // array text
    std::string records;
  };
  std::vector<FetchedRun> runs;
  std::vector<std::string_view> split;
  RunOrder order("record");
  while (left > 0) {
    // Each run after the first holds at least one record: `left` runs cover `left` records.
    const uint64_t query_from = next;
    const int64_t page = static_cast<int64_t>(std::min<uint64_t>(left, kScanPageRecordRunsMax));
    CAIRN_RETURN_IF_ERROR(Run("scanning records", true, [&](pqxx::connection& c) {
      pqxx::nontransaction tx(c);
      const pqxx::result r =
          tx.exec_prepared("record_runs", I64(query_from), page, kScanPageRecordBytesMax);
      runs.clear();
      for (const pqxx::row& row : r) {
        runs.push_back({static_cast<uint64_t>(row[0].as<int64_t>()), row[1].as<std::string>(), Bytes(row[2])});
      }
    }));
    std::sort(runs.begin(), runs.end(), [](const FetchedRun& a, const FetchedRun& b) {
      return a.first_position < b.first_position;
    });
    const uint64_t before = left;
    int64_t later_runs = 0;
    uint64_t later_bytes = 0;
    for (const FetchedRun& run : runs) {
      const uint64_t first = run.first_position;
      if (first > query_from) {
        ++later_runs;
        later_bytes += run.records.size();
      }
      CAIRN_RETURN_IF_ERROR(SplitRecordRun(first, run.ends, run.records, &split));
      CAIRN_RETURN_IF_ERROR(order.Meet(first, split.size()));
      // From `next` on: the run that holds it starts at or before it; a run that ends before it
      // (the UNION's first row when `next` is past the end of the log) yields nothing.
      for (uint64_t k = next > first ? next - first : 0; k < split.size() && left > 0; ++k) {
        assert(first + k >= next);
        if (!fn(first + k, split[k])) return Status::Ok();
        next = first + k + 1;
        --left;
      }
    }
    // Fewer runs than asked for and not cut by size: the end of the log.
    const bool cut_by_size = later_bytes >= static_cast<uint64_t>(kScanPageRecordBytesMax);
    if (left == before || (later_runs < page && !cut_by_size)) break;
  }
  return Status::Ok();
}

Result<std::vector<StreamIndexEntry>> PgLogStore::ReadStreamIndex(std::string_view stream_id,
                                                                  uint64_t from_version,
                                                                  bool backwards, uint64_t limit) {
  std::vector<StreamIndexEntry> out;
  if (limit == 0) return out;
  const int64_t from = static_cast<int64_t>(std::min<uint64_t>(from_version, INT64_MAX));
  const int64_t n = static_cast<int64_t>(std::min<uint64_t>(limit, INT64_MAX));
  std::vector<IndexRun> runs;
  CAIRN_RETURN_IF_ERROR(Run("reading a stream index", true, [&](pqxx::connection& c) {
    pqxx::nontransaction tx(c);
    const pqxx::result r =
        tx.exec_prepared(backwards ? "index_back" : "index_fwd", std::string(stream_id), from, n);
    runs.clear();
    runs.reserve(r.size());
    for (const pqxx::row& row : r) {
      const int64_t count = row[2].as<int64_t>();
      if (count <= 0) throw std::runtime_error("a stream index run is empty");
      runs.push_back({std::string(), static_cast<uint64_t>(row[0].as<int64_t>()),
                      static_cast<uint64_t>(row[1].as<int64_t>()), static_cast<uint32_t>(count)});
    }
  }));
  ExpandIndexRuns(&runs, static_cast<uint64_t>(from), backwards, limit, &out);
  return out;
}

Status PgLogStore::ReadNodes(std::span<const NodeKey> keys, std::vector<std::string>* hashes) {
  hashes->assign(keys.size(), std::string());
  if (keys.empty()) return Status::Ok();
  std::string levels = "{", indexes = "{";
  for (size_t i = 0; i < keys.size(); ++i) {
    if (i > 0) levels += ',', indexes += ',';
    levels += std::to_string(keys[i].level);
    indexes += std::to_string(keys[i].index);
  }
  levels += '}', indexes += '}';
  std::map<std::pair<uint8_t, uint64_t>, std::string> found;
  CAIRN_RETURN_IF_ERROR(Run("reading Merkle nodes", true, [&](pqxx::connection& c) {
    pqxx::nontransaction tx(c);
    const pqxx::result r = tx.exec_prepared("nodes", levels, indexes);
    found.clear();
    for (const pqxx::row& row : r) {
      found[{static_cast<uint8_t>(row[0].as<int>()), static_cast<uint64_t>(row[1].as<int64_t>())}] =
          Bytes(row[2]);
    }
  }));
  for (size_t i = 0; i < keys.size(); ++i) {
    auto it = found.find({keys[i].level, keys[i].index});
    if (it == found.end()) {
      return Status::NotFound("Merkle node (level " + std::to_string(keys[i].level) + ", index " +
                              std::to_string(keys[i].index) + ") is missing");
    }
    (*hashes)[i] = it->second;  // copied: a key may be asked for twice
  }
  return Status::Ok();
}

Status PgLogStore::ScanLeafHashes(uint64_t from_index, uint64_t limit,
                                  const std::function<bool(uint64_t, std::string_view)>& fn) {
  uint64_t next = from_index, left = limit;
  RunOrder order("leaf hash");
  while (left > 0) {
    // Up to kScanPageRowsMax runs after the one that may hold `next`.
    const uint64_t query_from = next;
    pqxx::result r;
    CAIRN_RETURN_IF_ERROR(Run("scanning leaf hashes", true, [&](pqxx::connection& c) {
      pqxx::nontransaction tx(c);
      r = tx.exec_prepared("leaves", I64(query_from), kScanPageRowsMax);
    }));
    std::vector<std::pair<uint64_t, std::string>> runs;
    runs.reserve(r.size());
    for (const pqxx::row& row : r) {
      runs.emplace_back(static_cast<uint64_t>(row[0].as<int64_t>()), Bytes(row[1]));
    }
    std::sort(runs.begin(), runs.end());
    const uint64_t before = left;
    size_t later_runs = 0;
    for (const auto& [first, hashes] : runs) {
      if (first > query_from) ++later_runs;
      const uint64_t count = hashes.size() / kHashSizeBytes;
      CAIRN_RETURN_IF_ERROR(order.Meet(first, count));
      // From `next` on: the run that holds it starts before it, and a run ending before it
      // (the UNION's first row, when `next` lies in a gap) yields nothing.
      for (uint64_t k = next > first ? next - first : 0; k < count && left > 0; ++k) {
        if (!fn(first + k, std::string_view(hashes).substr(k * kHashSizeBytes, kHashSizeBytes))) {
          return Status::Ok();
        }
        next = first + k + 1;
        --left;
      }
    }
    if (left == before || later_runs < static_cast<size_t>(kScanPageRowsMax)) break;
  }
  return Status::Ok();
}

Status PgLogStore::ScanStreamHeads(
    const std::function<bool(std::string_view, const StreamHead&)>& fn) {
  std::optional<std::string> after;
  while (true) {
    pqxx::result r;
    CAIRN_RETURN_IF_ERROR(Run("scanning stream heads", true, [&](pqxx::connection& c) {
      pqxx::nontransaction tx(c);
      r = after ? tx.exec_prepared("heads_page", *after, kScanPageRowsMax)
                : tx.exec_prepared("heads_first", kScanPageRowsMax);
    }));
    for (const pqxx::row& row : r) {
      after = row[0].as<std::string>();
      const std::optional<StreamHead> head = HeadFromRow(row, 1);
      if (!head) return DamagedHead(*after);
      if (!fn(*after, *head)) return Status::Ok();
    }
    if (r.size() < static_cast<size_t>(kScanPageRowsMax)) return Status::Ok();
  }
}

Status PgLogStore::PutCheckpoint(uint64_t tree_size, std::string_view signed_note) {
  CAIRN_RETURN_IF_ERROR(CheckSmallValue(signed_note, "checkpoint"));
  // Several nodes may sign the same size: the first note stored stays (both are valid).
  return Run("storing a checkpoint", true, [&](pqxx::connection& c) {
    pqxx::work tx(c);
    tx.exec_prepared("checkpoint_put", I64(tree_size), Bin(signed_note));
    tx.commit();
  });
}

Result<std::optional<std::pair<uint64_t, std::string>>> PgLogStore::ReadLatestCheckpoint() {
  std::optional<std::pair<uint64_t, std::string>> out;
  CAIRN_RETURN_IF_ERROR(Run("reading the latest checkpoint", true, [&](pqxx::connection& c) {
    pqxx::nontransaction tx(c);
    const pqxx::result r = tx.exec_prepared("checkpoint_latest");
    if (!r.empty()) out.emplace(static_cast<uint64_t>(r[0][0].as<int64_t>()), Bytes(r[0][1]));
  }));
  return out;
}

Status PgLogStore::ScanCheckpoints(const std::function<bool(uint64_t, std::string_view)>& fn) {
  int64_t next = 0;
  while (true) {
    pqxx::result r;
    CAIRN_RETURN_IF_ERROR(Run("scanning checkpoints", true, [&](pqxx::connection& c) {
      pqxx::nontransaction tx(c);
      r = tx.exec_prepared("checkpoints_page", next, kScanPageRowsMax);
    }));
    for (const pqxx::row& row : r) {
      const int64_t size = row[0].as<int64_t>();
      if (!fn(static_cast<uint64_t>(size), Bytes(row[1]))) return Status::Ok();
      next = size + 1;
    }
    if (r.size() < static_cast<size_t>(kScanPageRowsMax)) return Status::Ok();
  }
}

Status PgLogStore::PutKeyMaterial(std::string_view name, std::string_view wrapped) {
  CAIRN_RETURN_IF_ERROR(CheckName(name, "key material"));
  CAIRN_RETURN_IF_ERROR(CheckSmallValue(wrapped, "wrapped key"));
  return Run("storing key material", true, [&](pqxx::connection& c) {
    pqxx::work tx(c);
    tx.exec_prepared("key_put", std::string(name), Bin(wrapped));
    tx.commit();
  });
}

Result<bool> PgLogStore::PutKeyMaterialIfAbsent(std::string_view name, std::string_view wrapped) {
  CAIRN_RETURN_IF_ERROR(CheckName(name, "key material"));
  CAIRN_RETURN_IF_ERROR(CheckSmallValue(wrapped, "wrapped key"));
  bool stored = false;
  // Not retried: a lost COMMIT could make a retry see its own row and report "absent" wrongly.
  CAIRN_RETURN_IF_ERROR(Run("storing key material", false, [&](pqxx::connection& c) {
    pqxx::work tx(c);
    const pqxx::result r = tx.exec_prepared("key_put_if_absent", std::string(name), Bin(wrapped));
    tx.commit();
    stored = r.affected_rows() == 1;
  }));
  return stored;
}

Result<bool> PgLogStore::ReplaceKeyMaterialIf(std::string_view name, std::string_view expected,
                                              std::string_view wrapped) {
  CAIRN_RETURN_IF_ERROR(CheckName(name, "key material"));
  CAIRN_RETURN_IF_ERROR(CheckSmallValue(wrapped, "wrapped key"));
  bool replaced = false;
  // Not retried: a lost COMMIT could make a retry see its own value and report "changed".
  CAIRN_RETURN_IF_ERROR(Run("replacing key material", false, [&](pqxx::connection& c) {
    pqxx::work tx(c);
    const pqxx::result r =
        tx.exec_prepared("key_replace_if", std::string(name), Bin(expected), Bin(wrapped));
    tx.commit();
    replaced = r.affected_rows() == 1;
  }));
  return replaced;
}

Result<std::optional<std::string>> PgLogStore::ReadKeyMaterial(std::string_view name) {
  CAIRN_RETURN_IF_ERROR(CheckName(name, "key material"));
  std::optional<std::string> out;
  CAIRN_RETURN_IF_ERROR(Run("reading key material", true, [&](pqxx::connection& c) {
    pqxx::nontransaction tx(c);
    const pqxx::result r = tx.exec_prepared("key_get", std::string(name));
    if (!r.empty()) out = Bytes(r[0][0]);
  }));
  return out;
}

Status PgLogStore::ScanKeyMaterial(
    std::string_view prefix, const std::function<bool(std::string_view, std::string_view)>& fn) {
  return ScanNames("key material", "keys_page", "keys_next", prefix, fn);
}

Status PgLogStore::ScanKeyMaterialAfter(
    std::string_view prefix, std::string_view start_after,
    const std::function<bool(std::string_view, std::string_view)>& fn) {
  return ScanNames("key material", "keys_page", "keys_next", prefix, fn, start_after);
}

Status PgLogStore::ScanMeta(
    std::string_view prefix, const std::function<bool(std::string_view, std::string_view)>& fn) {
  return ScanNames("metadata", "meta_page", "meta_next", prefix, fn);
}

Status PgLogStore::ScanNames(std::string_view what, const char* page_statement,
                             const char* next_statement, std::string_view prefix,
                             const std::function<bool(std::string_view, std::string_view)>& fn,
                             std::string_view start_after) {
  if (prefix.size() > kNameSizeBytesMax) {
    return Status::InvalidArgument(std::string(what) + " prefix exceeds " +
                                   std::to_string(kNameSizeBytesMax) + " bytes");
  }
  const std::string operation = "scanning " + std::string(what);
  // From the prefix (its first name included), or after start_after when that is further on.
  const bool after = !start_after.empty() && start_after >= prefix;
  std::string cursor(after ? start_after : prefix);
  bool first = !after;
  while (true) {
    pqxx::result r;
    CAIRN_RETURN_IF_ERROR(Run(operation, true, [&](pqxx::connection& c) {
      pqxx::nontransaction tx(c);
      r = tx.exec_prepared(first ? page_statement : next_statement, cursor, kScanPageRowsMax);
    }));
    first = false;
    for (const pqxx::row& row : r) {
      cursor = row[0].as<std::string>();
      if (cursor.compare(0, prefix.size(), prefix) != 0) return Status::Ok();
      if (!fn(cursor, Bytes(row[1]))) return Status::Ok();
    }
    if (r.size() < static_cast<size_t>(kScanPageRowsMax)) return Status::Ok();
  }
}

Status PgLogStore::DestroyKeyMaterial(std::string_view name) {
  const std::string one(name);
  return DestroyKeyMaterials(std::span<const std::string>(&one, 1)).status();
}

namespace {

// How long a key table rewrite waits for its lock (another session reading or writing key
// material holds a conflicting one; every key access queues behind the waiting rewrite).
constexpr int64_t kVacuumLockWaitMs = 2000;

// The 32-bit xid PostgreSQL's age() compares, as text, of a 64-bit transaction id.
std::string Xid32(uint64_t txid) { return std::to_string(txid % 4294967296ULL); }

}  // namespace

Result<DestroyReport> PgLogStore::DestroyKeyMaterials(std::span<const std::string> names) {
  CAIRN_RETURN_IF_ERROR(CheckDestroyBatch(names));
  std::vector<ExpectedKeyMaterial> any;
  any.reserve(names.size());
  for (const std::string& name : names) any.emplace_back(name, std::string());
  return DestroyKeys(any, /*compare=*/false, nullptr);
}

Result<DestroyReport> PgLogStore::DestroyKeyMaterialsIf(
    std::span<const ExpectedKeyMaterial> expected, size_t* destroyed) {
  CAIRN_RETURN_IF_ERROR(CheckDestroyBatchSize(expected.size()));
  return DestroyKeys(expected, /*compare=*/true, destroyed);
}

Status PgLogStore::DeleteUnusedKeyMaterial(std::string_view name) {
  CAIRN_RETURN_IF_ERROR(CheckName(name, "key material"));
  const std::string one(name);
  return Run("deleting unused key material", true, [&](pqxx::connection& c) {
    pqxx::work tx(c);
    tx.exec_prepared("key_delete", one);
    tx.exec_prepared("notify", std::string(kKeyChannel), one);
    tx.commit();
  });
}

Result<DestroyReport> PgLogStore::DestroyKeys(std::span<const ExpectedKeyMaterial> keys,
                                              bool compare, size_t* destroyed) {
  assert(keys.size() <= kDestroyBatchNamesMax);
  if (destroyed != nullptr) *destroyed = 0;
  if (keys.empty()) return DestroyReport{};
  for (const auto& key : keys) CAIRN_RETURN_IF_ERROR(CheckName(key.first, "key material"));
  uint64_t delete_txid = 0;  // the deleting transaction (64 bits: ordered across wraparound)
  size_t deleted = 0;
  // A conditional delete is not run twice: after a lost COMMIT it would find nothing to delete.
  CAIRN_RETURN_IF_ERROR(Run("destroying key material", !compare, [&](pqxx::connection& c) {
    pqxx::work tx(c);
    deleted = 0;  // a retry on a fresh connection starts over
    delete_txid = 0;
    for (const auto& [name, bytes] : keys) {
      // A conditional delete keeps a name whose bytes another node rewrote meanwhile.
      const pqxx::result r = compare ? tx.exec_prepared("key_delete_if", name, Bin(bytes))
                                     : tx.exec_prepared("key_delete", name);
      if (r.affected_rows() == 0 && compare) continue;  // kept (or absent): nothing to evict
      deleted += r.affected_rows();
      tx.exec_prepared("notify", std::string(kKeyChannel), name);
    }
    if (compare && deleted == 0) return;  // nothing deleted: nothing to purge
    delete_txid = tx.exec("SELECT txid_current()")[0][0].as<uint64_t>();
    // Pending from the delete's commit on, in the database: if the purge below fails, or this
    // process stops first, a purger thread (this node's or another's) still does it.
    tx.exec_prepared("purge_note", static_cast<int64_t>(delete_txid));
    tx.commit();
  }));
  assert(deleted <= keys.size());
  if (destroyed != nullptr) *destroyed = deleted;
  if (delete_txid == 0) return DestroyReport{};  // a conditional destroy that deleted nothing
  assert(compare || delete_txid > 0);
  NotePendingPurge(delete_txid);
  // The deleted row's bytes stay in the table's pages even after a plain VACUUM prunes it (the
  // freed space is not zeroed). VACUUM FULL writes the live rows to new files and truncates the
  // old ones: it locks the key table for as long as the copy takes (proportional to its size).
  // It also copies every row version a running snapshot may still see: first wait (bounded) for
  // the snapshots older than the delete to end.
  CAIRN_ASSIGN_OR_RETURN(const int64_t holders, WaitForSnapshotsBefore(delete_txid));
  CAIRN_ASSIGN_OR_RETURN(const bool vacuumed, VacuumKeyTable());
  DestroyReport report;
  report.snapshots_remaining = holders;
  report.purge_pending = holders > 0 || !vacuumed;
  if (!report.purge_pending) {
    // This rewrite came after every snapshot older than our delete had ended, so it dropped the
    // rows of every older delete too; a newer pending one stays.
    ClearPendingPurge(delete_txid);
  } else {
    log::Warn("an erased key may stay in PostgreSQL's table files for now",
              {.action = "storage.destroy_key",
               .outcome = "failure",
               .extra = {{"cairn.snapshots_older", std::to_string(holders)},
                         {"cairn.key_table_locked", vacuumed ? "false" : "true"},
                         {"cairn.hint",
                          "end long transactions (or replication slots holding xmin); a node "
                          "rewrites the key table again once it can"}}});
  }
  return report;
}

void PgLogStore::NotePendingPurge(uint64_t txid) {
  assert(txid > 0);
  {
    std::lock_guard<std::mutex> lock(purge_mu_);
    // The newest delete's horizon covers the older ones.
    purge_pending_txid_ = std::max(purge_pending_txid_.value_or(0), txid);
  }
  purge_cv_.notify_all();
}

void PgLogStore::ClearPendingPurge(uint64_t covered_txid) {
  // The durable record first: a failure leaves it, and a purger then vacuums once more (a
  // redundant rewrite, not a lost purge).
  const Status cleared = Run("clearing the pending key purge", true, [&](pqxx::connection& c) {
    pqxx::nontransaction tx(c);
    tx.exec_prepared("purge_clear", static_cast<int64_t>(covered_txid));
  });
  if (!cleared.ok()) {
    log::Warn("the purge of erased keys is done but could not be recorded; it will run again",
              {.action = "storage.destroy_key",
               .outcome = "failure",
               .extra = {{"cairn.error", cleared.ToString()}}});
  }
  std::lock_guard<std::mutex> lock(purge_mu_);
  if (purge_pending_txid_ && *purge_pending_txid_ <= covered_txid) purge_pending_txid_.reset();
}

namespace {

// Puts the pooled session's lock and statement timeouts back (PrepareStatements); a session
// where that fails is disconnected (and never reactivated: on_connect), so that Run drops it
// instead of pooling a session that gives up on locks after 2 s or never times out.
void ResetTimeouts(pqxx::connection& c, pqxx::nontransaction& tx, int64_t statement_timeout_ms) {
  try {
    tx.exec("SET lock_timeout = 0");
    tx.exec("SET statement_timeout = " + std::to_string(statement_timeout_ms));
  } catch (const std::exception&) {
    c.disconnect();
  }
}

}  // namespace

bool PgLogStore::VacuumOn(pqxx::connection& c, pqxx::nontransaction& tx) {
  bool vacuumed = false;
  const char* const kFileNode = "SELECT pg_relation_filenode('cairn_key_material')::text";
  const std::string before = tx.exec(kFileNode)[0][0].as<std::string>();
  tx.exec("SET lock_timeout = " + std::to_string(kVacuumLockWaitMs));
  // The rewrite of a large key table may take longer than a statement may; the lock wait is
  // bounded by lock_timeout.
  tx.exec("SET statement_timeout = 0");
  try {
    tx.exec("VACUUM FULL cairn_key_material");
    // VACUUM FULL always writes new files; a role that may not vacuum the table only gets a
    // warning (a skipped table), so the rewrite is checked, not assumed.
    vacuumed = tx.exec(kFileNode)[0][0].as<std::string>() != before;
    can_purge_keys_.store(vacuumed);
  } catch (const pqxx::sql_error& e) {
    // lock_not_available: pending, retried later; anything else is an error.
    if (e.sqlstate() != "55P03") {
      ResetTimeouts(c, tx, options_.statement_timeout_ms);
      throw;
    }
  } catch (...) {
    ResetTimeouts(c, tx, options_.statement_timeout_ms);
    throw;
  }
  ResetTimeouts(c, tx, options_.statement_timeout_ms);
  if (!can_purge_keys_.load() && !vacuum_skip_warned_.exchange(true)) {  // once per store
    log::Warn("VACUUM FULL did not rewrite cairn_key_material: erased keys stay in its files",
              {.action = "storage.destroy_key",
               .outcome = "failure",
               .extra = {{"cairn.hint",
                          "the role cairn connects as must own the table (or the database)"}}});
  }
  return vacuumed;
}

Result<bool> PgLogStore::VacuumKeyTable() {
  bool vacuumed = false;
  CAIRN_RETURN_IF_ERROR(Run("vacuuming the key table", true, [&](pqxx::connection& c) {
    pqxx::nontransaction tx(c);
    vacuumed = VacuumOn(c, tx);
  }));
  return vacuumed;
}

void PgLogStore::CheckKeyPurgePrivilege() {
  // VACUUM FULL rewrites a table only for its owner, the database's owner or a superuser
  // (membership with inherited privileges counts); anyone else gets a warning and no rewrite.
  bool allowed = true;
  const Status checked = Run("checking the key table's owner", true, [&](pqxx::connection& c) {
    pqxx::nontransaction tx(c);
    // From PostgreSQL 17 on, the MAINTAIN privilege (or pg_maintain) allows it too.
    const bool maintain = tx.exec("SHOW server_version_num")[0][0].as<int>() >= 170000;
    allowed = tx.exec(std::string("SELECT pg_has_role(current_user, c.relowner, 'USAGE')"
                                  " OR pg_has_role(current_user, d.datdba, 'USAGE')"
                                  " OR (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)") +
                      (maintain ? " OR has_table_privilege(c.oid, 'MAINTAIN')" : "") +
                      " FROM pg_class c, pg_database d"
                      " WHERE c.oid = 'cairn_key_material'::regclass"
                      " AND d.datname = current_database()")[0][0]
                  .as<bool>();
  });
  if (!checked.ok()) return;  // not known: VacuumKeyTable checks each rewrite anyway
  can_purge_keys_.store(allowed);
  if (!allowed && !vacuum_skip_warned_.exchange(true)) {
    log::Warn("forget cannot purge erased keys from PostgreSQL's files: cairn's role may not "
              "VACUUM FULL cairn_key_material",
              {.action = "storage.open",
               .outcome = "failure",
               .extra = {{"cairn.hint",
                          "make the role cairn connects as the owner of its tables (or of the "
                          "database)"}}});
  }
}

namespace {

// Sessions other than ours holding a lock on the key table.
int64_t KeyTableLockersOn(pqxx::nontransaction& tx) {
  return tx.exec("SELECT count(*) FROM pg_locks WHERE locktype = 'relation'"
                 " AND relation = 'cairn_key_material'::regclass AND granted"
                 " AND pid <> pg_backend_pid()"
                 " AND database = (SELECT oid FROM pg_database"
                 "                 WHERE datname = current_database())")[0][0]
      .as<int64_t>();
}

}  // namespace

namespace {

// Holds a session advisory lock on its own connection; destroying it closes the connection,
// which ends the session and so releases the lock.
class PgNodeLock final : public LogStore::NodeLock {
 public:
  explicit PgNodeLock(std::unique_ptr<pqxx::connection> conn) : conn_(std::move(conn)) {}

 private:
  std::unique_ptr<pqxx::connection> conn_;
};

}  // namespace

Result<std::unique_ptr<LogStore::NodeLock>> PgLogStore::TryLockAcrossNodes(NodeLockKind kind) {
  assert(kind == NodeLockKind::kKekRotation);
  CAIRN_ASSIGN_OR_RETURN(std::unique_ptr<pqxx::connection> conn, Connect(conninfo_));
  try {
    pqxx::nontransaction tx(*conn);
    // A node that stops answering (a paused VM, a lost network) while it holds the lock must not
    // keep every other node from rotating for the hours the OS takes to notice.
    SetServerKeepalives(tx);
    const std::string key = std::to_string(kKekRotationLockKey);
    if (!tx.exec("SELECT pg_try_advisory_lock(" + key + ")")[0][0].as<bool>()) {
      return Status::Aborted("another node is rotating the KEK of this log; run it again once that "
                             "rotation has finished");
    }
  } catch (const std::exception& e) {
    return FromException(e, "taking the KEK rotation lock");
  }
  return std::unique_ptr<NodeLock>(new PgNodeLock(std::move(conn)));
}

Result<bool> PgLogStore::RetryPendingPurge() {
  std::optional<uint64_t> noted;  // what this node knew before reading the database's record
  {
    std::lock_guard<std::mutex> lock(purge_mu_);
    noted = purge_pending_txid_;
  }
  std::optional<uint64_t> txid;  // the database's record: the newest pending delete of any node
  bool purged = false;
  // On one connection, under a session advisory lock: one node purges at a time (another would
  // only queue its rewrite, and all key access, behind this one's lock, and then rewrite again).
  // Any error disconnects the session, which releases the lock.
  CAIRN_RETURN_IF_ERROR(Run("purging erased keys", false, [&](pqxx::connection& c) {
    pqxx::nontransaction tx(c);
    txid.reset();
    purged = false;
    const pqxx::result first = tx.exec_prepared("purge_get");
    if (first.empty()) return;
    txid = first[0][0].as<uint64_t>();
    const std::string key = std::to_string(kKeyPurgeLockKey);
    if (!tx.exec("SELECT pg_try_advisory_lock(" + key + ")")[0][0].as<bool>()) return;  // later
    try {
      const pqxx::result r = tx.exec_prepared("purge_get");  // the purge before ours may be done
      txid.reset();
      if (!r.empty()) {
        txid = r[0][0].as<uint64_t>();
        // A session that holds a lock on the key table (one that read key material in a
        // transaction still open, which has no snapshot between statements) would make the
        // rewrite wait, and all key access queue behind it: try only when nobody holds one.
        if (SnapshotsBeforeOn(tx, *txid) == 0 && KeyTableLockersOn(tx) == 0 && VacuumOn(c, tx)) {
          tx.exec_prepared("purge_clear", static_cast<int64_t>(*txid));  // a newer one stays
          purged = true;
        }
      }
      tx.exec("SELECT pg_advisory_unlock(" + key + ")");
    } catch (...) {
      c.disconnect();
      throw;
    }
  }));
  if (!txid || purged) {
    // Nothing was pending in the database, or this purge covered it: the deletes this node
    // noted before the read are purged (a newer note, made meanwhile, stays).
    const uint64_t covered = purged ? *txid : noted.value_or(0);
    std::lock_guard<std::mutex> lock(purge_mu_);
    if (purge_pending_txid_ && *purge_pending_txid_ <= covered) purge_pending_txid_.reset();
    if (purged) {
      log::Info("erased keys purged from PostgreSQL's table files",
                {.action = "storage.destroy_key", .outcome = "success"});
    }
    return true;  // a note made meanwhile is retried after key_purge_retry_ms
  }
  NotePendingPurge(*txid);  // blocked: this node looks after it too
  return false;
}

void PgLogStore::RunPurger() {
  constexpr int64_t kRetryMsMax = 300000;
  const int64_t retry_ms_max = std::max(kRetryMsMax, options_.key_purge_retry_ms);
  int64_t wait_ms = 0;  // the first look at once: a purge that a stopped node left pending
  int64_t backoff_ms = options_.key_purge_retry_ms;
  uint64_t warned_txid = 0;  // the pending purge a failure was last logged for
  std::unique_lock<std::mutex> lock(purge_mu_);
  while (!stopping_.load()) {
    // A destroy of this node that leaves a newer purge pending wakes the purger, idle or backing
    // off: it retries after key_purge_retry_ms.
    const uint64_t seen = purge_pending_txid_.value_or(0);
    const bool woken = purge_cv_.wait_for(lock, std::chrono::milliseconds(wait_ms), [&] {
      return stopping_.load() || purge_pending_txid_.value_or(0) > seen;
    });
    if (stopping_.load()) break;
    if (woken) {
      wait_ms = backoff_ms = options_.key_purge_retry_ms;
      continue;
    }
    lock.unlock();
    const Result<bool> done = RetryPendingPurge();  // also reads what other nodes left pending
    lock.lock();
    if (done.ok() && *done) {
      backoff_ms = options_.key_purge_retry_ms;
      wait_ms = purge_pending_txid_ ? backoff_ms : options_.key_purge_poll_ms;
      continue;
    }
    // Blocked (old transactions, a lock on the key table) or failed: back off, log once.
    wait_ms = backoff_ms;
    backoff_ms = std::min(backoff_ms * 2, retry_ms_max);
    const std::optional<uint64_t> pending = purge_pending_txid_;
    if (!done.ok() && pending && warned_txid != *pending) {
      warned_txid = *pending;
      log::Warn("retrying the purge of erased keys from PostgreSQL's table files failed",
                {.action = "storage.destroy_key",
                 .outcome = "failure",
                 .extra = {{"cairn.error", done.status().ToString()}}});
    }
  }
}

bool PgLogStore::KeyPurgePending() {
  std::lock_guard<std::mutex> lock(purge_mu_);
  return purge_pending_txid_.has_value();
}

Result<int64_t> PgLogStore::WaitForSnapshotsBefore(uint64_t txid) {
  constexpr int64_t kSnapshotPollMs = 50;
  const int64_t now_ms = SteadyNowMs();
  const bool wait = now_ms - snapshot_wait_ran_out_ms_.load() >= options_.key_purge_no_wait_ms;
  const int64_t deadline_ms = wait ? now_ms + options_.key_purge_wait_ms_max : now_ms;
  for (;;) {
    CAIRN_ASSIGN_OR_RETURN(const int64_t holders, CountSnapshotsBefore(txid));
    if (holders == 0) return holders;
    if (SteadyNowMs() >= deadline_ms) {
      if (wait) snapshot_wait_ran_out_ms_.store(SteadyNowMs());
      return holders;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(kSnapshotPollMs));
  }
}

int64_t PgLogStore::SnapshotsBeforeOn(pqxx::nontransaction& tx, uint64_t txid) {
  // Sessions of this database (and walsenders, which have none), not autovacuum workers
  // (no user; VACUUM's horizon leaves them out): their snapshot's xmin, or the xid of a
  // transaction that has written and waits between statements without a snapshot. age() is
  // 32-bit: a delete 2^31 or more transactions ago is older than any running snapshot can be
  // (and its age would wrap), so nothing counts then.
  return tx.exec_params(
               "SELECT CASE WHEN txid_snapshot_xmax(txid_current_snapshot()) - $2::bigint"
               "                 >= 2147483648 THEN 0 ELSE"
               "  (SELECT count(*) FROM pg_stat_activity WHERE pid <> pg_backend_pid()"
               "     AND usesysid IS NOT NULL"
               "     AND (datname = current_database() OR datid IS NULL)"
               "     AND ((backend_xmin IS NOT NULL AND age(backend_xmin) >= age($1::xid))"
               "       OR (backend_xid IS NOT NULL AND age(backend_xid) > age($1::xid))))"
               "  + (SELECT count(*) FROM pg_prepared_xacts WHERE database = current_database()"
               "     AND age(transaction) >= age($1::xid))"
               "  + (SELECT count(*) FROM pg_replication_slots"
               "     WHERE xmin IS NOT NULL AND age(xmin) >= age($1::xid)) END",
               Xid32(txid), static_cast<int64_t>(txid))[0][0]
      .as<int64_t>();
}

Result<int64_t> PgLogStore::CountSnapshotsBefore(uint64_t txid) {
  int64_t holders = 0;
  CAIRN_RETURN_IF_ERROR(Run("checking the snapshot horizon", true, [&](pqxx::connection& c) {
    pqxx::nontransaction tx(c);
    holders = SnapshotsBeforeOn(tx, txid);
  }));
  return holders;
}

Status PgLogStore::PutMeta(std::string_view name, std::string_view value) {
  CAIRN_RETURN_IF_ERROR(CheckName(name, "metadata"));
  CAIRN_RETURN_IF_ERROR(CheckSmallValue(value, "metadata value"));
  return Run("storing metadata", true, [&](pqxx::connection& c) {
    pqxx::work tx(c);
    tx.exec_prepared("meta_put", std::string(name), Bin(value));
    tx.commit();
  });
}

// Retried safely: a second insert of a name that exists changes nothing.
Status PgLogStore::PutMetaIfAbsent(std::string_view name, std::string_view value) {
  CAIRN_RETURN_IF_ERROR(CheckName(name, "metadata"));
  CAIRN_RETURN_IF_ERROR(CheckSmallValue(value, "metadata value"));
  return Run("storing metadata", true, [&](pqxx::connection& c) {
    pqxx::work tx(c);
    tx.exec_prepared("meta_put_if_absent", std::string(name), Bin(value));
    tx.commit();
  });
}

Result<std::optional<std::string>> PgLogStore::ReadMeta(std::string_view name) {
  CAIRN_RETURN_IF_ERROR(CheckName(name, "metadata"));
  std::optional<std::string> out;
  CAIRN_RETURN_IF_ERROR(Run("reading metadata", true, [&](pqxx::connection& c) {
    pqxx::nontransaction tx(c);
    const pqxx::result r = tx.exec_prepared("meta_get", std::string(name));
    if (!r.empty()) out = Bytes(r[0][0]);
  }));
  return out;
}

}  // namespace cairn::storage::pg
