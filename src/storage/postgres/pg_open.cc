// OpenPgLogStore: the connection string (sslmode, password, timeouts added), migrations, and
// the listener thread.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <pqxx/connection>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cerrno>
#include <cstring>

#include "common/thread_name.h"
#include "storage/postgres/pg_log_store.h"
#include "storage/postgres/pg_schema.h"
#include "storage/postgres/pg_store.h"

namespace cairn::storage {

namespace {

bool IsUri(std::string_view s) {
  return s.rfind("postgresql://", 0) == 0 || s.rfind("postgres://", 0) == 0;
}

std::string QuoteValue(std::string_view v) {
  std::string out = "'";
  for (char c : v) {
    if (c == '\'' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  return out + "'";
}

std::string PercentEncode(std::string_view v) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : v) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

// Appends key=value settings to a key=value string or a URI's query.
void AddSetting(std::string* conninfo, std::string_view key, std::string_view value) {
  if (IsUri(*conninfo)) {
    *conninfo += conninfo->find('?') == std::string::npos ? '?' : '&';
    *conninfo += std::string(key) + "=" + PercentEncode(value);
  } else {
    *conninfo += " " + std::string(key) + "=" + QuoteValue(value);
  }
}

Result<std::string> ReadPasswordFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) return Status::NotFound("cannot open the PostgreSQL password file " + path + ": " + std::strerror(errno));
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (st.st_mode & 077) != 0) {
    ::close(fd);
    return Status::PermissionDenied("the PostgreSQL password file " + path +
                                    " must be a regular file readable by its owner only (chmod 600)");
  }
  std::string out(4096, '\0');
  const ssize_t n = ::read(fd, out.data(), out.size());
  ::close(fd);
  if (n < 0) return Status::IOError("cannot read the PostgreSQL password file " + path);
  out.resize(static_cast<size_t>(n));
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  if (out.empty()) return Status::InvalidArgument("the PostgreSQL password file " + path + " is empty");
  return out;
}

Status CheckOptions(const PgOptions& o) {
  if (o.pool_connections_max < 2 || o.pool_connections_max > 256) {
    return Status::InvalidArgument("the PostgreSQL pool needs 2..256 connections");
  }
  if (o.connect_timeout_ms <= 0 || o.acquire_timeout_ms <= 0 || o.statement_timeout_ms < 0) {
    return Status::InvalidArgument(
        "PostgreSQL connect and acquire timeouts must be positive, the statement timeout >= 0");
  }
  if (o.backoff_ms_min <= 0 || o.backoff_ms_max < o.backoff_ms_min) {
    return Status::InvalidArgument("PostgreSQL reconnect backoff needs 0 < min <= max");
  }
  if (o.key_purge_wait_ms_max < 0 || o.key_purge_wait_ms_max > 600000 ||
      o.key_purge_no_wait_ms < 0 || o.key_purge_retry_ms <= 0 || o.key_purge_poll_ms <= 0) {
    return Status::InvalidArgument(
        "PostgreSQL key purge wait must be 0..600000 ms, its no-wait window >= 0 and its retry "
        "and poll intervals positive");
  }
  static const char* const kSslModes[] = {"", "disable", "allow", "prefer", "require", "verify-ca",
                                          "verify-full"};
  if (std::find(std::begin(kSslModes), std::end(kSslModes), o.sslmode) == std::end(kSslModes)) {
    return Status::InvalidArgument("unknown PostgreSQL sslmode \"" + o.sslmode +
                                   "\" (disable, allow, prefer, require, verify-ca, verify-full)");
  }
  return Status::Ok();
}

Result<std::string> BuildConninfo(const PgOptions& o) {
  CAIRN_RETURN_IF_ERROR(CheckOptions(o));
  std::string conninfo = o.conninfo;
  if (!o.sslmode.empty()) AddSetting(&conninfo, "sslmode", o.sslmode);
  AddSetting(&conninfo, "connect_timeout", std::to_string(std::max<int64_t>(1, (o.connect_timeout_ms + 999) / 1000)));
  AddSetting(&conninfo, "application_name", "cairn");
  // A silently dead connection (a black-holed route, a moved address) is noticed within about
  // 40 s, not the OS default of 11 minutes: the listener then resyncs (forgotten keys, commits).
  AddSetting(&conninfo, "keepalives_idle", "10");
  AddSetting(&conninfo, "keepalives_interval", "5");
  AddSetting(&conninfo, "keepalives_count", "6");
  AddSetting(&conninfo, "tcp_user_timeout", "40000");
  if (!o.password_file.empty()) {
    CAIRN_ASSIGN_OR_RETURN(std::string password, ReadPasswordFile(o.password_file));
    AddSetting(&conninfo, "password", password);
  }
  return conninfo;
}

}  // namespace

Result<std::unique_ptr<LogStore>> OpenPgLogStore(const PgOptions& options) {
  CAIRN_ASSIGN_OR_RETURN(std::string conninfo, BuildConninfo(options));
  auto store = std::make_unique<pg::PgLogStore>(options, std::move(conninfo));
  CAIRN_RETURN_IF_ERROR(store->Start());
  return std::unique_ptr<LogStore>(std::move(store));
}

Status DropPgSchemaForTest(const PgOptions& options) {
  CAIRN_ASSIGN_OR_RETURN(std::string conninfo, BuildConninfo(options));
  CAIRN_ASSIGN_OR_RETURN(auto conn, pg::Connect(conninfo));
  return pg::DropSchema(*conn);
}

namespace pg {

Status PgLogStore::Start() {
  {
    CAIRN_ASSIGN_OR_RETURN(PgPool::Lease lease, pool_->Acquire());
    Status migrated = options_.read_only || !options_.migrate ? CheckSchemaCurrent(lease.conn())
                                                               : Migrate(lease.conn());
    if (!migrated.ok()) {
      lease.Discard();
      return migrated;
    }
  }
  if (options_.read_only) return Status::Ok();  // reads only: no purger, no listener
  CheckKeyPurgePrivilege();
  purger_thread_ = std::thread([this] {
    SetCurrentThreadName("cairn-pg-purge");
    RunPurger();
  });
  if (options_.listen) {
    listener_thread_ = std::thread([this] {
      SetCurrentThreadName("cairn-pg-listen");
      RunListener();
    });
    // Bounded: one connection attempt (connect_timeout_ms) plus LISTEN.
    std::unique_lock<std::mutex> lock(first_attempt_mu_);
    first_attempt_cv_.wait_for(lock, std::chrono::milliseconds(options_.connect_timeout_ms + 5000),
                               [this] { return first_attempt_done_; });
  }
  return Status::Ok();
}

PgLogStore::~PgLogStore() {
  {
    std::lock_guard<std::mutex> lock(purge_mu_);  // the purger is not between check and wait
    stopping_.store(true);
  }
  purge_cv_.notify_all();
  if (purger_thread_.joinable()) purger_thread_.join();
  if (listener_thread_.joinable()) listener_thread_.join();
}

}  // namespace pg
}  // namespace cairn::storage
