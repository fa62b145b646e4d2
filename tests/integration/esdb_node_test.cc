// The official EventStoreDB Node.js client (@eventstore/db-client 6.2.1, pinned with its whole
// dependency tree by tests/esdb/package-lock.json) against a real `cairn serve` over TLS with API
// keys as Basic credentials. Each test starts a server (ServerEnv with extra keys, policy roles
// and a protection rule) and runs one tests/esdb/*.test.mjs with `node --test`, passing the
// endpoint, the CA file and the keys in the environment; it prints node's report and asserts
// that node exited with 0.
//
// node_modules come from `make esdb-node` (npm ci into <build>/esdb-node; `make test` does it).
// When they are missing the tests fail, unless CAIRN_ESDB_NODE_OPTIONAL=1: then they are skipped
// with the reason. The test files are copied next to node_modules (a directory per process) so
// that Node resolves '@eventstore/db-client' from the build tree and never from the source tree.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "auth/api_key.h"
#include "protect_rules.h"
#include "server_env.h"

namespace cairn::testing {
namespace CAIRN_UNITY_ID {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr int kNodeTimeoutMs = 300000;                  // one test file, all its tests
constexpr size_t kNodeOutputSizeMaxBytes = 4u << 20;  // what is kept of node's report

// Roles for the keys below; ServerEnv's policy (admin, order-service, ...) stays as it is.
constexpr char kPolicyRoles[] = R"(
[[role]]
name = "esdb-publisher"
grants = [ { actions = ["append"], streams = ["order-*"], event_types = ["OrderCreated"] } ]

[[role]]
name = "esdb-reader"
grants = [ { actions = ["read", "subscribe"], streams = ["cust-*"], event_types = ["*"] } ]

[[role]]
name = "esdb-pii-reader"
grants = [
  { actions = ["read", "subscribe", "read.pii"], streams = ["cust-*"], event_types = ["*"] },
]

[[binding]]
principal = "mtls:esdb-cert-publisher"
roles = ["esdb-publisher"]
)";

constexpr char kProtectRules[] = R"(
[[rule]]
event_type = "CustomerRegistered"
subject = "/customerId"
fields = ["/email", "/name"]
)";

fs::path BuildDir() { return fs::path(CAIRN_BIN).parent_path().parent_path(); }
fs::path NodeDir() { return BuildDir() / "esdb-node"; }
// __FILE__ is relative to the build directory when ccache rewrites paths (base_dir).
fs::path SourceDir() {
  const fs::path self(__FILE__);
  return (self.is_absolute() ? self : BuildDir() / self).parent_path().parent_path() / "esdb";
}

bool OptionalByEnv() {
  const char* v = std::getenv("CAIRN_ESDB_NODE_OPTIONAL");
  return v != nullptr && std::string(v) == "1";
}

struct ChildResult {
  int exit_code = -1;  // -1: killed (timeout) or not started
  bool timed_out = false;
  std::string output;  // stdout and stderr, interleaved
};

std::vector<std::string> EnvironmentWith(const std::map<std::string, std::string>& extra) {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string entry = *e;
    if (extra.count(entry.substr(0, entry.find('='))) == 0) env.push_back(entry);
  }
  for (const auto& [name, value] : extra) env.push_back(name + "=" + value);
  return env;
}

// Runs `argv` (PATH lookup) in `cwd` with `extra` environment, for at most timeout_ms.
ChildResult RunChild(std::vector<std::string> argv, const std::string& cwd,
                     const std::map<std::string, std::string>& extra, int timeout_ms) {
  std::vector<std::string> env = EnvironmentWith(extra);
  int fds[2];
  if (pipe(fds) != 0) throw std::runtime_error("pipe failed");
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], 1);
    dup2(fds[1], 2);
    close(fds[0]);
    close(fds[1]);
    if (chdir(cwd.c_str()) != 0) _exit(126);
    std::vector<char*> args, envp;
    for (auto& a : argv) args.push_back(a.data());
    for (auto& e : env) envp.push_back(e.data());
    args.push_back(nullptr);
    envp.push_back(nullptr);
    execvpe(args[0], args.data(), envp.data());
    _exit(127);
  }
  close(fds[1]);
  ChildResult result;
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  for (bool open = true; open;) {
    const auto left_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             deadline - Clock::now()).count();
    if (left_ms <= 0) {
      result.timed_out = true;
      kill(pid, SIGKILL);
      break;
    }
    pollfd p{fds[0], POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(std::min<int64_t>(left_ms, 1000))) <= 0) continue;
    char buf[65536];
    const ssize_t n = read(fds[0], buf, sizeof buf);
    if (n > 0 && result.output.size() < kNodeOutputSizeMaxBytes) result.output.append(buf, n);
    open = n > 0 || (n < 0 && errno == EINTR);
  }
  close(fds[0]);
  int wstatus = 0;
  waitpid(pid, &wstatus, 0);
  if (!result.timed_out && WIFEXITED(wstatus)) result.exit_code = WEXITSTATUS(wstatus);
  return result;
}

// A key with `roles` (a TOML array) for the [[auth.api_keys]] that the config gets.
std::string ExtraKey(const std::string& id, const std::string& roles, std::string* key_out) {
  auto key = auth::GenerateApiKey(id);
  if (!key.ok()) throw std::runtime_error("GenerateApiKey " + id);
  *key_out = key->key;
  return "\n[[auth.api_keys]]\nid = \"" + id + "\"\nsecret_sha256 = \"" + key->secret_sha256 +
         "\"\nroles = " + roles + "\n";
}

// A client certificate (CN=<cn>,O=Acme: ServerEnv's [auth.mtls] rule makes it mtls:<cn>) signed
// by `ca`, written as PEM files <dir>/<cn>.crt and .key; returns their paths.
std::pair<std::string, std::string> WriteClientCert(const crypto::KeyAndCert& ca,
                                                    const std::string& cn, const TempDir& dir) {
  crypto::CertRequest r;
  r.common_name = cn;
  r.extra_subject = {{"O", "Acme"}};
  r.usage = crypto::CertRequest::Usage::kClient;
  r.not_before_unix_s = NowS() - 60;
  r.not_after_unix_s = NowS() + 3600;
  auto issued = crypto::IssueCertificate(ca, r);
  if (!issued.ok()) throw std::runtime_error("IssueCertificate " + cn);
  const std::string cert = dir.Sub(cn + ".crt"), key = dir.Sub(cn + ".key");
  WriteFile(cert, issued->cert_pem);
  WriteFile(key, issued->key_pem);
  return {cert, key};
}

class EsdbNodeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(NodeDir() / "node_modules" / "@eventstore" / "db-client" / "package.json")) {
      const std::string why = "no " + (NodeDir() / "node_modules").string() +
                              ": run `make esdb-node` (npm ci of tests/esdb/package-lock.json)";
      if (OptionalByEnv()) GTEST_SKIP() << why << " (skipped: CAIRN_ESDB_NODE_OPTIONAL=1)";
      FAIL() << why;
    }
    WriteFile(env_.PolicyPath(), ReadFile(env_.PolicyPath()) + kPolicyRoles);
    env_.extra_config = ProtectRulesConfig(env_, kProtectRules) +
                        ExtraKey("esdb-publisher", R"(["esdb-publisher"])", &publisher_key_) +
                        ExtraKey("esdb-reader", R"(["esdb-reader"])", &reader_key_) +
                        ExtraKey("esdb-pii-reader", R"(["esdb-pii-reader"])", &pii_reader_key_);
    ASSERT_TRUE(env_.Start()) << env_.server().output();
    publisher_cert_ = WriteClientCert(env_.dev_ca, "esdb-cert-publisher", env_.dir());
    foreign_cert_ = WriteClientCert(env_.other_ca, "esdb-cert-foreign", env_.dir());
    run_dir_ = NodeDir() / ("run-" + std::to_string(getpid()));
    fs::create_directories(run_dir_);
    for (const auto& entry : fs::directory_iterator(SourceDir())) {
      if (entry.path().extension() == ".mjs") {
        fs::copy_file(entry.path(), run_dir_ / entry.path().filename(),
                      fs::copy_options::overwrite_existing);
      }
    }
  }

  void TearDown() override {
    std::error_code ignored;
    if (!run_dir_.empty()) fs::remove_all(run_dir_, ignored);
  }

  // Runs one test file and asserts that every test in it passed.
  void RunNodeFile(const std::string& file) {
    ASSERT_TRUE(fs::exists(run_dir_ / file)) << file;
    const std::map<std::string, std::string> env = {
        {"ESDB_ENDPOINT", env_.server().target()},
        {"ESDB_CA_FILE", env_.CaCert()},
        {"ESDB_KEY_ADMIN", env_.admin_key},
        {"ESDB_KEY_PUBLISHER", publisher_key_},
        {"ESDB_KEY_READER", reader_key_},
        {"ESDB_KEY_PII_READER", pii_reader_key_},
        {"ESDB_CERT_PUBLISHER", publisher_cert_.first},
        {"ESDB_CERT_KEY_PUBLISHER", publisher_cert_.second},
        {"ESDB_CERT_FOREIGN", foreign_cert_.first},
        {"ESDB_CERT_KEY_FOREIGN", foreign_cert_.second},
        {"NODE_NO_WARNINGS", "1"},
    };
    const ChildResult r = RunChild({"node", "--test", "--test-reporter=spec", file},
                                   run_dir_.string(), env, kNodeTimeoutMs);
    std::cout << "---- node --test " << file << " ----\n" << r.output << "---- end ----\n";
    EXPECT_FALSE(r.timed_out) << "node ran longer than " << kNodeTimeoutMs << " ms";
    EXPECT_NE(r.exit_code, 127) << "`node` not found on PATH (make node-deps installs it)";
    EXPECT_EQ(r.exit_code, 0) << "node --test " << file << " failed; its report is above";
  }

  ServerEnv env_;
  std::string publisher_key_, reader_key_, pii_reader_key_;
  std::pair<std::string, std::string> publisher_cert_, foreign_cert_;  // PEM cert, key paths
  fs::path run_dir_;
};

TEST_F(EsdbNodeTest, Streams) { RunNodeFile("streams.test.mjs"); }
TEST_F(EsdbNodeTest, Subscriptions) { RunNodeFile("subscriptions.test.mjs"); }
TEST_F(EsdbNodeTest, Filters) { RunNodeFile("filters.test.mjs"); }
TEST_F(EsdbNodeTest, PersistentSubscriptions) { RunNodeFile("persistent.test.mjs"); }
TEST_F(EsdbNodeTest, Security) { RunNodeFile("security.test.mjs"); }

}  // namespace
}  // namespace cairn::testing
