// PgPool: a bounded pool of PostgreSQL connections with backoff between failed connects.
//
// At most `connections_max` connections exist; Acquire() hands one to one caller (a Lease) and
// waits up to acquire_timeout_ms when all are busy (kUnavailable after that). New connections are
// opened on demand; after a failed attempt no new attempt is made before a backoff that doubles
// from backoff_ms_min to backoff_ms_max, and Acquire() fails at once with kUnavailable meanwhile,
// so callers never queue behind a dead server. A lease whose connection broke is Discard()ed and
// the connection replaced at a later Acquire(). `on_connect` runs on every new connection
// (session settings, prepared statements); an exception there fails the connect.
//
// Thread safety: Acquire() from any thread; a Lease is used by one thread at a time.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <pqxx/connection>

#include "common/status.h"


namespace cairn::storage::pg {

struct PoolSettings {
  std::string conninfo;  // complete, with the password: never logged
  size_t connections_max = 8;
  int64_t acquire_timeout_ms = 30000;
  int64_t backoff_ms_min = 50;
  int64_t backoff_ms_max = 2000;
  std::function<void(pqxx::connection&)> on_connect;
};

// Opens one connection; kUnavailable (no server details beyond libpq's reason class) on failure.
Result<std::unique_ptr<pqxx::connection>> Connect(const std::string& conninfo);

class PgPool {
 public:
  class Lease {
   public:
    Lease(Lease&& other) noexcept;
    Lease& operator=(Lease&&) = delete;
    ~Lease();
    pqxx::connection& conn() { return *conn_; }
    // The connection is broken (or in an unknown state): close it instead of reusing it.
    void Discard();

   private:
    friend class PgPool;
    Lease(PgPool* pool, std::unique_ptr<pqxx::connection> conn) : pool_(pool), conn_(std::move(conn)) {}
    PgPool* pool_;
    std::unique_ptr<pqxx::connection> conn_;
  };

  explicit PgPool(PoolSettings settings);
  ~PgPool();
  PgPool(const PgPool&) = delete;
  PgPool& operator=(const PgPool&) = delete;

  Result<Lease> Acquire();
  // Closes every idle connection, so that the next Acquire() opens a fresh one. Called after a
  // connection was lost: a server restart cuts them all, and a retry on another dead one fails.
  void DropIdle();

 private:
  void Return(std::unique_ptr<pqxx::connection> conn);
  void Dropped();
  Result<std::unique_ptr<pqxx::connection>> Open();

  const PoolSettings settings_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<pqxx::connection>> idle_;  // guarded by mu_
  size_t open_ = 0;                                       // idle + leased + connecting
  int64_t backoff_ms_ = 0;                                // 0: the last connect worked
  std::chrono::steady_clock::time_point next_connect_{};  // no attempt before this
};

}  // namespace cairn::storage::pg
