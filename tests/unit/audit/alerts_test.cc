// Alert rules (parsing, strictness), the AlertEngine (each kind fires at its trigger and not
// below, once per dedup window, per-key deduplication, bounded tracking and queue, metrics) and
// the in-process sinks (log line, $alerts writer).
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <nlohmann/json.hpp>

#include "audit/alert_rules.h"
#include "audit/alert_sinks.h"
#include "audit/alerts.h"
#include "audit/metrics.h"
#include "common/log.h"
#include "test_util.h"

namespace cairn::audit {
namespace CAIRN_UNITY_ID {

// ---------------------------------------------------------------------------------------------
// Rules

constexpr const char* kFullFile = R"(
[[rule]]
name = "logins"
kind = "auth_failures"
threshold = 5
window_s = 30
severity = "critical"
dedup_window_s = 120
per_source = false

[[rule]]
name = "denied"
kind = "denied_appends"
threshold = 3
per_principal = true

[[rule]]
name = "integrity"
kind = "integrity_violation"

[[rule]]
name = "keys"
kind = "key_destruction"
severity = "medium"

[[rule]]
name = "posture"
kind = "posture_finding"
min_severity = "medium"

[[rule]]
name = "gap"
kind = "audit_gap"
)";

TEST(AlertRules, ParsesEveryKindWithDefaultsForOmittedKeys) {
  auto rules = ParseAlertRules(kFullFile, "rules.toml");
  ASSERT_TRUE(rules.ok()) << rules.status().ToString();
  ASSERT_EQ(rules->size(), 6u);
  const AlertRule& logins = (*rules)[0];
  EXPECT_EQ(logins.name, "logins");
  EXPECT_EQ(logins.kind, AlertRuleKind::kAuthFailures);
  EXPECT_EQ(logins.threshold, 5u);
  EXPECT_EQ(logins.window_s, 30);
  EXPECT_EQ(logins.severity, AlertSeverity::kCritical);
  EXPECT_EQ(logins.dedup_window_s, 120);
  EXPECT_FALSE(logins.per_source);
  const AlertRule& denied = (*rules)[1];
  EXPECT_TRUE(denied.per_principal);
  EXPECT_TRUE(denied.per_source);  // the default (and not a key of its kind)
  EXPECT_EQ(denied.threshold, 3u);
  EXPECT_EQ(denied.window_s, 60);                      // the kind's default
  EXPECT_EQ(denied.severity, AlertSeverity::kMedium);  // the kind's default
  EXPECT_EQ((*rules)[2].severity, AlertSeverity::kCritical);
  EXPECT_EQ((*rules)[3].severity, AlertSeverity::kMedium);
  EXPECT_EQ((*rules)[4].min_severity, AlertSeverity::kMedium);
  EXPECT_EQ((*rules)[5].kind, AlertRuleKind::kAuditGap);
  EXPECT_EQ((*rules)[5].severity, AlertSeverity::kHigh);  // the kind's default
}

TEST(AlertRules, EmptyFileHasNoRules) {
  auto rules = ParseAlertRules("", "empty.toml");
  ASSERT_TRUE(rules.ok());
  EXPECT_TRUE(rules->empty());
}

TEST(AlertRules, DefaultsAreValidAndCoverEveryKind) {
  std::vector<AlertRule> rules = DefaultAlertRules();
  ASSERT_TRUE(CheckAlertRules(rules).ok());
  for (uint32_t k = 0; k < kAlertRuleKindCount; ++k) {
    EXPECT_TRUE(std::any_of(rules.begin(), rules.end(), [&](const AlertRule& r) {
      return r.kind == static_cast<AlertRuleKind>(k);
    })) << AlertRuleKindName(static_cast<AlertRuleKind>(k));
  }
}

struct BadCase {
  const char* text;
  const char* expected;  // a part of the message
};

TEST(AlertRules, RefusesBadFiles) {
  const BadCase cases[] = {
      {"[[rule]]\nname = \"a\"\nkind = \"auth_failures\"\nthreshhold = 3\n", "unknown key 'threshhold'"},
      {"[[rule]]\nname = \"a\"\nkind = \"integrity_violation\"\nthreshold = 3\n", "unknown key 'threshold'"},
      {"[[rule]]\nname = \"a\"\nkind = \"auth_failures\"\nper_principal = true\n", "unknown key 'per_principal'"},
      {"[[rule]]\nname = \"a\"\nkind = \"auth_failures\"\nmin_severity = \"low\"\n", "unknown key 'min_severity'"},
      {"[[rule]]\nname = \"a\"\nkind = \"brute_force\"\n", "unknown kind"},
      {"[[rule]]\nkind = \"auth_failures\"\n", "missing key 'name'"},
      {"[[rule]]\nname = \"a\"\n", "missing key 'kind'"},
      {"[[rule]]\nname = \"A b\"\nkind = \"key_destruction\"\n", "'name' must be"},
      {"[[rule]]\nname = \"a\"\nkind = \"auth_failures\"\nthreshold = 0\n", "'threshold' must be 1..1000"},
      {"[[rule]]\nname = \"a\"\nkind = \"auth_failures\"\nthreshold = 1001\n", "'threshold' must be 1..1000"},
      {"[[rule]]\nname = \"a\"\nkind = \"auth_failures\"\nwindow_s = 0\n", "'window_s' must be"},
      {"[[rule]]\nname = \"a\"\nkind = \"key_destruction\"\ndedup_window_s = 0\n", "'dedup_window_s' must be"},
      {"[[rule]]\nname = \"a\"\nkind = \"key_destruction\"\ndedup_window_s = \"60\"\n", "must be an integer"},
      {"[[rule]]\nname = \"a\"\nkind = \"key_destruction\"\nseverity = \"urgent\"\n", "'severity' must be"},
      {"[[rule]]\nname = \"a\"\nkind = \"denied_appends\"\nper_principal = 1\n", "'per_principal' must be"},
      {"[[rule]]\nname = \"a\"\nkind = \"auth_failures\"\nper_source = \"no\"\n", "'per_source' must be"},
      {"[[rule]]\nname = \"a\"\nkind = \"denied_appends\"\nper_source = false\n", "unknown key 'per_source'"},
      {"[[rule]]\nname = \"a\"\nkind = \"key_destruction\"\n[[rule]]\nname = \"a\"\nkind = \"posture_finding\"\n",
       "duplicate rule name 'a'"},
      {"rules = 1\n", "unknown key 'rules'"},
      {"rule = 1\n", "'rule' must be a list of tables"},
      {"[[rule]\n", "invalid TOML"},
  };
  for (const BadCase& c : cases) {
    auto rules = ParseAlertRules(c.text, "bad.toml");
    ASSERT_FALSE(rules.ok()) << c.text;
    EXPECT_EQ(rules.status().code(), StatusCode::kInvalidArgument) << c.text;
    EXPECT_NE(rules.status().message().find(c.expected), std::string::npos)
        << c.text << " → " << rules.status().message();
    EXPECT_EQ(rules.status().message().rfind("bad.toml:", 0), 0u) << rules.status().message();
  }
}

TEST(AlertRules, RefusesMoreThanTheRuleLimit) {
  std::string text;
  for (size_t i = 0; i <= kAlertRulesMax; ++i) {
    text += "[[rule]]\nname = \"r" + std::to_string(i) + "\"\nkind = \"key_destruction\"\n";
  }
  auto rules = ParseAlertRules(text, "many.toml");
  ASSERT_FALSE(rules.ok());
  EXPECT_NE(rules.status().message().find("more than 64 rules"), std::string::npos);
}

TEST(AlertRules, LoadRefusesAFileOthersMayWrite) {
  testing::TempDir dir;
  const std::string path = dir.Sub("alerts.toml");
  testing::WriteFile(path, kFullFile);
  ASSERT_EQ(chmod(path.c_str(), 0644), 0);
  ASSERT_TRUE(LoadAlertRules(path).ok());
  ASSERT_EQ(chmod(path.c_str(), 0666), 0);
  auto refused = LoadAlertRules(path);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kFailedPrecondition);
}

// ---------------------------------------------------------------------------------------------
// Engine

// Records every alert delivered; optionally blocks until released (queue bound tests).
class CaptureSink : public AlertSink {
 public:
  void Deliver(const Alert& alert) override {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return !blocked_; });
    alerts_.push_back(alert);
  }
  void Stop() override { stopped_ = true; }
  void Block() {
    std::lock_guard<std::mutex> lock(mu_);
    blocked_ = true;
  }
  void Release() {
    std::lock_guard<std::mutex> lock(mu_);
    blocked_ = false;
    cv_.notify_all();
  }
  std::vector<Alert> alerts() const {
    std::lock_guard<std::mutex> lock(mu_);
    return alerts_;
  }
  bool stopped() const { return stopped_; }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool blocked_ = false;
  std::vector<Alert> alerts_;
  std::atomic<bool> stopped_{false};
};

AlertRule Rule(std::string name, AlertRuleKind kind, uint32_t threshold = 1,
               int64_t window_s = 60, int64_t dedup_window_s = 300) {
  AlertRule rule;
  rule.name = std::move(name);
  rule.kind = kind;
  rule.threshold = threshold;
  rule.window_s = window_s;
  rule.dedup_window_s = dedup_window_s;
  return rule;
}

AuditRecord AuthFailure(const std::string& ip) {
  AuditRecord r;
  r.kind = AuditKind::kAuthFailure;
  r.source_ip = ip;
  r.auth_method = "apikey";
  r.action = "auth";
  r.reason = "invalid credentials";
  r.outcome = "failure";
  return r;
}

AuditRecord Denied(const std::string& action, const std::string& principal) {
  AuditRecord r;
  r.kind = AuditKind::kAccessDenied;
  r.principal = principal;
  r.action = action;
  r.resource = "orders-1";
  r.decision = "deny";
  r.outcome = "failure";
  return r;
}

AuditRecord Admin(const std::string& action, const std::string& outcome = "success") {
  AuditRecord r;
  r.kind = AuditKind::kAdmin;
  r.principal = "ops";
  r.action = action;
  r.resource = "customer-42";
  r.outcome = outcome;
  return r;
}

class AlertEngineTest : public ::testing::Test {
 protected:
  void StartEngine(std::vector<AlertRule> rules, size_t tracked_keys_max = 4096,
                   size_t queue_alerts_max = 1024, MetricsRegistry* metrics = nullptr) {
    auto sink = std::make_unique<CaptureSink>();
    sink_ = sink.get();
    std::vector<std::unique_ptr<AlertSink>> sinks;
    sinks.push_back(std::move(sink));
    AlertEngineOptions options;
    options.now_unix_ms = [this] { return now_ms_.load(); };
    options.tracked_keys_max = tracked_keys_max;
    options.queue_alerts_max = queue_alerts_max;
    options.metrics = metrics;
    auto engine = AlertEngine::Start(std::move(rules), std::move(sinks), std::move(options));
    ASSERT_TRUE(engine.ok()) << engine.status().ToString();
    engine_ = std::move(engine).value();
  }
  std::vector<Alert> Delivered() {
    engine_->Flush();
    return sink_->alerts();
  }
  void Advance(int64_t seconds) { now_ms_ += seconds * 1000; }

  std::atomic<int64_t> now_ms_{1'800'000'000'000};
  CaptureSink* sink_ = nullptr;  // owned by engine_
  std::unique_ptr<AlertEngine> engine_;
};

TEST_F(AlertEngineTest, AuthFailuresFireAtTheThresholdAndNotBelow) {
  StartEngine({Rule("logins", AlertRuleKind::kAuthFailures, 3, 60)});
  engine_->OnAuditRecord(AuthFailure("10.0.0.7"));
  Advance(10);
  engine_->OnAuditRecord(AuthFailure("10.0.0.7"));
  EXPECT_TRUE(Delivered().empty());  // 2 < 3
  Advance(10);
  engine_->OnAuditRecord(AuthFailure("10.0.0.7"));
  std::vector<Alert> alerts = Delivered();
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0].rule, "logins");
  EXPECT_EQ(alerts[0].kind, AlertRuleKind::kAuthFailures);
  EXPECT_EQ(alerts[0].source_ip, "10.0.0.7");
  EXPECT_EQ(alerts[0].count, 3u);
  EXPECT_EQ(alerts[0].window_s, 60);
  EXPECT_EQ(alerts[0].time_unix_ms, now_ms_.load());
  EXPECT_EQ(alerts[0].id.size(), 36u);
  EXPECT_NE(alerts[0].summary.find("10.0.0.7"), std::string::npos);
  EXPECT_EQ(engine_->stats().fired, 1u);
}

TEST_F(AlertEngineTest, FailuresSpreadBeyondTheWindowDoNotFire) {
  StartEngine({Rule("logins", AlertRuleKind::kAuthFailures, 3, 60)});
  for (int i = 0; i < 10; ++i) {
    engine_->OnAuditRecord(AuthFailure("10.0.0.7"));
    Advance(31);  // any 3 consecutive span 62 s > 60 s
  }
  EXPECT_TRUE(Delivered().empty());
}

TEST_F(AlertEngineTest, OncePerDedupWindowThenAgainWithTheSuppressedCount) {
  StartEngine({Rule("logins", AlertRuleKind::kAuthFailures, 2, 60, /*dedup_window_s=*/300)});
  for (int i = 0; i < 2; ++i) engine_->OnAuditRecord(AuthFailure("10.0.0.7"));
  ASSERT_EQ(Delivered().size(), 1u);
  // Inside the dedup window: 6 more failures = 3 more crossings, all suppressed.
  for (int i = 0; i < 6; ++i) {
    Advance(20);
    engine_->OnAuditRecord(AuthFailure("10.0.0.7"));
  }
  EXPECT_EQ(Delivered().size(), 1u);
  EXPECT_EQ(engine_->stats().suppressed, 3u);
  // The window ends (300 s after the first alert): the next crossing fires again.
  Advance(300);
  for (int i = 0; i < 2; ++i) engine_->OnAuditRecord(AuthFailure("10.0.0.7"));
  std::vector<Alert> alerts = Delivered();
  ASSERT_EQ(alerts.size(), 2u);
  EXPECT_EQ(alerts[1].suppressed, 3u);
  EXPECT_NE(alerts[0].id, alerts[1].id);
}

TEST_F(AlertEngineTest, AuthFailuresAreCountedAndDeduplicatedPerAddress) {
  StartEngine({Rule("logins", AlertRuleKind::kAuthFailures, 3, 60)});
  for (int i = 0; i < 2; ++i) {
    engine_->OnAuditRecord(AuthFailure("10.0.0.1"));
    engine_->OnAuditRecord(AuthFailure("10.0.0.2"));
  }
  EXPECT_TRUE(Delivered().empty());  // 2 + 2, never 3 from one address
  engine_->OnAuditRecord(AuthFailure("10.0.0.2"));
  engine_->OnAuditRecord(AuthFailure("10.0.0.1"));  // its own key: not inside 10.0.0.2's window
  std::vector<Alert> alerts = Delivered();
  ASSERT_EQ(alerts.size(), 2u);
  EXPECT_EQ(alerts[0].source_ip, "10.0.0.2");
  EXPECT_EQ(alerts[1].source_ip, "10.0.0.1");
}

// per_source = false: failures from every address count together, so a guessing attack spread
// over many addresses (each below the per-address threshold) still alerts, once per window.
TEST_F(AlertEngineTest, AuthFailuresFromAllSourcesTogether) {
  AlertRule all = Rule("logins-all", AlertRuleKind::kAuthFailures, 10, 60);
  all.per_source = false;
  StartEngine({Rule("logins", AlertRuleKind::kAuthFailures, 3, 60), all});
  for (int i = 0; i < 9; ++i) engine_->OnAuditRecord(AuthFailure("10.0.1." + std::to_string(i)));
  EXPECT_TRUE(Delivered().empty());  // 9 addresses, 1 each: below both
  engine_->OnAuditRecord(AuthFailure("10.0.2.1"));
  std::vector<Alert> alerts = Delivered();
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0].rule, "logins-all");
  EXPECT_EQ(alerts[0].count, 10u);
  EXPECT_TRUE(alerts[0].source_ip.empty());
  EXPECT_NE(alerts[0].summary.find("any address"), std::string::npos) << alerts[0].summary;
  // The built-in rules include one.
  const std::vector<AlertRule> defaults = DefaultAlertRules();
  EXPECT_TRUE(std::any_of(defaults.begin(), defaults.end(), [](const AlertRule& r) {
    return r.kind == AlertRuleKind::kAuthFailures && !r.per_source;
  }));
}

TEST_F(AlertEngineTest, DeniedAppendsCountOnlyAppendDenials) {
  StartEngine({Rule("denied", AlertRuleKind::kDeniedAppends, 3, 60)});
  engine_->OnAuditRecord(Denied("read", "alice"));
  engine_->OnAuditRecord(Denied("subscribe", "alice"));
  engine_->OnAuditRecord(Denied("append", "alice"));
  engine_->OnAuditRecord(Denied("append", "bob"));
  engine_->OnAuditRecord(AuthFailure("10.0.0.1"));
  EXPECT_TRUE(Delivered().empty());
  engine_->OnAuditRecord(Denied("append", "carol"));  // all principals together: the 3rd
  std::vector<Alert> alerts = Delivered();
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0].kind, AlertRuleKind::kDeniedAppends);
  EXPECT_TRUE(alerts[0].principal.empty());
}

TEST_F(AlertEngineTest, DeniedAppendsPerPrincipal) {
  AlertRule rule = Rule("denied", AlertRuleKind::kDeniedAppends, 2, 60);
  rule.per_principal = true;
  StartEngine({rule});
  engine_->OnAuditRecord(Denied("append", "alice"));
  engine_->OnAuditRecord(Denied("append", "bob"));
  EXPECT_TRUE(Delivered().empty());
  engine_->OnAuditRecord(Denied("append", "bob"));
  std::vector<Alert> alerts = Delivered();
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0].principal, "bob");
}

TEST_F(AlertEngineTest, AnyIntegrityViolationFiresOncePerWindow) {
  StartEngine({Rule("integrity", AlertRuleKind::kIntegrityViolation, 1, 60, 60)});
  AuditRecord r;
  r.kind = AuditKind::kIntegrityViolation;
  r.action = "scrub";
  r.reason = "leaf hash mismatch";
  engine_->OnAuditRecord(r);
  engine_->OnAuditRecord(r);  // the same source within the window: suppressed
  std::vector<Alert> alerts = Delivered();
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0].count, 1u);
  EXPECT_NE(alerts[0].summary.find("leaf hash mismatch"), std::string::npos);
  Advance(61);
  engine_->OnAuditRecord(r);
  alerts = Delivered();
  ASSERT_EQ(alerts.size(), 2u);
  EXPECT_EQ(alerts[1].suppressed, 1u);
}

// A reader's integrity reports (any principal with a read grant may send them) have their own
// window: they never fold the scrub's finding into theirs, before or after it.
TEST_F(AlertEngineTest, AReportNeverSuppressesTheScrubsAlert) {
  StartEngine({Rule("integrity", AlertRuleKind::kIntegrityViolation, 1, 60, 60)});
  AuditRecord report;
  report.kind = AuditKind::kIntegrityViolation;
  report.action = "integrity.report";
  report.principal = "apikey:reader";
  engine_->OnAuditRecord(report);
  engine_->ObserveIntegrityViolation("scrub", "leaf hash mismatch");
  std::vector<Alert> alerts = Delivered();
  ASSERT_EQ(alerts.size(), 2u);
  EXPECT_NE(alerts[1].summary.find("leaf hash mismatch"), std::string::npos);
}

// Failed logins from addresses that rotate inside one IPv6 /64 count as one source.
TEST_F(AlertEngineTest, AuthFailuresFromOneIpv6Slash64CountAsOneSource) {
  StartEngine({Rule("logins", AlertRuleKind::kAuthFailures, 3, 60)});
  engine_->OnAuditRecord(AuthFailure("2001:db8:1:2::a"));
  engine_->OnAuditRecord(AuthFailure("2001:db8:1:2::b"));
  EXPECT_TRUE(Delivered().empty());
  engine_->OnAuditRecord(AuthFailure("2001:db8:1:2:ffff::c"));
  EXPECT_EQ(Delivered().size(), 1u);
}

TEST_F(AlertEngineTest, KeyDestructionFiresOnForgetAndKeyDestroyOnly) {
  StartEngine({Rule("keys", AlertRuleKind::kKeyDestruction, 1, 60, 10)});
  engine_->OnAuditRecord(Admin("key.rotate"));
  engine_->OnAuditRecord(Admin("policy.reload"));
  engine_->OnAuditRecord(Admin("forget", "failure"));  // nothing was destroyed
  AuditRecord not_admin = Admin("forget");
  not_admin.kind = AuditKind::kAccessDenied;
  engine_->OnAuditRecord(not_admin);
  EXPECT_TRUE(Delivered().empty());
  engine_->OnAuditRecord(Admin("forget"));
  Advance(11);
  engine_->OnAuditRecord(Admin("key.destroy"));
  std::vector<Alert> alerts = Delivered();
  ASSERT_EQ(alerts.size(), 2u);
  EXPECT_EQ(alerts[0].principal, "ops");
  // The subject (the record's resource) may be personal: it is not in the alert.
  EXPECT_EQ(EncodeAlertJson(alerts[0]).find("customer-42"), std::string::npos);
}

// Deduplicated per principal: a second principal destroying keys inside the first one's dedup
// window still raises an alert that names it.
TEST_F(AlertEngineTest, KeyDestructionByAnotherPrincipalIsNotHiddenByTheDedupWindow) {
  StartEngine({Rule("keys", AlertRuleKind::kKeyDestruction, 1, 60, 60)});
  engine_->OnAuditRecord(Admin("forget"));  // by "ops"
  Advance(10);
  AuditRecord other = Admin("key.destroy");
  other.principal = "mallory";
  engine_->OnAuditRecord(other);
  engine_->OnAuditRecord(Admin("forget"));  // "ops" again, inside its window: suppressed
  std::vector<Alert> alerts = Delivered();
  ASSERT_EQ(alerts.size(), 2u);
  EXPECT_EQ(alerts[0].principal, "ops");
  EXPECT_EQ(alerts[1].principal, "mallory");
  EXPECT_EQ(engine_->stats().suppressed, 1u);
}

// The trail dropped records: on-call hears of it, not only a metric.
TEST_F(AlertEngineTest, AnAuditGapFiresOncePerWindow) {
  StartEngine({Rule("gap", AlertRuleKind::kAuditGap, 1, 60, 300)});
  engine_->OnAuditRecord(Admin("audit.drop"));  // an admin record of that name is not a gap
  EXPECT_TRUE(Delivered().empty());
  AuditRecord gap;
  gap.kind = AuditKind::kAuditGap;
  gap.action = "audit.drop";
  engine_->OnAuditRecord(gap);
  engine_->OnAuditRecord(gap);
  std::vector<Alert> alerts = Delivered();
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_NE(alerts[0].summary.find("audit records dropped"), std::string::npos);
}

TEST_F(AlertEngineTest, PostureFindingsAtOrAboveMinSeverityPerCheck) {
  StartEngine({Rule("posture", AlertRuleKind::kPostureFinding, 1, 60, 3600)});
  engine_->ObservePosture("tls-off", "medium", "TLS is off");
  engine_->ObservePosture("debug-log", "low", "debug logging is on");
  EXPECT_TRUE(Delivered().empty());  // default min_severity = high
  engine_->ObservePosture("allow-all", "high", "allow_cidrs holds 0.0.0.0/0");
  engine_->ObservePosture("allow-all", "high", "allow_cidrs holds 0.0.0.0/0");  // suppressed
  engine_->ObservePosture("audit-off", "critical", "audit is off");
  engine_->ObservePosture("odd", "bogus", "an unknown severity");  // counts as critical
  std::vector<Alert> alerts = Delivered();
  ASSERT_EQ(alerts.size(), 3u);
  EXPECT_EQ(alerts[0].check_id, "allow-all");
  EXPECT_EQ(alerts[0].severity, AlertSeverity::kHigh);
  EXPECT_EQ(alerts[1].check_id, "audit-off");
  EXPECT_EQ(alerts[1].severity, AlertSeverity::kCritical);
  EXPECT_EQ(alerts[2].check_id, "odd");
  EXPECT_EQ(engine_->stats().suppressed, 1u);
}

TEST_F(AlertEngineTest, PostureMinSeverityIsConfigurable) {
  AlertRule rule = Rule("posture", AlertRuleKind::kPostureFinding);
  rule.min_severity = AlertSeverity::kMedium;
  StartEngine({rule});
  engine_->ObservePosture("tls-off", "low", "x");
  engine_->ObservePosture("tls-off", "medium", "TLS is off");
  EXPECT_EQ(Delivered().size(), 1u);
}

TEST_F(AlertEngineTest, TrackedKeysAreBoundedAndEvictedKeysStartAfresh) {
  StartEngine({Rule("logins", AlertRuleKind::kAuthFailures, 3, 60)}, /*tracked_keys_max=*/4);
  engine_->OnAuditRecord(AuthFailure("10.0.0.0"));
  engine_->OnAuditRecord(AuthFailure("10.0.0.0"));
  for (int i = 1; i <= 10; ++i) engine_->OnAuditRecord(AuthFailure("10.0.0." + std::to_string(i)));
  AlertEngineStats stats = engine_->stats();
  EXPECT_EQ(stats.tracked_keys, 4u);
  EXPECT_EQ(stats.evicted_keys, 7u);
  engine_->OnAuditRecord(AuthFailure("10.0.0.0"));  // its two earlier failures were forgotten
  EXPECT_TRUE(Delivered().empty());
}

// Keys are bounded per rule: authentication failures from many addresses evict only their own
// rule's keys, never another rule's count (here: denied appends of every principal together).
TEST_F(AlertEngineTest, AFloodOfOneRulesKeysDoesNotEvictAnotherRulesCount) {
  StartEngine({Rule("logins", AlertRuleKind::kAuthFailures, 3, 60),
               Rule("denied", AlertRuleKind::kDeniedAppends, 3, 60)},
              /*tracked_keys_max=*/8);
  engine_->OnAuditRecord(Denied("append", "insider"));
  engine_->OnAuditRecord(Denied("append", "insider"));
  for (int i = 0; i < 64; ++i) engine_->OnAuditRecord(AuthFailure("10.9.0." + std::to_string(i)));
  engine_->OnAuditRecord(Denied("append", "insider"));
  std::vector<Alert> alerts = Delivered();
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0].kind, AlertRuleKind::kDeniedAppends);
  EXPECT_EQ(engine_->stats().tracked_keys, 9u);  // 8 addresses (the bound) + the global count
}

TEST_F(AlertEngineTest, FullQueueDropsAndCounts) {
  StartEngine({Rule("logins", AlertRuleKind::kAuthFailures, 1, 60)}, 4096, /*queue=*/2);
  sink_->Block();
  for (int i = 0; i < 10; ++i) engine_->OnAuditRecord(AuthFailure("10.0.1." + std::to_string(i)));
  // One alert may be in the sink, two queued; the rest dropped.
  AlertEngineStats stats = engine_->stats();
  EXPECT_GE(stats.dropped, 7u);
  EXPECT_EQ(stats.fired + stats.dropped, 10u);
  sink_->Release();
  EXPECT_EQ(Delivered().size(), stats.fired);
  // A dropped alert opened no dedup window: its address alerts as soon as there is room.
  engine_->OnAuditRecord(AuthFailure("10.0.1.9"));
  EXPECT_EQ(Delivered().size(), stats.fired + 1);
}

TEST_F(AlertEngineTest, StopDeliversWhatIsQueuedStopsSinksAndIgnoresLaterRecords) {
  StartEngine({Rule("logins", AlertRuleKind::kAuthFailures, 1, 60)});
  engine_->OnAuditRecord(AuthFailure("10.0.0.1"));
  engine_->Stop();
  EXPECT_EQ(sink_->alerts().size(), 1u);
  EXPECT_TRUE(sink_->stopped());
  engine_->OnAuditRecord(AuthFailure("10.0.0.2"));
  EXPECT_EQ(sink_->alerts().size(), 1u);
  EXPECT_EQ(engine_->stats().fired, 1u);
}

TEST_F(AlertEngineTest, ExportsFiredAndSuppressedMetrics) {
  MetricsRegistry metrics;
  StartEngine({Rule("logins", AlertRuleKind::kAuthFailures, 1, 60)}, 4096, 1024, &metrics);
  engine_->OnAuditRecord(AuthFailure("10.0.0.1"));
  engine_->OnAuditRecord(AuthFailure("10.0.0.1"));
  engine_->Flush();
  const std::string text = metrics.RenderPrometheus();
  EXPECT_NE(text.find("cairn_alerts_fired_total{rule_kind=\"auth_failures\",severity=\"high\"} 1"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("cairn_alerts_suppressed_total 1"), std::string::npos) << text;
  EXPECT_EQ(text.find("10.0.0.1"), std::string::npos);  // no address as a label
}

TEST(AlertEngine, StartRefusesBadRulesAndOptions) {
  std::vector<AlertRule> dup = {Rule("a", AlertRuleKind::kKeyDestruction),
                                Rule("a", AlertRuleKind::kPostureFinding)};
  EXPECT_EQ(AlertEngine::Start(dup, {}, {}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(AlertEngine::Start({Rule("a", AlertRuleKind::kAuthFailures, 0)}, {}, {}).status().code(),
            StatusCode::kInvalidArgument);
  AlertEngineOptions options;
  options.queue_alerts_max = 0;
  EXPECT_EQ(AlertEngine::Start({}, {}, options).status().code(), StatusCode::kInvalidArgument);
  std::vector<std::unique_ptr<AlertSink>> null_sink;
  null_sink.push_back(nullptr);
  EXPECT_EQ(AlertEngine::Start({}, std::move(null_sink), {}).status().code(),
            StatusCode::kInvalidArgument);
}

// ---------------------------------------------------------------------------------------------
// Sinks

Alert SampleAlert(AlertSeverity severity) {
  Alert a;
  a.id = "7a0b5c8e-0000-4000-8000-000000000001";
  a.rule = "logins";
  a.kind = AlertRuleKind::kAuthFailures;
  a.severity = severity;
  a.time_unix_ms = 1'800'000'000'123;
  a.summary = "10 authentication failures from 10.0.0.7 within 60 s";
  a.count = 10;
  a.window_s = 60;
  a.suppressed = 2;
  a.source_ip = "10.0.0.7";
  return a;
}

TEST(AlertSinks, AlertJsonHasTheDocumentedFields) {
  nlohmann::json j = nlohmann::json::parse(EncodeAlertJson(SampleAlert(AlertSeverity::kHigh)));
  EXPECT_EQ(j["id"], "7a0b5c8e-0000-4000-8000-000000000001");
  EXPECT_EQ(j["rule"], "logins");
  EXPECT_EQ(j["kind"], "auth_failures");
  EXPECT_EQ(j["severity"], "high");
  EXPECT_EQ(j["time"], "2027-01-15T08:00:00.123Z");
  EXPECT_EQ(j["count"], 10);
  EXPECT_EQ(j["window_s"], 60);
  EXPECT_EQ(j["suppressed"], 2);
  EXPECT_EQ(j["source_ip"], "10.0.0.7");
  EXPECT_FALSE(j.contains("principal"));
  EXPECT_FALSE(j.contains("check_id"));
}

TEST(AlertSinks, StreamSinkWritesTheAlertJsonAndCountsFailures) {
  std::vector<std::string> written;
  bool fail = false;
  StreamAlertSink sink([&](const std::string& body) {
    if (fail) return Status::Unavailable("store closed");
    written.push_back(body);
    return Status::Ok();
  });
  std::vector<std::string> lines;
  log::SetSinkForTest([&](std::string_view line) { lines.emplace_back(line); });
  const Alert alert = SampleAlert(AlertSeverity::kMedium);
  sink.Deliver(alert);
  fail = true;
  sink.Deliver(alert);
  log::SetSinkForTest(nullptr);
  ASSERT_EQ(written.size(), 1u);
  EXPECT_EQ(written[0], EncodeAlertJson(alert));
  EXPECT_EQ(sink.failures(), 1u);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(lines[0].find("alert not written"), std::string::npos);
  EXPECT_EQ(lines[0].find(alert.summary), std::string::npos);  // not the body
}

TEST(AlertSinks, LogSinkLevelFollowsSeverity) {
  std::vector<std::string> lines;
  log::SetSinkForTest([&](std::string_view line) { lines.emplace_back(line); });
  LogAlertSink sink;
  sink.Deliver(SampleAlert(AlertSeverity::kMedium));
  sink.Deliver(SampleAlert(AlertSeverity::kCritical));
  log::SetSinkForTest(nullptr);
  ASSERT_EQ(lines.size(), 2u);
  nlohmann::json warn = nlohmann::json::parse(lines[0]);
  nlohmann::json error = nlohmann::json::parse(lines[1]);
  EXPECT_EQ(warn["log.level"], "warn");
  EXPECT_EQ(error["log.level"], "error");
  EXPECT_EQ(error["cairn.alert.rule"], "logins");
  EXPECT_EQ(error["cairn.alert.severity"], "critical");
  EXPECT_EQ(error["source.ip"], "10.0.0.7");
  EXPECT_EQ(error["event.action"], "alert");
  EXPECT_NE(error["message"].get<std::string>().find("10 authentication failures"),
            std::string::npos);
}

}  // namespace
}  // namespace cairn::audit
