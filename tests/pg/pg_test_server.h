// A throw-away PostgreSQL server for tests, from Debian's `postgresql` package.
//
// Start() runs initdb in a fresh directory under /tmp and starts the server on a free port of
// 127.0.0.1 (trust authentication, loopback only, fsync off: the tests kill cairn, never the
// machine). As root it runs initdb and pg_ctl through `runuser -u postgres` (PostgreSQL refuses
// to run as root). The destructor stops the server and removes the directory. Shared() is one
// server per test binary, started on first use and stopped at exit; tests get a database each
// from CreateDatabase(), so they never see each other's tables.
//
// Thread safety: CreateDatabase() may be called from several threads; Stop/StartAgain not.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <pqxx/connection>
#include <pqxx/nontransaction>
#include <pqxx/transaction>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <string>

namespace cairn::testing {

class PgTestServer {
 public:
  PgTestServer() = default;
  ~PgTestServer() { Destroy(); }
  PgTestServer(const PgTestServer&) = delete;
  PgTestServer& operator=(const PgTestServer&) = delete;

  // The per-binary server; throws std::runtime_error (failing the test) when it cannot start.
  static PgTestServer& Shared() {
    static PgTestServer server;
    static std::once_flag started;
    std::call_once(started, [] { server.Start(); });
    return server;
  }

  void Start() {
    bin_ = FindBinDir();
    char tmpl[] = "/tmp/cairn-pg-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) throw std::runtime_error("mkdtemp failed");
    dir_ = tmpl;
    std::filesystem::permissions(dir_, std::filesystem::perms::all);  // postgres must enter it
    Sh(AsPostgres("mkdir -p " + dir_ + "/data"));
    Sh(AsPostgres(bin_ + "/initdb -D " + dir_ + "/data -A trust -U postgres -E UTF8 --no-sync") +
       " >" + dir_ + "/initdb.log 2>&1");
    for (int attempt = 0;; ++attempt) {
      port_ = FreePort();
      if (StartServer()) break;
      if (attempt == 4) throw std::runtime_error("PostgreSQL did not start: see " + dir_ + "/server.log");
    }
  }

  // Stops the server (fast shutdown: connections are cut, data kept); StartAgain() brings it
  // back on the same port.
  void Stop() { Sh(AsPostgres(bin_ + "/pg_ctl -D " + dir_ + "/data -m fast -w stop") + " >/dev/null 2>&1"); }
  void StartAgain() {
    if (!StartServer()) throw std::runtime_error("PostgreSQL did not restart: see " + dir_ + "/server.log");
  }

  // A new empty database; returns its libpq connection string.
  std::string CreateDatabase() {
    const std::string name = "cairn_test_" + std::to_string(::getpid()) + "_" + std::to_string(++databases_);
    pqxx::connection c(Conninfo("postgres"));
    pqxx::nontransaction tx(c);
    tx.exec("CREATE DATABASE " + name);
    return Conninfo(name);
  }

  std::string Conninfo(const std::string& database) const {
    return "host=127.0.0.1 port=" + std::to_string(port_) + " dbname=" + database + " user=postgres";
  }
  int port() const { return port_; }

 private:
  static std::string FindBinDir() {
    for (const char* v : {"17", "16", "15", "14", "13"}) {
      const std::string dir = std::string("/usr/lib/postgresql/") + v + "/bin";
      if (std::filesystem::exists(dir + "/pg_ctl")) return dir;
    }
    throw std::runtime_error("PostgreSQL server binaries not found (apt-get install postgresql)");
  }

  static int FreePort() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      ::close(fd);
      throw std::runtime_error("no free port");
    }
    ::close(fd);
    return ntohs(a.sin_port);
  }

  static std::string AsPostgres(const std::string& cmd) {
    return ::geteuid() == 0 ? "runuser -u postgres -- " + cmd : cmd;
  }

  static void Sh(const std::string& cmd) {
    if (std::system(cmd.c_str()) != 0) throw std::runtime_error("failed: " + cmd);
  }

  bool StartServer() {
    const std::string opts = "-c listen_addresses=127.0.0.1 -c port=" + std::to_string(port_) +
                             " -c unix_socket_directories=" + dir_ +
                             " -c fsync=off -c full_page_writes=off -c max_connections=400";
    const std::string cmd = AsPostgres(bin_ + "/pg_ctl -D " + dir_ + "/data -l " + dir_ +
                                       "/server.log -w -t 60 -o \"" + opts + "\" start") +
                            " >/dev/null 2>&1";
    return std::system(cmd.c_str()) == 0;
  }

  void Destroy() {
    if (dir_.empty()) return;
    (void)std::system((AsPostgres(bin_ + "/pg_ctl -D " + dir_ + "/data -m immediate -w stop") +
                       " >/dev/null 2>&1").c_str());
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
    dir_.clear();
  }

  std::string bin_, dir_;
  int port_ = 0;
  std::atomic<int> databases_{0};
};

// A repeatable-read transaction on its own connection whose snapshot is taken and that holds no
// lock on cairn's tables: a "long report" older than whatever is deleted after it. Ends at
// End() or destruction.
class OldSnapshot {
 public:
  explicit OldSnapshot(const std::string& conninfo) : conn_(conninfo), tx_(conn_, "old-snapshot") {
    tx_.exec("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ");
    tx_.exec("SELECT 1");
  }
  void End() { tx_.commit(); }

 private:
  pqxx::connection conn_;
  pqxx::work tx_;
};

}  // namespace cairn::testing
