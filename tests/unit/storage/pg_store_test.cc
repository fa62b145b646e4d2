// The LogStore contract on PostgreSQL (storage/postgres/), against a real throw-away server:
// schema migrations, one commit seen by every read, paging, two nodes on one database (the
// commit lock and rebased writers), LISTEN/NOTIFY, key material and checkpoints, an outage of the
// server, and the password file.
#include <gtest/gtest.h>

#include "replace_if_checks.h"
#include <pqxx/binarystring>
#include <pqxx/transaction>
#include <sys/stat.h>

#include <atomic>
#include <filesystem>
#include <cstdio>
#include <future>
#include <latch>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "pg_test_support.h"
#include "rocks_test_support.h"
#include "storage/postgres/pg_runs.h"
#include "storage/postgres/pg_schema.h"
#include "storage/postgres/pg_store.h"
#include "tcp_proxy.h"
#include "test_util.h"

namespace cairn::storage {
namespace CAIRN_UNITY_ID {

using cairn::testing::TempDir;
using testing::AppendEvents;
using testing::OpenPg;
using testing::PgOpts;
using testing::PgServer;
using testing::ReadyWithin;
using testing::Sql;
using testing::TestHash;
using testing::WaitFor;

std::unique_ptr<LogStore> OpenFresh() { return OpenPg(PgOpts(PgServer().CreateDatabase())); }

std::unique_ptr<CommitWriter> MustBegin(LogStore* store, uint64_t base_tree_size) {
  Result<std::unique_ptr<CommitWriter>> writer = store->BeginCommit(base_tree_size);
  EXPECT_TRUE(writer.ok()) << writer.status().ToString();
  return writer.ok() ? std::move(writer).value() : nullptr;
}

// `size_bytes` bytes of every value 0x00..0xff, in a scrambled order.
std::string ArbitraryBytes(size_t size_bytes, uint32_t seed) {
  std::string out(size_bytes, '\0');
  uint32_t x = seed * 2654435761u + 1;
  for (size_t i = 0; i < size_bytes; ++i) {
    x = x * 1664525u + 1013904223u;
    out[i] = static_cast<char>(i < 256 ? i : (x >> 24));
  }
  return out;
}

std::vector<uint64_t> CollectRecordPositions(LogStore* store, uint64_t from, uint64_t limit,
                                             uint64_t stop_after = UINT64_MAX) {
  std::vector<uint64_t> seen;
  const Status s = store->ScanRecords(from, limit, [&](uint64_t position, std::string_view record) {
    EXPECT_EQ(record, testing::TestRecord(position));
    seen.push_back(position);
    return seen.size() < stop_after;
  });
  EXPECT_TRUE(s.ok()) << s.ToString();
  return seen;
}

// Holds every durability barrier (an update of a cairn_flush row) of database `db` until
// Release(): a trigger waits for an advisory lock that this object's own connection holds.
class BarrierGate {
 public:
  explicit BarrierGate(const std::string& db) : conn_(db) {
    Sql(db, "CREATE FUNCTION cairn_test_gate() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN PERFORM pg_advisory_xact_lock_shared(4242); RETURN NULL; END $$");
    Sql(db, "CREATE TRIGGER cairn_test_gate AFTER UPDATE ON cairn_flush "
            "FOR EACH ROW EXECUTE FUNCTION cairn_test_gate()");
    pqxx::nontransaction(conn_).exec("SELECT pg_advisory_lock(4242)");
  }
  ~BarrierGate() {
    try {
      Release();
    } catch (...) {
    }
  }
  void Release() {
    if (released_) return;
    pqxx::nontransaction(conn_).exec("SELECT pg_advisory_unlock(4242)");
    released_ = true;
  }

 private:
  pqxx::connection conn_;
  bool released_ = false;
};

// Waits until another session of `db` runs a durability barrier.
bool WaitForABarrier(const std::string& db) {
  return WaitFor([&] {
    return !Sql(db, "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND "
                    "state = 'active' AND pid <> pg_backend_pid() AND "
                    "query LIKE '%UPDATE cairn_flush%' LIMIT 1").empty();
  });
}

// ---------------------------------------------------------------- 1. open and migrations

TEST(PgOpenTest, EmptyDatabaseGetsTheSchemaOnceAndReopens) {
  const std::string db = PgServer().CreateDatabase();
  {
    auto store = OpenPg(PgOpts(db));
    ASSERT_NE(store, nullptr);
    EXPECT_TRUE(store->shared());
    Result<TreeState> state = store->ReadTreeState();
    ASSERT_TRUE(state.ok()) << state.status().ToString();
    EXPECT_EQ(state->size, 0u);
    EXPECT_EQ(state->compact_range, "");
    ASSERT_TRUE(AppendEvents(store.get(), "s", 2).ok());
  }
  EXPECT_EQ(Sql(db, "SELECT max(version) FROM cairn_schema_migrations"),
            std::to_string(pg::kSchemaVersion));
  auto again = OpenPg(PgOpts(db));
  ASSERT_NE(again, nullptr);
  EXPECT_EQ(again->ReadTreeState()->size, 2u);  // the second open kept the data
  EXPECT_EQ(Sql(db, "SELECT count(*) FROM cairn_schema_migrations"),
            std::to_string(pg::kSchemaVersion));
}

// A head row no commit writes (events without a chain link, a negative version) is kDataLoss to
// every reader of heads, never a head the engine would trust.
TEST(PgOpenTest, ADamagedStreamHeadIsDataLoss) {
  const std::string db = PgServer().CreateDatabase();
  auto store = OpenPg(PgOpts(db));
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(AppendEvents(store.get(), "s", 2).ok());
  ASSERT_TRUE(AppendEvents(store.get(), "t", 1).ok());
  ASSERT_TRUE(store->ReadStreamHead("s").ok());
  Sql(db, "UPDATE cairn_stream_heads SET last_leaf_hash = ''::bytea WHERE stream_id = 's'");
  EXPECT_EQ(store->ReadStreamHead("s").status().code(), StatusCode::kDataLoss);
  const Status scanned = store->ScanStreamHeads([](auto, auto&) { return true; });
  EXPECT_EQ(scanned.code(), StatusCode::kDataLoss);
  EXPECT_NE(scanned.message().find("stream head of 's'"), std::string::npos) << scanned.message();
  EXPECT_TRUE(store->ReadStreamHead("t").ok());
  Sql(db, "UPDATE cairn_stream_heads SET next_version = -1 WHERE stream_id = 't'");
  EXPECT_EQ(store->ReadStreamHead("t").status().code(), StatusCode::kDataLoss);
}

// Durability and the bound on a stalled lock holder do not depend on the database's defaults:
// a database configured with synchronous_commit = off still gets WAL-flushed commits.
TEST(PgOpenTest, SessionsPinSynchronousCommitAndBoundIdleTransactions) {
  const std::string db = PgServer().CreateDatabase();
  Sql(db, "ALTER DATABASE " + Sql(db, "SELECT current_database()") +
              " SET synchronous_commit = off");
  pqxx::connection conn(db);
  {
    pqxx::nontransaction before(conn);
    ASSERT_EQ(before.exec1("SHOW synchronous_commit")[0].as<std::string>(), "off");
  }
  pg::PrepareStatements(conn, 5000);
  pqxx::nontransaction tx(conn);
  auto setting = [&](const char* name) {  // in the setting's base unit (ms, s)
    return tx.exec1(std::string("SELECT setting FROM pg_settings WHERE name = '") + name + "'")[0]
        .as<std::string>();
  };
  EXPECT_EQ(setting("synchronous_commit"), "on");
  EXPECT_EQ(setting("idle_in_transaction_session_timeout"),
            std::to_string(pg::kIdleInTransactionTimeoutMs));
  EXPECT_EQ(setting("statement_timeout"), "5000");
  EXPECT_EQ(setting("tcp_keepalives_idle"), std::to_string(pg::kKeepaliveIdleS));
  EXPECT_EQ(setting("tcp_keepalives_count"), std::to_string(pg::kKeepaliveCount));
}

TEST(PgOpenTest, OpensAtOnceFromTwoThreadsApplyTheMigrationsOnce) {
  const std::string db = PgServer().CreateDatabase();
  std::latch start(2);
  std::vector<Status> opened(2);
  std::vector<std::thread> threads;
  for (int i = 0; i < 2; ++i) {
    threads.emplace_back([&, i] {
      start.arrive_and_wait();
      Result<std::unique_ptr<LogStore>> store = OpenPgLogStore(PgOpts(db));
      opened[i] = store.status();
      if (store.ok()) opened[i] = (*store)->ReadTreeState().status();
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_TRUE(opened[0].ok()) << opened[0].ToString();
  EXPECT_TRUE(opened[1].ok()) << opened[1].ToString();
  EXPECT_EQ(Sql(db, "SELECT count(*) FROM cairn_schema_migrations"),
            std::to_string(pg::kSchemaVersion));
  EXPECT_EQ(Sql(db, "SELECT count(*) FROM cairn_tree"), "1");
}

TEST(PgOpenTest, NewerSchemaIsRefused) {
  const std::string db = PgServer().CreateDatabase();
  ASSERT_NE(OpenPg(PgOpts(db)), nullptr);
  Sql(db, "INSERT INTO cairn_schema_migrations (version) VALUES (99)");
  Result<std::unique_ptr<LogStore>> store = OpenPgLogStore(PgOpts(db));
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(store.status().message().find("99"), std::string::npos) << store.status().ToString();
}

// `cairn verify` opens read-only: reads work, nothing can be written, and no thread or migration
// of the open touches the database.
TEST(PgOpenTest, ReadOnlyOpenReadsAndRefusesEveryWrite) {
  const std::string db = PgServer().CreateDatabase();
  {
    auto writer = OpenPg(PgOpts(db));
    ASSERT_NE(writer, nullptr);
    ASSERT_TRUE(AppendEvents(writer.get(), "s", 3).ok());
    ASSERT_TRUE(writer->PutMeta("m", "1").ok());
  }
  PgOptions options = PgOpts(db);
  options.read_only = true;
  options.listen = true;  // ignored: a read-only store starts no listener
  auto store = OpenPg(options);
  ASSERT_NE(store, nullptr);
  Result<TreeState> state = store->ReadTreeState();
  ASSERT_TRUE(state.ok()) << state.status().ToString();
  EXPECT_EQ(state->size, 3u);
  EXPECT_EQ(store->ReadMeta("m")->value_or(""), "1");
  const Status put = store->PutMeta("m", "2");
  EXPECT_EQ(put.code(), StatusCode::kUnavailable) << put.ToString();
  EXPECT_NE(put.message().find("read-only"), std::string::npos) << put.ToString();
  EXPECT_EQ(store->PutKeyMaterial("k", "wrapped").code(), StatusCode::kUnavailable);
  EXPECT_FALSE(AppendEvents(store.get(), "s", 1).ok());
  state = store->ReadTreeState();
  ASSERT_TRUE(state.ok()) << state.status().ToString();
  EXPECT_EQ(state->size, 3u);
  EXPECT_EQ(Sql(db, "SELECT convert_from(value, 'UTF8') FROM cairn_meta WHERE name = 'm'"), "1");
  EXPECT_EQ(Sql(db, "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND query LIKE 'LISTEN%'"), "0");
}

// After a failover a connection can land on a server that is read-only (a standby, the demoted
// primary): a writing store takes no such connection, answers UNAVAILABLE (clients retry), and
// writes again once the server it reaches can write, without a restart.
TEST(PgOpenTest, AWriterRefusesReadOnlyServersAndRecovers) {
  const std::string db = PgServer().CreateDatabase();
  auto store = OpenPg(PgOpts(db));
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->PutMeta("m", "1").ok());
  const std::string name = Sql(db, "SELECT current_database()");
  auto reconnect_all = [&] {
    Sql(db, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = "
            "current_database() AND pid <> pg_backend_pid()");
  };
  Sql(db, "ALTER DATABASE " + name + " SET default_transaction_read_only = on");
  reconnect_all();
  Status put;
  for (int i = 0; i < 50; ++i) {  // the pool drops the dead connections, then backs off
    put = store->PutMeta("m", "2");
    if (put.message().find("read-only") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(put.code(), StatusCode::kUnavailable) << put.ToString();
  EXPECT_NE(put.message().find("read-only"), std::string::npos) << put.ToString();
  Result<std::unique_ptr<LogStore>> fresh = OpenPgLogStore(PgOpts(db));
  EXPECT_EQ(fresh.status().code(), StatusCode::kUnavailable) << fresh.status().ToString();
  {
    pqxx::connection conn(db);
    pqxx::nontransaction tx(conn);
    tx.exec("SET default_transaction_read_only = off");
    tx.exec("ALTER DATABASE " + name + " SET default_transaction_read_only = off");
  }
  EXPECT_TRUE(WaitFor([&] { return store->PutMeta("m", "3").ok(); }));
  EXPECT_EQ(store->ReadMeta("m")->value_or(""), "3");
}

// The LISTEN thread checks the server it reconnects to as the pool does: a read-only one (a
// standby, the demoted primary after a failover) is not listened on, and while every session is
// refused the reconnects back off, doubling, instead of hammering the server every backoff_ms_min.
TEST(PgOpenTest, TheListenerNeitherListensOnNorHammersAReadOnlyServer) {
  const std::string db = PgServer().CreateDatabase();
  PgOptions options = PgOpts(db);
  options.backoff_ms_max = 1000;
  auto store = OpenPg(options);
  ASSERT_NE(store, nullptr);
  const std::string listening = "SELECT count(*) FROM pg_stat_activity WHERE datname = "
                                "current_database() AND query LIKE 'LISTEN%'";
  ASSERT_EQ(Sql(db, listening), "1");
  const std::string name = Sql(db, "SELECT current_database()");
  Sql(db, "ALTER DATABASE " + name + " SET default_transaction_read_only = on");
  const uint64_t before = PgCommitStatsOf(store.get())->listener_connects;
  Sql(db, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = "
          "current_database() AND pid <> pg_backend_pid()");
  std::this_thread::sleep_for(std::chrono::seconds(3));
  const uint64_t attempts = PgCommitStatsOf(store.get())->listener_connects - before;
  EXPECT_GE(attempts, 3u) << "the listener stopped trying";
  // 20, 40, 80, ... 1000 ms apart: about 7 in 3 s (every 20 ms would be a hundred).
  EXPECT_LE(attempts, 15u) << "the listener reconnects without backing off";
  EXPECT_EQ(Sql(db, listening), "0") << "the listener listens on a read-only server";
  {
    pqxx::connection conn(db);
    pqxx::nontransaction tx(conn);
    tx.exec("SET default_transaction_read_only = off");
    tx.exec("ALTER DATABASE " + name + " SET default_transaction_read_only = off");
  }
  EXPECT_TRUE(WaitFor([&] { return Sql(db, listening) == "1"; }, 5000))
      << "the listener did not come back";
}

// The durability barrier proves something only when it wrote: with its rows gone it fails
// instead of letting a read vouch for a commit whose WAL may not be flushed.
TEST(PgOpenTest, ABarrierThatUpdatesNoRowFails) {
  const std::string db = PgServer().CreateDatabase();
  {
    auto writer = OpenPg(PgOpts(db));
    ASSERT_NE(writer, nullptr);
    ASSERT_TRUE(AppendEvents(writer.get(), "s", 2).ok());
  }
  auto reader = OpenPg(PgOpts(db));  // knows nothing durable yet: its first read runs a barrier
  ASSERT_NE(reader, nullptr);
  Sql(db, "DELETE FROM cairn_flush");
  const Result<TreeState> state = reader->ReadTreeState();
  EXPECT_EQ(state.status().code(), StatusCode::kIOError) << state.status().ToString();
}

TEST(PgOpenTest, ReadOnlyOpenDoesNotMigrateAnOlderSchema) {
  const std::string db = PgServer().CreateDatabase();
  {
    pqxx::connection conn(db);
    ASSERT_TRUE(pg::Migrate(conn, pg::kSchemaVersion - 1).ok());
  }
  PgOptions options = PgOpts(db);
  options.read_only = true;
  Result<std::unique_ptr<LogStore>> store = OpenPgLogStore(options);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(store.status().message().find("older"), std::string::npos) << store.status().ToString();
  EXPECT_EQ(Sql(db, "SELECT max(version) FROM cairn_schema_migrations"),
            std::to_string(pg::kSchemaVersion - 1));
  // An empty database is not given a schema either.
  const std::string empty = PgServer().CreateDatabase();
  options.conninfo = empty;
  EXPECT_EQ(OpenPgLogStore(options).status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(Sql(empty, "SELECT to_regclass('cairn_schema_migrations') IS NULL"), "t");
}

// The hash a v1 row was given below: 32 bytes whose hex is `level * 1e6 + idx`, zero-padded.
std::string V1Hash(uint64_t level, uint64_t idx) {
  char hex[65];
  std::snprintf(hex, sizeof hex, "%064llx", static_cast<unsigned long long>(level * 1000000 + idx));
  std::string out;
  for (int i = 0; i < 64; i += 2) {
    out.push_back(static_cast<char>(std::stoi(std::string(hex + i, 2), nullptr, 16)));
  }
  return out;
}

TEST(PgOpenTest, SchemaV2JoinsAV1DatabasesIndexAndNodesIntoRunsAndReadsThemBack) {
  const std::string db = PgServer().CreateDatabase();
  {
    pqxx::connection conn(db);
    ASSERT_TRUE(pg::Migrate(conn, 1).ok());
  }
  // Stream a: versions 0..49 at positions 0..49, b: 0..9 at 50..59, a: 50..99 at 60..109.
  Sql(db, "INSERT INTO cairn_stream_index SELECT 'a', v, v FROM generate_series(0, 49) v");
  Sql(db, "INSERT INTO cairn_stream_index SELECT 'b', v, 50 + v FROM generate_series(0, 9) v");
  Sql(db, "INSERT INTO cairn_stream_index SELECT 'a', v, 10 + v FROM generate_series(50, 99) v");
  // Level 0: 110 leaves (3 runs of ≤ 48); level 1: 55 (2); level 2: 0..9 and 20..21 (2); 6: 0 (1).
  auto nodes = [&](int level, int first, int last) {
    Sql(db, "INSERT INTO cairn_nodes SELECT " + std::to_string(level) +
                ", i, decode(lpad(to_hex(" + std::to_string(level) +
                "::bigint * 1000000 + i), 64, '0'), 'hex') FROM generate_series(" +
                std::to_string(first) + ", " + std::to_string(last) + ") i");
  };
  nodes(0, 0, 109);
  nodes(1, 0, 54);
  nodes(2, 0, 9);
  nodes(2, 20, 21);
  nodes(6, 0, 0);

  auto store = OpenPg(PgOpts(db));  // applies migrations 2 to 5
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(Sql(db, "SELECT max(version) FROM cairn_schema_migrations"), std::to_string(pg::kSchemaVersion));
  // Migration 3: the tree row keeps its state and has no group summary yet.
  EXPECT_EQ(Sql(db, "SELECT group_from || ':' || length(group_summary) FROM cairn_tree"), "0:0");
  // Migration 4: the durability barrier's 64 rows.
  EXPECT_EQ(Sql(db, "SELECT count(*) || ':' || min(slot) || ':' || max(slot) FROM cairn_flush"), "64:0:63");
  EXPECT_EQ(Sql(db, "SELECT to_regclass('cairn_stream_index') IS NULL AND "
                    "to_regclass('cairn_nodes') IS NULL"), "t");
  EXPECT_EQ(Sql(db, "SELECT count(*) FROM cairn_index_runs"), "3");
  EXPECT_EQ(Sql(db, "SELECT count(*) FROM cairn_node_runs"), "8");

  Result<std::vector<StreamIndexEntry>> a = store->ReadStreamIndex("a", 45, false, 10);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  ASSERT_EQ(a->size(), 10u);
  for (size_t i = 0; i < a->size(); ++i) {
    const uint64_t v = 45 + i;
    EXPECT_EQ((*a)[i].version, v);
    EXPECT_EQ((*a)[i].position, v < 50 ? v : 10 + v);
  }
  Result<std::vector<StreamIndexEntry>> b = store->ReadStreamIndex("b", UINT64_MAX, true, 3);
  ASSERT_TRUE(b.ok());
  ASSERT_EQ(b->size(), 3u);
  EXPECT_EQ((*b)[0].version, 9u);
  EXPECT_EQ((*b)[0].position, 59u);
  EXPECT_EQ((*b)[2].version, 7u);

  const NodeKey keys[] = {{0, 0}, {0, 47}, {0, 48}, {0, 109}, {1, 54}, {2, 9}, {2, 21}, {6, 0}};
  std::vector<std::string> hashes;
  ASSERT_TRUE(store->ReadNodes(keys, &hashes).ok());
  for (size_t i = 0; i < std::size(keys); ++i) {
    EXPECT_EQ(hashes[i], V1Hash(keys[i].level, keys[i].index)) << i;
  }
  const NodeKey gap[] = {{2, 10}};
  EXPECT_EQ(store->ReadNodes(gap, &hashes).code(), StatusCode::kNotFound);
  uint64_t next = 5;
  ASSERT_TRUE(store->ScanLeafHashes(5, UINT64_MAX, [&](uint64_t index, std::string_view hash) {
    EXPECT_EQ(index, next);
    EXPECT_EQ(hash, V1Hash(0, index));
    ++next;
    return true;
  }).ok());
  EXPECT_EQ(next, 110u);
}

TEST(PgOpenTest, SchemaV5JoinsAV4DatabasesRecordsIntoRunsAndReadsThemBack) {
  const std::string db = PgServer().CreateDatabase();
  {
    pqxx::connection conn(db);
    ASSERT_TRUE(pg::Migrate(conn, 4).ok());
  }
  // Positions 0..39 and, after a gap, 50..52; record p is TestRecord(p).
  {
    pqxx::connection conn(db);
    pqxx::work tx(conn);
    for (uint64_t p = 0; p < 53; ++p) {
      if (p >= 40 && p < 50) continue;
      const std::string rec = testing::TestRecord(p);
      tx.exec_params("INSERT INTO cairn_records (position, record) VALUES ($1, $2)",
                     static_cast<int64_t>(p), pqxx::binarystring(rec.data(), rec.size()));
    }
    tx.commit();
  }
  auto store = OpenPg(PgOpts(db));  // applies migration 5
  ASSERT_NE(store, nullptr);
  EXPECT_GE(pg::kSchemaVersion, 5);
  EXPECT_EQ(Sql(db, "SELECT to_regclass('cairn_records') IS NULL"), "t");
  EXPECT_EQ(Sql(db, "SELECT string_agg(first_position || ':' || cardinality(ends), ',' "
                    "ORDER BY first_position) FROM cairn_record_runs"),
            "0:16,16:16,32:8,50:3");
  for (uint64_t p = 0; p < 55; ++p) {
    Result<std::string> read = store->ReadRecord(p);
    if ((p >= 40 && p < 50) || p >= 53) {
      EXPECT_EQ(read.status().code(), StatusCode::kNotFound) << p;
    } else {
      ASSERT_TRUE(read.ok()) << p << ": " << read.status().ToString();
      EXPECT_EQ(*read, testing::TestRecord(p)) << p;
    }
  }
  std::vector<uint64_t> expected;
  for (uint64_t p = 17; p < 53; ++p) {
    if (p < 40 || p >= 50) expected.push_back(p);
  }
  EXPECT_EQ(CollectRecordPositions(store.get(), 17, UINT64_MAX), expected);
  EXPECT_EQ(CollectRecordPositions(store.get(), 45, UINT64_MAX), (std::vector<uint64_t>{50, 51, 52}));
  EXPECT_TRUE(CollectRecordPositions(store.get(), 53, UINT64_MAX).empty());
}

TEST(PgOpenTest, OutOfRangeOptionsAreRefusedBeforeConnecting) {
  const std::string db = PgServer().CreateDatabase();
  const std::vector<std::function<void(PgOptions*)>> bad = {
      [](PgOptions* o) { o->pool_connections_max = 1; },
      [](PgOptions* o) { o->pool_connections_max = 257; },
      [](PgOptions* o) { o->connect_timeout_ms = 0; },
      [](PgOptions* o) { o->acquire_timeout_ms = -1; },
      [](PgOptions* o) { o->statement_timeout_ms = -5; },
      [](PgOptions* o) { o->backoff_ms_min = 0; },
      [](PgOptions* o) { o->backoff_ms_max = o->backoff_ms_min - 1; },
      [](PgOptions* o) { o->sslmode = "verify_full"; },
  };
  for (size_t i = 0; i < bad.size(); ++i) {
    PgOptions options = PgOpts(db);
    bad[i](&options);
    EXPECT_EQ(OpenPgLogStore(options).status().code(), StatusCode::kInvalidArgument) << i;
  }
  EXPECT_EQ(Sql(db, "SELECT to_regclass('cairn_tree') IS NULL"), "t");  // nothing was created
  PgOptions plain = PgOpts(db);
  plain.sslmode = "disable";  // the test server has no TLS
  EXPECT_NE(OpenPg(plain), nullptr);
}

// ---------------------------------------------------------------- 2. one commit, every read

TEST(PgCommitTest, NothingVisibleBeforeCommitEverythingAfter) {
  const std::string db = PgServer().CreateDatabase();
  auto store = OpenPg(PgOpts(db));
  auto other = OpenPg(PgOpts(db));  // another node: sees only committed data
  ASSERT_NE(store, nullptr);
  ASSERT_NE(other, nullptr);
  auto writer = MustBegin(store.get(), 0);
  ASSERT_NE(writer, nullptr);
  EXPECT_FALSE(writer->rebased().has_value());
  writer->PutRecord(0, "r0");
  writer->PutRecord(1, "r1");
  writer->PutRecord(2, "r2");
  writer->PutStreamIndex("s", 0, 0);
  writer->PutStreamIndex("t", 0, 1);
  writer->PutStreamIndex("s", 1, 2);
  writer->PutStreamHead("s", StreamHead{2, 2, TestHash(2), false});
  writer->PutStreamHead("t", StreamHead{1, 1, TestHash(1), true});
  writer->PutNode(NodeKey{0, 0}, TestHash(0));
  writer->PutNode(NodeKey{0, 1}, TestHash(1));
  writer->PutNode(NodeKey{1, 0}, TestHash(100));
  writer->PutNode(NodeKey{0, 2}, TestHash(2));
  const std::string compact("compact\0range\xff", 14);
  writer->PutTreeState(TreeState{3, compact});
  EXPECT_GE(writer->buffered_size_bytes(), 6u + 4 * 32);

  EXPECT_EQ(other->ReadRecord(0).status().code(), StatusCode::kNotFound);
  EXPECT_FALSE(other->ReadStreamHead("s")->has_value());
  EXPECT_TRUE(other->ReadStreamIndex("s", 0, false, 10)->empty());
  EXPECT_EQ(other->ReadTreeState()->size, 0u);

  ASSERT_TRUE(writer->Commit().ok());
  EXPECT_FALSE(writer->Commit().ok());  // spent

  for (LogStore* reader : {store.get(), other.get()}) {
    Result<TreeState> state = reader->ReadTreeState();
    ASSERT_TRUE(state.ok());
    EXPECT_EQ(state->size, 3u);
    EXPECT_EQ(state->compact_range, compact);
    EXPECT_EQ(*reader->ReadRecord(1), "r1");
    EXPECT_EQ(reader->ReadRecord(3).status().code(), StatusCode::kNotFound);
    EXPECT_EQ(**reader->ReadStreamHead("s"), (StreamHead{2, 2, TestHash(2), false}));
    EXPECT_EQ(**reader->ReadStreamHead("t"), (StreamHead{1, 1, TestHash(1), true}));
    EXPECT_FALSE(reader->ReadStreamHead("u")->has_value());
    std::vector<std::pair<uint64_t, std::string>> records;
    ASSERT_TRUE(reader->ScanRecords(1, 10, [&](uint64_t p, std::string_view r) {
      records.emplace_back(p, std::string(r));
      return true;
    }).ok());
    EXPECT_EQ(records, (std::vector<std::pair<uint64_t, std::string>>{{1, "r1"}, {2, "r2"}}));
    std::vector<std::pair<uint64_t, std::string>> leaves;
    ASSERT_TRUE(reader->ScanLeafHashes(0, 10, [&](uint64_t i, std::string_view h) {
      leaves.emplace_back(i, std::string(h));
      return true;
    }).ok());
    EXPECT_EQ(leaves, (std::vector<std::pair<uint64_t, std::string>>{
                          {0, TestHash(0)}, {1, TestHash(1)}, {2, TestHash(2)}}));
  }
  // The next commit on top is not rebased.
  auto next = MustBegin(store.get(), 3);
  ASSERT_NE(next, nullptr);
  EXPECT_FALSE(next->rebased().has_value());
}

TEST(PgCommitTest, FailedCommitWritesNothingAndReleasesTheLock) {
  const std::string db = PgServer().CreateDatabase();
  auto store = OpenPg(PgOpts(db));
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(AppendEvents(store.get(), "s", 2).ok());
  auto writer = MustBegin(store.get(), 2);
  ASSERT_NE(writer, nullptr);
  writer->PutRecord(1, "secret-dup-value");  // position 1 exists: refused before anything is sent
  writer->PutStreamIndex("t", 0, 1);
  writer->PutStreamHead("t", StreamHead{1, 1, TestHash(1), false});
  writer->PutTreeState(TreeState{3, "r3"});
  const Status failed = writer->Commit();
  EXPECT_EQ(failed.code(), StatusCode::kFailedPrecondition) << failed.ToString();
  EXPECT_NE(failed.message().find("from its size 2"), std::string::npos) << failed.ToString();
  EXPECT_EQ(failed.message().find("secret-dup-value"), std::string::npos);
  {
    // The same from an optimistic writer (refused when it stages), and records that end short of
    // the new tree size.
    Result<std::unique_ptr<CommitWriter>> optimistic = store->BeginOptimisticCommit(2);
    ASSERT_TRUE(optimistic.ok()) << optimistic.status().ToString();
    (*optimistic)->PutRecord(1, "secret-dup-value");
    (*optimistic)->PutTreeState(TreeState{3, "r3"});
    EXPECT_EQ((*optimistic)->Stage().code(), StatusCode::kFailedPrecondition);
    EXPECT_EQ((*optimistic)->Commit().code(), StatusCode::kFailedPrecondition);
    auto short_group = MustBegin(store.get(), 2);
    ASSERT_NE(short_group, nullptr);
    short_group->PutRecord(2, "x");
    short_group->PutTreeState(TreeState{4, "r4"});
    EXPECT_EQ(short_group->Commit().code(), StatusCode::kFailedPrecondition);
  }

  EXPECT_EQ(*store->ReadRecord(1), testing::TestRecord(1));
  EXPECT_FALSE(store->ReadStreamHead("t")->has_value());
  EXPECT_TRUE(store->ReadStreamIndex("t", 0, false, 10)->empty());
  EXPECT_EQ(store->ReadTreeState()->size, 2u);
  auto other = OpenPg(PgOpts(db));
  ASSERT_NE(other, nullptr);
  auto next = std::async(std::launch::async, [&] { return AppendEvents(other.get(), "t", 1); });
  ASSERT_TRUE(ReadyWithin(next, 10000));  // the lock was released
  EXPECT_TRUE(next.get().ok());
  writer.reset();
}

TEST(PgCommitTest, StreamIndexForwardsAndBackwardsWithLimits) {
  auto store = OpenFresh();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(AppendEvents(store.get(), "other", 3).ok());
  ASSERT_TRUE(AppendEvents(store.get(), "s", 10).ok());  // versions 0..9 at positions 3..12
  auto versions = [&](uint64_t from, bool backwards, uint64_t limit) {
    Result<std::vector<StreamIndexEntry>> index = store->ReadStreamIndex("s", from, backwards, limit);
    EXPECT_TRUE(index.ok()) << index.status().ToString();
    std::vector<uint64_t> out;
    for (const StreamIndexEntry& e : *index) {
      EXPECT_EQ(e.position, e.version + 3);
      out.push_back(e.version);
    }
    return out;
  };
  EXPECT_EQ(versions(3, false, 4), (std::vector<uint64_t>{3, 4, 5, 6}));
  EXPECT_EQ(versions(8, false, 100), (std::vector<uint64_t>{8, 9}));
  EXPECT_EQ(versions(5, true, 3), (std::vector<uint64_t>{5, 4, 3}));
  EXPECT_EQ(versions(1, true, 100), (std::vector<uint64_t>{1, 0}));
  EXPECT_EQ(versions(UINT64_MAX, true, 2), (std::vector<uint64_t>{9, 8}));
  EXPECT_TRUE(versions(10, false, 5).empty());
  EXPECT_TRUE(versions(0, false, 0).empty());
  EXPECT_TRUE(store->ReadStreamIndex("nope", 0, false, 10)->empty());
}

TEST(PgCommitTest, ReadNodesReturnsEachAndNamesTheMissingOne) {
  auto store = OpenFresh();
  ASSERT_NE(store, nullptr);
  auto writer = MustBegin(store.get(), 0);
  ASSERT_NE(writer, nullptr);
  writer->PutNode(NodeKey{0, 0}, TestHash(10));
  writer->PutNode(NodeKey{0, 1}, TestHash(11));
  writer->PutNode(NodeKey{1, 0}, TestHash(20));
  writer->PutNode(NodeKey{63, 0}, TestHash(63));
  ASSERT_TRUE(writer->Commit().ok());

  std::vector<std::string> hashes;
  const NodeKey present[] = {{1, 0}, {0, 1}, {63, 0}, {0, 1}};  // any order, repeats allowed
  ASSERT_TRUE(store->ReadNodes(present, &hashes).ok());
  EXPECT_EQ(hashes, (std::vector<std::string>{TestHash(20), TestHash(11), TestHash(63), TestHash(11)}));
  ASSERT_TRUE(store->ReadNodes({}, &hashes).ok());
  EXPECT_TRUE(hashes.empty());

  const NodeKey missing[] = {{0, 0}, {2, 5}, {0, 7}};
  const Status s = store->ReadNodes(missing, &hashes);
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_NE(s.message().find("level 2, index 5"), std::string::npos) << s.ToString();
}

TEST(PgCommitTest, AwkwardStreamIdsRoundTripInByteOrder) {
  // Stream ids travel inside array literals: every character that literal syntax treats
  // specially must come back unchanged.
  const std::vector<std::string> ids = {
      "quote\"inside", "\"",           "back\\slash", "\\",        "ends with\\",  "comma,here",
      "{braces}",      "}",            "with space",  " leading",  "trailing ",    "NULL",
      "null",          "tab\there",    "ünïcødé",     "流/水",     "emoji-🪨",     "'single'",
      "a",             "$audit",       "x,\"y\"}{\\"};
  auto store = OpenFresh();
  ASSERT_NE(store, nullptr);
  auto writer = MustBegin(store.get(), 0);
  ASSERT_NE(writer, nullptr);
  for (uint64_t i = 0; i < ids.size(); ++i) {
    writer->PutRecord(i, ids[i]);
    writer->PutStreamIndex(ids[i], 0, i);
    writer->PutStreamHead(ids[i], StreamHead{1, i, TestHash(i), i % 2 == 1});
    writer->PutNode(NodeKey{0, i}, TestHash(i));
  }
  writer->PutTreeState(TreeState{ids.size(), "r"});
  const Status committed = writer->Commit();
  ASSERT_TRUE(committed.ok()) << committed.ToString();

  std::map<std::string, uint64_t> expected;  // std::string orders by bytes, as the store must
  for (uint64_t i = 0; i < ids.size(); ++i) {
    expected[ids[i]] = i;
    Result<std::optional<StreamHead>> head = store->ReadStreamHead(ids[i]);
    ASSERT_TRUE(head.ok() && head->has_value()) << ids[i];
    EXPECT_EQ(**head, (StreamHead{1, i, TestHash(i), i % 2 == 1})) << ids[i];
    Result<std::vector<StreamIndexEntry>> index = store->ReadStreamIndex(ids[i], 0, false, 5);
    ASSERT_TRUE(index.ok());
    ASSERT_EQ(index->size(), 1u) << ids[i];
    EXPECT_EQ((*index)[0].position, i) << ids[i];
  }
  std::vector<std::string> scanned;
  ASSERT_TRUE(store->ScanStreamHeads([&](std::string_view id, const StreamHead& head) {
    scanned.emplace_back(id);
    EXPECT_EQ(head.last_position, expected[std::string(id)]);
    return true;
  }).ok());
  std::vector<std::string> in_byte_order;
  for (const auto& [id, position] : expected) in_byte_order.push_back(id);
  EXPECT_EQ(scanned, in_byte_order);
}

TEST(PgCommitTest, RecordsOfArbitraryBytesAndSizesRoundTrip) {
  const std::vector<std::string> records = {
      "", std::string(1, '\0'), "\xff", std::string("\0\xff\0", 3), ArbitraryBytes(256, 1),
      ArbitraryBytes(size_t{1} << 20, 2), "\\x00", "after"};
  auto store = OpenFresh();
  ASSERT_NE(store, nullptr);
  auto writer = MustBegin(store.get(), 0);
  ASSERT_NE(writer, nullptr);
  for (uint64_t i = 0; i < records.size(); ++i) writer->PutRecord(i, records[i]);
  writer->PutTreeState(TreeState{records.size(), ""});
  EXPECT_GE(writer->buffered_size_bytes(), size_t{1} << 20);
  const Status committed = writer->Commit();
  ASSERT_TRUE(committed.ok()) << committed.ToString();

  for (uint64_t i = 0; i < records.size(); ++i) {
    Result<std::string> read = store->ReadRecord(i);
    ASSERT_TRUE(read.ok()) << read.status().ToString();
    EXPECT_EQ(*read, records[i]) << "position " << i;
  }
  uint64_t next = 0;
  ASSERT_TRUE(store->ScanRecords(0, UINT64_MAX, [&](uint64_t position, std::string_view record) {
    EXPECT_EQ(position, next);
    EXPECT_EQ(record, records[position]);
    ++next;
    return true;
  }).ok());
  EXPECT_EQ(next, records.size());
}

// ---------------------------------------------------------------- 3. paging

// A run written around cairn inside another run (a record or leaf hash at a position an existing
// run holds): a point read takes the newer run, so a scan that skipped it would let the verifier
// check one record while readers are served another. Scans report it instead.
TEST(PgPagingTest, ScansRefuseRunsThatOverlap) {
  const std::string db = PgServer().CreateDatabase();
  auto store = OpenPg(PgOpts(db));
  ASSERT_NE(store, nullptr);
  {
    auto writer = MustBegin(store.get(), 0);
    ASSERT_NE(writer, nullptr);
    for (uint64_t p = 0; p < 10; ++p) {
      writer->PutRecord(p, testing::TestRecord(p));
      writer->PutStreamIndex("s", p, p);
      writer->PutNode(NodeKey{0, p}, TestHash(p));
    }
    writer->PutStreamHead("s", StreamHead{10, 9, TestHash(9), false});
    writer->PutTreeState(TreeState{10, "r"});
    const Status committed = writer->Commit();
    ASSERT_TRUE(committed.ok()) << committed.ToString();
  }
  ASSERT_EQ(CollectRecordPositions(store.get(), 0, UINT64_MAX).size(), 10u);
  auto scan_leaves = [&] {
    return store->ScanLeafHashes(0, UINT64_MAX, [](uint64_t, std::string_view) { return true; });
  };
  ASSERT_TRUE(scan_leaves().ok());

  Sql(db, "INSERT INTO cairn_record_runs (first_position, ends, records) VALUES (4, '{6}', 'forged')");
  EXPECT_EQ(*store->ReadRecord(4), "forged") << "a point read takes the newer run";
  const Status records = store->ScanRecords(0, UINT64_MAX, [](uint64_t, std::string_view) { return true; });
  EXPECT_EQ(records.code(), StatusCode::kDataLoss) << records.ToString();
  EXPECT_NE(records.message().find("overlap at position 4"), std::string::npos) << records.ToString();

  Sql(db, "INSERT INTO cairn_node_runs (level, first_idx, hashes) VALUES (0, 7, decode(repeat('ab', 32), 'hex'))");
  const Status leaves = scan_leaves();
  EXPECT_EQ(leaves.code(), StatusCode::kDataLoss) << leaves.ToString();
}

TEST(PgPagingTest, ScansCrossPagesInOrderAndStopWhenAsked) {
  constexpr uint64_t kStreams = 2 * pg::kScanPageRowsMax + 100;
  constexpr uint64_t kEvents = 8 * pg::kScanPageRowsMax + 100;  // > one page of leaf hashes too
  auto store = OpenFresh();
  ASSERT_NE(store, nullptr);
  {
    auto writer = MustBegin(store.get(), 0);
    ASSERT_NE(writer, nullptr);
    std::map<std::string, StreamHead> heads;
    for (uint64_t p = 0; p < kEvents; ++p) {
      char id[32];
      std::snprintf(id, sizeof id, "s-%05llu", static_cast<unsigned long long>(p % kStreams));
      StreamHead& head = heads[id];
      writer->PutRecord(p, testing::TestRecord(p));
      writer->PutStreamIndex(id, head.next_version, p);
      writer->PutNode(NodeKey{0, p}, TestHash(p));
      head = StreamHead{head.next_version + 1, p, TestHash(p), false};
    }
    for (const auto& [id, head] : heads) writer->PutStreamHead(id, head);
    writer->PutTreeState(TreeState{kEvents, "r"});
    const Status committed = writer->Commit();
    ASSERT_TRUE(committed.ok()) << committed.ToString();
  }

  std::vector<uint64_t> all = CollectRecordPositions(store.get(), 0, UINT64_MAX);
  ASSERT_EQ(all.size(), kEvents);
  for (uint64_t p = 0; p < kEvents; ++p) ASSERT_EQ(all[p], p);
  std::vector<uint64_t> window = CollectRecordPositions(store.get(), 100, 700);
  ASSERT_EQ(window.size(), 700u);
  EXPECT_EQ(window.front(), 100u);
  EXPECT_EQ(window.back(), 799u);
  EXPECT_EQ(CollectRecordPositions(store.get(), 0, UINT64_MAX, 700).size(), 700u);

  uint64_t leaves = 0;
  ASSERT_TRUE(store->ScanLeafHashes(1, UINT64_MAX, [&](uint64_t index, std::string_view hash) {
    EXPECT_EQ(index, leaves + 1);
    EXPECT_EQ(hash, TestHash(index));
    ++leaves;
    return true;
  }).ok());
  EXPECT_EQ(leaves, kEvents - 1);
  leaves = 0;
  ASSERT_TRUE(store->ScanLeafHashes(0, UINT64_MAX, [&](uint64_t, std::string_view) {
    return ++leaves < 8 * pg::kScanPageRowsMax + 50;  // stops on the second page
  }).ok());
  EXPECT_EQ(leaves, 8 * pg::kScanPageRowsMax + 50);

  std::vector<std::string> ids;
  ASSERT_TRUE(store->ScanStreamHeads([&](std::string_view id, const StreamHead& head) {
    ids.emplace_back(id);
    EXPECT_EQ(head.last_leaf_hash, TestHash(head.last_position));
    return true;
  }).ok());
  ASSERT_EQ(ids.size(), kStreams);
  EXPECT_TRUE(std::is_sorted(ids.begin(), ids.end()));
  EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()).size(), kStreams);
  size_t heads_seen = 0;
  ASSERT_TRUE(store->ScanStreamHeads([&](std::string_view, const StreamHead&) {
    return ++heads_seen < 600;
  }).ok());
  EXPECT_EQ(heads_seen, 600u);
}

// Large records are one run each; a page of runs also ends at kScanPageRecordBytesMax bytes
// (here ~20 runs of 200 KB, not 64), and the scan goes on from there: fewer runs than asked for
// is the end of the log only when the page was not cut by size.
TEST(PgPagingTest, ScansOfLargeRecordsArePagedBySizeAndReturnEverything) {
  constexpr uint64_t kRecords = 70;
  constexpr size_t kRecordBytes = 200000;
  static_assert(kRecords * kRecordBytes > 3 * static_cast<uint64_t>(pg::kScanPageRecordBytesMax));
  auto store = OpenFresh();
  ASSERT_NE(store, nullptr);
  const auto record = [&](uint64_t p) { return ArbitraryBytes(kRecordBytes, static_cast<uint32_t>(p)); };
  {
    auto writer = MustBegin(store.get(), 0);
    ASSERT_NE(writer, nullptr);
    for (uint64_t p = 0; p < kRecords; ++p) {
      writer->PutRecord(p, record(p));
      writer->PutNode(NodeKey{0, p}, TestHash(p));
    }
    writer->PutTreeState(TreeState{kRecords, "r"});
    const Status committed = writer->Commit();
    ASSERT_TRUE(committed.ok()) << committed.ToString();
  }
  for (uint64_t from : {uint64_t{0}, uint64_t{33}}) {
    uint64_t next = from;
    const Status s = store->ScanRecords(from, UINT64_MAX, [&](uint64_t position, std::string_view r) {
      EXPECT_EQ(position, next);
      EXPECT_TRUE(r == record(position)) << "record " << position;
      ++next;
      return true;
    });
    ASSERT_TRUE(s.ok()) << s.ToString();
    EXPECT_EQ(next, kRecords) << "from " << from;
  }
  uint64_t seen = 0;
  ASSERT_TRUE(store->ScanRecords(5, 40, [&](uint64_t, std::string_view) { return ++seen > 0; }).ok());
  EXPECT_EQ(seen, 40u);
}

TEST(PgPagingTest, AGroupIsStoredAsRunsAndLeafScansCrossPagesOfRuns) {
  const std::string db = PgServer().CreateDatabase();
  auto store = OpenPg(PgOpts(db));
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(AppendEvents(store.get(), "s", 100).ok());
  ASSERT_TRUE(AppendEvents(store.get(), "t", 100).ok());
  // Two appends of 100: one index row each; 100 leaves in runs of 48, 48 and 4, twice.
  EXPECT_EQ(Sql(db, "SELECT count(*) FROM cairn_index_runs"), "2");
  EXPECT_EQ(Sql(db, "SELECT string_agg((length(hashes) / 32)::text, ',' ORDER BY first_idx) "
                    "FROM cairn_node_runs"), "48,48,4,48,48,4");
  // 200 records of a few dozen bytes: in runs of at most 64, one group's runs never spanning two.
  EXPECT_EQ(Sql(db, "SELECT string_agg(first_position || ':' || cardinality(ends), ',' "
                    "ORDER BY first_position) FROM cairn_record_runs"),
            "0:64,64:36,100:64,164:36");
  EXPECT_EQ(Sql(db, "SELECT bool_and(length(records) = ends[cardinality(ends)]) FROM cairn_record_runs"), "t");
  constexpr uint64_t kLeaves = (pg::kScanPageRowsMax + 3) * pg::kNodeRunHashesMax + 5;
  {
    auto writer = MustBegin(store.get(), 200);
    ASSERT_NE(writer, nullptr);
    for (uint64_t i = 200; i < kLeaves; ++i) writer->PutNode(NodeKey{0, i}, TestHash(i));
    writer->PutTreeState(TreeState{kLeaves, "r"});
    ASSERT_TRUE(writer->Commit().ok());
  }
  uint64_t next = 1000, seen = 0;
  ASSERT_TRUE(store->ScanLeafHashes(1000, UINT64_MAX, [&](uint64_t index, std::string_view hash) {
    EXPECT_EQ(index, next);
    EXPECT_EQ(hash, TestHash(index));
    ++next;
    ++seen;
    return true;
  }).ok());
  EXPECT_EQ(next, kLeaves);
  EXPECT_EQ(seen, kLeaves - 1000);
  seen = 0;
  ASSERT_TRUE(store->ScanLeafHashes(7, kLeaves - 20, [&](uint64_t index, std::string_view) {
    EXPECT_EQ(index, 7 + seen);
    ++seen;
    return true;
  }).ok());
  EXPECT_EQ(seen, kLeaves - 20);
}

TEST(PgPagingTest, CheckpointsAndKeyMaterialCrossPages) {
  constexpr uint64_t kCount = pg::kScanPageRowsMax + 88;  // 600
  auto store = OpenFresh();
  ASSERT_NE(store, nullptr);
  for (uint64_t i = 0; i < kCount; ++i) {
    ASSERT_TRUE(store->PutCheckpoint(2 * i + 1, "note-" + std::to_string(i)).ok());
    char name[32];
    std::snprintf(name, sizeof name, "%05llu", static_cast<unsigned long long>(i));
    ASSERT_TRUE(store->PutKeyMaterial(std::string("a/") + name, "wa" + std::to_string(i)).ok());
    ASSERT_TRUE(store->PutKeyMaterial(std::string("b/") + name, "wb" + std::to_string(i)).ok());
  }
  ASSERT_TRUE(store->PutKeyMaterial("a.", "before the prefix").ok());
  ASSERT_TRUE(store->PutKeyMaterial("a0", "after the prefix").ok());

  uint64_t checkpoints = 0;
  ASSERT_TRUE(store->ScanCheckpoints([&](uint64_t size, std::string_view note) {
    EXPECT_EQ(size, 2 * checkpoints + 1);
    EXPECT_EQ(note, "note-" + std::to_string(checkpoints));
    ++checkpoints;
    return true;
  }).ok());
  EXPECT_EQ(checkpoints, kCount);
  checkpoints = 0;
  ASSERT_TRUE(store->ScanCheckpoints([&](uint64_t, std::string_view) {
    return ++checkpoints < 550;
  }).ok());
  EXPECT_EQ(checkpoints, 550u);

  std::vector<std::string> names;
  ASSERT_TRUE(store->ScanKeyMaterial("a/", [&](std::string_view name, std::string_view wrapped) {
    EXPECT_EQ(wrapped, "wa" + std::to_string(names.size()));
    names.emplace_back(name);
    return true;
  }).ok());
  ASSERT_EQ(names.size(), kCount);
  EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));
  EXPECT_EQ(names.front(), "a/00000");
  size_t all = 0;
  ASSERT_TRUE(store->ScanKeyMaterial("", [&](std::string_view, std::string_view) {
    ++all;
    return true;
  }).ok());
  EXPECT_EQ(all, 2 * kCount + 2);
  size_t stopped = 0;
  ASSERT_TRUE(store->ScanKeyMaterial("b/", [&](std::string_view name, std::string_view) {
    EXPECT_EQ(name.substr(0, 2), "b/");
    return ++stopped < 530;
  }).ok());
  EXPECT_EQ(stopped, 530u);
  // After a name, across pages: from the 300th name of a/ on, then past the prefix.
  std::vector<std::string> later;
  ASSERT_TRUE(store->ScanKeyMaterialAfter("a/", names[299], [&](std::string_view name, std::string_view) {
    later.emplace_back(name);
    return true;
  }).ok());
  EXPECT_EQ(later, std::vector<std::string>(names.begin() + 300, names.end()));
  later.clear();
  ASSERT_TRUE(store->ScanKeyMaterialAfter("a/", "a0", [&](std::string_view name, std::string_view) {
    later.emplace_back(name);
    return true;
  }).ok());
  EXPECT_TRUE(later.empty());
  ASSERT_TRUE(store->ScanKeyMaterialAfter("a/", "", [&](std::string_view name, std::string_view) {
    later.emplace_back(name);
    return true;
  }).ok());
  EXPECT_EQ(later, names);
}

// ---------------------------------------------------------------- 4. two nodes, one log

using PgTwoNodesTest = testing::TwoPgStoresTest;

TEST_F(PgTwoNodesTest, SecondBeginWaitsForTheFirstCommitAndIsRebasedOnIt) {
  LogStore* a = a_.get();
  LogStore* b = b_.get();
  auto wa = MustBegin(a, 0);
  ASSERT_NE(wa, nullptr);
  std::atomic<bool> b_begun{false};
  auto fb = std::async(std::launch::async, [&] {
    Result<std::unique_ptr<CommitWriter>> w = b->BeginCommit(0);
    b_begun.store(true);
    return w;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_FALSE(b_begun.load());  // waiting for A's lock

  wa->PutRecord(0, "a0");
  wa->PutRecord(1, "a1");
  wa->PutNode(NodeKey{0, 0}, TestHash(0));
  wa->PutNode(NodeKey{0, 1}, TestHash(1));
  wa->PutTreeState(TreeState{2, "range-a", 0, std::string("summary\0of a", 12)});
  ASSERT_TRUE(wa->Commit().ok());

  ASSERT_TRUE(ReadyWithin(fb, 10000));
  Result<std::unique_ptr<CommitWriter>> wb = fb.get();
  ASSERT_TRUE(wb.ok()) << wb.status().ToString();
  ASSERT_TRUE((*wb)->rebased().has_value());
  EXPECT_EQ((*wb)->rebased()->size, 2u);
  EXPECT_EQ((*wb)->rebased()->compact_range, "range-a");
  EXPECT_EQ((*wb)->rebased()->group_from, 0u);  // A's group summary comes with the locked row
  EXPECT_EQ((*wb)->rebased()->group_summary, std::string("summary\0of a", 12));
  (*wb)->PutRecord(2, "b2");
  (*wb)->PutNode(NodeKey{0, 2}, TestHash(2));
  (*wb)->PutTreeState(TreeState{3, "range-b", 2, "summary of b"});
  const Status committed = (*wb)->Commit();
  ASSERT_TRUE(committed.ok()) << committed.ToString();
  auto wa2 = MustBegin(a, 2);  // A rebases onto B's commit
  ASSERT_NE(wa2, nullptr);
  ASSERT_TRUE(wa2->rebased().has_value());
  EXPECT_EQ(wa2->rebased()->group_from, 2u);
  EXPECT_EQ(wa2->rebased()->group_summary, "summary of b");
  wa2.reset();

  EXPECT_EQ(a->ReadTreeState()->size, 3u);
  EXPECT_EQ(*a->ReadRecord(1), "a1");
  EXPECT_EQ(*a->ReadRecord(2), "b2");
}

TEST_F(PgTwoNodesTest, DroppedWriterReleasesTheLockAndWritesNothing) {
  LogStore* a = a_.get();
  LogStore* b = b_.get();
  auto wa = MustBegin(a, 0);
  ASSERT_NE(wa, nullptr);
  wa->PutRecord(0, "never");
  wa->PutStreamIndex("s", 0, 0);
  wa->PutStreamHead("s", StreamHead{1, 0, TestHash(0), false});
  wa->PutNode(NodeKey{0, 0}, TestHash(0));
  wa->PutTreeState(TreeState{1, "never"});
  auto fb = std::async(std::launch::async, [&] { return b->BeginCommit(0); });
  EXPECT_FALSE(ReadyWithin(fb, 300));  // A holds the lock
  wa.reset();
  ASSERT_TRUE(ReadyWithin(fb, 10000));
  Result<std::unique_ptr<CommitWriter>> wb = fb.get();
  ASSERT_TRUE(wb.ok()) << wb.status().ToString();
  EXPECT_FALSE((*wb)->rebased().has_value());
  wb->reset();

  EXPECT_EQ(a->ReadTreeState()->size, 0u);
  EXPECT_EQ(a->ReadRecord(0).status().code(), StatusCode::kNotFound);
  EXPECT_FALSE(a->ReadStreamHead("s")->has_value());
  EXPECT_TRUE(a->ReadStreamIndex("s", 0, false, 10)->empty());
  // The lock is free for A again, too.
  ASSERT_TRUE(AppendEvents(a, "s", 1).ok());
}

// Appends `count` events to `stream_id` as a node's sequencer would: on whatever base the commit
// lock finds (the writer's rebased state), with the stream head read under that lock.
Status AppendOnLockedBase(LogStore* store, const std::string& stream_id, uint64_t count) {
  CAIRN_ASSIGN_OR_RETURN(std::unique_ptr<CommitWriter> writer, store->BeginCommit(0));
  const uint64_t base = writer->rebased() ? writer->rebased()->size : 0;
  CAIRN_ASSIGN_OR_RETURN(std::optional<StreamHead> head, store->ReadStreamHead(stream_id));
  StreamHead next = head.value_or(StreamHead{});
  for (uint64_t i = 0; i < count; ++i) {
    const uint64_t position = base + i;
    writer->PutRecord(position, testing::TestRecord(position));
    writer->PutStreamIndex(stream_id, next.next_version, position);
    writer->PutNode(NodeKey{0, position}, TestHash(position));
    next = StreamHead{next.next_version + 1, position, TestHash(position), false};
  }
  writer->PutStreamHead(stream_id, next);
  writer->PutTreeState(TreeState{base + count, "range@" + std::to_string(base + count)});
  return writer->Commit();
}

TEST_F(PgTwoNodesTest, ConcurrentAppendsFromTwoNodesNeverFork) {
  constexpr int kThreadsPerNode = 2;
  constexpr int kCommitsPerThread = 15;
  const std::vector<std::string> streams = {"x", "y", "z"};
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (LogStore* node : {a_.get(), b_.get()}) {
    for (int t = 0; t < kThreadsPerNode; ++t) {
      threads.emplace_back([&, node, t] {
        for (int i = 0; i < kCommitsPerThread; ++i) {
          const Status s = AppendOnLockedBase(node, streams[(t + i) % streams.size()], 1 + i % 3);
          if (!s.ok()) ++failures;
        }
      });
    }
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);

  uint64_t expected_size = 0;
  for (int i = 0; i < kCommitsPerThread; ++i) expected_size += 2 * kThreadsPerNode * (1 + i % 3);
  EXPECT_EQ(a_->ReadTreeState()->size, expected_size);
  std::vector<uint64_t> positions = CollectRecordPositions(b_.get(), 0, UINT64_MAX);
  ASSERT_EQ(positions.size(), expected_size);
  for (uint64_t p = 0; p < expected_size; ++p) EXPECT_EQ(positions[p], p);  // gap-free, once
  uint64_t indexed = 0;
  for (const std::string& stream : streams) {
    Result<std::vector<StreamIndexEntry>> index = a_->ReadStreamIndex(stream, 0, false, UINT64_MAX);
    ASSERT_TRUE(index.ok());
    for (uint64_t v = 0; v < index->size(); ++v) EXPECT_EQ((*index)[v].version, v) << stream;
    EXPECT_EQ((*a_->ReadStreamHead(stream))->next_version, index->size());
    indexed += index->size();
  }
  EXPECT_EQ(indexed, expected_size);
}

TEST_F(PgTwoNodesTest, TheLockWaitIsNotCutByTheStatementTimeout) {
  PgOptions quick = PgOpts(db_);
  quick.statement_timeout_ms = 100;
  auto b = OpenPg(quick);
  ASSERT_NE(b, nullptr);
  auto wa = MustBegin(a_.get(), 0);
  ASSERT_NE(wa, nullptr);
  auto fb = std::async(std::launch::async, [&] { return b->BeginCommit(0); });
  EXPECT_FALSE(ReadyWithin(fb, 600));  // longer than B's statement timeout
  wa->PutTreeState(TreeState{1, "a"});
  wa->PutRecord(0, "a0");
  ASSERT_TRUE(wa->Commit().ok());
  ASSERT_TRUE(ReadyWithin(fb, 10000));
  Result<std::unique_ptr<CommitWriter>> wb = fb.get();
  ASSERT_TRUE(wb.ok()) << wb.status().ToString();
  ASSERT_TRUE((*wb)->rebased().has_value());
  EXPECT_EQ((*wb)->rebased()->size, 1u);
}

// ---------------------------------------------------------------- 5. LISTEN/NOTIFY

// What a ChangeListener was told, for assertions from the test thread.
struct Heard {
  std::mutex mu;
  std::vector<uint64_t> commits;
  std::vector<std::string> destroyed;
  int resyncs = 0;

  ChangeListener Listener() {
    ChangeListener l;
    l.on_commit = [this](uint64_t size) {
      std::lock_guard<std::mutex> lock(mu);
      commits.push_back(size);
    };
    l.on_key_destroyed = [this](std::string_view name) {
      std::lock_guard<std::mutex> lock(mu);
      destroyed.emplace_back(name);
    };
    l.on_resync = [this] {
      std::lock_guard<std::mutex> lock(mu);
      ++resyncs;
    };
    return l;
  }
  bool HeardCommit(uint64_t size) {
    std::lock_guard<std::mutex> lock(mu);
    return std::find(commits.begin(), commits.end(), size) != commits.end();
  }
  bool HeardDestroyed(const std::string& name) {
    std::lock_guard<std::mutex> lock(mu);
    return std::find(destroyed.begin(), destroyed.end(), name) != destroyed.end();
  }
  int Resyncs() {
    std::lock_guard<std::mutex> lock(mu);
    return resyncs;
  }
};

TEST_F(PgTwoNodesTest, OtherNodeHearsCommitsAndDestroyedKeys) {
  LogStore* a = a_.get();
  LogStore* b = b_.get();  // listening since its open returned
  Heard heard;
  b->SetChangeListener(heard.Listener());

  ASSERT_TRUE(AppendEvents(a, "s", 3).ok());
  EXPECT_TRUE(WaitFor([&] { return heard.HeardCommit(3); }));
  ASSERT_TRUE(AppendEvents(a, "s", 2).ok());
  EXPECT_TRUE(WaitFor([&] { return heard.HeardCommit(5); }));

  const std::string name = "subject/ünï \"key\",1";
  ASSERT_TRUE(a->PutKeyMaterial(name, "wrapped").ok());
  ASSERT_TRUE(a->DestroyKeyMaterial(name).ok());
  EXPECT_TRUE(WaitFor([&] { return heard.HeardDestroyed(name); }));
  EXPECT_EQ(heard.Resyncs(), 0);

  b->SetChangeListener(ChangeListener{});  // stops the calls
  ASSERT_TRUE(AppendEvents(a, "s", 1).ok());
  ASSERT_TRUE(AppendEvents(b, "s", 1).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_FALSE(heard.HeardCommit(6));
}

// A locked commit releases the commit lock at its commit record and then waits for the WAL flush
// with a durability barrier (an update of a cairn_flush row, committed synchronously, which also
// notifies the other nodes). A trigger on cairn_flush makes every barrier sleep here, so that the
// test can look at the log while a's barrier runs.
TEST_F(PgTwoNodesTest, ALockedCommitReleasesTheLockBeforeItsDurabilityWait) {
  LogStore* a = a_.get();
  LogStore* b = b_.get();
  Heard heard;
  b->SetChangeListener(heard.Listener());
  BarrierGate gate(db_);
  const PgCommitStats a_before = *PgCommitStatsOf(a);
  const PgCommitStats b_before = *PgCommitStatsOf(b);

  std::shared_ptr<CommitWriter> wa = MustBegin(a, 0);
  ASSERT_NE(wa, nullptr);
  wa->PutRecord(0, "a0");
  wa->PutNode(NodeKey{0, 0}, TestHash(0));
  wa->PutTreeState(TreeState{1, "range-a"});
  auto commit = std::async(std::launch::async, [wa] { return wa->Commit(); });
  ASSERT_TRUE(WaitForABarrier(db_));

  // a's barrier runs: the lock is free already, and b locks a log that holds a's commit.
  auto wb = MustBegin(b, 0);
  ASSERT_NE(wb, nullptr);
  ASSERT_TRUE(wb->rebased().has_value());
  EXPECT_EQ(wb->rebased()->size, 1u);
  wb.reset();
  EXPECT_EQ(commit.wait_for(std::chrono::seconds(0)), std::future_status::timeout)
      << "a's Commit() returned before its commit was durable";
  EXPECT_FALSE(heard.HeardCommit(1)) << "announced before it was durable";

  // A reader on b sees the commit and makes it durable itself (a barrier of its own) first: it
  // waits at the gate too.
  auto read = std::async(std::launch::async, [b] { return b->ReadTreeState(); });
  EXPECT_EQ(read.wait_for(std::chrono::milliseconds(300)), std::future_status::timeout)
      << "b's read returned a size it had not made durable";
  gate.Release();

  ASSERT_TRUE(ReadyWithin(commit, 30000));
  EXPECT_TRUE(commit.get().ok());
  ASSERT_TRUE(ReadyWithin(read, 30000));
  Result<TreeState> seen = read.get();
  ASSERT_TRUE(seen.ok()) << seen.status().ToString();
  EXPECT_EQ(seen->size, 1u);
  EXPECT_EQ(PgCommitStatsOf(b)->barriers, b_before.barriers + 1);
  EXPECT_TRUE(WaitFor([&] { return heard.HeardCommit(1); }));
  const PgCommitStats a_after = *PgCommitStatsOf(a);
  EXPECT_EQ(a_after.commits, a_before.commits + 1);
  EXPECT_EQ(a_after.durable_waits, a_before.durable_waits + 1);
  const uint64_t hold_ns = a_after.hold_ns - a_before.hold_ns;
  const uint64_t durable_wait_ns = a_after.durable_wait_ns - a_before.durable_wait_ns;
  EXPECT_GE(durable_wait_ns, 300'000'000u);  // the wait at the gate is in the durability wait...
  EXPECT_LT(hold_ns, durable_wait_ns);       // ...not in the lock hold

  // Known durable now (b's own barrier, a's notification): reading it again needs no barrier.
  const uint64_t b_barriers = PgCommitStatsOf(b)->barriers;
  EXPECT_EQ(b->ReadTreeState()->size, 1u);
  EXPECT_EQ(PgCommitStatsOf(b)->barriers, b_barriers);
}

// A writer whose group writes nothing releases the lock, writes nothing and runs a barrier on its
// own connection (made before anything the group read).
TEST_F(PgTwoNodesTest, AWriterFinishedWithoutWritingReleasesTheLockAfterABarrier) {
  LogStore* a = a_.get();
  LogStore* b = b_.get();
  ASSERT_TRUE(AppendEvents(b, "s", 2).ok());
  const uint64_t before = PgCommitStatsOf(a)->barriers;
  auto wa = MustBegin(a, 0);
  ASSERT_NE(wa, nullptr);
  ASSERT_TRUE(wa->rebased().has_value());
  wa->PutRecord(2, "never");
  EXPECT_TRUE(wa->FinishWithoutWriting().ok());
  EXPECT_EQ(PgCommitStatsOf(a)->barriers, before + 1);
  EXPECT_EQ(wa->FinishWithoutWriting().code(), StatusCode::kFailedPrecondition);  // spent
  auto wb = MustBegin(b, 2);  // the lock is free
  ASSERT_NE(wb, nullptr);
  wb.reset();
  EXPECT_EQ(b->ReadRecord(2).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(Sql(db_, "SELECT sum(n) > 0 FROM cairn_flush"), "t");
}

// ---------------------------------------------------------------- 6. key material, checkpoints

TEST(PgKeyMaterialTest, ReplaceIfReplacesOnlyWhatItReadAndNeverRevivesADestroyedKey) {
  auto store = OpenFresh();
  ASSERT_NE(store, nullptr);
  storage::testing::ExpectReplaceKeyMaterialIf(store.get());
}

TEST(PgKeyMaterialTest, PutIfAbsentStoresOnceAndDestroyRemoves) {
  auto store = OpenFresh();
  ASSERT_NE(store, nullptr);
  Result<bool> first = store->PutKeyMaterialIfAbsent("subject/1/v1", std::string("w1\0\xff", 4));
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_TRUE(*first);
  Result<bool> second = store->PutKeyMaterialIfAbsent("subject/1/v1", "w2");
  ASSERT_TRUE(second.ok());
  EXPECT_FALSE(*second);
  EXPECT_EQ(**store->ReadKeyMaterial("subject/1/v1"), std::string("w1\0\xff", 4));
  EXPECT_FALSE(store->ReadKeyMaterial("subject/2/v1")->has_value());

  ASSERT_TRUE(store->PutKeyMaterial("subject/1/v1", "replaced").ok());  // plain Put overwrites
  EXPECT_EQ(**store->ReadKeyMaterial("subject/1/v1"), "replaced");
  ASSERT_TRUE(store->DestroyKeyMaterial("subject/1/v1").ok());
  EXPECT_FALSE(store->ReadKeyMaterial("subject/1/v1")->has_value());
  size_t listed = 0;
  ASSERT_TRUE(store->ScanKeyMaterial("", [&](std::string_view, std::string_view) {
    ++listed;
    return true;
  }).ok());
  EXPECT_EQ(listed, 0u);
  EXPECT_TRUE(store->DestroyKeyMaterial("subject/1/v1").ok());  // destroying twice is fine
  EXPECT_TRUE(*store->PutKeyMaterialIfAbsent("subject/1/v1", "w3"));  // the name is free again

  EXPECT_EQ(store->PutKeyMaterial("", "w").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(store->PutKeyMaterialIfAbsent(std::string("a\0b", 3), "w").status().code(),
            StatusCode::kInvalidArgument);
}

TEST_F(PgTwoNodesTest, ConcurrentPutIfAbsentStoresExactlyOne) {
  constexpr int kNames = 20;
  LogStore* a = a_.get();
  LogStore* b = b_.get();
  std::vector<Result<bool>> won_a, won_b;
  std::latch start(2);
  auto race = [&](LogStore* store, const std::string& value, std::vector<Result<bool>>* won) {
    start.arrive_and_wait();
    for (int i = 0; i < kNames; ++i) {
      won->push_back(store->PutKeyMaterialIfAbsent("race/" + std::to_string(i), value));
    }
  };
  std::thread ta(race, a, "from-a", &won_a);
  std::thread tb(race, b, "from-b", &won_b);
  ta.join();
  tb.join();
  ASSERT_EQ(won_a.size(), static_cast<size_t>(kNames));
  ASSERT_EQ(won_b.size(), static_cast<size_t>(kNames));
  for (int i = 0; i < kNames; ++i) {
    ASSERT_TRUE(won_a[i].ok() && won_b[i].ok()) << won_a[i].status().ToString() << " "
                                                << won_b[i].status().ToString();
    EXPECT_NE(*won_a[i], *won_b[i]) << "name " << i;  // exactly one stored it
    EXPECT_EQ(**a->ReadKeyMaterial("race/" + std::to_string(i)), *won_a[i] ? "from-a" : "from-b");
  }
}

// The path of the key table's main fork (PostgreSQL has written its pages to disk).
std::string KeyTablePath(const std::string& db) {
  Sql(db, "CHECKPOINT");
  return Sql(db, "SELECT current_setting('data_directory') || '/' || "
                 "pg_relation_filepath('cairn_key_material')");
}

std::string ReadIfExists(const std::string& path) {
  return std::filesystem::exists(path) ? cairn::testing::ReadFile(path) : std::string();
}

TEST(PgKeyMaterialTest, DestroyedBytesAreGoneFromTheTableFiles) {
  const std::string db = PgServer().CreateDatabase();
  auto store = OpenPg(PgOpts(db));
  ASSERT_NE(store, nullptr);
  const std::string doomed = "WRAPPED-SUBJECT-KEY-0f3a9c1d7e5b2468";
  const std::string kept = "WRAPPED-SUBJECT-KEY-kept-55aa55aa";
  ASSERT_TRUE(store->PutKeyMaterial("subject/doomed/v1", doomed).ok());
  ASSERT_TRUE(store->PutKeyMaterial("subject/kept/v1", kept).ok());
  ASSERT_TRUE(store->PutKeyMaterial("subject/doomed/v1", doomed + "-v2").ok());  // a dead version
  const std::string before_path = KeyTablePath(db);
  ASSERT_NE(ReadIfExists(before_path).find(doomed), std::string::npos);  // the check sees bytes

  ASSERT_TRUE(store->DestroyKeyMaterial("subject/doomed/v1").ok());
  const std::string after = ReadIfExists(KeyTablePath(db));
  EXPECT_EQ(after.find(doomed), std::string::npos);  // neither version survives
  EXPECT_NE(after.find(kept), std::string::npos);
  EXPECT_EQ(ReadIfExists(before_path).find(doomed), std::string::npos);  // nor the old file
  EXPECT_EQ(**store->ReadKeyMaterial("subject/kept/v1"), kept);
}

// A snapshot older than the delete (a repeatable-read transaction that has not touched the key
// table, so VACUUM FULL does not wait for its lock) would make VACUUM FULL copy the deleted row
// into the new files: the destroy waits for it to end first.
TEST(PgKeyMaterialTest, DestroyWaitsForOlderSnapshotsSoVacuumDropsTheRow) {
  const std::string db = PgServer().CreateDatabase();
  auto store = OpenPg(PgOpts(db));
  ASSERT_NE(store, nullptr);
  const std::string doomed = "WRAPPED-SUBJECT-KEY-snapshot-7c1e4b92";
  ASSERT_TRUE(store->PutKeyMaterial("subject/held/v1", doomed).ok());
  cairn::testing::OldSnapshot old_snapshot(db);

  std::atomic<bool> destroyed{false};
  Status destroy;
  std::thread destroyer([&] {
    destroy = store->DestroyKeyMaterial("subject/held/v1");
    destroyed = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(700));
  EXPECT_FALSE(destroyed.load()) << "it vacuumed while an older snapshot could see the row";
  old_snapshot.End();
  destroyer.join();
  ASSERT_TRUE(destroy.ok()) << destroy.ToString();
  EXPECT_EQ(ReadIfExists(KeyTablePath(db)).find(doomed), std::string::npos);
  EXPECT_FALSE(store->ReadKeyMaterial("subject/held/v1")->has_value());
}

// A store on a fresh database whose purger retries every 100 ms, holding the key "skey/doomed.1"
// = `wrapped`; `blocker(db)` then starts what keeps the purge from happening (ended by the
// returned function). Destroys the key: the destroy deletes the row but says the purge is
// pending, the bytes stay in the table's files while the blocker lasts, and after it ends the
// purger rewrites the table. Returns the destroy's report.
DestroyReport DestroyWhileBlocked(int64_t wait_ms_max, const std::string& wrapped,
                                  const std::function<std::function<void()>(const std::string&)>& blocker) {
  const std::string db = PgServer().CreateDatabase();
  PgOptions options = PgOpts(db);
  options.key_purge_wait_ms_max = wait_ms_max;
  options.key_purge_retry_ms = 100;
  auto store = OpenPg(options);
  auto* pg_store = dynamic_cast<pg::PgLogStore*>(store.get());
  EXPECT_NE(pg_store, nullptr);
  if (pg_store == nullptr) return {};
  EXPECT_TRUE(store->PutKeyMaterial("skey/doomed.1", wrapped).ok());
  const std::function<void()> end_blocker = blocker(db);

  const std::vector<std::string> names = {"skey/doomed.1"};
  Result<DestroyReport> report = store->DestroyKeyMaterials(names);
  EXPECT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_FALSE(store->ReadKeyMaterial("skey/doomed.1")->has_value());  // deleted all the same
  EXPECT_TRUE(pg_store->KeyPurgePending());
  EXPECT_NE(ReadIfExists(KeyTablePath(db)).find(wrapped), std::string::npos) << "the report was needed";
  std::this_thread::sleep_for(std::chrono::milliseconds(400));  // retries while it still blocks
  EXPECT_TRUE(pg_store->KeyPurgePending());

  EXPECT_EQ(Sql(db, "SELECT count(*) FROM cairn_key_purge"), "1");  // recorded for every node

  end_blocker();
  EXPECT_TRUE(WaitFor([&] { return !pg_store->KeyPurgePending(); }, 10000));
  EXPECT_EQ(ReadIfExists(KeyTablePath(db)).find(wrapped), std::string::npos);
  EXPECT_EQ(Sql(db, "SELECT count(*) FROM cairn_key_purge"), "0");
  return report.ok() ? *report : DestroyReport{};
}

// A snapshot that outlasts the wait: the rewrite keeps the row (the snapshot may see it), so
// the destroy reports the snapshot instead of claiming the bytes are gone.
TEST(PgKeyMaterialTest, ADestroyWhoseWaitRunsOutReportsItAndPurgesOnceTheSnapshotEnds) {
  std::unique_ptr<cairn::testing::OldSnapshot> old_snapshot;
  const DestroyReport report =
      DestroyWhileBlocked(300, "WRAPPED-SUBJECT-KEY-outlasting-5d0e21aa", [&](const std::string& db) {
        old_snapshot = std::make_unique<cairn::testing::OldSnapshot>(db);
        return [&] { old_snapshot->End(); };
      });
  EXPECT_TRUE(report.purge_pending);
  EXPECT_GE(report.snapshots_remaining, 1);
}

// A session that holds a lock on the key table (it read key material in a transaction that
// stays open, without a snapshot between statements) would make the rewrite wait, and every key
// access queue behind it: the rewrite gives up after its lock wait.
TEST(PgKeyMaterialTest, ADestroyThatCannotLockTheKeyTablePurgesLater) {
  std::unique_ptr<pqxx::connection> holder_conn;
  std::unique_ptr<pqxx::work> holder;
  const DestroyReport report =
      DestroyWhileBlocked(10000, "WRAPPED-SUBJECT-KEY-locked-93be0c4d", [&](const std::string& db) {
        holder_conn = std::make_unique<pqxx::connection>(db);
        holder = std::make_unique<pqxx::work>(*holder_conn, "lock-holder");  // read committed
        holder->exec("SELECT count(*) FROM cairn_key_material");
        return [&] { holder->commit(); };
      });
  EXPECT_TRUE(report.purge_pending);
  EXPECT_EQ(report.snapshots_remaining, 0);
}

// A role that may not vacuum the key table (another role owns it) only gets a warning from
// VACUUM FULL, which then rewrites nothing: the destroy must not call that a purge.
TEST(PgKeyMaterialTest, ADestroyByARoleThatMayNotVacuumTheKeyTableSaysThePurgeIsPending) {
  const std::string db = PgServer().CreateDatabase();
  const std::string role = "cairn_plain_" + Sql(db, "SELECT current_database()");
  Sql(db, "CREATE ROLE " + role + " LOGIN");
  Sql(db, "GRANT ALL ON SCHEMA public TO " + role);
  PgOptions options = PgOpts(db + " user=" + role);
  options.key_purge_retry_ms = 100;
  auto store = OpenPg(options);  // the role creates (and owns) cairn's tables
  ASSERT_NE(store, nullptr);
  EXPECT_TRUE(dynamic_cast<pg::PgLogStore*>(store.get())->can_purge_keys());
  store.reset();
  Sql(db, "ALTER TABLE cairn_key_material OWNER TO postgres");
  Sql(db, "GRANT SELECT, INSERT, UPDATE, DELETE ON cairn_key_material TO " + role);
  store = OpenPg(options);  // now it is told at open that it cannot purge
  ASSERT_NE(store, nullptr);
  EXPECT_FALSE(dynamic_cast<pg::PgLogStore*>(store.get())->can_purge_keys());
  const std::string doomed = "WRAPPED-SUBJECT-KEY-not-owner-2b7c90e1";
  ASSERT_TRUE(store->PutKeyMaterial("skey/plain.1", doomed).ok());
  const std::vector<std::string> names = {"skey/plain.1"};
  Result<DestroyReport> report = store->DestroyKeyMaterials(names);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_TRUE(report->purge_pending);
  EXPECT_FALSE(store->ReadKeyMaterial("skey/plain.1")->has_value());
  EXPECT_NE(ReadIfExists(KeyTablePath(db)).find(doomed), std::string::npos);
  store.reset();
  Sql(db, "ALTER TABLE cairn_key_material OWNER TO " + role);  // let the database be dropped
}

// Destroys "skey/orphan.1" = `wrapped` on a store of `db` while an older snapshot keeps the
// purge from happening, and closes that store with the purge still pending (the node stopped,
// or it was an offline `cairn forget`). Returns the snapshot, still open.
std::unique_ptr<cairn::testing::OldSnapshot> LeaveAPurgePending(const std::string& db,
                                                                const std::string& wrapped) {
  PgOptions options = PgOpts(db);
  options.key_purge_wait_ms_max = 200;
  options.listen = false;
  auto store = OpenPg(options);
  EXPECT_NE(store, nullptr);
  if (store == nullptr) return nullptr;
  EXPECT_TRUE(store->PutKeyMaterial("skey/orphan.1", wrapped).ok());
  auto old_snapshot = std::make_unique<cairn::testing::OldSnapshot>(db);
  const std::vector<std::string> names = {"skey/orphan.1"};
  Result<DestroyReport> report = store->DestroyKeyMaterials(names);
  EXPECT_TRUE(report.ok() && report->purge_pending);
  store.reset();
  EXPECT_EQ(Sql(db, "SELECT count(*) FROM cairn_key_purge"), "1");
  EXPECT_NE(ReadIfExists(KeyTablePath(db)).find(wrapped), std::string::npos);
  return old_snapshot;
}

// Opens a store on `db` (which holds a pending purge of `wrapped`): its purger picks the purge
// up but leaves the bytes in the key table's files until `release()`, and purges them after.
void ExpectAPurgerToWaitFor(const std::string& db, const std::string& wrapped,
                            const std::function<void()>& release) {
  PgOptions options = PgOpts(db);
  options.key_purge_retry_ms = 100;
  auto store = OpenPg(options);
  ASSERT_NE(store, nullptr);
  auto* pg_store = dynamic_cast<pg::PgLogStore*>(store.get());
  ASSERT_NE(pg_store, nullptr);
  EXPECT_TRUE(WaitFor([&] { return pg_store->KeyPurgePending(); }, 5000)) << "not picked up";
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // blocked meanwhile
  EXPECT_NE(ReadIfExists(KeyTablePath(db)).find(wrapped), std::string::npos);
  EXPECT_EQ(Sql(db, "SELECT count(*) FROM cairn_key_purge"), "1");
  release();
  EXPECT_TRUE(WaitFor([&] { return !pg_store->KeyPurgePending(); }, 10000));
  EXPECT_EQ(ReadIfExists(KeyTablePath(db)).find(wrapped), std::string::npos);
  EXPECT_EQ(Sql(db, "SELECT count(*) FROM cairn_key_purge"), "0");
}

// The pending purge is kept in the database: a node that starts later purges what a stopped
// one left pending.
TEST(PgKeyMaterialTest, APurgeLeftPendingByAStoppedNodeIsDoneByTheNextNodeToStart) {
  const std::string db = PgServer().CreateDatabase();
  const std::string wrapped = "WRAPPED-SUBJECT-KEY-orphan-start-6f1d2e90";
  auto old_snapshot = LeaveAPurgePending(db, wrapped);
  ASSERT_NE(old_snapshot, nullptr);
  ExpectAPurgerToWaitFor(db, wrapped, [&] { old_snapshot->End(); });
}

// A node that is running and knows of no pending purge looks for one every key_purge_poll_ms.
TEST(PgKeyMaterialTest, ARunningNodePurgesWhatAnotherNodeLeftPending) {
  const std::string db = PgServer().CreateDatabase();
  PgOptions options = PgOpts(db);
  options.key_purge_retry_ms = 100;
  options.key_purge_poll_ms = 200;
  auto store = OpenPg(options);
  ASSERT_NE(store, nullptr);
  const std::string wrapped = "WRAPPED-SUBJECT-KEY-orphan-poll-0b3c77a4";
  auto old_snapshot = LeaveAPurgePending(db, wrapped);
  ASSERT_NE(old_snapshot, nullptr);
  old_snapshot->End();
  EXPECT_TRUE(WaitFor([&] { return Sql(db, "SELECT count(*) FROM cairn_key_purge") == "0"; },
                      10000));
  EXPECT_EQ(ReadIfExists(KeyTablePath(db)).find(wrapped), std::string::npos);
}

// The conditional destroy compares and deletes in one statement per name; the unused delete
// neither waits for older snapshots nor rewrites the key table (nothing becomes pending).
TEST(PgKeyMaterialTest, ConditionalDestroyKeepsRewrittenNamesAndUnusedDeleteDoesNotPurge) {
  const std::string db = PgServer().CreateDatabase();
  auto store = OpenPg(PgOpts(db));
  ASSERT_NE(store, nullptr);
  storage::testing::ExpectDestroyKeyMaterialsIf(store.get());
  EXPECT_EQ(ReadIfExists(KeyTablePath(db)).find("WRAPPED-unchanged-1c9e"), std::string::npos);

  cairn::testing::OldSnapshot old_snapshot(db);  // a destroy would wait for it
  const auto start = std::chrono::steady_clock::now();
  storage::testing::ExpectDeleteUnusedKeyMaterial(store.get());
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  auto* pg_store = dynamic_cast<pg::PgLogStore*>(store.get());
  ASSERT_NE(pg_store, nullptr);
  EXPECT_FALSE(pg_store->KeyPurgePending());
  EXPECT_EQ(Sql(db, "SELECT count(*) FROM cairn_key_purge"), "0");
  old_snapshot.End();
}

// One node purges at a time (a session advisory lock): while another session holds it, a
// purger leaves the pending purge alone, and does it once the lock is free.
TEST(PgKeyMaterialTest, APurgerLeavesThePurgeToTheNodeThatIsPurging) {
  const std::string db = PgServer().CreateDatabase();
  const std::string wrapped = "WRAPPED-SUBJECT-KEY-one-purger-8e4f1a26";
  auto old_snapshot = LeaveAPurgePending(db, wrapped);
  ASSERT_NE(old_snapshot, nullptr);
  old_snapshot->End();
  pqxx::connection other_node(db);
  pqxx::nontransaction other(other_node);
  ASSERT_TRUE(other.exec("SELECT pg_try_advisory_lock(" + std::to_string(pg::kKeyPurgeLockKey) +
                         ")")[0][0].as<bool>());
  ExpectAPurgerToWaitFor(db, wrapped, [&] {
    other.exec("SELECT pg_advisory_unlock(" + std::to_string(pg::kKeyPurgeLockKey) + ")");
  });
}

// Several names in one destroy: one transaction, one VACUUM FULL; absent names are fine.
TEST(PgKeyMaterialTest, ABatchDestroyRemovesEveryNameFromTheTableFiles) {
  const std::string db = PgServer().CreateDatabase();
  auto store = OpenPg(PgOpts(db));
  ASSERT_NE(store, nullptr);
  const std::string first = "WRAPPED-SUBJECT-KEY-batch-1-a1b2c3";
  const std::string second = "WRAPPED-SUBJECT-KEY-batch-2-d4e5f6";
  const std::string kept = "WRAPPED-SUBJECT-KEY-batch-kept-778899";
  ASSERT_TRUE(store->PutKeyMaterial("skey/a.1", first).ok());
  ASSERT_TRUE(store->PutKeyMaterial("skey/a.2", second).ok());
  ASSERT_TRUE(store->PutKeyMaterial("skey/b.1", kept).ok());
  const std::vector<std::string> names = {"skey/a.1", "skey/a.2", "skey/never-there"};
  ASSERT_TRUE(store->DestroyKeyMaterials(names).ok());
  const std::string after = ReadIfExists(KeyTablePath(db));
  EXPECT_EQ(after.find(first), std::string::npos);
  EXPECT_EQ(after.find(second), std::string::npos);
  EXPECT_NE(after.find(kept), std::string::npos);
  EXPECT_FALSE(store->ReadKeyMaterial("skey/a.2")->has_value());
  const std::vector<std::string> too_many(LogStore::kDestroyBatchNamesMax + 1, "skey/x");
  EXPECT_EQ(store->DestroyKeyMaterials(too_many).status().code(), StatusCode::kInvalidArgument);
}

// Both connections of a two-connection pool in use: the first holds the commit lock, the second
// waits for it. Release() lets both finish.
struct BusyPool {
  std::unique_ptr<CommitWriter> first;
  std::future<Result<std::unique_ptr<CommitWriter>>> second;
  void Release() {
    first.reset();
    ASSERT_TRUE(ReadyWithin(second, 10000));
    EXPECT_TRUE(second.get().ok());
  }
};

BusyPool HoldBothConnections(LogStore* store) {
  BusyPool busy;
  busy.first = MustBegin(store, 0);
  EXPECT_NE(busy.first, nullptr);
  busy.second = std::async(std::launch::async, [store] { return store->BeginCommit(0); });
  EXPECT_FALSE(ReadyWithin(busy.second, 300));
  return busy;
}

TEST(PgPoolTest, AllConnectionsBusyIsUnavailableAfterTheAcquireTimeout) {
  PgOptions options = PgOpts(PgServer().CreateDatabase());
  options.pool_connections_max = 2;
  options.acquire_timeout_ms = 300;
  options.listen = false;
  auto store = OpenPg(options);
  ASSERT_NE(store, nullptr);
  BusyPool busy_pool = HoldBothConnections(store.get());

  auto read = std::async(std::launch::async, [&] { return store->ReadTreeState().status(); });
  ASSERT_TRUE(ReadyWithin(read, 10000));
  const Status busy = read.get();
  EXPECT_EQ(busy.code(), StatusCode::kUnavailable) << busy.ToString();

  busy_pool.Release();
  EXPECT_TRUE(store->ReadTreeState().ok());
}

// A notification from a sender the listener has not seen is checked on a pooled connection. With
// every connection busy that check waits; SetChangeListener (an engine closing) must not wait
// for it.
TEST(PgPoolTest, SetChangeListenerDoesNotWaitForASenderLookupOnABusyPool) {
  const std::string db = PgServer().CreateDatabase();
  PgOptions options = PgOpts(db);
  options.pool_connections_max = 2;
  options.acquire_timeout_ms = 5000;
  auto store = OpenPg(options);
  ASSERT_NE(store, nullptr);
  BusyPool busy_pool = HoldBothConnections(store.get());
  Sql(db, "NOTIFY cairn_commit, '7'");  // a new sender: the listener looks it up, and waits
  std::this_thread::sleep_for(std::chrono::milliseconds(300));

  auto replaced = std::async(std::launch::async, [&] { store->SetChangeListener({}); });
  EXPECT_TRUE(ReadyWithin(replaced, 1500)) << "SetChangeListener waited for the pool";
  busy_pool.Release();
  ASSERT_TRUE(ReadyWithin(replaced, 10000));
}

TEST(PgCheckpointTest, FirstNotePerSizeStaysAndLatestIsTheLargest) {
  auto store = OpenFresh();
  ASSERT_NE(store, nullptr);
  EXPECT_FALSE(store->ReadLatestCheckpoint()->has_value());
  ASSERT_TRUE(store->PutCheckpoint(5, "first for 5").ok());
  ASSERT_TRUE(store->PutCheckpoint(5, "second for 5").ok());
  ASSERT_TRUE(store->PutCheckpoint(9, std::string("nine\0\xff", 6)).ok());
  ASSERT_TRUE(store->PutCheckpoint(7, "seven").ok());
  auto latest = store->ReadLatestCheckpoint();
  ASSERT_TRUE(latest.ok() && latest->has_value());
  EXPECT_EQ((*latest)->first, 9u);
  EXPECT_EQ((*latest)->second, std::string("nine\0\xff", 6));
  std::vector<std::pair<uint64_t, std::string>> all;
  ASSERT_TRUE(store->ScanCheckpoints([&](uint64_t size, std::string_view note) {
    all.emplace_back(size, std::string(note));
    return true;
  }).ok());
  EXPECT_EQ(all, (std::vector<std::pair<uint64_t, std::string>>{
                     {5, "first for 5"}, {7, "seven"}, {9, std::string("nine\0\xff", 6)}}));
}

TEST(PgMetaTest, MetaIsUpsertedAndReadBack) {
  auto store = OpenFresh();
  ASSERT_NE(store, nullptr);
  EXPECT_FALSE(store->ReadMeta("group/g1")->has_value());
  ASSERT_TRUE(store->PutMeta("group/g1", "1").ok());
  ASSERT_TRUE(store->PutMeta("group/g1", std::string("2\0", 2)).ok());
  EXPECT_EQ(**store->ReadMeta("group/g1"), std::string("2\0", 2));
}

// ---------------------------------------------------------------- 7. outage

// Stops the shared server; starts it again at the latest when the test ends.
class ServerOutage {
 public:
  ServerOutage() { PgServer().Stop(); }
  ~ServerOutage() { End(); }
  void End() {
    if (stopped_) PgServer().StartAgain();
    stopped_ = false;
  }

 private:
  bool stopped_ = true;
};

// The text a failure message must never contain: the password and the connection string.
void ExpectNoSecrets(const Status& s, const std::string& conninfo, const std::string& password) {
  EXPECT_EQ(s.message().find(password), std::string::npos) << s.ToString();
  EXPECT_EQ(s.message().find(conninfo), std::string::npos) << s.ToString();
  EXPECT_EQ(s.message().find("port="), std::string::npos) << s.ToString();
  EXPECT_EQ(s.message().find("dbname"), std::string::npos) << s.ToString();
  EXPECT_EQ(s.message().find("cairn_test_"), std::string::npos) << s.ToString();
}

// A password file holding `password` (and a newline) in `dir`, with permissions `mode`.
std::string WritePasswordFile(const TempDir& dir, const std::string& password, mode_t mode) {
  const std::string path = dir.Sub("pgpass");
  cairn::testing::WriteFile(path, password + "\n");
  EXPECT_EQ(::chmod(path.c_str(), mode), 0);
  return path;
}

// A store on a fresh database whose password comes from a 0600 file.
struct StoreWithPassword {
  explicit StoreWithPassword(const std::string& password)
      : db(PgServer().CreateDatabase()), options(PgOpts(db)) {
    options.password_file = WritePasswordFile(dir, password, 0600);
    store = OpenPg(options);
  }
  TempDir dir;
  std::string db;
  PgOptions options;
  std::unique_ptr<LogStore> store;
};

TEST(PgOutageTest, CallsFailUnavailableWhileDownAndTheSameStoreRecovers) {
  const std::string password = "outage-pw-4f1c9e";
  StoreWithPassword node(password);
  const std::string& db = node.db;
  LogStore* store = node.store.get();
  ASSERT_NE(store, nullptr);
  Heard heard;
  store->SetChangeListener(heard.Listener());
  ASSERT_TRUE(AppendEvents(store, "s", 2).ok());

  ServerOutage outage;
  const std::vector<std::function<Status()>> calls = {
      [&] { return store->ReadTreeState().status(); },
      [&] { return store->ReadRecord(0).status(); },
      [&] { return store->ReadStreamHead("s").status(); },
      [&] { return store->BeginCommit(2).status(); },
      [&] { return store->ScanRecords(0, 10, [](uint64_t, std::string_view) { return true; }); },
      [&] { return store->PutCheckpoint(2, "note"); },
      [&] { return store->ReadKeyMaterial("k").status(); },
      [&] { return store->BeginCommit(2).status(); },
  };
  for (size_t i = 0; i < calls.size(); ++i) {
    auto call = std::async(std::launch::async, calls[i]);
    ASSERT_TRUE(ReadyWithin(call, 10000)) << "call " << i << " hangs while PostgreSQL is down";
    const Status s = call.get();
    EXPECT_EQ(s.code(), StatusCode::kUnavailable) << "call " << i << ": " << s.ToString();
    ExpectNoSecrets(s, db, password);
  }

  outage.End();
  EXPECT_TRUE(WaitFor([&] { return store->ReadTreeState().ok(); }, 10000));
  EXPECT_EQ(store->ReadTreeState()->size, 2u);
  const Status appended = AppendEvents(store, "s", 1);
  ASSERT_TRUE(appended.ok()) << appended.ToString();
  EXPECT_EQ(*store->ReadRecord(2), testing::TestRecord(2));
  EXPECT_TRUE(WaitFor([&] { return heard.Resyncs() > 0; }));
  // The listener listens again: another node's commit is heard.
  auto other = OpenPg(PgOpts(db));
  ASSERT_NE(other, nullptr);
  ASSERT_TRUE(AppendEvents(other.get(), "s", 1).ok());
  EXPECT_TRUE(WaitFor([&] { return heard.HeardCommit(4); }));
}

// Fills the store's pool with `count` open connections: writers waiting on each other's lock
// each hold one.
void WarmPool(LogStore* store, size_t count) {
  auto first = MustBegin(store, 0);
  ASSERT_NE(first, nullptr);
  std::vector<std::future<bool>> waiting;
  for (size_t i = 1; i < count; ++i) {
    waiting.push_back(std::async(std::launch::async, [store] {
      Result<std::unique_ptr<CommitWriter>> w = store->BeginCommit(0);
      return w.ok();
    }));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // all are connected and waiting
  first.reset();
  for (auto& w : waiting) {
    ASSERT_TRUE(ReadyWithin(w, 10000));
    EXPECT_TRUE(w.get());
  }
}

TEST(PgOutageTest, RestartBetweenCallsIsInvisibleToTheNextCall) {
  const std::string db = PgServer().CreateDatabase();
  PgOptions options = PgOpts(db);
  options.listen = false;
  auto store = OpenPg(options);
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(AppendEvents(store.get(), "s", 1).ok());

  WarmPool(store.get(), options.pool_connections_max);
  { ServerOutage outage; }  // every pooled connection is now dead
  Result<TreeState> state = store->ReadTreeState();  // retried on a fresh connection
  ASSERT_TRUE(state.ok()) << state.status().ToString();
  EXPECT_EQ(state->size, 1u);

  WarmPool(store.get(), options.pool_connections_max);
  { ServerOutage outage; }
  const Status appended = AppendEvents(store.get(), "s", 1);
  ASSERT_TRUE(appended.ok()) << appended.ToString();
  EXPECT_EQ(store->ReadTreeState()->size, 2u);
}

// ---------------------------------------------------------------- commits in doubt

// A store whose connections run through a TcpProxy, and whose commits sleep inside COMMIT (a
// deferred constraint trigger), so that a test can cut a connection or end its backend while
// the COMMIT runs: the writer must then find out what happened and say it truthfully.
class PgInDoubtTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = PgServer().CreateDatabase();
    proxy_ = std::make_unique<testing::TcpProxy>(PgServer().port());
    PgOptions options = PgOpts("host=127.0.0.1 port=" + std::to_string(proxy_->port()) +
                               " dbname=" + testing::DbName(db_) + " user=postgres");
    options.listen = false;
    store_ = OpenPg(options);
    ASSERT_NE(store_, nullptr);
    ASSERT_TRUE(AppendEvents(store_.get(), "s", 1).ok());
    Sql(db_, "CREATE FUNCTION cairn_test_slow_commit() RETURNS trigger LANGUAGE plpgsql AS "
             "$$ BEGIN PERFORM pg_sleep(1.5); RETURN NULL; END $$");
    Sql(db_, "CREATE CONSTRAINT TRIGGER cairn_test_slow_commit AFTER UPDATE ON cairn_tree "
             "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION cairn_test_slow_commit()");
  }

  // Starts committing record 1 on another thread; returns once its COMMIT runs (or after 5 s).
  std::future<Status> CommitUntilInsideCommit() {
    std::shared_ptr<CommitWriter> writer = MustBegin(store_.get(), 1);
    if (writer == nullptr) return std::async(std::launch::deferred, [] { return Status::Internal("no writer"); });
    writer->PutRecord(1, "in doubt");
    writer->PutStreamIndex("s", 1, 1);
    writer->PutTreeState(TreeState{2, "r2"});
    auto commit = std::async(std::launch::async, [writer] { return writer->Commit(); });
    EXPECT_TRUE(WaitFor([&] { return !CommittingBackend().empty(); }));
    return commit;
  }

  std::string CommittingBackend() {
    return Sql(db_, "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND "
                    "state = 'active' AND query = 'COMMIT' LIMIT 1");
  }

  std::string db_;
  std::unique_ptr<testing::TcpProxy> proxy_;
  std::unique_ptr<LogStore> store_;
};

TEST_F(PgInDoubtTest, CutDuringACommitThatLandsIsReportedCommitted) {
  auto commit = CommitUntilInsideCommit();
  proxy_->CutAll();  // the server goes on and commits; the client only sees the cut
  ASSERT_TRUE(ReadyWithin(commit, 30000));
  const Status s = commit.get();
  EXPECT_TRUE(s.ok()) << s.ToString();
  ASSERT_TRUE(WaitFor([&] { return CommittingBackend().empty(); }));
  EXPECT_EQ(*store_->ReadRecord(1), "in doubt");
  EXPECT_EQ(store_->ReadTreeState()->size, 2u);
}

TEST_F(PgInDoubtTest, BackendEndedDuringCommitIsReportedNotWritten) {
  auto commit = CommitUntilInsideCommit();
  const std::string pid = CommittingBackend();
  ASSERT_FALSE(pid.empty());
  Sql(db_, "SELECT pg_terminate_backend(" + pid + ")");  // the transaction aborts
  ASSERT_TRUE(ReadyWithin(commit, 30000));
  const Status s = commit.get();
  EXPECT_EQ(s.code(), StatusCode::kUnavailable) << s.ToString();
  EXPECT_EQ(store_->ReadRecord(1).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->ReadTreeState()->size, 1u);
}

// The connection is cut while the durability barrier after an (asynchronous) COMMIT runs: the
// commit is there, and the writer must say so once a barrier on a fresh connection made it durable.
TEST_F(PgInDoubtTest, CutDuringTheDurabilityWaitIsResolvedAsCommittedAndDurable) {
  Sql(db_, "DROP TRIGGER cairn_test_slow_commit ON cairn_tree");
  BarrierGate gate(db_);
  const PgCommitStats before = *PgCommitStatsOf(store_.get());
  std::shared_ptr<CommitWriter> writer = MustBegin(store_.get(), 1);
  ASSERT_NE(writer, nullptr);
  writer->PutRecord(1, "in doubt");
  writer->PutStreamIndex("s", 1, 1);
  writer->PutTreeState(TreeState{2, "r2"});
  auto commit = std::async(std::launch::async, [writer] { return writer->Commit(); });
  ASSERT_TRUE(WaitForABarrier(db_));
  proxy_->CutAll();  // the barrier waits at the gate: it cannot have finished
  gate.Release();
  ASSERT_TRUE(ReadyWithin(commit, 30000));
  const Status s = commit.get();
  EXPECT_TRUE(s.ok()) << s.ToString();
  // Resolved by reading the log back, then a barrier on the fresh connection that read it.
  const PgCommitStats after = *PgCommitStatsOf(store_.get());
  EXPECT_EQ(after.in_doubt, before.in_doubt + 1);
  EXPECT_EQ(after.barriers, before.barriers + 1);
  EXPECT_EQ(*store_->ReadRecord(1), "in doubt");
  EXPECT_EQ(store_->ReadTreeState()->size, 2u);
}

// ---------------------------------------------------------------- 8. password file

TEST(PgPasswordTest, FileReadableByOthersIsRefused) {
  const std::string password = "world-readable-pw-7d2a";
  TempDir dir;
  PgOptions options = PgOpts(PgServer().CreateDatabase());
  options.password_file = WritePasswordFile(dir, password, 0644);
  Result<std::unique_ptr<LogStore>> store = OpenPgLogStore(options);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), StatusCode::kPermissionDenied);
  ExpectNoSecrets(store.status(), options.conninfo, password);

  options.password_file = dir.Sub("missing");
  EXPECT_FALSE(OpenPgLogStore(options).ok());
  const std::string link = dir.Sub("link");
  ASSERT_EQ(::chmod(dir.Sub("pgpass").c_str(), 0600), 0);
  ASSERT_EQ(::symlink(dir.Sub("pgpass").c_str(), link.c_str()), 0);
  options.password_file = link;
  EXPECT_FALSE(OpenPgLogStore(options).ok());  // a symlink could point anywhere
}

TEST(PgPasswordTest, PrivateFileIsUsedInBothConninfoForms) {
  // Quotes, a backslash and a space: the password must survive quoting into the conninfo, or
  // the connection string breaks and the open fails.
  StoreWithPassword node("p'a\\ss w\"rd%&?=");
  ASSERT_NE(node.store, nullptr);
  ASSERT_TRUE(AppendEvents(node.store.get(), "s", 1).ok());

  PgOptions options = node.options;
  options.conninfo = "postgresql://postgres@127.0.0.1:" + std::to_string(PgServer().port()) +
                     "/" + testing::DbName(node.db);
  auto by_uri = OpenPg(options);
  ASSERT_NE(by_uri, nullptr);
  EXPECT_EQ(by_uri->ReadTreeState()->size, 1u);
}

TEST(PgPasswordTest, FailedConnectNamesNeitherPasswordNorConninfo) {
  const std::string password = "closed-port-pw-93be";
  TempDir dir;
  // Port 1 of loopback: privileged, nothing listens there.
  PgOptions options = PgOpts("host=127.0.0.1 port=1 dbname=cairn_test_nowhere user=postgres");
  options.password_file = WritePasswordFile(dir, password, 0600);
  Result<std::unique_ptr<LogStore>> store = OpenPgLogStore(options);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), StatusCode::kUnavailable) << store.status().ToString();
  ExpectNoSecrets(store.status(), options.conninfo, password);
}

}  // namespace
}  // namespace cairn::storage
