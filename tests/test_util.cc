#include "test_util.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace cairn::testing {

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string templ = std::string(base ? base : "/tmp") + "/cairn-test-XXXXXX";
  if (mkdtemp(templ.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = templ;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

namespace {

// `cairn init` writes the client config; tests keep theirs out of $HOME, one per process.
struct ClientConfigIsolation {
  std::string path;
  ClientConfigIsolation() {
    if (std::getenv("CAIRN_CLIENT_CONFIG") != nullptr) return;
    const char* base = std::getenv("TMPDIR");
    path = std::string(base ? base : "/tmp") + "/cairn-test-client-" + std::to_string(getpid()) +
           ".toml";
    setenv("CAIRN_CLIENT_CONFIG", path.c_str(), 1);
  }
  ~ClientConfigIsolation() {
    if (!path.empty()) std::remove(path.c_str());
  }
};
const ClientConfigIsolation kClientConfigIsolation;

void DrainInto(int fd, std::string* out, bool* open) {
  char buf[65536];
  ssize_t n = read(fd, buf, sizeof buf);
  if (n > 0) {
    out->append(buf, static_cast<size_t>(n));
  } else if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) {
    *open = false;
  }
}
}  // namespace

CommandResult RunCairn(const std::vector<std::string>& args, const std::string& stdin_text) {
  std::vector<std::string> argv = {CAIRN_BIN};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunCommand(argv, stdin_text);
}

CommandResult RunCommand(const std::vector<std::string>& argv_in, const std::string& stdin_text) {
  if (argv_in.empty()) throw std::invalid_argument("RunCommand: no program");
  int in_pipe[2], out_pipe[2], err_pipe[2];
  if (pipe(in_pipe) != 0 || pipe(out_pipe) != 0 || pipe(err_pipe) != 0) {
    throw std::runtime_error("pipe failed");
  }
  pid_t pid = fork();
  if (pid == 0) {
    dup2(in_pipe[0], 0);
    dup2(out_pipe[1], 1);
    dup2(err_pipe[1], 2);
    for (int fd : {in_pipe[0], in_pipe[1], out_pipe[0], out_pipe[1], err_pipe[0], err_pipe[1]}) close(fd);
    std::vector<std::string> copy = argv_in;
    std::vector<char*> argv;
    for (auto& a : copy) argv.push_back(a.data());
    argv.push_back(nullptr);
    execvp(argv[0], argv.data());
    _exit(127);
  }
  close(in_pipe[0]);
  close(out_pipe[1]);
  close(err_pipe[1]);
  if (!stdin_text.empty()) {
    ssize_t ignored = write(in_pipe[1], stdin_text.data(), stdin_text.size());
    (void)ignored;
  }
  close(in_pipe[1]);
  CommandResult r;
  bool out_open = true, err_open = true;
  while (out_open || err_open) {
    pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
    if (poll(fds, 2, -1) < 0 && errno != EINTR) break;
    if (out_open && (fds[0].revents & (POLLIN | POLLHUP))) DrainInto(out_pipe[0], &r.out, &out_open);
    if (err_open && (fds[1].revents & (POLLIN | POLLHUP))) DrainInto(err_pipe[0], &r.err, &err_open);
  }
  close(out_pipe[0]);
  close(err_pipe[0]);
  int wstatus = 0;
  waitpid(pid, &wstatus, 0);
  r.exit_code = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : -1;
  return r;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteFile(const std::string& path, const std::string& contents) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << contents;
  if (!out) throw std::runtime_error("cannot write " + path);
}

std::vector<std::string> ListFiles(const std::string& dir, const std::string& suffix) {
  std::vector<std::string> files;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    const std::string p = e.path().string();
    if (e.is_regular_file() && p.size() >= suffix.size() &&
        p.compare(p.size() - suffix.size(), suffix.size(), suffix) == 0) {
      files.push_back(p);
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

std::string VectorsDir() { return CAIRN_VECTORS_DIR; }

}  // namespace cairn::testing
