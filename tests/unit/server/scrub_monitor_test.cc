// ScrubMonitor: scrub results become metrics; a failure also becomes exactly one
// `$integrity.violation` audit record (action "scrub") and one error log line.
#include "server/scrub_monitor.h"

#include <gtest/gtest.h>

#include <cmath>
#include <mutex>
#include <string>
#include <vector>

#include "common/log.h"
#include "prom_parser.h"

namespace cairn::server {
namespace CAIRN_UNITY_ID {

using cairn::testing::PromExposition;

class ScrubMonitorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto trail = audit::AuditTrail::Start({}, [this](const std::vector<audit::AuditRecord>& records) {
      std::lock_guard<std::mutex> lock(mu_);
      written_.insert(written_.end(), records.begin(), records.end());
      return Status::Ok();
    });
    ASSERT_TRUE(trail.ok());
    trail_ = std::move(trail).value();
    log::SetSinkForTest([this](std::string_view line) {
      std::lock_guard<std::mutex> lock(mu_);
      lines_.emplace_back(line);
    });
  }
  void TearDown() override { log::SetSinkForTest(nullptr); }
  PromExposition Scrape() const { return cairn::testing::ParseOrFail(registry_.RenderPrometheus()); }
  static engine::ScrubRun Run(engine::ScrubKind kind, bool ok, uint64_t checked, uint64_t prefix) {
    engine::ScrubRun r;
    r.kind = kind;
    r.ok = ok;
    r.records_checked = checked;
    r.verified_size = prefix;
    r.verified_prefix_size = prefix;
    r.finished_unix_s = 1764522000;
    return r;
  }

  std::mutex mu_;
  std::vector<audit::AuditRecord> written_;
  std::vector<std::string> lines_;
  audit::MetricsRegistry registry_;
  std::unique_ptr<audit::AuditTrail> trail_;
};

TEST_F(ScrubMonitorTest, NoResultIsShownBeforeTheFirstRunAndCleanRunsShowOne) {
  ScrubMonitor monitor(&registry_, trail_.get());
  PromExposition before = Scrape();
  EXPECT_TRUE(std::isnan(before.Value("cairn_scrub_last_result", {{"kind", "full"}})));
  EXPECT_EQ(before.Value("cairn_scrub_failures_total"), 0);
  monitor.OnScrubRun(Run(engine::ScrubKind::kFull, true, 40, 40));
  monitor.OnScrubRun(Run(engine::ScrubKind::kIncremental, true, 7, 47));
  PromExposition after = Scrape();
  EXPECT_EQ(after.Value("cairn_scrub_last_result", {{"kind", "full"}}), 1);
  EXPECT_EQ(after.Value("cairn_scrub_last_result", {{"kind", "incremental"}}), 1);
  EXPECT_EQ(after.Value("cairn_scrub_last_run_timestamp_seconds", {{"kind", "full"}}), 1764522000);
  EXPECT_EQ(after.Value("cairn_scrub_records_checked_total"), 47);
  EXPECT_EQ(after.Value("cairn_scrub_verified_tree_size"), 47);
  EXPECT_EQ(after.Value("cairn_scrub_failures_total"), 0);
  trail_->Flush();
  std::lock_guard<std::mutex> lock(mu_);
  EXPECT_TRUE(written_.empty());
  EXPECT_TRUE(lines_.empty());
}

TEST_F(ScrubMonitorTest, AFailureIsOneAuditRecordOneErrorLineAndMetrics) {
  ScrubMonitor monitor(&registry_, trail_.get());
  engine::ScrubRun bad = Run(engine::ScrubKind::kIncremental, false, 3, 12);
  bad.bad_position = 12;
  bad.failure = "stored leaf hash differs from the recomputed leaf hash";
  monitor.OnScrubRun(bad);
  PromExposition m = Scrape();
  EXPECT_EQ(m.Value("cairn_scrub_last_result", {{"kind", "incremental"}}), 0);
  EXPECT_EQ(m.Value("cairn_scrub_failures_total"), 1);
  EXPECT_EQ(m.Value("cairn_scrub_verified_tree_size"), 12);
  trail_->Flush();
  std::lock_guard<std::mutex> lock(mu_);
  ASSERT_EQ(written_.size(), 1u);
  const audit::AuditRecord& r = written_[0];
  EXPECT_EQ(r.kind, audit::AuditKind::kIntegrityViolation);
  EXPECT_EQ(r.action, "scrub");
  EXPECT_EQ(r.outcome, "failure");
  EXPECT_EQ(r.reason, "incremental scrub mismatch at position 12");
  const auto has = [&](const std::string& k, const std::string& v) {
    for (const auto& [name, value] : r.details) {
      if (name == k) return value == v;
    }
    return false;
  };
  EXPECT_TRUE(has("position", "12"));
  EXPECT_TRUE(has("kind", "incremental"));
  EXPECT_TRUE(has("failure", bad.failure));
  ASSERT_EQ(lines_.size(), 1u);
  EXPECT_NE(lines_[0].find("\"log.level\":\"error\""), std::string::npos) << lines_[0];
  EXPECT_NE(lines_[0].find("\"cairn.position\":\"12\""), std::string::npos) << lines_[0];
}

}  // namespace
}  // namespace cairn::server
