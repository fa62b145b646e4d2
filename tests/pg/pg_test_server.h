// A throw-away PostgreSQL server for tests, from Debian's `postgresql` package.
//
// Start() makes a fresh cluster in a new directory under /tmp and starts it on a free port of
// 127.0.0.1 (trust authentication, loopback only, fsync off: the tests kill cairn, never the
// machine). The cluster is a copy of a template that the first test process on the machine made
// with initdb (/tmp/cairn-pg-template-<uid>-<version>, kept: a copy takes about 0.1 s, initdb
// 1.3 s, and CTest runs every test in a process of its own); a copy that does not start is
// replaced by a fresh initdb and the template dropped. As root it runs initdb, cp and pg_ctl
// through `runuser -u postgres` (PostgreSQL refuses to run as root). The destructor stops the
// server and removes the directory. Shared() is one server per test binary, started on first
// use and stopped at exit; tests get a database each from CreateDatabase(), so they never see
// each other's tables.
//
// Thread safety: CreateDatabase() may be called from several threads; Stop/StartAgain not.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
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
    char dir_name[] = "/tmp/cairn-pg-XXXXXX";
    if (::mkdtemp(dir_name) == nullptr) throw std::runtime_error("mkdtemp failed");
    dir_ = dir_name;
    std::filesystem::permissions(dir_, std::filesystem::perms::all);  // postgres must enter it
    const std::string data = dir_ + "/data";
    const std::string tmpl = TemplateDir();
    if (!tmpl.empty() && CopyCluster(tmpl, data) && StartOnFreePort()) return;
    if (!tmpl.empty()) DropTemplate(tmpl);  // a copy that does not start: made anew next time
    std::error_code ec;
    std::filesystem::remove_all(data, ec);
    Initdb(data);
    if (!StartOnFreePort()) throw std::runtime_error("PostgreSQL did not start: see " + dir_ + "/server.log");
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

  // initdb into `data` (made here; its parent must be writable by the server's user).
  void Initdb(const std::string& data) const {
    Sh(AsPostgres("mkdir -p " + data));
    Sh(AsPostgres(bin_ + "/initdb -D " + data + " -A trust -U postgres -E UTF8 --no-sync") +
       " >" + data + "/../initdb.log 2>&1");
  }

  // Copies the template's cluster to `data` as the server's user.
  bool CopyCluster(const std::string& tmpl, const std::string& data) const {
    return std::system((AsPostgres("cp -a " + tmpl + "/data " + data) + " 2>/dev/null").c_str()) == 0;
  }

  // Removes a template whose copy did not start (a /tmp cleaner may have taken files out of
  // it): renamed away first, so that no process copies it while it is being removed.
  static void DropTemplate(const std::string& tmpl) {
    const std::string gone = tmpl + "-gone-" + std::to_string(::getpid());
    std::error_code ec;
    if (::rename(tmpl.c_str(), gone.c_str()) == 0) std::filesystem::remove_all(gone, ec);
  }

  bool StartOnFreePort() {
    for (int attempt = 0; attempt < 5; ++attempt) {
      port_ = FreePort();
      if (StartServer()) return true;
    }
    return false;
  }

  // The template: made once under an flock, in a temporary directory renamed into place, so
  // that no process copies a half-made one. One that is not this user's own directory, or that
  // others can write to, is not used ("" then: every process runs initdb).
  std::string TemplateDir() const {
    const std::string path = "/tmp/cairn-pg-template-" + std::to_string(::geteuid()) + "-" +
                             std::filesystem::path(bin_).parent_path().filename().string();
    const int lock = ::open((path + ".lock").c_str(), O_CREAT | O_RDWR | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (lock < 0) return "";
    std::string result;
    if (::flock(lock, LOCK_EX) == 0) {
      struct stat st {};
      if (::lstat(path.c_str(), &st) != 0) {
        std::string made = path + "-XXXXXX";
        // Writable while the server's user makes the cluster in it, then only enterable.
        if (::mkdtemp(made.data()) != nullptr && ::chmod(made.c_str(), 0777) == 0) {
          try {
            Initdb(made + "/data");
            if (::chmod(made.c_str(), 0755) == 0 && ::rename(made.c_str(), path.c_str()) == 0) {
              result = path;
            }
          } catch (const std::exception&) {
          }
          if (result.empty()) {
            std::error_code ec;
            std::filesystem::remove_all(made, ec);
          }
        }
      } else if (S_ISDIR(st.st_mode) && st.st_uid == ::geteuid() && (st.st_mode & 022) == 0) {
        result = path;
      }
    }
    ::close(lock);  // releases the lock
    return result;
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
