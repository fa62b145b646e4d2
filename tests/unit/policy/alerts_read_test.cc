// `$alerts` is read like `$audit`, only with audit.read (policy.h): a grant of audit.read on
// `$alerts` reads it; read, subscribe and read.pii grants on "$*" do not reach it, and an
// audit.read grant on `$audit` does not reach `$alerts` either.
#include <gtest/gtest.h>

#include "policy/policy.h"
#include "policy_test_util.h"

namespace cairn::policy {
namespace CAIRN_UNITY_ID {

using testing::MakePrincipal;
using testing::MustParse;

constexpr char kPolicy[] = R"(
[[role]]
name = "system-reader"
grants = [ { actions = ["read", "subscribe", "read.pii"], streams = ["$*", "*"], event_types = ["*"] } ]

[[role]]
name = "alert-reader"
grants = [ { actions = ["audit.read"], streams = ["$alerts"], event_types = ["*"] } ]

[[role]]
name = "trail-auditor"
grants = [ { actions = ["audit.read"], streams = ["$audit"], event_types = ["*"] } ]
)";

bool Allowed(const Policy& p, const char* role, Action action, std::string_view type = "") {
  return p.Decide(MakePrincipal("x", {role}), action, kAlertsStreamId, type).allowed;
}

TEST(AlertsReadTest, OnlyAuditReadOnAlertsReadsTheAlerts) {
  auto p = MustParse(kPolicy);
  EXPECT_TRUE(IsAuditReadStream("$alerts"));
  EXPECT_FALSE(IsAuditReadStream("$alerts-x"));
  for (Action a : {Action::kRead, Action::kSubscribe, Action::kReadPii}) {
    EXPECT_FALSE(Allowed(*p, "system-reader", a)) << ActionName(a);
    EXPECT_FALSE(Allowed(*p, "system-reader", a, "$alert")) << ActionName(a);
    EXPECT_TRUE(Allowed(*p, "alert-reader", a, "$alert")) << ActionName(a);
    EXPECT_FALSE(Allowed(*p, "trail-auditor", a, "$alert")) << ActionName(a);
  }
}

}  // namespace
}  // namespace cairn::policy
