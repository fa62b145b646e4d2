#include "server_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <regex>

namespace cairn::testing {
// A plain anonymous namespace: the file's functions below it use these helpers (a test file
// keeps its own in CAIRN_UNITY_ID, CMakeLists.txt).
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
  StopReader();
}

std::string ServerProcess::output() const {
  std::lock_guard<std::mutex> lock(output_mu_);
  return output_;
}

void ServerProcess::StartReader(int fd) {
  reader_stop_ = false;
  reader_ = std::thread([this, fd] {
    char buf[4096];
    for (;;) {
      pollfd p{fd, POLLIN, 0};
      const int ready = poll(&p, 1, 50);
      if (ready == 0) {
        if (reader_stop_) break;  // the server is gone and nothing more came
        continue;
      }
      const ssize_t n = read(fd, buf, sizeof buf);
      if (n <= 0) break;  // end of the output (every writer closed it) or an error
      std::lock_guard<std::mutex> lock(output_mu_);
      output_.append(buf, static_cast<size_t>(n));
    }
    close(fd);
  });
}

void ServerProcess::StopReader() {
  reader_stop_ = true;
  if (reader_.joinable()) reader_.join();
}

bool ServerProcess::Start(const std::vector<std::string>& args, int timeout_ms) {
  std::vector<std::string> serve = {"serve"};
  serve.insert(serve.end(), args.begin(), args.end());
  return StartCommand(serve, R"(port (\d+), .*\(port (\d+)\))", timeout_ms);
}

bool ServerProcess::StartCommand(const std::vector<std::string>& args,
                                 const std::string& ready_regex, int timeout_ms) {
  if (pid_ > 0) Stop();
  StopReader();
  {
    std::lock_guard<std::mutex> lock(output_mu_);
    output_.clear();  // a restart must not find the previous run's ports
  }
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
    std::vector<std::string> copy = {CAIRN_BIN};
    copy.insert(copy.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : copy) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(pipe_fds[1]);
  StartReader(pipe_fds[0]);
  const std::regex ports(ready_regex);
  const auto start = Clock::now();
  while (ElapsedMs(start) < timeout_ms) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    const std::string out = output();
    std::smatch m;
    if (std::regex_search(out, m, ports)) {
      grpc_port_ = std::stoi(m[1]);
      admin_port_ = m.size() > 2 && m[2].matched ? std::stoi(m[2]) : 0;
      return true;
    }
    int wstatus = 0;
    if (waitpid(pid_, &wstatus, WNOHANG) == pid_) {
      exit_code_ = DecodeWait(wstatus);
      pid_ = -1;
      StopReader();
      return false;
    }
  }
  return false;
}

void ServerProcess::Signal(int sig) const {
  if (pid_ > 0) kill(pid_, sig);
}

bool ServerProcess::Kill() {
  if (pid_ <= 0) return false;
  kill(pid_, SIGKILL);
  int wstatus = 0;
  const pid_t waited = waitpid(pid_, &wstatus, 0);
  StopReader();
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
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  StopReader();
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
