// [[quota]] tables of a policy file (policy/quota.h): parsing, validation and which quota a
// principal resolves to.
#include <gtest/gtest.h>

#include <string>

#include "policy/limits.h"
#include "policy/parse.h"

namespace cairn::policy {
namespace CAIRN_UNITY_ID {

std::shared_ptr<const Policy> MustParse(const std::string& text) {
  Result<std::shared_ptr<const Policy>> policy = ParsePolicy(text, "q.toml");
  EXPECT_TRUE(policy.ok()) << policy.status().ToString();
  return policy.ok() ? *policy : std::make_shared<const Policy>();
}

void ExpectQuotaError(const std::string& quota_body, const std::string& needle) {
  Result<std::shared_ptr<const Policy>> policy = ParsePolicy("[[quota]]\n" + quota_body, "q.toml");
  ASSERT_FALSE(policy.ok()) << quota_body;
  EXPECT_EQ(policy.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(policy.status().message().find(needle), std::string::npos)
      << "missing '" << needle << "' in: " << policy.status().message();
  EXPECT_NE(policy.status().message().find("q.toml:"), std::string::npos)
      << policy.status().message();
}

Principal Named(std::string id) {
  Principal p;
  p.id = std::move(id);
  return p;
}

TEST(PolicyQuota, ParsesEveryKey) {
  auto policy = MustParse(R"(
[[quota]]
principal = "jwt:svc-*"
append_events_per_s = 2000
append_bytes_per_s = 8388608
burst_s = 3
)");
  ASSERT_EQ(policy->quotas().size(), 1u);
  const Quota& q = policy->quotas()[0];
  EXPECT_EQ(q.principal.text(), "jwt:svc-*");
  EXPECT_EQ(q.append_events_per_s, 2000u);
  EXPECT_EQ(q.append_bytes_per_s, 8388608u);
  EXPECT_EQ(q.burst_s, 3u);
  EXPECT_EQ(q.label, "quota[0]");
  EXPECT_TRUE(q.Valid());
}

TEST(PolicyQuota, OneRateIsEnoughAndBurstDefaultsToOneSecond) {
  auto policy = MustParse("[[quota]]\nprincipal = \"*\"\nappend_bytes_per_s = 1024\n");
  ASSERT_EQ(policy->quotas().size(), 1u);
  EXPECT_EQ(policy->quotas()[0].append_events_per_s, 0u);  // not limited by events
  EXPECT_EQ(policy->quotas()[0].append_bytes_per_s, 1024u);
  EXPECT_EQ(policy->quotas()[0].burst_s, 1u);
}

TEST(PolicyQuota, RefusesAQuotaWithoutARate) {
  ExpectQuotaError("principal = \"*\"\nburst_s = 2\n", "needs 'append_events_per_s' or");
}

TEST(PolicyQuota, RefusesUnknownKeysAndMissingPrincipal) {
  // A misspelt rate must not silently leave a principal unlimited.
  ExpectQuotaError("principal = \"*\"\nappend_event_per_s = 10\n", "unknown key 'append_event_per_s'");
  ExpectQuotaError("append_events_per_s = 10\n", "missing key 'principal'");
  ExpectQuotaError("principal = \"jwt:a*b\"\nappend_events_per_s = 10\n", "quota[0]");
}

TEST(PolicyQuota, RefusesValuesOutOfRange) {
  ExpectQuotaError("principal = \"*\"\nappend_events_per_s = 0\n", "must be 1..");
  ExpectQuotaError("principal = \"*\"\nappend_events_per_s = -5\n", "must be 1..");
  ExpectQuotaError("principal = \"*\"\nappend_events_per_s = 1073741825\n", "append_events_per_s");
  ExpectQuotaError("principal = \"*\"\nappend_bytes_per_s = 1099511627777\n", "append_bytes_per_s");
  ExpectQuotaError("principal = \"*\"\nappend_events_per_s = 1\nburst_s = 0\n", "'burst_s' must be 1..60");
  ExpectQuotaError("principal = \"*\"\nappend_events_per_s = 1\nburst_s = 61\n", "'burst_s' must be 1..60");
  ExpectQuotaError("principal = \"*\"\nappend_events_per_s = \"10\"\n", "must be an integer");
  ExpectQuotaError("principal = \"*\"\nappend_events_per_s = 1.5\n", "must be an integer");
}

TEST(PolicyQuota, BoundsTheNumberOfQuotas) {
  std::string text;
  for (size_t i = 0; i <= kQuotasMax; ++i) {
    text += "[[quota]]\nprincipal = \"apikey:k" + std::to_string(i) + "\"\nappend_events_per_s = 1\n";
  }
  Result<std::shared_ptr<const Policy>> policy = ParsePolicy(text, "q.toml");
  ASSERT_FALSE(policy.ok());
  EXPECT_NE(policy.status().message().find("more than 256 'quota'"), std::string::npos)
      << policy.status().message();
}

TEST(PolicyQuota, TheFirstMatchingQuotaApplies) {
  auto policy = MustParse(R"(
[[quota]]
principal = "apikey:bulk-loader"
append_events_per_s = 100000
[[quota]]
principal = "apikey:*"
append_events_per_s = 100
[[quota]]
principal = "*"
append_events_per_s = 10
)");
  auto quota_of = [&](const std::string& id) -> int64_t {
    const Quota* q = policy->QuotaOf(policy->Resolve(Named(id)));
    return q == nullptr ? -1 : static_cast<int64_t>(q->append_events_per_s);
  };
  EXPECT_EQ(quota_of("apikey:bulk-loader"), 100000);
  EXPECT_EQ(quota_of("apikey:ci"), 100);
  EXPECT_EQ(quota_of("jwt:alice"), 10);
}

TEST(PolicyQuota, APrincipalNoQuotaMatchesIsNotLimited) {
  auto policy = MustParse("[[quota]]\nprincipal = \"jwt:svc-*\"\nappend_events_per_s = 5\n");
  EXPECT_EQ(policy->QuotaOf(policy->Resolve(Named("apikey:admin"))), nullptr);
  EXPECT_EQ(policy->Resolve(Named("apikey:admin")).quota_index(), -1);
  EXPECT_NE(policy->QuotaOf(policy->Resolve(Named("jwt:svc-orders"))), nullptr);
  // Without [[quota]] tables nobody is limited (the file format before quotas still parses).
  auto plain = MustParse(R"([[role]]
name = "r"
grants = [ { actions = ["read"], streams = ["*"], event_types = ["*"] } ]
)");
  EXPECT_TRUE(plain->quotas().empty());
  EXPECT_EQ(plain->QuotaOf(plain->Resolve(Named("jwt:svc-orders"))), nullptr);
}

TEST(PolicyQuota, QuotasApplyAlongsideRolesAndBindings) {
  auto policy = MustParse(R"(
[[role]]
name = "writer"
grants = [ { actions = ["append"], streams = ["*"], event_types = ["*"] } ]
[[binding]]
principal = "jwt:svc-*"
roles = ["writer"]
[[quota]]
principal = "jwt:svc-*"
append_events_per_s = 50
)");
  const ResolvedPrincipal resolved = policy->Resolve(Named("jwt:svc-a"));
  EXPECT_TRUE(policy->Decide(resolved, Action::kAppend, "s", "T").allowed);
  ASSERT_NE(policy->QuotaOf(resolved), nullptr);
  EXPECT_EQ(policy->QuotaOf(resolved)->append_events_per_s, 50u);
}

}  // namespace CAIRN_UNITY_ID
}  // namespace cairn::policy
