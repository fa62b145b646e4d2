#include "storage/postgres/pg_pool.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <pqxx/connection>
#include <pqxx/except>
#include <pqxx/nontransaction>

#include <cassert>

#include "storage/postgres/pg_errors.h"

namespace cairn::storage::pg {

namespace {

// The address this end of the connection is talking to, as the socket says: AF_UNIX, or a
// loopback one, needs no TLS.
bool PeerIsLocal(int fd) {
  sockaddr_storage peer{};
  socklen_t size = sizeof peer;
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &size) != 0) return false;
  if (peer.ss_family == AF_UNIX) return true;
  if (peer.ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&peer);
    return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
  }
  if (peer.ss_family == AF_INET6) {
    const in6_addr& a = reinterpret_cast<const sockaddr_in6*>(&peer)->sin6_addr;
    if (IN6_IS_ADDR_LOOPBACK(&a)) return true;
    return IN6_IS_ADDR_V4MAPPED(&a) && a.s6_addr[12] == 127;
  }
  return false;
}

// The connection libpq made — whatever PGHOST, PGHOSTADDR, PGSSLMODE or a service file added to
// the configured DSN — is never plaintext to an address off loopback (the configuration check
// sees only the DSN's text).
Status CheckTransport(pqxx::connection& conn) {
  if (PeerIsLocal(conn.sock())) return Status::Ok();
  pqxx::nontransaction tx(conn);
  const pqxx::result r =
      tx.exec("SELECT coalesce((SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()), false)");
  if (r.size() == 1 && r[0][0].as<bool>()) return Status::Ok();
  return Status::FailedPrecondition(
      "the PostgreSQL connection reaches an address off loopback without TLS; set "
      "storage.postgres_sslmode = \"verify-full\" (the environment or a service file may have "
      "changed where the DSN connects)");
}

}  // namespace

Result<std::unique_ptr<pqxx::connection>> Connect(const std::string& conninfo) {
  try {
    auto conn = std::make_unique<pqxx::connection>(conninfo);
    CAIRN_RETURN_IF_ERROR(CheckTransport(*conn));
    return conn;
  } catch (const pqxx::broken_connection&) {
    // libpq's message names the host and port and may quote parts of the connection string.
    return Status::Unavailable("cannot connect to PostgreSQL (server unreachable, refused, or "
                               "authentication or TLS verification failed)");
  } catch (const std::exception& e) {
    return FromException(e, "connecting");
  }
}

PgPool::Lease::Lease(Lease&& other) noexcept
    : pool_(other.pool_), conn_(std::move(other.conn_)) {
  other.pool_ = nullptr;
}

PgPool::Lease::~Lease() {
  if (pool_ == nullptr) return;
  if (conn_ != nullptr && conn_->is_open()) {
    pool_->Return(std::move(conn_));
  } else {
    conn_.reset();
    pool_->Dropped();
  }
}

void PgPool::Lease::Discard() {
  if (pool_ == nullptr || conn_ == nullptr) return;
  conn_.reset();
  pool_->Dropped();
  pool_ = nullptr;
}

PgPool::PgPool(PoolSettings settings) : settings_(std::move(settings)) {
  assert(settings_.connections_max >= 1);
}

PgPool::~PgPool() {
  std::lock_guard<std::mutex> lock(mu_);
  assert(idle_.size() == open_);  // every lease was returned
  idle_.clear();
}

void PgPool::Return(std::unique_ptr<pqxx::connection> conn) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    idle_.push_back(std::move(conn));
  }
  cv_.notify_one();
}

void PgPool::Dropped() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    assert(open_ > 0);
    --open_;
  }
  cv_.notify_one();
}

void PgPool::DropIdle() {
  std::vector<std::unique_ptr<pqxx::connection>> dropped;
  {
    std::lock_guard<std::mutex> lock(mu_);
    assert(open_ >= idle_.size());
    open_ -= idle_.size();
    dropped.swap(idle_);
  }
  dropped.clear();  // closes them outside the lock
  cv_.notify_all();
}

Result<std::unique_ptr<pqxx::connection>> PgPool::Open() {
  CAIRN_ASSIGN_OR_RETURN(std::unique_ptr<pqxx::connection> conn, Connect(settings_.conninfo));
  if (settings_.on_connect) {
    try {
      settings_.on_connect(*conn);
    } catch (const std::exception& e) {
      return FromException(e, "setting up a connection");
    }
  }
  return conn;
}

Result<PgPool::Lease> PgPool::Acquire() {
  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + std::chrono::milliseconds(settings_.acquire_timeout_ms);
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    if (!idle_.empty()) {
      std::unique_ptr<pqxx::connection> conn = std::move(idle_.back());
      idle_.pop_back();
      return Lease(this, std::move(conn));
    }
    if (open_ < settings_.connections_max) {
      const auto now = Clock::now();
      if (backoff_ms_ > 0 && now < next_connect_) {
        const auto wait_ms = std::chrono::duration_cast<std::chrono::milliseconds>(next_connect_ - now).count();
        return Status::Unavailable("PostgreSQL is unavailable; reconnecting (next attempt in " +
                                   std::to_string(wait_ms) + " ms)");
      }
      ++open_;
      lock.unlock();
      Result<std::unique_ptr<pqxx::connection>> conn = Open();
      lock.lock();
      if (!conn.ok()) {
        --open_;
        backoff_ms_ = backoff_ms_ == 0 ? settings_.backoff_ms_min
                                       : std::min(backoff_ms_ * 2, settings_.backoff_ms_max);
        next_connect_ = Clock::now() + std::chrono::milliseconds(backoff_ms_);
        cv_.notify_one();
        return conn.status();
      }
      backoff_ms_ = 0;
      return Lease(this, std::move(conn).value());
    }
    if (cv_.wait_until(lock, deadline) == std::cv_status::timeout && idle_.empty() &&
        open_ >= settings_.connections_max) {
      return Status::Unavailable("all " + std::to_string(settings_.connections_max) +
                                 " PostgreSQL connections stayed busy for " +
                                 std::to_string(settings_.acquire_timeout_ms) + " ms");
    }
  }
}

}  // namespace cairn::storage::pg
