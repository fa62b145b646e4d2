// AppendQuotas (server/append_quota.h): token buckets per principal, driven by a test clock; and
// ChargeAppendQuota over a real AuditTrail: the refusal's status, its audit record (throttled)
// and its counter.
#include "server/append_quota.h"

#include <gtest/gtest.h>

#include <mutex>
#include <string>
#include <vector>

#include "audit/metrics.h"
#include "audit/trail.h"
#include "policy/parse.h"
#include "server/call_audit.h"
#include "server/call_gate.h"
#include "server/status_map.h"
#include "cairn/v1/common.pb.h"

namespace cairn::server {
namespace CAIRN_UNITY_ID {

policy::Quota EventsQuota(uint64_t per_s, uint64_t burst_s = 1) {
  policy::Quota q;
  q.principal = policy::PrincipalPattern::Compile("*").value();
  q.append_events_per_s = per_s;
  q.burst_s = burst_s;
  q.label = "quota[0]";
  return q;
}

TEST(AppendQuotasTest, AdmitsTheBurstThenRefusesUntilRefilled) {
  AppendQuotas quotas;
  const policy::Quota q = EventsQuota(10, /*burst_s=*/2);  // 20 events at once, 10 per second
  for (int i = 0; i < 20; ++i) {
    EXPECT_TRUE(quotas.Charge("jwt:a", q, 1, 100, 1000).admitted) << i;
  }
  // The 20 taken leave the bucket at zero: still admitted (not in debt), and now 1 in debt.
  EXPECT_TRUE(quotas.Charge("jwt:a", q, 1, 100, 1000).admitted);
  const AppendQuotas::Verdict refused = quotas.Charge("jwt:a", q, 1, 100, 1000);
  EXPECT_FALSE(refused.admitted);
  EXPECT_EQ(refused.limit, "append_events_per_s");
  EXPECT_EQ(refused.retry_after_ms, 100u) << "one event of debt at 10 per second";
  // A refusal charges nothing: after the wait it names, one append is admitted again.
  EXPECT_FALSE(quotas.Charge("jwt:a", q, 1, 100, 1099).admitted);
  EXPECT_TRUE(quotas.Charge("jwt:a", q, 1, 100, 1100).admitted);
  EXPECT_FALSE(quotas.Charge("jwt:a", q, 1, 100, 1100).admitted);
}

TEST(AppendQuotasTest, TheLongRunRateIsTheQuota) {
  AppendQuotas quotas;
  const policy::Quota q = EventsQuota(100);  // burst 100
  uint64_t admitted = 0;
  // Batches of 10 tried every millisecond for 10 s: at most 100 × 10 + the burst (100) + one
  // batch of debt get in.
  for (int64_t ms = 0; ms < 10'000; ++ms) {
    if (quotas.Charge("apikey:k", q, 10, 0, ms).admitted) admitted += 10;
  }
  EXPECT_LE(admitted, 100u * 10 + 100 + 10);
  EXPECT_GE(admitted, 100u * 10);
}

TEST(AppendQuotasTest, ABatchLargerThanTheBurstGetsInFromAFullBucketAndThenWaits) {
  AppendQuotas quotas;
  const policy::Quota q = EventsQuota(10);  // burst 10
  EXPECT_TRUE(quotas.Charge("jwt:big", q, 1000, 0, 0).admitted) << "never starved for good";
  const AppendQuotas::Verdict next = quotas.Charge("jwt:big", q, 1, 0, 0);
  EXPECT_FALSE(next.admitted);
  EXPECT_EQ(next.retry_after_ms, 99'000u) << "990 events of debt at 10 per second";
  EXPECT_TRUE(quotas.Charge("jwt:big", q, 1, 0, 99'000).admitted);
}

TEST(AppendQuotasTest, BytesAreLimitedOnTheirOwn) {
  AppendQuotas quotas;
  policy::Quota q = EventsQuota(0);
  q.append_bytes_per_s = 1000;
  EXPECT_TRUE(quotas.Charge("jwt:b", q, 1, 1500, 0).admitted);  // 500 bytes of debt
  const AppendQuotas::Verdict refused = quotas.Charge("jwt:b", q, 1, 1, 0);
  EXPECT_FALSE(refused.admitted);
  EXPECT_EQ(refused.limit, "append_bytes_per_s");
  EXPECT_EQ(refused.retry_after_ms, 500u);
  // Events are not limited by this quota: many small appends pass while bytes allow.
  for (int i = 0; i < 100; ++i) EXPECT_TRUE(quotas.Charge("jwt:b", q, 1, 0, 2000).admitted);
}

TEST(AppendQuotasTest, TheLongerWaitOfTwoLimitsIsNamed) {
  AppendQuotas quotas;
  policy::Quota q = EventsQuota(10);
  q.append_bytes_per_s = 100;
  EXPECT_TRUE(quotas.Charge("jwt:c", q, 11, 300, 0).admitted);  // 1 event, 200 bytes of debt
  const AppendQuotas::Verdict refused = quotas.Charge("jwt:c", q, 1, 1, 0);
  EXPECT_FALSE(refused.admitted);
  EXPECT_EQ(refused.limit, "append_bytes_per_s");
  EXPECT_EQ(refused.retry_after_ms, 2000u);
}

TEST(AppendQuotasTest, PrincipalsHaveTheirOwnBuckets) {
  AppendQuotas quotas;
  const policy::Quota q = EventsQuota(1);
  EXPECT_TRUE(quotas.Charge("jwt:svc-a", q, 1, 0, 0).admitted);
  EXPECT_TRUE(quotas.Charge("jwt:svc-a", q, 1, 0, 0).admitted);
  EXPECT_FALSE(quotas.Charge("jwt:svc-a", q, 1, 0, 0).admitted);
  EXPECT_TRUE(quotas.Charge("jwt:svc-b", q, 1, 0, 0).admitted) << "one prefix, two budgets";
  EXPECT_EQ(quotas.tracked(), 2u);
}

TEST(AppendQuotasTest, AReloadedSmallerQuotaClampsTheBucket) {
  AppendQuotas quotas;
  EXPECT_TRUE(quotas.Charge("jwt:r", EventsQuota(1000), 1, 0, 0).admitted);  // 999 left
  const policy::Quota smaller = EventsQuota(2);                              // capacity 2
  EXPECT_TRUE(quotas.Charge("jwt:r", smaller, 1, 0, 1).admitted);
  EXPECT_TRUE(quotas.Charge("jwt:r", smaller, 1, 0, 1).admitted);
  EXPECT_TRUE(quotas.Charge("jwt:r", smaller, 1, 0, 1).admitted);  // from 0: into debt
  EXPECT_FALSE(quotas.Charge("jwt:r", smaller, 1, 0, 1).admitted)
      << "the 999 tokens of the old quota did not survive the reload";
}

TEST(AppendQuotasTest, ARefusedPrincipalIsAuditedOncePerWindow) {
  AppendQuotas quotas;
  const policy::Quota q = EventsQuota(1);
  EXPECT_TRUE(quotas.Charge("jwt:loop", q, 5, 0, 0).admitted);  // 4 events of debt: 4 s
  int audited = 0;
  int refused = 0;
  for (int64_t ms = 0; ms < 3000; ms += 10) {
    const AppendQuotas::Verdict v = quotas.Charge("jwt:loop", q, 1, 0, ms);
    if (v.admitted) continue;
    ++refused;
    if (v.audit) ++audited;
  }
  EXPECT_EQ(refused, 300);
  EXPECT_EQ(audited, 1);
  EXPECT_TRUE(quotas.Charge("jwt:loop", q, 10, 0, 4000).admitted);  // 10 s of debt
  EXPECT_FALSE(quotas.Charge("jwt:loop", q, 1, 0, 9999).audit) << "inside the 10 s window";
  EXPECT_TRUE(quotas.Charge("jwt:loop", q, 1, 0, 10'000).audit) << "a new window";
}

TEST(AppendQuotasTest, MemoryIsBoundedAndIdlePrincipalsGoFirst) {
  AppendQuotas quotas;
  const policy::Quota q = EventsQuota(1, /*burst_s=*/1);
  // One principal in debt for a long time, then more principals than the table holds.
  EXPECT_TRUE(quotas.Charge("jwt:owes", q, 100'000, 0, 0).admitted);
  for (size_t i = 0; i < AppendQuotas::kPrincipalsMax + 1000; ++i) {
    // Each is full again after 1 s: droppable from then.
    quotas.Charge("jwt:p" + std::to_string(i), q, 1, 0, static_cast<int64_t>(i / 64) * 1000);
  }
  EXPECT_LE(quotas.tracked(), AppendQuotas::kPrincipalsMax);
  EXPECT_FALSE(quotas.Charge("jwt:owes", q, 1, 0, 2'000'000).admitted)
      << "a principal in debt outlives idle ones (it is not handed a fresh bucket)";
}

// A trail writer that keeps what it is given.
struct Kept {
  std::mutex mu;
  std::vector<audit::AuditRecord> records;
  audit::AuditWriter writer() {
    return [this](const std::vector<audit::AuditRecord>& batch) {
      std::lock_guard<std::mutex> lock(mu);
      records.insert(records.end(), batch.begin(), batch.end());
      return Status::Ok();
    };
  }
};

TEST(ChargeAppendQuotaTest, RefusalIsResourceExhaustedWithRetryAfterAuditedAndCounted) {
  Kept kept;
  auto trail = audit::AuditTrail::Start(audit::AuditTrailOptions{}, kept.writer()).value();
  audit::MetricsRegistry metrics;
  CallAudit call_audit(trail.get(), &metrics);
  AppendQuotas quotas(&metrics);
  CallIdentity id;
  id.principal.id = "jwt:svc-flood";
  id.principal.method = AuthMethod::kJwt;
  id.peer_ip = "127.0.0.1";
  id.request_id = "req-q";
  id.audit = &call_audit;
  id.quotas = &quotas;
  id.policy = policy::ParsePolicy(R"(
[[quota]]
principal = "jwt:svc-*"
append_events_per_s = 2
)", "p.toml").value();
  id.resolved = id.policy->Resolve(id.principal);

  EXPECT_TRUE(ChargeAppendQuota(id, "orders-1", 2, 10).ok());
  EXPECT_TRUE(ChargeAppendQuota(id, "orders-1", 1, 10).ok());  // from zero, into debt
  const Status refused = ChargeAppendQuota(id, "orders-1", 1, 10);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.code(), StatusCode::kResourceExhausted);
  EXPECT_TRUE(IsQuotaRefusal(refused));
  ASSERT_TRUE(refused.detail().has_value());
  EXPECT_GT(*refused.detail(), 0);
  EXPECT_LE(*refused.detail(), 500);
  EXPECT_NE(refused.message().find("append quota exceeded (append_events_per_s = 2)"),
            std::string::npos)
      << refused.message();
  for (int i = 0; i < 5; ++i) EXPECT_FALSE(ChargeAppendQuota(id, "orders-1", 1, 10).ok());

  // On the wire: RESOURCE_EXHAUSTED with ErrorDetail QUOTA_EXCEEDED and the wait.
  const grpc::Status wire = ToGrpcStatus(refused);
  EXPECT_EQ(wire.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  v1::ErrorDetail detail;
  ASSERT_TRUE(detail.ParseFromString(wire.error_details()));
  EXPECT_EQ(detail.reason(), "QUOTA_EXCEEDED");
  EXPECT_EQ(detail.retry_after_ms(), static_cast<uint64_t>(*refused.detail()));
  // A size limit is not a quota refusal.
  EXPECT_FALSE(IsQuotaRefusal(Status::ResourceExhausted("append larger than 10 bytes")));
  EXPECT_EQ(ToGrpcStatus(Status::ResourceExhausted("x")).error_details().find("QUOTA"),
            std::string::npos);

  trail->Stop();
  std::lock_guard<std::mutex> lock(kept.mu);
  ASSERT_EQ(kept.records.size(), 1u) << "six refusals, one record in the window";
  const audit::AuditRecord& r = kept.records[0];
  EXPECT_EQ(r.kind, audit::AuditKind::kAccessDenied);
  EXPECT_EQ(r.principal, "jwt:svc-flood");
  EXPECT_EQ(r.action, "append");
  EXPECT_EQ(r.resource, "orders-1");
  EXPECT_EQ(r.rule, "quota[0]");
  EXPECT_EQ(r.error_code, "RESOURCE_EXHAUSTED");
  EXPECT_EQ(r.reason, "append quota exceeded");
  EXPECT_NE(metrics.RenderPrometheus().find(
                "cairn_quota_refusals_total{limit=\"append_events_per_s\"} 6"),
            std::string::npos)
      << metrics.RenderPrometheus();
}

TEST(ChargeAppendQuotaTest, WithoutAQuotaNothingIsLimitedOrTracked) {
  AppendQuotas quotas;
  CallIdentity id;
  id.principal.id = "apikey:admin";
  id.quotas = &quotas;
  id.policy = policy::ParsePolicy("[[quota]]\nprincipal = \"jwt:*\"\nappend_events_per_s = 1\n",
                                  "p.toml")
                  .value();
  id.resolved = id.policy->Resolve(id.principal);
  for (int i = 0; i < 100; ++i) EXPECT_TRUE(ChargeAppendQuota(id, "s", 1000, 1 << 20).ok());
  EXPECT_EQ(quotas.tracked(), 0u);
}

}  // namespace CAIRN_UNITY_ID
}  // namespace cairn::server
