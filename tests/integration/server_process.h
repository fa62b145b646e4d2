// A cairn server started as a child process (`cairn serve --config FILE`) for integration tests.
// Start() waits for the "cairn serving" line and reads the bound ports from it; Stop() sends
// SIGTERM and waits (SIGKILL after a timeout); Kill() is a crash: SIGKILL at once. The destructor
// stops a running server, so every process a test starts is stopped.
#pragma once

#include <sys/types.h>

#include <string>
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
  const std::string& output() const { return output_; }

 private:
  void Drain(int timeout_ms);

  pid_t pid_ = -1;
  int out_fd_ = -1;
  int grpc_port_ = 0;
  int admin_port_ = 0;
  int exit_code_ = -1;
  std::string output_;
};

// Runs `cairn serve` expecting it to refuse to start; returns its exit code and output.
struct RefusedStart {
  int exit_code;
  std::string output;
};
RefusedStart RunServeExpectingRefusal(const std::vector<std::string>& args, int timeout_ms = 20000);

}  // namespace cairn::testing
