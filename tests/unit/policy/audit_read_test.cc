// `$audit` is read only with audit.read (policy.h): read, subscribe and read.pii grants on "$*"
// do not reach it.
#include <gtest/gtest.h>

#include "policy/policy.h"
#include "policy_test_util.h"

namespace cairn::policy {
namespace {

using testing::MakePrincipal;
using testing::MustParse;

constexpr char kPolicy[] = R"(
[[role]]
name = "system-reader"
grants = [ { actions = ["read", "subscribe", "read.pii"], streams = ["$*", "*"], event_types = ["*"] } ]

[[role]]
name = "auditor"
grants = [ { actions = ["audit.read"], streams = ["$audit"], event_types = ["*"] } ]

[[role]]
name = "muted-auditor"
grants = [ { actions = ["audit.read"], streams = ["$audit"], event_types = ["*"] } ]
denies = [ { actions = ["audit.read"], streams = ["$audit"], event_types = ["*"] } ]
)";

bool Allowed(const Policy& p, const char* role, Action action, std::string_view stream,
             std::string_view type) {
  return p.Decide(MakePrincipal("x", {role}), action, stream, type).allowed;
}

TEST(AuditReadTest, ReadAndSubscribeGrantsOnDollarStreamsDoNotReachTheTrail) {
  auto p = MustParse(kPolicy);
  for (Action a : {Action::kRead, Action::kSubscribe, Action::kReadPii}) {
    EXPECT_FALSE(Allowed(*p, "system-reader", a, "$audit", "")) << ActionName(a);
    EXPECT_FALSE(Allowed(*p, "system-reader", a, "$audit", "$auth.failure")) << ActionName(a);
    EXPECT_TRUE(Allowed(*p, "system-reader", a, "$parked-g", "")) << ActionName(a);
  }
  EXPECT_EQ(p->Decide(MakePrincipal("x", {"system-reader"}), Action::kRead, "$audit", "").rule,
            kDefaultDenyRule);
}

TEST(AuditReadTest, AuditReadGrantReadsEveryRecordTypeAndDenyWins) {
  auto p = MustParse(kPolicy);
  EXPECT_TRUE(Allowed(*p, "auditor", Action::kRead, "$audit", "$admin"));
  EXPECT_TRUE(Allowed(*p, "auditor", Action::kSubscribe, "$audit", ""));
  EXPECT_TRUE(Allowed(*p, "auditor", Action::kAuditRead, "$audit", ""));
  EXPECT_FALSE(Allowed(*p, "auditor", Action::kRead, "orders", "T"));  // audit.read is only that
  EXPECT_FALSE(Allowed(*p, "muted-auditor", Action::kRead, "$audit", "$admin"));
  EXPECT_EQ(p->Decide(MakePrincipal("x", {"muted-auditor"}), Action::kRead, "$audit", "").rule,
            "role:muted-auditor/deny[0]");
}

}  // namespace
}  // namespace cairn::policy
