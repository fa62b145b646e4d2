// Helpers for the PostgreSQL backend tests: a fresh database per test on the shared throw-away
// server (tests/pg/pg_test_server.h), opening stores on it, raw SQL for what the store itself
// refuses to write, and bounded waits for other threads.
#pragma once

#include <gtest/gtest.h>

#include <pqxx/connection>
#include <pqxx/nontransaction>
#include <pqxx/result>

#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <string>
#include <thread>

#include "pg/pg_test_server.h"
#include "storage/log_store.h"
#include "storage/postgres/pg_log_store.h"

namespace cairn::storage::testing {

inline cairn::testing::PgTestServer& PgServer() { return cairn::testing::PgTestServer::Shared(); }

// Options for a store on `conninfo`: a small pool and short backoffs, so outages resolve quickly.
inline PgOptions PgOpts(const std::string& conninfo) {
  PgOptions options;
  options.conninfo = conninfo;
  options.pool_connections_max = 4;
  options.connect_timeout_ms = 2000;
  options.acquire_timeout_ms = 5000;
  options.backoff_ms_min = 20;
  options.backoff_ms_max = 200;
  options.statement_timeout_ms = 10000;
  return options;
}

inline std::unique_ptr<LogStore> OpenPg(const PgOptions& options) {
  Result<std::unique_ptr<LogStore>> store = OpenPgLogStore(options);
  EXPECT_TRUE(store.ok()) << store.status().ToString();
  if (!store.ok()) return nullptr;
  return std::move(store).value();
}

// The dbname of a key=value connection string (as PgTestServer::CreateDatabase returns).
inline std::string DbName(const std::string& conninfo) {
  const size_t at = conninfo.find("dbname=") + 7;
  return conninfo.substr(at, conninfo.find(' ', at) - at);
}

// Runs one SQL statement on `conninfo` outside the store; returns the first column of the first
// row as text ("" when there is none).
inline std::string Sql(const std::string& conninfo, const std::string& statement) {
  pqxx::connection conn(conninfo);
  pqxx::nontransaction tx(conn);
  const pqxx::result r = tx.exec(statement);
  if (r.empty() || r[0].empty() || r[0][0].is_null()) return "";
  return r[0][0].c_str();
}

// Polls `done` every 10 ms until it holds or `timeout_ms` passed; returns its last value.
inline bool WaitFor(const std::function<bool()>& done, int64_t timeout_ms = 5000) {
  for (int64_t waited_ms = 0; waited_ms < timeout_ms; waited_ms += 10) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return done();
}

// True when `future` becomes ready within `timeout_ms` (a call that hangs fails the test).
template <typename T>
bool ReadyWithin(std::future<T>& future, int64_t timeout_ms) {
  return future.wait_for(std::chrono::milliseconds(timeout_ms)) == std::future_status::ready;
}

// Two stores on one fresh database: two cairn nodes sharing one log.
class TwoPgStoresTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = PgServer().CreateDatabase();
    a_ = OpenPg(PgOpts(db_));
    b_ = OpenPg(PgOpts(db_));
    ASSERT_NE(a_, nullptr);
    ASSERT_NE(b_, nullptr);
  }

  std::string db_;
  std::unique_ptr<LogStore> a_, b_;
};

}  // namespace cairn::storage::testing
