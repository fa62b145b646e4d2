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
#include <climits>
#include <optional>

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

TEST(AppendQuotasTest, AShardFullOfDebtorsDropsTheLeastRecentlyCharged) {
  AppendQuotas quotas;
  const policy::Quota q = EventsQuota(1);
  // Every principal deep in debt: none is droppable for being full again. Twice what the table
  // holds: every shard overflows.
  const size_t count = 2 * AppendQuotas::kPrincipalsMax;
  for (size_t i = 0; i < count; ++i) {
    EXPECT_TRUE(quotas.Charge("jwt:d" + std::to_string(i), q, 1000, 0, static_cast<int64_t>(i))
                    .admitted);
  }
  EXPECT_LE(quotas.tracked(), AppendQuotas::kPrincipalsMax);
  // The one charged last is still there (in debt); the one charged first was dropped and
  // starts again from a full bucket.
  EXPECT_FALSE(quotas.Charge("jwt:d" + std::to_string(count - 1), q, 1, 0, 100'000).admitted);
  EXPECT_TRUE(quotas.Charge("jwt:d0", q, 1, 0, 100'000).admitted);
}

TEST(AppendQuotasTest, AClockThatGoesBackRefillsNothing) {
  AppendQuotas quotas;
  const policy::Quota q = EventsQuota(10);
  EXPECT_TRUE(quotas.Charge("jwt:t", q, 20, 0, 10'000).admitted);  // 1 s of debt
  EXPECT_FALSE(quotas.Charge("jwt:t", q, 1, 0, 5'000).admitted);
  const AppendQuotas::Verdict later = quotas.Charge("jwt:t", q, 1, 0, 10'500);
  EXPECT_FALSE(later.admitted);
  EXPECT_EQ(later.retry_after_ms, 500u) << "measured from the latest reading, not the earlier one";
  EXPECT_TRUE(quotas.Charge("jwt:t", q, 1, 0, 11'000).admitted);
}

TEST(AppendQuotasTest, TheLargestRatesBurstsAndAppendsDoNotOverflow) {
  AppendQuotas quotas;
  policy::Quota q = EventsQuota(policy::kQuotaEventsPerSMax, policy::kQuotaBurstSMax);
  q.append_bytes_per_s = policy::kQuotaBytesPerSMax;
  ASSERT_TRUE(q.Valid());
  // An append at the engine's limits (10,000 events, 256 MiB) many times over, and a long idle
  // gap: the buckets stay within capacity and the answers stay exact.
  for (int i = 0; i < 1000; ++i) {
    EXPECT_TRUE(quotas.Charge("jwt:max", q, 10'000, uint64_t{256} << 20, 0).admitted) << i;
  }
  EXPECT_TRUE(quotas.Charge("jwt:max", q, 10'000, uint64_t{256} << 20, INT64_MAX / 2).admitted);
  // The smallest rates with the largest append: the wait is exact, not wrapped.
  const policy::Quota tiny = EventsQuota(1, 1);
  EXPECT_TRUE(quotas.Charge("jwt:tiny", tiny, 10'000, 0, 0).admitted);
  EXPECT_EQ(quotas.Charge("jwt:tiny", tiny, 1, 0, 0).retry_after_ms, 9'999'000u);
  policy::Quota tiny_bytes = EventsQuota(0);
  tiny_bytes.append_bytes_per_s = 1;
  EXPECT_TRUE(quotas.Charge("jwt:tiny-b", tiny_bytes, 1, uint64_t{256} << 20, 0).admitted);
  EXPECT_EQ(quotas.Charge("jwt:tiny-b", tiny_bytes, 1, 1, 0).retry_after_ms,
            ((uint64_t{256} << 20) - 1) * 1000);
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

  EXPECT_FALSE(ChargeAppendQuota(id, "orders-1", 2, 10).has_value());
  // From zero a batch of 20 is admitted, into 10 s of debt (a slow machine cannot repay it
  // before the refusals below).
  EXPECT_FALSE(ChargeAppendQuota(id, "orders-1", 20, 10).has_value());
  const std::optional<QuotaRefusal> refused = ChargeAppendQuota(id, "orders-1", 1, 10);
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(refused->limit, "append_events_per_s");
  EXPECT_EQ(refused->rate, 2u);
  EXPECT_GT(refused->retry_after_ms, 5000u);
  EXPECT_LE(refused->retry_after_ms, 10'000u);
  EXPECT_NE(refused->Message().find("append quota exceeded (append_events_per_s = 2); retry in "),
            std::string::npos)
      << refused->Message();
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(ChargeAppendQuota(id, "orders-1", 1, 10).has_value());

  // On the wire: RESOURCE_EXHAUSTED with ErrorDetail QUOTA_EXCEEDED and the wait.
  const grpc::Status wire = refused->ToGrpc();
  EXPECT_EQ(wire.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(wire.error_message(), refused->Message());
  v1::ErrorDetail detail;
  ASSERT_TRUE(detail.ParseFromString(wire.error_details()));
  EXPECT_EQ(detail.reason(), "QUOTA_EXCEEDED");
  EXPECT_EQ(detail.retry_after_ms(), refused->retry_after_ms);

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

// Other RESOURCE_EXHAUSTED statuses carry details of their own (a live subscriber that fell
// behind: its resume position): they are not quota refusals on the wire.
TEST(ChargeAppendQuotaTest, OtherResourceExhaustedStatusesAreNotQuotaRefusals) {
  const grpc::Status behind =
      ToGrpcStatus(Status(StatusCode::kResourceExhausted, "subscriber fell behind", 123456));
  EXPECT_EQ(behind.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  v1::ErrorDetail detail;
  ASSERT_TRUE(detail.ParseFromString(behind.error_details()));
  EXPECT_EQ(detail.reason(), "RESOURCE_EXHAUSTED");
  EXPECT_FALSE(detail.has_retry_after_ms());
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
  for (int i = 0; i < 100; ++i) EXPECT_FALSE(ChargeAppendQuota(id, "s", 1000, 1 << 20).has_value());
  EXPECT_EQ(quotas.tracked(), 0u);
}

}  // namespace CAIRN_UNITY_ID
}  // namespace cairn::server
