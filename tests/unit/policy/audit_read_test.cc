// `$audit` is read only with audit.read (policy.h): read, subscribe and read.pii grants on "$*"
// do not reach it.
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

// Every API decides audit.read on the trail as a whole: the event type a caller passes (the
// EventStoreDB reads pass each record's) changes nothing.
TEST(AuditReadTest, AuditReadIsDecidedWithoutTheEventType) {
  auto p = MustParse(kPolicy);
  for (std::string_view type : {"", "$admin", "$auth.failure", "Anything"}) {
    EXPECT_TRUE(Allowed(*p, "auditor", Action::kAuditRead, "$audit", type)) << type;
    EXPECT_TRUE(Allowed(*p, "auditor", Action::kRead, "$audit", type)) << type;
    EXPECT_FALSE(Allowed(*p, "muted-auditor", Action::kAuditRead, "$audit", type)) << type;
  }
  // A typed rule on a whole-stream action no longer parses; one built by hand (as an older file
  // could have) must still not make the two APIs disagree.
  Rule grant;
  grant.action_mask = ActionBit(Action::kAuditRead);
  grant.streams.push_back(StreamPattern::Compile("$audit").value());
  grant.event_types = EventTypeSet::Compile({"OnlyThis"}).value();
  grant.label = "role:typed/grant[0]";
  Policy typed({Role{"typed", {grant}, {}}}, {}, "hand-built");
  for (std::string_view type : {"OnlyThis", "Other"}) {
    const bool via_read = Allowed(typed, "typed", Action::kRead, "$audit", type);
    EXPECT_EQ(Allowed(typed, "typed", Action::kAuditRead, "$audit", type), via_read) << type;
  }
}

}  // namespace
}  // namespace cairn::policy
