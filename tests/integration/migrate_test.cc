// `cairn migrate` end to end: a RocksDB data directory (protected events, a forgotten subject, a
// checkpoint, enough events for several copy chunks) copied by the real binary into a fresh
// PostgreSQL database (tests/pg/pg_test_server.h); the copy reads back equal through the engine,
// protected fields still decrypt, the forgotten subject stays erased, and it takes appends. A
// second migrate into the same database, a target with remains of an interrupted copy, a DSN
// with a password and a tampered source are all refused.
#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include <memory>
#include <string>
#include <vector>

#include "cli/migrate_copy.h"
#include "common/bytes.h"
#include "engine/data_dir.h"
#include "engine/event_store.h"
#include "pg/pg_test_server.h"
#include "server_env.h"
#include "storage/postgres/pg_log_store.h"
#include "storage/postgres/pg_schema.h"
#include "storage/rocksdb/rocks_log_store.h"
#include "storage/rocksdb/rocks_test_hooks.h"
#include "test_util.h"
#include "unit/engine/customer_rules.h"

namespace cairn::testing {
namespace CAIRN_UNITY_ID {

constexpr uint64_t kOrderEvents = 2100;  // more than one copy chunk (kCopyChunkRecordsMax)
constexpr uint64_t kOrderBatch = 300;

engine::ProposedEvent CustomerEvent(const std::string& id) {
  engine::ProposedEvent e;
  e.event_type = "CustomerRegistered";
  e.data = engine::Customer(id);
  return e;
}

engine::ProposedEvent Order(uint64_t n) {
  engine::ProposedEvent e;
  e.event_type = "OrderPlaced";
  e.data = R"({"n":)" + std::to_string(n) + "}";
  e.metadata = R"({"trace":"t)" + std::to_string(n) + R"("})";
  return e;
}

class MigrateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    WriteFile(rules_, engine::kCustomerRules);
    engine::InitOptions init;
    init.data_dir = data_;
    init.origin = "test.cairn/migrate";
    ASSERT_TRUE(engine::EventStore::Init(init).ok());
  }

  engine::Options Opts(std::optional<storage::PgOptions> pg = std::nullopt) const {
    engine::Options o;
    o.data_dir = data_;
    o.protect_rules_file = rules_;
    o.postgres = std::move(pg);
    return o;
  }

  // Fills the source: customers (protected), orders over several streams, a deleted stream, a
  // forgotten subject (bob), a checkpoint. Returns the checkpoint's root in hex.
  std::string FillSource(uint64_t orders) {
    auto store = engine::EventStore::Open(Opts());
    EXPECT_TRUE(store.ok()) << store.status().message();
    if (!store.ok()) return "";
    for (const char* id : {"alice", "bob"}) {
      EXPECT_TRUE((*store)
                      ->Append(std::string("customer-") + id, engine::ExpectedVersion::NoStream(),
                               {CustomerEvent(id)})
                      .ok());
    }
    for (uint64_t n = 0; n < orders; n += kOrderBatch) {
      std::vector<engine::ProposedEvent> batch;
      for (uint64_t i = n; i < std::min(orders, n + kOrderBatch); ++i) batch.push_back(Order(i));
      const std::string stream = "order-" + std::to_string((n / kOrderBatch) % 3);
      auto appended = (*store)->Append(stream, engine::ExpectedVersion::Any(), std::move(batch));
      EXPECT_TRUE(appended.ok()) << appended.status().message();
    }
    EXPECT_TRUE((*store)->Append("scratch", engine::ExpectedVersion::Any(), {Order(0)}).ok());
    EXPECT_TRUE((*store)->DeleteStream("scratch", engine::ExpectedVersion::Any()).ok());
    EXPECT_TRUE((*store)->Forget("bob").ok());
    auto checkpoint = (*store)->Checkpoint();
    EXPECT_TRUE(checkpoint.ok());
    source_events_ = *(*store)->ReadAll(0, 100000);
    return checkpoint.ok() ? HexEncode(checkpoint->root) : "";
  }

  CommandResult Migrate(const std::string& conninfo, std::vector<std::string> extra = {}) const {
    std::vector<std::string> args = {"migrate", "--from-data-dir", data_, "--to-postgres",
                                     conninfo};
    args.insert(args.end(), extra.begin(), extra.end());
    return RunCairn(args);
  }

  static storage::PgOptions Pg(const std::string& conninfo) {
    storage::PgOptions pg;
    pg.conninfo = conninfo;
    pg.listen = false;
    return pg;
  }

  TempDir dir_;
  const std::string data_ = dir_.Sub("data");
  const std::string rules_ = dir_.Sub("protect.toml");
  std::vector<engine::RecordedEvent> source_events_;
};

TEST_F(MigrateTest, CopiesEveryEventAndProvesTheCheckpointRoot) {
  const std::string root = FillSource(kOrderEvents);
  ASSERT_FALSE(root.empty());
  const std::string conninfo = PgTestServer::Shared().CreateDatabase();
  CommandResult r = Migrate(conninfo);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("verified"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(root), std::string::npos) << r.out;
  const std::string copied = "copied " + std::to_string(source_events_.size()) + " records";
  EXPECT_NE(r.out.find(copied), std::string::npos) << r.out;

  auto copy = engine::EventStore::Open(Opts(Pg(conninfo)));
  ASSERT_TRUE(copy.ok()) << copy.status().message();
  ASSERT_EQ((*copy)->tree_size(), source_events_.size());
  auto events = (*copy)->ReadAll(0, 100000);
  ASSERT_TRUE(events.ok());
  ASSERT_EQ(events->size(), source_events_.size());
  for (size_t i = 0; i < events->size(); ++i) {
    EXPECT_EQ((*events)[i].entry, source_events_[i].entry) << i;
    EXPECT_EQ((*events)[i].data, source_events_[i].data) << i;
    EXPECT_EQ((*events)[i].metadata, source_events_[i].metadata) << i;
    EXPECT_EQ((*events)[i].leaf_hash, source_events_[i].leaf_hash) << i;
  }
  auto alice = (*copy)->ReadStream("customer-alice", 0, engine::Direction::kForwards, 1);
  ASSERT_TRUE(alice.ok());
  auto revealed = (*copy)->Reveal(alice->events.at(0), /*may_read_pii=*/true);
  ASSERT_TRUE(revealed.ok()) << revealed.status().message();
  EXPECT_NE(revealed->data.find("alice@example.com"), std::string::npos) << revealed->data;
  auto bob = (*copy)->ReadStream("customer-bob", 0, engine::Direction::kForwards, 1);
  ASSERT_TRUE(bob.ok());
  auto erased = (*copy)->Reveal(bob->events.at(0), /*may_read_pii=*/true);
  ASSERT_TRUE(erased.ok()) << erased.status().message();
  EXPECT_FALSE(erased->erased.empty());
  EXPECT_EQ(erased->data.find("bob@example.com"), std::string::npos) << erased->data;
  auto deleted = (*copy)->ReadStream("scratch", 0, engine::Direction::kForwards, 10);
  EXPECT_EQ(deleted.status().code(), StatusCode::kStreamDeleted);
  auto order0 = (*copy)->GetStreamInfo("order-0");
  ASSERT_TRUE(order0.ok());

  // The copy is a working log: it takes appends after the copied positions and verifies.
  auto appended = (*copy)->Append("order-0", engine::ExpectedVersion::Any(), {Order(9999)});
  ASSERT_TRUE(appended.ok()) << appended.status().message();
  EXPECT_EQ(appended->first_position, source_events_.size());
  EXPECT_TRUE((*copy)->Verify().ok);
  copy->reset();

  CommandResult again = Migrate(conninfo);
  EXPECT_NE(again.exit_code, 0);
  EXPECT_NE(again.err.find("already holds a cairn log"), std::string::npos) << again.err;
  auto still = engine::EventStore::Open(Opts(Pg(conninfo)));  // the refusal dropped nothing
  ASSERT_TRUE(still.ok()) << still.status().message();
  EXPECT_EQ((*still)->tree_size(), source_events_.size() + 1);
}

TEST_F(MigrateTest, RefusesATargetWithRemainsOfAnInterruptedCopy) {
  ASSERT_FALSE(FillSource(3).empty());
  const std::string conninfo = PgTestServer::Shared().CreateDatabase();
  {
    auto target = storage::OpenPgLogStore(Pg(conninfo));
    ASSERT_TRUE(target.ok());
    ASSERT_TRUE((*target)->PutMeta("origin", "test.cairn/migrate").ok());  // no "initialized"
  }
  CommandResult r = Migrate(conninfo);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("no complete log"), std::string::npos) << r.err;
  auto target = storage::OpenPgLogStore(Pg(conninfo));  // left as it was: not dropped
  ASSERT_TRUE(target.ok());
  auto origin = (*target)->ReadMeta("origin");
  ASSERT_TRUE(origin.ok());
  EXPECT_EQ(origin->value_or(""), "test.cairn/migrate");
}

TEST_F(MigrateTest, RefusesADsnWithAPasswordWithoutPrintingItAndPlainTextOffLoopback) {
  ASSERT_FALSE(FillSource(3).empty());
  const std::string conninfo = PgTestServer::Shared().CreateDatabase() + " password=hunter2-secret";
  CommandResult r = Migrate(conninfo);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("password"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("hunter2-secret"), std::string::npos) << r.err;
  EXPECT_EQ(r.out.find("hunter2-secret"), std::string::npos) << r.out;

  CommandResult remote = Migrate("host=db.example.com dbname=cairn user=cairn");  // never reached
  EXPECT_NE(remote.exit_code, 0);
  EXPECT_NE(remote.err.find("without TLS; set --postgres-sslmode verify-full"), std::string::npos)
      << remote.err;
}

TEST_F(MigrateTest, RefusesADataDirectoryInUseAndLeavesTheTargetEmpty) {
  ASSERT_FALSE(FillSource(3).empty());
  auto lock = engine::DataDirLock::Acquire(engine::DataDirPaths(data_), /*create=*/false);
  ASSERT_TRUE(lock.ok());  // as a running server holds it
  const std::string conninfo = PgTestServer::Shared().CreateDatabase();
  CommandResult r = Migrate(conninfo);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("in use by another cairn process"), std::string::npos) << r.err;
  auto target = storage::OpenPgLogStore(Pg(conninfo));
  ASSERT_TRUE(target.ok());
  EXPECT_TRUE(cli::CheckTargetEmpty(**target).ok());  // a later migrate may use it
}

// Offline commands on a PostgreSQL log (the data directory's cairn.toml names it) never migrate
// its schema: a newer `cairn read` run against a shared database would otherwise change the
// schema under the nodes that serve it. Only `cairn serve` and `cairn init` migrate.
TEST_F(MigrateTest, AnOfflineCommandDoesNotMigrateAnOlderSchema) {
  const std::string conninfo = PgTestServer::Shared().CreateDatabase();
  {
    pqxx::connection conn(conninfo);
    ASSERT_TRUE(storage::pg::Migrate(conn, storage::pg::kSchemaVersion - 1).ok());
  }
  WriteFile(data_ + "/cairn.toml", PostgresStorageToml(conninfo));
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"read", "s", "--data-dir", data_},
        std::vector<std::string>{"append", "s", "--type", "T", "--data", "{}", "--data-dir", data_}}) {
    CommandResult r = RunCairn(args);
    EXPECT_NE(r.exit_code, 0) << args[0];
    EXPECT_NE(r.err.find("older than this cairn"), std::string::npos) << args[0] << ": " << r.err;
  }
  pqxx::connection conn(conninfo);
  pqxx::nontransaction tx(conn);
  EXPECT_EQ(tx.exec("SELECT max(version) FROM cairn_schema_migrations")[0][0].as<int>(),
            storage::pg::kSchemaVersion - 1);
}

TEST_F(MigrateTest, ATamperedSourceFailsVerificationAndLeavesNoLog) {
  ASSERT_FALSE(FillSource(50).empty());
  {
    storage::RocksOptions ro;
    ro.path = data_ + "/db";
    auto source = storage::OpenRocksLogStore(ro);
    ASSERT_TRUE(source.ok());
    auto record = (*source)->ReadRecord(10);
    ASSERT_TRUE(record.ok());
    std::string flipped = *record;
    flipped[flipped.size() / 2] ^= 0x01;
    ASSERT_TRUE(storage::RawPutRecordForTest(source->get(), 10, flipped).ok());
  }
  const std::string conninfo = PgTestServer::Shared().CreateDatabase();
  CommandResult r = Migrate(conninfo);
  EXPECT_NE(r.exit_code, 0) << r.out;
  EXPECT_NE(r.err.find("FAILED"), std::string::npos) << r.err;
  EXPECT_EQ(r.out.find("verified"), std::string::npos) << r.out;
  auto target = storage::OpenPgLogStore(Pg(conninfo));  // the unproven copy was removed
  ASSERT_TRUE(target.ok());
  auto initialized = (*target)->ReadMeta(std::string(cli::kMetaInitialized));
  ASSERT_TRUE(initialized.ok());
  EXPECT_FALSE(initialized->has_value());
  auto tree = (*target)->ReadTreeState();
  ASSERT_TRUE(tree.ok());
  EXPECT_EQ(tree->size, 0u);
}

}  // namespace
}  // namespace cairn::testing
