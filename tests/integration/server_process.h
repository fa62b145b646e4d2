// A cairn server started as a child process (`cairn serve --config FILE`) for integration tests.
// Start() waits for the "cairn serving" line and reads the bound ports from it; Stop() sends
// SIGTERM and waits (SIGKILL after a timeout); Kill() is a crash: SIGKILL at once. The destructor
// stops a running server, so every process a test starts is stopped. A thread reads the server's
// stdout and stderr all the time it runs, so that a chatty server (a log line per refused call)
// never blocks on a full pipe.
//
// Thread safety: one test thread calls the methods; output() may be called while the reader runs.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace cairn::testing {

class ServerProcess {
 public:
  ServerProcess() = default;
  ~ServerProcess();
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  // Starts `cairn serve` with `args`; true once it prints its ports (within timeout_ms).
  // On failure, exit_code() and output() say why.
  bool Start(const std::vector<std::string>& args, int timeout_ms = 20000);
  // Starts `cairn <args>` (another long-running command, e.g. `witness serve`) and waits for
  // output matching `ready_regex`, whose first group is read as grpc_port() (its port) and
  // second, if any, as admin_port().
  bool StartCommand(const std::vector<std::string>& args, const std::string& ready_regex,
                    int timeout_ms = 20000);
  // SIGTERM, then waits up to timeout_ms (then SIGKILL). Returns the exit code (-1 if killed).
  int Stop(int timeout_ms = 15000);
  // SIGKILL and wait, with no graceful path (crash tests). True when the server was running and
  // died of that SIGKILL; false when none was running or it had already exited by itself.
  bool Kill();
  // Sends a signal (e.g. SIGHUP) to the running server.
  void Signal(int sig) const;

  pid_t pid() const { return pid_; }  // -1 when not running
  int grpc_port() const { return grpc_port_; }
  int admin_port() const { return admin_port_; }
  std::string target() const { return "127.0.0.1:" + std::to_string(grpc_port_); }
  int exit_code() const { return exit_code_; }
  // Everything the server printed on stdout and stderr so far.
  std::string output() const;

 private:
  void StartReader(int fd);
  // Waits for the reader to reach the end of the output (the server has exited) and closes it.
  void StopReader();

  pid_t pid_ = -1;
  int grpc_port_ = 0;
  int admin_port_ = 0;
  int exit_code_ = -1;
  std::thread reader_;
  std::atomic<bool> reader_stop_{false};
  mutable std::mutex output_mu_;
  std::string output_;  // guarded by output_mu_
};

// Runs `cairn serve` expecting it to refuse to start; returns its exit code and output.
struct RefusedStart {
  int exit_code;
  std::string output;
};
RefusedStart RunServeExpectingRefusal(const std::vector<std::string>& args, int timeout_ms = 20000);

}  // namespace cairn::testing
