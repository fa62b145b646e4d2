#include "server_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <regex>

namespace cairn::testing {
namespace {

using Clock = std::chrono::steady_clock;

int ElapsedMs(Clock::time_point start) {
  return static_cast<int>(
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count());
}

int DecodeWait(int wstatus) { return WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : -1; }

}  // namespace

ServerProcess::~ServerProcess() {
  if (pid_ > 0) Stop();
  if (out_fd_ >= 0) close(out_fd_);
}

bool ServerProcess::Start(const std::vector<std::string>& args, int timeout_ms) {
  if (pid_ > 0) Stop();
  if (out_fd_ >= 0) close(out_fd_);
  out_fd_ = -1;
  output_.clear();  // a restart must not find the previous run's ports
  grpc_port_ = admin_port_ = 0;
  exit_code_ = -1;
  int pipe_fds[2];
  if (pipe(pipe_fds) != 0) return false;
  pid_ = fork();
  if (pid_ == 0) {
    dup2(pipe_fds[1], 1);
    dup2(pipe_fds[1], 2);
    close(pipe_fds[0]);
    close(pipe_fds[1]);
    std::vector<std::string> copy = {CAIRN_BIN, "serve"};
    copy.insert(copy.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : copy) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(pipe_fds[1]);
  out_fd_ = pipe_fds[0];
  fcntl(out_fd_, F_SETFL, O_NONBLOCK);
  const std::regex ports(R"(port (\d+), .*\(port (\d+)\))");
  const auto start = Clock::now();
  while (ElapsedMs(start) < timeout_ms) {
    Drain(100);
    std::smatch m;
    if (std::regex_search(output_, m, ports)) {
      grpc_port_ = std::stoi(m[1]);
      admin_port_ = std::stoi(m[2]);
      return true;
    }
    int wstatus = 0;
    if (waitpid(pid_, &wstatus, WNOHANG) == pid_) {
      Drain(0);
      exit_code_ = DecodeWait(wstatus);
      pid_ = -1;
      return false;
    }
  }
  return false;
}

void ServerProcess::Drain(int timeout_ms) {
  pollfd fd{out_fd_, POLLIN, 0};
  if (poll(&fd, 1, timeout_ms) <= 0) return;
  char buf[4096];
  for (;;) {
    ssize_t n = read(out_fd_, buf, sizeof buf);
    if (n <= 0) break;
    output_.append(buf, static_cast<size_t>(n));
  }
}

void ServerProcess::Signal(int sig) const {
  if (pid_ > 0) kill(pid_, sig);
}

bool ServerProcess::Kill() {
  if (pid_ <= 0) return false;
  kill(pid_, SIGKILL);
  int wstatus = 0;
  const pid_t waited = waitpid(pid_, &wstatus, 0);
  Drain(0);
  pid_ = -1;
  exit_code_ = DecodeWait(wstatus);
  return waited > 0 && WIFSIGNALED(wstatus) && WTERMSIG(wstatus) == SIGKILL;
}

int ServerProcess::Stop(int timeout_ms) {
  if (pid_ <= 0) return exit_code_;
  kill(pid_, SIGTERM);
  const auto start = Clock::now();
  int wstatus = 0;
  for (;;) {
    if (waitpid(pid_, &wstatus, WNOHANG) == pid_) {
      exit_code_ = DecodeWait(wstatus);
      break;
    }
    if (ElapsedMs(start) > timeout_ms) {
      kill(pid_, SIGKILL);
      waitpid(pid_, &wstatus, 0);
      exit_code_ = -1;
      break;
    }
    Drain(50);
  }
  Drain(0);
  pid_ = -1;
  return exit_code_;
}

RefusedStart RunServeExpectingRefusal(const std::vector<std::string>& args, int timeout_ms) {
  ServerProcess server;
  if (server.Start(args, timeout_ms)) {
    server.Stop();
    return {0, "server started: " + server.output()};
  }
  server.Stop();
  return {server.exit_code(), server.output()};
}

}  // namespace cairn::testing
