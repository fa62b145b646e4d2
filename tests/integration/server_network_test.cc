// The server process as an operator meets it: the allowlist, the refusals at start-up, the dev
// set-up, the admin HTTP listener and a clean shutdown.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <regex>

#include "auth/http_fetch.h"
#include "closed_by_server.h"
#include "loopback_http.h"
#include "prom_parser.h"
#include "server_env.h"

namespace cairn::testing {
namespace CAIRN_UNITY_ID {

TEST(ServerNetworkTest, AllowlistRefusesPeersOutsideItBeforeTheHandshake) {
  ServerEnv env;
  env.server_extra = "allow_cidrs = [\"127.0.0.1/32\"]\n";
  ASSERT_TRUE(env.Start()) << env.server().output();
  EXPECT_TRUE(ClosedByServer("127.0.0.2", env.server().grpc_port()));
  EXPECT_FALSE(ClosedByServer("127.0.0.1", env.server().grpc_port(), 500));
  auto who = env.ClientWith(env.admin_key)->WhoAmI();
  EXPECT_TRUE(who.ok()) << who.status().ToString();
  auto info = env.ClientWith(env.admin_key)->ServerInfo();
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->refused_connections(), 1u);  // counted (and, with the audit issue, audited)
  // Only to operators: a caller without `admin` gets the rest of ServerInfo, not the count.
  auto bot_info = env.ClientWith(env.bot_key)->ServerInfo();
  ASSERT_TRUE(bot_info.ok()) << bot_info.status().ToString();
  EXPECT_EQ(bot_info->refused_connections(), 0u);
  EXPECT_EQ(bot_info->origin(), info->origin());

  // A source that keeps connecting is counted every time but recorded about once per 10 s
  // (the trail cannot be deleted: it must not grow at the rate a refused peer connects).
  for (int i = 0; i < 30; ++i) EXPECT_TRUE(ClosedByServer("127.0.0.2", env.server().grpc_port()));
  double counted = 0;
  for (int i = 0; i < 50 && counted < 31; ++i) {
    counted = ParseOrFail(HttpBody(HttpGet(env.server().admin_port(), "/metrics")))
                  .Value("cairn_refused_connections_total");
    if (counted < 31) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(counted, 31.0);
  const std::string out = env.server().output();
  size_t records = 0;
  for (size_t at = out.find("\"message\":\"connection refused\""); at != std::string::npos;
       at = out.find("\"message\":\"connection refused\"", at + 1)) {
    ++records;
  }
  EXPECT_GE(records, 1u);
  EXPECT_LE(records, 4u) << "one record per source per 10-second bucket";
}

// Connections held open before any credential is shown count against limits.connections_per_
// source_max: one more from that source is closed at accept, other sources still connect, and
// a source that closed one may connect again.
TEST(ServerNetworkTest, OneSourceCannotHoldMoreThanItsShareOfConnections) {
  ServerEnv env;
  env.extra_config = "[limits]\nconnections_per_source_max = 2\n";
  ASSERT_TRUE(env.Start()) << env.server().output();
  const int port = env.server().grpc_port();
  const int first = ConnectFrom("127.0.0.3", port);
  const int second = ConnectFrom("127.0.0.3", port);
  ASSERT_GE(first, 0);
  ASSERT_GE(second, 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // both accepted by now
  EXPECT_TRUE(ClosedByServer("127.0.0.3", port)) << "a third connection from one source";
  EXPECT_FALSE(ClosedByServer("127.0.0.4", port, 300)) << "another source";
  auto who = env.ClientWith(env.admin_key)->WhoAmI();
  EXPECT_TRUE(who.ok()) << who.status().ToString();
  close(first);
  // Room again once gRPC has closed its end and a sweep (every 100 ms) has seen it.
  bool room = false;
  for (int attempt = 0; attempt < 20 && !room; ++attempt) room = !ClosedByServer("127.0.0.3", port, 300);
  EXPECT_TRUE(room) << "room again after one closed";
  close(second);
  auto info = env.ClientWith(env.admin_key)->ServerInfo();
  ASSERT_TRUE(info.ok());
  EXPECT_GE(info->refused_connections(), 1u);
  EXPECT_NE(env.server().output().find("connection limit of the source reached"), std::string::npos);
}

// server.admin_tls: the admin listener speaks HTTPS with the server's certificate (verified here
// against the test CA for 127.0.0.1) and nothing in plaintext.
TEST(ServerNetworkTest, AdminTlsServesHttpsWithTheServersCertificateAndNoPlainHttp) {
  ServerEnv env;
  env.server_extra = "admin_tls = true\n";
  ASSERT_TRUE(env.Start()) << env.server().output();
  const std::string base = "https://127.0.0.1:" + std::to_string(env.server().admin_port());
  auth::HttpGetOptions options;
  options.ca_pem = ReadFile(env.CaCert());
  auto health = auth::HttpGet(base + "/healthz", options);
  ASSERT_TRUE(health.ok()) << health.status().ToString();
  EXPECT_EQ(*health, "ok\n");
  auto metrics = auth::HttpGet(base + "/metrics", options);
  ASSERT_TRUE(metrics.ok()) << metrics.status().ToString();
  EXPECT_NE(metrics->find("cairn_"), std::string::npos);
  const std::string plain = HttpGet(env.server().admin_port(), "/healthz");
  EXPECT_EQ(plain.find("HTTP/1."), std::string::npos) << plain;
  // A client that trusts only the system's roots refuses the test CA's certificate.
  EXPECT_FALSE(auth::HttpGet(base + "/healthz", auth::HttpGetOptions{}).ok());
}

// The admin listener applies the same allowlist; a peer it refuses is counted (ServerInfo and
// the metric) and audited like one the gRPC listener refuses.
TEST(ServerNetworkTest, AdminHttpRefusesPeersOutsideTheAllowlistCountedAndAudited) {
  ServerEnv env;
  env.server_extra = "allow_cidrs = [\"127.0.0.1/32\"]\n";
  ASSERT_TRUE(env.Start()) << env.server().output();
  EXPECT_TRUE(ClosedByServer("127.0.0.2", env.server().admin_port()));
  EXPECT_NE(HttpGet(env.server().admin_port(), "/healthz").find("200"), std::string::npos);
  auto info = env.ClientWith(env.admin_key)->ServerInfo();
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->refused_connections(), 1u);
  double counted = 0;
  for (int i = 0; i < 50 && counted < 1; ++i) {
    counted = ParseOrFail(HttpBody(HttpGet(env.server().admin_port(), "/metrics")))
                  .Value("cairn_refused_connections_total");
    if (counted < 1) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(counted, 1.0);
  std::string out;
  for (int i = 0; i < 50; ++i) {
    out = env.server().output();
    if (out.find("\"message\":\"connection refused\"") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  const size_t at = out.find("\"message\":\"connection refused\"");
  ASSERT_NE(at, std::string::npos) << "not audited";
  const size_t line_end = out.find('\n', at);
  const size_t line_start = out.rfind('\n', at);
  EXPECT_NE(out.substr(line_start + 1, line_end - line_start).find("127.0.0.2"), std::string::npos)
      << out.substr(line_start + 1, line_end - line_start);
}

// allow_cidrs lists only the client networks (the production set-up): local health probes and
// scrapers on the loopback address still reach the admin listener; other peers do not, and the
// gRPC listener admits only the list.
TEST(ServerNetworkTest, AdminHttpAdmitsTheLoopbackAddressWhateverTheAllowlist) {
  ServerEnv env;
  env.server_extra = "allow_cidrs = [\"10.0.0.0/16\"]\n";
  ASSERT_TRUE(env.Start()) << env.server().output();
  EXPECT_NE(HttpGet(env.server().admin_port(), "/healthz").find("200"), std::string::npos);
  EXPECT_TRUE(ClosedByServer("127.0.0.2", env.server().admin_port()));
  EXPECT_FALSE(env.ClientWith(env.admin_key)->ServerInfo().ok()) << "gRPC keeps to the list";
}

TEST(ServerNetworkTest, AdminHttpServesHealthAndTheSignedCheckpoint) {
  ServerEnv env;
  ASSERT_TRUE(env.Start()) << env.server().output();
  v1::AppendRequest request;
  request.set_stream("order-1");
  request.add_events()->set_type("OrderCreated");
  request.mutable_events(0)->set_data("{}");
  ASSERT_TRUE(env.ClientWith(env.admin_key)->Append(request).ok());
  EXPECT_NE(HttpGet(env.server().admin_port(), "/healthz").find("200"), std::string::npos);
  EXPECT_NE(HttpGet(env.server().admin_port(), "/readyz").find("ready"), std::string::npos);
  auto vkey = env.ClientWith(env.admin_key)->GetVerifierKey();
  ASSERT_TRUE(vkey.ok());
  // The background checkpointer signs the new tree within about a second; the route serves it.
  std::string checkpoint;
  for (int waited_ms = 0; waited_ms < 5000; waited_ms += 100) {
    checkpoint = HttpGet(env.server().admin_port(), "/checkpoint");
    if (checkpoint.find(vkey->origin() + "\n1\n") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_NE(checkpoint.find(vkey->origin() + "\n1\n"), std::string::npos) << checkpoint;
  EXPECT_NE(checkpoint.find("\n\xE2\x80\x94 "), std::string::npos) << "no signature line";
  EXPECT_NE(HttpGet(env.server().admin_port(), "/nope").find("404"), std::string::npos);
}

TEST(ServerNetworkTest, SigtermShutsDownCleanlyAndKeepsEveryAcknowledgedEvent) {
  ServerEnv env;
  ASSERT_TRUE(env.Start()) << env.server().output();
  auto admin = env.ClientWith(env.admin_key);
  for (int i = 0; i < 20; ++i) {
    v1::AppendRequest request;
    request.set_stream("s-" + std::to_string(i % 3));
    request.add_events()->set_type("Tick");
    request.mutable_events(0)->set_data("{\"i\":" + std::to_string(i) + "}");
    ASSERT_TRUE(admin->Append(request).ok());
  }
  EXPECT_EQ(env.server().Stop(), 0) << env.server().output();
  auto verify = RunCairn({"verify", "--data-dir", env.DataDir()});
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
  auto read = RunCairn({"read-all", "--data-dir", env.DataDir(), "--json"});
  EXPECT_EQ(read.exit_code, 0) << read.err;
  EXPECT_EQ(std::count(read.out.begin(), read.out.end(), '\n'), 20);
}

std::string Replace(std::string text, const std::string& from, const std::string& to) {
  const size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) text.replace(at, from.size(), to);
  return text;
}

TEST(ServerNetworkTest, ASecondServerCannotTakeTheSamePort) {
  ServerEnv first;
  ASSERT_TRUE(first.Start()) << first.server().output();
  ServerEnv second;
  second.WriteConfig(Replace(second.ConfigText(), "listen = \"127.0.0.1:0\"",
                             "listen = \"127.0.0.1:" + std::to_string(first.server().grpc_port()) + "\""));
  auto refused = RunServeExpectingRefusal({"--config", second.ConfigPath()});
  EXPECT_NE(refused.exit_code, 0) << refused.output;
  EXPECT_NE(refused.output.find("listen"), std::string::npos) << refused.output;
}


TEST(ServerNetworkTest, RefusesUnsafeOrBrokenConfigurationsWithOneLineReasons) {
  ServerEnv env;
  const std::string base = env.ConfigText();
  struct Case {
    std::string name, config, expect;
  };
  const std::vector<Case> cases = {
      {"plaintext off loopback",
       Replace(Replace(base, "listen = \"127.0.0.1:0\"", "listen = \"0.0.0.0:0\"\nallow_cidrs = [\"10.0.0.0/8\"]"),
               "enabled = true", "enabled = false"),
       "tls"},
      {"non-loopback bind without allow_cidrs",
       Replace(base, "listen = \"127.0.0.1:0\"", "listen = \"0.0.0.0:0\""), "allow_cidrs"},
      {"unknown key", base + "\n[server2]\nfoo = 1\n", "server2"},
      {"config does not parse", base + "\n[[[broken\n", "test.toml"},
  };
  for (const auto& c : cases) {
    env.WriteConfig(c.config);
    auto refused = RunServeExpectingRefusal({"--config", env.ConfigPath()});
    EXPECT_NE(refused.exit_code, 0) << c.name << ": " << refused.output;
    EXPECT_NE(refused.output.find(c.expect), std::string::npos) << c.name << ": " << refused.output;
    EXPECT_LE(std::count(refused.output.begin(), refused.output.end(), '\n'), 1)
        << c.name << ": not one line: " << refused.output;
  }
  // A key file readable by group or others.
  env.WriteConfig(base);
  chmod(env.DataDir().append("/dev/server.key").c_str(), 0644);
  auto refused = RunServeExpectingRefusal({"--config", env.ConfigPath()});
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_NE(refused.output.find("server.key"), std::string::npos) << refused.output;
  chmod(env.DataDir().append("/dev/server.key").c_str(), 0600);
  // A key that is not the certificate's (here: the CA's): said in words, not "cannot listen".
  const std::string server_key = ReadFile(env.DataDir() + "/dev/server.key");
  WriteFile(env.DataDir() + "/dev/server.key", ReadFile(env.DataDir() + "/dev/ca.key"));
  chmod(env.DataDir().append("/dev/server.key").c_str(), 0600);
  refused = RunServeExpectingRefusal({"--config", env.ConfigPath()});
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_NE(refused.output.find("tls.key is not the private key of the tls.cert"), std::string::npos)
      << refused.output;
  EXPECT_EQ(refused.output.find("PRIVATE KEY"), std::string::npos) << "key material in the output";
  WriteFile(env.DataDir() + "/dev/server.key", server_key);
  chmod(env.DataDir().append("/dev/server.key").c_str(), 0600);
  // A policy file that does not parse.
  WriteFile(env.PolicyPath(), "[[role]\nname=");
  refused = RunServeExpectingRefusal({"--config", env.ConfigPath()});
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_NE(refused.output.find("policy"), std::string::npos) << refused.output;
}

TEST(ServerNetworkTest, DevModeCreatesTheSetupAndTheCliWorksWithNoFlags) {
  TempDir dir;
  const std::string data = dir.Sub("dev-data");
  // --dev writes the default client config under $HOME when there is none: keep it in this
  // test's own home, never the real one (other tests would read it), and find it there.
  const char* real_home = getenv("HOME");
  const std::string saved_home = real_home ? real_home : "";
  setenv("HOME", dir.Sub("home").c_str(), 1);
  const char* real_client_config = getenv("CAIRN_CLIENT_CONFIG");
  const std::string saved_client_config = real_client_config ? real_client_config : "";
  unsetenv("CAIRN_CLIENT_CONFIG");
  setenv("CAIRN_LISTEN", "127.0.0.1:0", 1);
  setenv("CAIRN_ADMIN_LISTEN", "127.0.0.1:0", 1);
  // What a set-up interrupted before its cairn.toml leaves behind does not block the next one.
  std::filesystem::create_directories(data + "/dev");
  WriteFile(data + "/dev/admin.apikey", "left over by an interrupted set-up\n");
  ASSERT_EQ(::chmod((data + "/dev/admin.apikey").c_str(), 0600), 0);
  ServerProcess server;
  ASSERT_TRUE(server.Start({"--dev", "--data-dir", data})) << server.output();
  EXPECT_EQ(ReadFile(data + "/dev/admin.apikey").rfind("cairn_admin_", 0), 0u) << "a new key";
  unsetenv("CAIRN_LISTEN");
  unsetenv("CAIRN_ADMIN_LISTEN");
  EXPECT_NE(server.output().find("admin API key"), std::string::npos) << server.output();
  struct stat st {};
  ASSERT_EQ(stat((data + "/dev/admin.apikey").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  // The client config points at this server (its bound port), its CA and the admin key.
  auto appended = RunCairn({"append", "order-1", "--type", "OrderCreated", "--data", "{\"a\":1}"});
  EXPECT_EQ(appended.exit_code, 0) << appended.err;
  auto read = RunCairn({"read", "order-1", "--json"});
  EXPECT_EQ(read.exit_code, 0) << read.err;
  EXPECT_NE(read.out.find("OrderCreated"), std::string::npos);
  auto who = RunCairn({"whoami"});
  EXPECT_EQ(who.exit_code, 0) << who.err;
  EXPECT_NE(who.out.find("apikey:admin"), std::string::npos);
  auto token = RunCairn({"token", "mint", "--sub", "alice", "--role", "reader"});
  ASSERT_EQ(token.exit_code, 0) << token.err;
  std::string jwt = token.out.substr(0, token.out.find('\n'));
  auto as_alice = RunCairn({"whoami", "--token", jwt});
  EXPECT_EQ(as_alice.exit_code, 0) << as_alice.err;
  EXPECT_NE(as_alice.out.find("jwt:alice"), std::string::npos);
  auto denied = RunCairn({"append", "order-1", "--type", "X", "--data", "{}", "--token", jwt});
  EXPECT_NE(denied.exit_code, 0);
  EXPECT_NE(denied.err.find("permission denied"), std::string::npos) << denied.err;
  // The config's admin key belongs to the config's server address: named otherwise, the same
  // server gets no credential from the config (TLS still works: the dev cert names localhost).
  auto elsewhere =
      RunCairn({"whoami", "--server", "localhost:" + std::to_string(server.grpc_port())});
  EXPECT_NE(elsewhere.exit_code, 0);
  EXPECT_NE(elsewhere.err.find("no credentials"), std::string::npos) << elsewhere.err;
  EXPECT_EQ(server.Stop(), 0);
  struct stat home_config {};
  ASSERT_EQ(stat(dir.Sub("home/.config/cairn/client.toml").c_str(), &home_config), 0);
  EXPECT_EQ(home_config.st_mode & 0777, 0600u);  // it names the admin key's file
  struct stat home_dir {};
  ASSERT_EQ(stat(dir.Sub("home/.config/cairn").c_str(), &home_dir), 0);
  EXPECT_EQ(home_dir.st_mode & 0777, 0700u);
  // A client config others may write is refused: it decides where the admin key is sent.
  ASSERT_EQ(::chmod(dir.Sub("home/.config/cairn/client.toml").c_str(), 0666), 0);
  auto tampered = RunCairn({"whoami"});
  EXPECT_NE(tampered.exit_code, 0);
  EXPECT_NE(tampered.err.find("client config"), std::string::npos) << tampered.err;
  setenv("HOME", saved_home.c_str(), 1);
  if (!saved_client_config.empty()) setenv("CAIRN_CLIENT_CONFIG", saved_client_config.c_str(), 1);
}


// The client library's asynchronous append, as `cairn bench` drives it: every call is answered
// exactly once (a conflict with its current version), and the Client may be destroyed as soon as
// the last answer came, round after round. (`cairn bench append` crashed once at exit, not
// reproduced; since then a call frees its own state before it answers, which this contract needs.)
TEST(ClientAsyncTest, AppendAsyncAnswersEachCallOnceAndTheClientMayGoRightAfter) {
  ServerEnv env;
  ASSERT_TRUE(env.Start()) << env.server().output();
  constexpr int kRounds = 20;
  constexpr int kCallsPerRound = 16;
  for (int round = 0; round < kRounds; ++round) {
    std::mutex mu;
    std::condition_variable cv;
    int answered = 0, ok = 0, conflicts = 0;
    std::atomic<int> calls_of_index[kCallsPerRound] = {};
    {
      std::unique_ptr<Client> client = env.ClientWith(env.admin_key);
      const std::string stream = "async-" + std::to_string(round);
      for (int i = 0; i < kCallsPerRound; ++i) {
        v1::AppendRequest request;
        request.set_stream(stream);
        // Every call expects an empty stream: exactly one wins, the others conflict.
        request.mutable_expected()->set_kind(v1::ExpectedVersion::NO_STREAM);
        auto* event = request.add_events();
        event->set_type("Tick");
        event->set_data("{\"i\":" + std::to_string(i) + "}");
        client->AppendAsync(std::move(request), [&, i](Result<v1::AppendResponse> r) {
          calls_of_index[i].fetch_add(1);
          std::lock_guard<std::mutex> lock(mu);
          if (r.ok()) {
            ++ok;
          } else if (r.status().code() == StatusCode::kWrongExpectedVersion &&
                     r.status().detail() == 0) {
            ++conflicts;
          }
          ++answered;
          cv.notify_all();
        });
      }
      std::unique_lock<std::mutex> lock(mu);
      ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(20),
                              [&] { return answered == kCallsPerRound; }));
      // The Client goes here, right after the last answer.
    }
    EXPECT_EQ(ok, 1) << "round " << round;
    EXPECT_EQ(conflicts, kCallsPerRound - 1) << "round " << round;
    for (int i = 0; i < kCallsPerRound; ++i) EXPECT_EQ(calls_of_index[i].load(), 1);
  }
}

}  // namespace
}  // namespace cairn::testing
