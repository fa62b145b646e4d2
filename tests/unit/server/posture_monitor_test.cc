// PostureMonitor (server/posture_monitor.h): refusal of an unaccepted critical finding, the
// log lines, the cairn_posture_findings gauges and the alerts it feeds.
#include <gtest/gtest.h>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "audit/alert_rules.h"
#include "audit/alerts.h"
#include "audit/metrics.h"
#include "common/log.h"
#include "server/posture_monitor.h"

namespace cairn::server {
namespace CAIRN_UNITY_ID {

class CapturingSink final : public audit::AlertSink {
 public:
  explicit CapturingSink(std::vector<audit::Alert>* out, std::mutex* mu) : out_(out), mu_(mu) {}
  void Deliver(const audit::Alert& alert) override {
    std::lock_guard<std::mutex> lock(*mu_);
    out_->push_back(alert);
  }

 private:
  std::vector<audit::Alert>* out_;
  std::mutex* mu_;
};

class PostureMonitorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    log::SetSinkForTest([this](std::string_view line) {
      std::lock_guard<std::mutex> lock(mu_);
      lines_.emplace_back(line);
    });
    std::vector<std::unique_ptr<audit::AlertSink>> sinks;
    sinks.push_back(std::make_unique<CapturingSink>(&alerts_, &mu_));
    auto engine = audit::AlertEngine::Start(audit::DefaultAlertRules(), std::move(sinks), {});
    ASSERT_TRUE(engine.ok()) << engine.status().ToString();
    engine_ = std::move(engine).value();
    // Loopback, TLS off (low), a password in the DSN (critical), audit off (medium).
    options_.config.tls.enabled = false;
    options_.config.storage.postgres_dsn = "host=db.internal password=hunter2";
    options_.config.audit.enabled = false;
    options_.metrics = &metrics_;
    options_.alerts = engine_.get();
  }
  void TearDown() override { log::SetSinkForTest(nullptr); }

  std::string Log() {
    std::lock_guard<std::mutex> lock(mu_);
    std::string all;
    for (const std::string& l : lines_) all += l + "\n";
    return all;
  }

  std::mutex mu_;
  std::vector<std::string> lines_;
  std::vector<audit::Alert> alerts_;
  audit::MetricsRegistry metrics_;
  std::unique_ptr<audit::AlertEngine> engine_;
  PostureMonitor::Options options_;
};

TEST_F(PostureMonitorTest, RefusesAnUnacceptedCriticalFindingNamingIt) {
  auto monitor = PostureMonitor::Start(options_);
  ASSERT_FALSE(monitor.ok());
  EXPECT_EQ(monitor.status().code(), StatusCode::kFailedPrecondition);
  const std::string& message = monitor.status().message();
  EXPECT_NE(message.find("CAIRN-SECRET-001"), std::string::npos) << message;
  EXPECT_NE(message.find("--accept-risk CAIRN-SECRET-001"), std::string::npos) << message;
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;  // one line
  EXPECT_EQ(message.find("hunter2"), std::string::npos) << message;
  // Accepting another id does not help.
  options_.accepted = {"CAIRN-NET-002"};
  EXPECT_FALSE(PostureMonitor::Start(options_).ok());
}

TEST_F(PostureMonitorTest, AcceptedStartsLogsExportsAndAlerts) {
  options_.accepted = {"CAIRN-SECRET-001"};
  auto monitor = PostureMonitor::Start(options_);
  ASSERT_TRUE(monitor.ok()) << monitor.status().ToString();
  const std::string text = metrics_.RenderPrometheus();
  EXPECT_NE(text.find("cairn_posture_findings{severity=\"critical\"} 1"), std::string::npos) << text;
  EXPECT_NE(text.find("cairn_posture_findings{severity=\"medium\"} 1"), std::string::npos) << text;
  EXPECT_NE(text.find("cairn_posture_findings{severity=\"low\"} 1"), std::string::npos) << text;
  EXPECT_NE(text.find("cairn_posture_findings{severity=\"high\"} 0"), std::string::npos) << text;
  EXPECT_EQ((*monitor)->latest().size(), 3u);

  const std::string log = Log();
  EXPECT_NE(log.find("\"cairn.check_id\":\"CAIRN-SECRET-001\""), std::string::npos) << log;
  EXPECT_NE(log.find("\"event.outcome\":\"accepted\""), std::string::npos) << log;
  EXPECT_NE(log.find("\"cairn.check_id\":\"CAIRN-AUDIT-001\""), std::string::npos) << log;
  EXPECT_EQ(log.find("hunter2"), std::string::npos) << log;

  // Only high and critical findings become alerts (the built-in posture rule: high and above).
  engine_->Flush();
  std::lock_guard<std::mutex> lock(mu_);
  ASSERT_EQ(alerts_.size(), 1u);
  EXPECT_EQ(alerts_[0].check_id, "CAIRN-SECRET-001");
  EXPECT_EQ(alerts_[0].severity, audit::AlertSeverity::kCritical);
}

TEST_F(PostureMonitorTest, StopEndsThePeriodicThread) {
  options_.config.storage.postgres_dsn.clear();
  options_.interval_s = 3600;
  auto monitor = PostureMonitor::Start(options_);
  ASSERT_TRUE(monitor.ok()) << monitor.status().ToString();
  (*monitor)->Stop();  // returns at once although the next run is an hour away
  (*monitor)->Stop();  // idempotent
  EXPECT_EQ((*monitor)->latest().size(), 2u);
}

}  // namespace
}  // namespace cairn::server
