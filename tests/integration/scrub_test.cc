// The scrub inside `cairn serve`, end to end: a clean log keeps cairn_scrub_last_result at 1; a
// record altered on disk while the server was stopped is found by the full scrub after the
// restart — shown in /metrics, recorded as `$integrity.violation` in `$audit` (read with the admin
// key, which holds audit.read on "$*"), alerted in `$alerts`, and logged as an error line.
//
// Two alterations: a record re-sealed with a changed entry (an insider with the storage key
// rewriting history: it decrypts, but its chain no longer links), and flipped bytes (bit rot: it
// no longer decrypts). After the second the engine refuses appends (it cannot rebuild its
// idempotency window over an unreadable recent record), so `$audit` and `$alerts` cannot take the
// records; the metrics and the log lines (also of the alert) still show it.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <optional>
#include <thread>

#include <nlohmann/json.hpp>

#include "loopback_http.h"
#include "prom_parser.h"
#include "server_env.h"
#include "storage/rocksdb/rocks_log_store.h"
#include "storage/rocksdb/rocks_test_hooks.h"
#include "unit/engine/forge_record.h"

namespace cairn::testing {
namespace CAIRN_UNITY_ID {

constexpr int kWaitMaxMs = 30000;
constexpr int kEvents = 12;

v1::AppendRequest OneEvent(int i) {
  v1::AppendRequest request;
  request.set_stream("order-" + std::to_string(i % 3));
  auto* e = request.add_events();
  e->set_type("OrderCreated");
  e->set_data("{\"n\":" + std::to_string(i) + "}");
  return request;
}

class ScrubTest : public ::testing::Test {
 protected:
  void SetUp() override {
    env.audit_enabled = true;
    env.extra_config = "[scrub]\ninterval_s = 10\ndelay_ms = 0\nrecords_per_step_max = 16\n";
    ASSERT_TRUE(env.Start()) << env.server().output();
  }

  // Appends kEvents events; returns the position of one in the middle of the log.
  uint64_t AppendEvents() {
    auto admin = env.ClientWith(env.admin_key);
    uint64_t middle = 0;
    for (int i = 0; i < kEvents; ++i) {
      auto r = admin->Append(OneEvent(i));
      EXPECT_TRUE(r.ok()) << r.status().ToString();
      if (r.ok() && i == kEvents / 2) middle = r->first_position();
    }
    return middle;
  }

  PromExposition Metrics() {
    return ParseOrFail(HttpBody(HttpGet(env.server().admin_port(), "/metrics")));
  }

  // Appends, lets the incremental scrub pass them, stops the server, alters the record in the middle
  // with `alter` and starts the server again; returns that record's position.
  template <typename Alter>
  uint64_t AlterWhileStopped(Alter alter) {
    const uint64_t bad = AppendEvents();
    EXPECT_GT(bad, 0u);
    EXPECT_TRUE(WaitForMetrics([](const PromExposition& m) {
      return Value(m, "cairn_scrub_last_result", "incremental") == 1;
    }));
    EXPECT_EQ(env.server().Stop(), 0) << env.server().output();
    alter(bad);  // not the last record: the server still opens
    EXPECT_TRUE(env.Start()) << env.server().output();
    EXPECT_TRUE(WaitForMetrics([](const PromExposition& m) {
      return Value(m, "cairn_scrub_last_result", "full") == 0;
    })) << env.server().output();
    const PromExposition m = Metrics();
    EXPECT_GE(m.Value("cairn_scrub_failures_total"), 1);
    EXPECT_LE(m.Value("cairn_scrub_verified_tree_size"), static_cast<double>(bad));
    return bad;
  }

  // Stops the server and returns everything it printed.
  std::string StopAndOutput() {
    EXPECT_EQ(env.server().Stop(), 0);
    return env.server().output();
  }

  static double Value(const PromExposition& m, const std::string& name, const std::string& kind) {
    return m.Value(name, {{"kind", kind}});
  }

  // Polls /metrics (bounded) until `done` holds.
  template <typename Pred>
  bool WaitForMetrics(Pred done) {
    for (int waited = 0; waited < kWaitMaxMs; waited += 100) {
      if (done(Metrics())) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  }

  // The events of a system stream, read with the admin key: (type, data as JSON).
  std::vector<std::pair<std::string, nlohmann::json>> ReadStream(const std::string& stream) {
    std::vector<std::pair<std::string, nlohmann::json>> out;
    v1::ReadRequest request;
    request.set_stream(stream);
    Status s = env.ClientWith(env.admin_key)->Read(request, [&](const v1::ReadResponse& chunk) {
      for (const auto& e : chunk.events()) out.emplace_back(e.type(), nlohmann::json::parse(e.data()));
      return true;
    });
    if (!s.ok() && s.code() != StatusCode::kNotFound) ADD_FAILURE() << s.ToString();
    return out;
  }

  // The `$integrity.violation` records of `$audit` with action "scrub".
  std::vector<nlohmann::json> ScrubViolations() {
    std::vector<nlohmann::json> out;
    for (auto& [type, data] : ReadStream("$audit")) {
      if (type == "$integrity.violation" && data.value("action", "") == "scrub") out.push_back(data);
    }
    return out;
  }

  // Re-seals the record with its stream_prev altered (the server must be stopped).
  void ForgeStoredRecord(uint64_t position) {
    engine::Options o;
    o.data_dir = env.DataDir();
    auto store = engine::EventStore::Open(o);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    engine::ForgeBrokenChain(store->get(), position);
  }

  void FlipStoredRecordBytes(uint64_t position) {
    storage::RocksOptions o;
    o.path = env.DataDir() + "/db";
    auto raw = storage::OpenRocksLogStore(o);
    ASSERT_TRUE(raw.ok()) << raw.status().ToString();
    std::string record = (*raw)->ReadRecord(position).value();
    record[record.size() / 2] ^= 0x01;
    ASSERT_TRUE(storage::RawPutRecordForTest(raw->get(), position, record).ok());
  }

  ServerEnv env;
};

TEST_F(ScrubTest, CleanLogKeepsTheLastResultAtOne) {
  AppendEvents();
  const uint64_t size = static_cast<uint64_t>(kEvents);
  ASSERT_TRUE(WaitForMetrics([&](const PromExposition& m) {
    return Value(m, "cairn_scrub_last_result", "incremental") == 1 &&
           Value(m, "cairn_scrub_last_result", "full") == 1 &&
           m.Value("cairn_scrub_verified_tree_size") >= size &&
           m.Value("cairn_scrub_incremental_lag_records") == 0;
  })) << env.server().output();
  const PromExposition m = Metrics();
  EXPECT_EQ(m.Value("cairn_scrub_failures_total"), 0);
  EXPECT_GE(m.Value("cairn_scrub_busy_milliseconds_total"), 0);  // NaN (absent) fails
  EXPECT_GE(m.Value("cairn_scrub_records_checked_total"), size);
  EXPECT_GT(Value(m, "cairn_scrub_last_run_timestamp_seconds", "full"), 0);
  EXPECT_TRUE(ScrubViolations().empty());
}

TEST_F(ScrubTest, ForgedRecordIsFoundAuditedAlertedAndShownInMetrics) {
  const uint64_t bad = AlterWhileStopped([&](uint64_t position) { ForgeStoredRecord(position); });

  std::vector<nlohmann::json> violations;
  for (int waited = 0; waited < kWaitMaxMs && violations.empty(); waited += 100) {
    violations = ScrubViolations();
    if (violations.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_FALSE(violations.empty()) << StopAndOutput();
  const nlohmann::json& v = violations[0];  // the first failed run (one every interval_s)
  EXPECT_EQ(v["outcome"], "failure");
  EXPECT_EQ(v["error_code"], "DATA_LOSS");
  EXPECT_EQ(v["details"]["kind"], "full");
  EXPECT_EQ(v["details"]["position"], std::to_string(bad));
  EXPECT_NE(v["details"]["failure"].get<std::string>().find("stream chain"), std::string::npos) << v.dump();
  EXPECT_EQ(v.dump().find("\\\"n\\\""), std::string::npos);  // no payload

  std::optional<nlohmann::json> alert;  // `$alerts` holds posture alerts of the start too
  for (int waited = 0; waited < kWaitMaxMs && !alert; waited += 100) {
    for (auto& [type, data] : ReadStream("$alerts")) {
      if (type == "$alert" && data.value("kind", "") == "integrity_violation") alert = data;
    }
    if (!alert) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_TRUE(alert.has_value()) << StopAndOutput();
  EXPECT_EQ((*alert)["severity"], "critical");
  EXPECT_NE((*alert)["summary"].get<std::string>().find("scrub"), std::string::npos) << alert->dump();
  EXPECT_NE((*alert)["summary"].get<std::string>().find(std::to_string(bad)), std::string::npos);

  const std::string out = StopAndOutput();
  EXPECT_NE(out.find("\"log.level\":\"error\",\"message\":\"scrub found a mismatch"), std::string::npos) << out;
}

TEST_F(ScrubTest, FlippedRecordBytesAreFoundAlertedAndShownInMetrics) {
  const uint64_t bad = AlterWhileStopped([&](uint64_t position) { FlipStoredRecordBytes(position); });
  const std::string out = StopAndOutput();
  EXPECT_NE(out.find("\"cairn.position\":\"" + std::to_string(bad) + "\""), std::string::npos) << out;
  EXPECT_NE(out.find("record does not authenticate"), std::string::npos) << out;
  EXPECT_NE(out.find("\"message\":\"alert: integrity violation (scrub)"), std::string::npos) << out;
}

}  // namespace
}  // namespace cairn::testing
