// CallAudit and AdminAct over a real AuditTrail whose writer the test holds: admin acts fail
// closed when the queue is full, denials carry the rule, request ids are taken or generated.
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include <gtest/gtest.h>

#include "audit/audit_metrics.h"
#include "policy/parse.h"
#include "server/call_audit.h"

namespace cairn::server {
namespace CAIRN_UNITY_ID {

// A trail writer that the test can hold inside a write.
class HeldWriter {
 public:
  audit::AuditWriter writer() {
    return [this](const std::vector<audit::AuditRecord>& records) {
      std::unique_lock<std::mutex> lock(mu_);
      in_write_ = true;
      cv_.notify_all();
      cv_.wait(lock, [&] { return !held_; });
      for (const auto& r : records) written_.push_back(r);
      return Status::Ok();
    };
  }
  void Hold() { std::lock_guard<std::mutex> l(mu_); held_ = true; }
  void Release() { std::lock_guard<std::mutex> l(mu_); held_ = false; cv_.notify_all(); }
  bool WaitInWrite() {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(10), [&] { return in_write_; });
  }
  std::vector<audit::AuditRecord> written() { std::lock_guard<std::mutex> l(mu_); return written_; }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool held_ = false, in_write_ = false;
  std::vector<audit::AuditRecord> written_;
};

constexpr char kPolicy[] = R"(
[[role]]
name = "ops"
grants = [ { actions = ["admin"], streams = ["*"], event_types = ["*"] } ]
denies = [ { actions = ["forget"], streams = ["*"], event_types = ["*"] } ]
[[binding]]
principal = "apikey:ops"
roles = ["ops"]
)";

struct Fixture {
  HeldWriter writer;
  std::unique_ptr<audit::AuditTrail> trail;
  std::unique_ptr<CallAudit> audit;
  CallIdentity id;

  explicit Fixture(size_t queue) {
    audit::AuditTrailOptions options;
    options.queue_records_max = queue;
    trail = audit::AuditTrail::Start(options, writer.writer()).value();
    audit = std::make_unique<CallAudit>(trail.get(), nullptr);
    id.principal.id = "apikey:ops";
    id.principal.method = AuthMethod::kApiKey;
    id.peer_ip = "127.0.0.1";
    id.request_id = "req-7";
    id.audit = audit.get();
    id.policy = policy::ParsePolicy(kPolicy, "p.toml").value();
    id.resolved = id.policy->Resolve(id.principal);
  }
};

TEST(CallAuditTest, FullQueueRefusesTheAdminActBeforeItHappens) {
  Fixture f(/*queue=*/1);
  f.writer.Hold();
  audit::AuditRecord first;
  first.kind = audit::AuditKind::kAuthFailure;
  f.trail->Submit(first);
  ASSERT_TRUE(f.writer.WaitInWrite());
  audit::AuditRecord filler;
  filler.kind = audit::AuditKind::kAuthFailure;
  ASSERT_TRUE(f.trail->Submit(filler));  // the queue (1 record) is full now

  bool act_ran = false;
  AdminAct act;
  grpc::Status s = AdminAct::Begin(f.id, "policy.reload", "*", &act);
  if (s.ok()) {
    act_ran = true;
    act.Finish(grpc::Status::OK);
  }
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_FALSE(act_ran);
  EXPECT_EQ(f.trail->stats().admin_refused, 1u);

  f.writer.Release();
  f.trail->Flush();
  // With room again the act is done and recorded once, with its outcome.
  AdminAct again;
  ASSERT_TRUE(AdminAct::Begin(f.id, "policy.reload", "*", &again).ok());
  again.AddDetail("generation", "2");
  again.Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "bad policy file /x"));
  f.trail->Flush();
  auto written = f.writer.written();
  ASSERT_EQ(written.size(), 3u);
  const audit::AuditRecord& r = written[2];
  EXPECT_EQ(r.kind, audit::AuditKind::kAdmin);
  EXPECT_EQ(r.action, "policy.reload");
  EXPECT_EQ(r.principal, "apikey:ops");
  EXPECT_EQ(r.request_id, "req-7");
  EXPECT_EQ(r.outcome, "failure");
  EXPECT_EQ(r.error_code, "INVALID_ARGUMENT");
  EXPECT_EQ(r.reason, "");  // never the error text
  ASSERT_EQ(r.details.size(), 1u);
}

// An act that cannot be undone (forget) is answered only after its record is written: a crash
// right after the answer cannot leave an erasure the trail does not show.
TEST(CallAuditTest, ADurableFinishReturnsOnlyOnceTheRecordIsWritten) {
  Fixture f(/*queue=*/8);
  AdminAct act;
  ASSERT_TRUE(AdminAct::Begin(f.id, "forget", "subject-hash:ab", &act).ok());
  f.writer.Hold();
  std::atomic<bool> answered{false};
  std::thread handler([&] {
    act.FinishDurable(grpc::Status::OK);
    answered = true;
  });
  ASSERT_TRUE(f.writer.WaitInWrite());
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_FALSE(answered.load()) << "answered before the record was written";
  EXPECT_TRUE(f.writer.written().empty());
  f.writer.Release();
  handler.join();
  ASSERT_EQ(f.writer.written().size(), 1u);
  EXPECT_EQ(f.writer.written()[0].action, "forget");
}

TEST(CallAuditTest, DenialIsAuditedWithTheRuleAndAnsweredWithoutIt) {
  Fixture f(16);
  grpc::Status s = Require(f.id, policy::Action::kForget, "*", "");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(s.error_message().find("role:"), std::string::npos) << s.error_message();
  EXPECT_TRUE(Require(f.id, policy::Action::kAdmin, "*", "").ok());
  f.trail->Flush();
  auto written = f.writer.written();
  ASSERT_EQ(written.size(), 1u);  // the allowed call is not a security record
  EXPECT_EQ(written[0].kind, audit::AuditKind::kAccessDenied);
  EXPECT_EQ(written[0].rule, "role:ops/deny[0]");
  EXPECT_EQ(written[0].action, "forget");
  EXPECT_EQ(written[0].decision, "deny");
  EXPECT_EQ(written[0].source_ip, "127.0.0.1");
}

// A principal denied at its request rate cannot fill the trail (which cannot be shrunk): its
// share is recorded, every denial is counted and reaches the alert rules, and the next record
// says how many were left out.
TEST(CallAuditTest, ADeniedFloodIsRecordedUpToItsShareAndCountedInFull) {
  audit::MetricsRegistry metrics;
  Fixture f(4096);
  CallAudit audit(f.trail.get(), &metrics);
  f.id.audit = &audit;
  struct Seen : audit::AuditListener {
    void OnAuditRecord(const audit::AuditRecord& r) override { records.push_back(r); }
    std::vector<audit::AuditRecord> records;
  } alerts;
  audit.SetAlertListener(&alerts);
  constexpr int kDenials = 300;
  for (int i = 0; i < kDenials; ++i) {
    EXPECT_EQ(Require(f.id, policy::Action::kForget, "*", "").error_code(),
              grpc::StatusCode::PERMISSION_DENIED);
  }
  f.trail->Flush();
  const auto written = f.writer.written();
  ASSERT_EQ(written.size(), DenialThrottle::kRecordsPerWindowMax);
  for (const auto& r : written) EXPECT_EQ(r.kind, audit::AuditKind::kAccessDenied);
  const uint64_t unrecorded = kDenials - DenialThrottle::kRecordsPerWindowMax;
  EXPECT_EQ(alerts.records.size(), unrecorded) << "the listener of the trail sees the others";
  EXPECT_EQ(audit::DenialCounter(&metrics, "forget")->value(), unrecorded)
      << "the unrecorded ones (recorded ones are counted by AuditMetrics from the trail)";
}

TEST(CallAuditTest, SubjectsAreRecordedOnlyAsTheirHash) {
  const std::string hash(64, 'a');
  EXPECT_EQ(SubjectResource(hash), "subject-hash:" + hash);
}

TEST(CallAuditTest, ACountedAuthFailureIsCountedUnderItsLabelsAndNotRecorded) {
  audit::MetricsRegistry metrics;
  HeldWriter writer;
  auto trail = audit::AuditTrail::Start(audit::AuditTrailOptions{}, writer.writer()).value();
  CallAudit audit(trail.get(), &metrics);
  // The alert rules still see the counted ones (a brute force beyond the rate limit must reach
  // an auth_failures threshold above what the limit lets through), by source.
  struct Seen : audit::AuditListener {
    void OnAuditRecord(const audit::AuditRecord& r) override { records.push_back(r); }
    std::vector<audit::AuditRecord> records;
  } alerts;
  audit.SetAlertListener(&alerts);
  for (int i = 0; i < 3; ++i) {
    audit.AuthFailureCounted("apikey", "too many authentication failures", "10.0.0.9");
  }
  audit.AuthFailureCounted("jwt", "token expired", "");  // a call's later message: no alert
  audit.AuthFailure("req-1", "apikey", "too many authentication failures", "10.0.0.9");
  trail->Stop();
  EXPECT_EQ(writer.written().size(), 1u) << "only AuthFailure leaves a record";
  ASSERT_EQ(alerts.records.size(), 3u);
  EXPECT_EQ(alerts.records[0].kind, audit::AuditKind::kAuthFailure);
  EXPECT_EQ(alerts.records[0].source_ip, "10.0.0.9");
  EXPECT_EQ(audit::AuthFailureCounter(&metrics, "apikey", "too many authentication failures")
                ->value(),
            3u) << "the counted ones (the record is counted by AuditMetrics, not installed here)";
  EXPECT_NE(metrics.RenderPrometheus().find(
                "cairn_auth_failures_total{method=\"apikey\",reason=\"rate_limited\"} 3"),
            std::string::npos)
      << metrics.RenderPrometheus();
}

TEST(CallAuditTest, GrpcCodeNames) {
  EXPECT_EQ(GrpcCodeName(grpc::StatusCode::OK), "");
  EXPECT_EQ(GrpcCodeName(grpc::StatusCode::UNAVAILABLE), "UNAVAILABLE");
  EXPECT_EQ(GrpcCodeName(grpc::StatusCode::PERMISSION_DENIED), "PERMISSION_DENIED");
}

}  // namespace
}  // namespace cairn::server
