// Shared fixture for engine tests: a fresh initialised data directory per test.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/event_store.h"
#include "pg/pg_test_server.h"
#include "test_util.h"

namespace cairn::engine {

inline ProposedEvent Ev(std::string type, std::string data, std::string id = "") {
  ProposedEvent e;
  e.event_type = std::move(type);
  e.data = std::move(data);
  e.event_id = std::move(id);
  return e;
}

inline std::vector<ProposedEvent> One(std::string type, std::string data) {
  std::vector<ProposedEvent> v;
  v.push_back(Ev(std::move(type), std::move(data)));
  return v;
}

// The storage backends the engine's tests run against.
enum class Backend { kRocksDb, kPostgres };

inline std::string BackendName(const ::testing::TestParamInfo<Backend>& info) {
  return info.param == Backend::kPostgres ? "postgres" : "rocksdb";
}

// PostgreSQL options for a fresh database of the test binary's shared server.
inline storage::PgOptions FreshPgDatabase() {
  storage::PgOptions o;
  o.conninfo = testing::PgTestServer::Shared().CreateDatabase();
  o.pool_connections_max = 4;
  return o;
}

// Every key of the store, through the paged listing.
inline Result<std::vector<KeyInfo>> AllKeys(EventStore& store) {
  std::vector<KeyInfo> all;
  std::string token;
  do {
    CAIRN_ASSIGN_OR_RETURN(KeyPage page, store.ListKeys(token, kKeyPageKeysMax));
    for (KeyInfo& k : page.keys) all.push_back(std::move(k));
    token = std::move(page.next_page_token);
  } while (!token.empty());
  return all;
}

// The fixture runs on RocksDB; OnBothBackends<Fixture> (below) runs it on both backends.
class EngineTest : public ::testing::Test {
 protected:
  virtual Backend backend() const { return Backend::kRocksDb; }
  void SetUp() override {
    dir_ = tmp_.Sub("data");
    if (backend() == Backend::kPostgres) pg_ = FreshPgDatabase();
    InitOptions init;
    init.data_dir = dir_;
    init.origin = "test.example/log";
    init.postgres = pg_;
    ASSERT_TRUE(EventStore::Init(init).ok());
    Reopen();
  }
  void Reopen(Options o = {}) {
    store_.reset();
    o.data_dir = dir_;
    o.postgres = pg_;
    auto s = EventStore::Open(o);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(s).value();
  }
  void Close() { store_.reset(); }
  // Reopens with the protection rules `rules_toml` (written to a file of the test's own).
  void ReopenProtected(const std::string& rules_toml, Options o = {}) {
    testing::WriteFile(tmp_.Sub("protect.toml"), rules_toml);
    o.protect_rules_file = tmp_.Sub("protect.toml");
    Reopen(std::move(o));
  }

  testing::TempDir tmp_;
  std::string dir_;
  std::optional<storage::PgOptions> pg_;  // set on the postgres backend
  std::unique_ptr<EventStore> store_;
};

// Runs a fixture's TEST_Ps on RocksDB and on PostgreSQL (a fresh database per test); each file
// instantiates its suites with CAIRN_ON_BOTH_BACKENDS.
template <class Fixture>
class OnBothBackends : public Fixture, public ::testing::WithParamInterface<Backend> {
 protected:
  Backend backend() const override { return this->GetParam(); }
};
using EngineBackendTest = OnBothBackends<EngineTest>;

#define CAIRN_ON_BOTH_BACKENDS(Suite)                                                       \
  INSTANTIATE_TEST_SUITE_P(Backends, Suite,                                                 \
                           ::testing::Values(Backend::kRocksDb, Backend::kPostgres),        \
                           BackendName)

}  // namespace cairn::engine
