// /metrics and the JSON log lines of a real `cairn serve`: the exposition parses with the strict
// parser (tests/prom_parser.h), counters move by exactly what the test did, histograms are
// consistent, no label carries a stream id or principal, and every log line is ECS-style JSON
// that never holds a token.
#include <gtest/gtest.h>
#include <thread>
#include <chrono>
#include <algorithm>

#include <nlohmann/json.hpp>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "cairn/v1/common.pb.h"
#include "cairn/v1/streams.grpc.pb.h"
#include "interop_tools.h"
#include "loopback_http.h"
#include "prom_parser.h"
#include "server_env.h"

namespace cairn::testing {
namespace CAIRN_UNITY_ID {

constexpr char kStream[] = "order-metrics-7";
constexpr char kPrincipal[] = "metrics-reader-sub";

v1::AppendRequest Events(const std::string& stream, const std::string& type, int n) {
  v1::AppendRequest request;
  request.set_stream(stream);
  for (int i = 0; i < n; ++i) {
    auto* event = request.add_events();
    event->set_type(type);
    event->set_data(R"({"amount":10})");
  }
  return request;
}

class MetricsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(env.Start()) << env.server().output();
    admin = env.ClientWith(env.admin_key);
    bot = env.ClientWith(env.bot_key);
  }

  // GET /metrics, checked for status and content type, parsed strictly.
  PromExposition Scrape() {
    const std::string response = HttpGet(env.server().admin_port(), "/metrics");
    EXPECT_EQ(response.rfind("HTTP/1.1 200", 0), 0u) << response.substr(0, 200);
    EXPECT_NE(response.find("Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"),
              std::string::npos);
    return ParseOrFail(HttpBody(response));
  }

  ServerEnv env;
  std::unique_ptr<Client> admin, bot;
};

TEST_F(MetricsTest, CountersMoveByWhatTheCallsDidAndLabelsStayBounded) {
  const PromExposition before = Scrape();
  ASSERT_FALSE(before.families.empty());

  // 3 appends (1 + 2 + 3 events) by the order service; 2 reads of 6 events each.
  for (int n = 1; n <= 3; ++n) ASSERT_TRUE(bot->Append(Events(kStream, "OrderCreated", n)).ok());
  auto reader = env.ClientWith(env.TokenA("EdDSA", kPrincipal, R"(["order-reader"])"));
  for (int i = 0; i < 2; ++i) {
    v1::ReadRequest request;
    request.set_stream(kStream);
    uint64_t got = 0;
    ASSERT_TRUE(reader->Read(request, [&](const v1::ReadResponse& chunk) {
                        got += chunk.events_size();
                        return true;
                      }).ok());
    EXPECT_EQ(got, 6u);
  }
  // A denial (append of a type the role may not write) and a failed login (an expired token).
  auto denied = bot->Append(Events(kStream, "RefundIssued", 1));
  ASSERT_EQ(denied.status().code(), StatusCode::kPermissionDenied);
  const std::string expired_token = env.TokenA("EdDSA", kPrincipal, "[]", -3600);
  auto failed = env.ClientWith(expired_token)->GetStreamInfo(kStream);
  ASSERT_EQ(failed.status().code(), StatusCode::kUnauthenticated);

  const PromExposition after = Scrape();
  auto delta = [&](const std::string& name, const PromLabels& labels = {}) {
    const double b = before.Value(name, labels);
    return after.Value(name, labels) - (std::isnan(b) ? 0 : b);
  };
  EXPECT_EQ(delta("cairn_append_calls_total"), 3) << "the denied append never reached the store";
  EXPECT_EQ(delta("cairn_append_latency_seconds_count"), 3);
  EXPECT_EQ(delta("cairn_read_calls_total"), 2);
  EXPECT_EQ(delta("cairn_read_events_total"), 12);
  EXPECT_EQ(delta("cairn_denials_total", {{"action", "append"}}), 1);
  EXPECT_EQ(delta("cairn_auth_failures_total", {{"method", "jwt"}, {"reason", "expired"}}), 1);
  EXPECT_GE(delta("cairn_auth_successes_total", {{"method", "apikey"}}), 4);
  EXPECT_GE(delta("cairn_appended_events_total"), 6);
  EXPECT_GE(delta("cairn_commit_batch_events_count"), 3);
  EXPECT_GE(delta("cairn_appended_bytes_total"), 6 * 13);  // {"amount":10} is 13 bytes
  // The data directory was empty at start: every event in the tree was appended by this process.
  EXPECT_EQ(after.Value("cairn_appended_events_total"), after.Value("cairn_tree_size"));
  EXPECT_GE(after.Value("cairn_kms_operations_total", {{"operation", "unwrap"}}), 2);
  EXPECT_EQ(after.Value("cairn_live_subscriptions"), 0);
  EXPECT_EQ(after.Value("cairn_group_consumers"), 0);
  EXPECT_GE(after.Value("cairn_audit_queue_depth"), 0);
  EXPECT_EQ(after.families.at("cairn_append_latency_seconds").type, "histogram");
  EXPECT_EQ(after.families.at("cairn_kms_operation_latency_seconds").type, "histogram");

  for (const std::string& value : after.AllLabelValues()) {
    EXPECT_EQ(value.find(kStream), std::string::npos) << value;
    EXPECT_EQ(value.find(kPrincipal), std::string::npos) << value;
    EXPECT_EQ(value.find("order-service"), std::string::npos) << value;
    EXPECT_EQ(value.find("OrderCreated"), std::string::npos) << value;
    EXPECT_EQ(value.find("127.0.0.1"), std::string::npos) << value;
  }
}

// The exposition as a scraper reads it: the official Prometheus Python client's parser
// (tests/interop/prom_check.py) accepts it after real traffic, every family typed and described,
// counters in _total, histograms cumulative up to +Inf = _count.
TEST_F(MetricsTest, ThePrometheusClientsParserAcceptsTheExposition) {
  const std::string python = std::filesystem::exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
  CAIRN_INTEROP_REQUIRE(RunCommand({python, "-c", "import prometheus_client.parser"}).exit_code == 0,
                        std::string("no prometheus_client for ") + python +
                            " (make test installs python3-prometheus-client)");
  ASSERT_TRUE(bot->Append(Events(kStream, "OrderCreated", 3)).ok());
  v1::ReadRequest read;
  read.set_stream(kStream);
  ASSERT_TRUE(bot->Read(read, [](const v1::ReadResponse&) { return true; }).ok());
  ASSERT_EQ(bot->Append(Events(kStream, "RefundIssued", 1)).status().code(),
            StatusCode::kPermissionDenied);
  ASSERT_EQ(env.ClientWith("cairn_nope_0000")->GetStreamInfo(kStream).status().code(),
            StatusCode::kUnauthenticated);
  const PromExposition ours = Scrape();
  TempDir dir;
  WriteFile(dir.Sub("metrics.txt"), HttpBody(HttpGet(env.server().admin_port(), "/metrics")));
  const std::string script = std::string(CAIRN_SOURCE_DIR) + "/tests/interop/prom_check.py";
  auto checked = RunCommand({python, script, dir.Sub("metrics.txt")});
  std::cout << checked.out;  // the Prometheus client's verdict
  EXPECT_EQ(checked.exit_code, 0) << checked.out << checked.err;
  EXPECT_NE(checked.out.find(std::to_string(ours.families.size()) + " families"), std::string::npos)
      << checked.out << " (our parser: " << ours.families.size() << ")";
  // The checker fails on a broken exposition: a histogram whose +Inf bucket lost a count.
  std::string broken = HttpBody(HttpGet(env.server().admin_port(), "/metrics"));
  const size_t inf = broken.find("cairn_append_latency_seconds_bucket{le=\"+Inf\"} ");
  ASSERT_NE(inf, std::string::npos);
  const size_t value = broken.find(' ', inf) + 1;
  broken.replace(value, broken.find('\n', value) - value, "0");
  WriteFile(dir.Sub("broken.txt"), broken);
  auto refused = RunCommand({python, script, dir.Sub("broken.txt")});
  EXPECT_EQ(refused.exit_code, 1) << refused.out << refused.err;
}

// Every stderr line is one JSON object with the ECS fields; the failed login is logged with its
// method and reason, and no piece of the token appears anywhere in the server's output.
TEST_F(MetricsTest, LogLinesAreEcsJsonAndNeverHoldTheToken) {
  const std::string expired_token = env.TokenA("EdDSA", kPrincipal, "[]", -3600);
  ASSERT_EQ(env.ClientWith(expired_token)->GetStreamInfo(kStream).status().code(),
            StatusCode::kUnauthenticated);
  ASSERT_TRUE(bot->Append(Events(kStream, "OrderCreated", 1)).ok());
  ASSERT_EQ(env.server().Stop(), 0);
  const std::string output = env.server().output();

  std::istringstream lines(output);
  std::string line;
  int json_lines = 0;
  bool saw_auth_failure = false;
  while (std::getline(lines, line)) {
    if (line.rfind("cairn serving ", 0) == 0) continue;  // the one stdout line for the user
    nlohmann::json j;
    ASSERT_NO_THROW(j = nlohmann::json::parse(line)) << line;
    ASSERT_TRUE(j.is_object()) << line;
    ++json_lines;
    const std::string ts = j.at("@timestamp");
    EXPECT_EQ(ts.size(), 24u) << ts;  // 2026-11-30T17:01:02.123Z
    EXPECT_EQ(ts.back(), 'Z');
    const std::string level = j.at("log.level");
    EXPECT_TRUE(level == "debug" || level == "info" || level == "warn" || level == "error");
    EXPECT_TRUE(j.at("message").is_string());
    if (j.value("message", "") == "authentication failed") {
      saw_auth_failure = true;
      EXPECT_EQ(j.value("event.action", ""), "auth");
      EXPECT_EQ(j.value("event.outcome", ""), "failure");
      EXPECT_EQ(j.value("source.ip", ""), "127.0.0.1");
      EXPECT_EQ(j.value("cairn.reason", ""), "token expired");
    }
  }
  EXPECT_GE(json_lines, 3);
  EXPECT_TRUE(saw_auth_failure) << output;
  // No 8-byte piece of the token's signature or claims anywhere (the header is the same for
  // every EdDSA token, so it says nothing; it does not appear either).
  const size_t header_end = expired_token.find('.');
  for (size_t i = header_end + 1; i + 8 <= expired_token.size(); i += 4) {
    ASSERT_EQ(output.find(expired_token.substr(i, 8)), std::string::npos)
        << "token piece at " << i << " in the server output";
  }
  EXPECT_EQ(output.find(expired_token.substr(0, header_end)), std::string::npos);
}

TEST(MetricsLogLevel, WarnLevelDropsInfoLines) {
  ServerEnv env;
  env.extra_config = "[log]\nlevel = \"warn\"\n";
  ASSERT_TRUE(env.Start()) << env.server().output();
  ASSERT_EQ(env.server().Stop(), 0);
  const std::string output = env.server().output();
  EXPECT_EQ(output.find("\"log.level\":\"info\""), std::string::npos) << output;
  EXPECT_NE(output.find("cairn serving "), std::string::npos);
}

// Operators find the busy or stuck part of a server by thread name (top -H, perf, gdb).
TEST_F(MetricsTest, TheServersOwnThreadsCarryTheirNames) {
  ASSERT_GT(env.server().pid(), 0);
  const std::vector<std::string> wanted = {"cairn-sequencer", "cairn-committer", "cairn-scrub",
                                           "cairn-admin",     "cairn-hub-read",  "cairn-hub-send",
                                           "cairn-checkpnt",  "cairn-audit"};
  const std::string tasks = "/proc/" + std::to_string(env.server().pid()) + "/task";
  std::set<std::string> names;
  // A thread names itself when it starts, which may be just after the server says it serves.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  for (;;) {
    names.clear();
    for (const auto& task : std::filesystem::directory_iterator(tasks)) {
      std::ifstream comm(task.path() / "comm");
      std::string name;
      std::getline(comm, name);
      names.insert(name);
    }
    const bool all = std::all_of(wanted.begin(), wanted.end(),
                                 [&](const std::string& w) { return names.count(w) == 1; });
    if (all || std::chrono::steady_clock::now() > deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  for (const std::string& want : wanted) EXPECT_EQ(names.count(want), 1u) << want << " missing";
}

// A ReadAll whose client stops reading blocks its handler's Write on flow control; after
// limits.write_stall_ms_max the call is cancelled, so the server thread is not held forever.
TEST(ReadStallTest, AReadAllTheClientStopsReadingIsCancelledAfterTheBound) {
  ServerEnv env;
  env.extra_config = "[limits]\nwrite_stall_ms_max = 1000\n";
  ASSERT_TRUE(env.Start()) << env.server().output();
  auto admin = env.ClientWith(env.admin_key);
  const std::string data = R"({"pad":")" + std::string(4000, 'x') + R"("})";
  for (int batch = 0; batch < 100; ++batch) {  // 100 x 50 x 4 KB: far beyond any flow window
    v1::AppendRequest request;
    request.set_stream("bulk-" + std::to_string(batch));
    for (int i = 0; i < 50; ++i) {
      auto* event = request.add_events();
      event->set_type("Bulk");
      event->set_data(data);
    }
    ASSERT_TRUE(admin->Append(request).ok());
  }
  auto stub = v1::Streams::NewStub(admin->channel());
  grpc::ClientContext context;
  context.AddMetadata("authorization", "Bearer " + env.admin_key);
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  v1::ReadAllRequest request;
  auto reader = stub->ReadAll(&context, request);
  v1::ReadResponse first;
  ASSERT_TRUE(reader->Read(&first));  // then stop reading
  double cancelled = 0;
  for (int i = 0; i < 100 && cancelled < 1; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    cancelled = ParseOrFail(HttpBody(HttpGet(env.server().admin_port(), "/metrics")))
                    .Value("cairn_read_stalls_cancelled_total");
  }
  EXPECT_EQ(cancelled, 1.0);
  v1::ReadResponse more;
  while (reader->Read(&more)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
}

}  // namespace
}  // namespace cairn::testing
