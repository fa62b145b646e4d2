#include <gtest/gtest.h>

#include "policy/policy.h"
#include "policy_test_util.h"

namespace cairn::policy {
namespace CAIRN_UNITY_ID {

using testing::MakePrincipal;
using testing::MustParse;

constexpr char kOrders[] = R"(
[[role]]
name = "order-service"
grants = [
  { actions = ["append"], streams = ["order-*"], event_types = ["OrderCreated", "OrderCancelled"] },
  { actions = ["read", "subscribe"], streams = ["order-*"], event_types = ["*"] },
]
denies = [ { actions = ["append"], streams = ["order-archive-*"], event_types = ["*"] } ]

[[role]]
name = "reader"
grants = [
  { actions = ["read"], streams = ["*"], event_types = ["OrderCreated", "OrderCancelled"] },
  { actions = ["proof"], streams = ["order-*"], event_types = ["*"] },
]

[[role]]
name = "no-refunds"
denies = [ { actions = ["read"], streams = ["order-*"], event_types = ["RefundIssued"] } ]

[[role]]
name = "admin"
grants = [ { actions = ["admin", "delete", "audit.read"], streams = ["*", "$audit"], event_types = ["*"] } ]

[[binding]]
principal = "apikey:ci-bot"
roles = ["order-service"]

[[binding]]
principal = "jwt:analyst-*"
roles = ["reader"]

[[binding]]
principal = "mtls:spiffe://acme/ops"
roles = ["admin"]
)";

class DecideTest : public ::testing::Test {
 protected:
  std::shared_ptr<const Policy> policy_ = MustParse(kOrders);

  bool Allowed(const Principal& p, Action a, std::string_view stream, std::string_view type) {
    return policy_->Decide(p, a, stream, type).allowed;
  }
};

TEST_F(DecideTest, AppendLimitedToGrantedTypesAndStreams) {
  const Principal bot = MakePrincipal("apikey:ci-bot");
  EXPECT_TRUE(Allowed(bot, Action::kAppend, "order-1", "OrderCreated"));
  EXPECT_TRUE(Allowed(bot, Action::kAppend, "order-1", "OrderCancelled"));
  EXPECT_FALSE(Allowed(bot, Action::kAppend, "order-1", "RefundIssued"));
  EXPECT_FALSE(Allowed(bot, Action::kAppend, "payment-1", "OrderCreated"));
  EXPECT_FALSE(Allowed(bot, Action::kAppend, "payment-1", "RefundIssued"));
  EXPECT_FALSE(Allowed(bot, Action::kDelete, "order-1", ""));
  EXPECT_FALSE(Allowed(bot, Action::kReadPii, "order-1", "OrderCreated"));
}

TEST_F(DecideTest, RuleLabelsNameTheDecidingRule) {
  const Principal bot = MakePrincipal("apikey:ci-bot");
  EXPECT_EQ(policy_->Decide(bot, Action::kAppend, "order-1", "OrderCreated").rule,
            "role:order-service/grant[0]");
  EXPECT_EQ(policy_->Decide(bot, Action::kRead, "order-1", "X").rule,
            "role:order-service/grant[1]");
  EXPECT_EQ(policy_->Decide(bot, Action::kAppend, "order-archive-1", "OrderCreated").rule,
            "role:order-service/deny[0]");
  EXPECT_EQ(policy_->Decide(bot, Action::kAppend, "payment-1", "OrderCreated").rule,
            kDefaultDenyRule);
}

TEST_F(DecideTest, DenyBeatsAllow) {
  const Principal bot = MakePrincipal("apikey:ci-bot");
  const Decision d = policy_->Decide(bot, Action::kAppend, "order-archive-1", "OrderCreated");
  EXPECT_FALSE(d.allowed);
  // The deny covers all types, so the stream as a whole is denied too.
  EXPECT_FALSE(Allowed(bot, Action::kAppend, "order-archive-1", ""));
  // Reading the archive is still granted.
  EXPECT_TRUE(Allowed(bot, Action::kRead, "order-archive-1", "OrderCreated"));
}

TEST_F(DecideTest, DenyFromAnotherRoleBeatsAllow) {
  // order-service grants read of every type; no-refunds (from the token) denies RefundIssued.
  const Principal p = MakePrincipal("apikey:ci-bot", {"no-refunds"});
  EXPECT_FALSE(Allowed(p, Action::kRead, "order-1", "RefundIssued"));
  EXPECT_TRUE(Allowed(p, Action::kRead, "order-1", "OrderCreated"));
  // A deny naming types does not block the stream as a whole.
  EXPECT_TRUE(Allowed(p, Action::kRead, "order-1", ""));
  EXPECT_EQ(policy_->Decide(p, Action::kRead, "order-1", "RefundIssued").rule,
            "role:no-refunds/deny[0]");
}

TEST_F(DecideTest, ReaderFilteredByEventType) {
  const Principal analyst = MakePrincipal("jwt:analyst-7");
  const ResolvedPrincipal r = policy_->Resolve(analyst);
  EXPECT_FALSE(policy_->MayRead(r, "order-1", "RefundIssued"));
  EXPECT_TRUE(policy_->MayRead(r, "order-1", "OrderCreated"));
  EXPECT_TRUE(policy_->MayRead(r, "payment-1", "OrderCancelled"));
  // Stream-level check before a read: some grant exists for the stream.
  EXPECT_TRUE(policy_->Decide(r, Action::kRead, "order-1", "").allowed);
  EXPECT_FALSE(policy_->Decide(r, Action::kAppend, "order-1", "OrderCreated").allowed);
  EXPECT_FALSE(policy_->Decide(r, Action::kSubscribe, "order-1", "OrderCreated").allowed);
}

TEST_F(DecideTest, NonEventTypedActionsUseEmptyType) {
  const Principal analyst = MakePrincipal("jwt:analyst-1");
  EXPECT_TRUE(Allowed(analyst, Action::kProof, "order-1", ""));
  EXPECT_FALSE(Allowed(analyst, Action::kProof, "payment-1", ""));
  const Principal ops = MakePrincipal("mtls:spiffe://acme/ops");
  EXPECT_TRUE(Allowed(ops, Action::kAdmin, "", ""));
  EXPECT_FALSE(Allowed(ops, Action::kAdmin, "$audit-x", ""));
  EXPECT_TRUE(Allowed(ops, Action::kAuditRead, "$audit", ""));
  EXPECT_TRUE(Allowed(ops, Action::kDelete, "order-1", ""));
  EXPECT_FALSE(Allowed(ops, Action::kForget, "order-1", ""));
}

TEST_F(DecideTest, WildcardsDoNotReachSystemStreams) {
  const Principal analyst = MakePrincipal("jwt:analyst-1");
  EXPECT_TRUE(Allowed(analyst, Action::kRead, "anything", "OrderCreated"));
  EXPECT_FALSE(Allowed(analyst, Action::kRead, "$audit", "OrderCreated"));
  const Principal ops = MakePrincipal("mtls:spiffe://acme/ops");
  EXPECT_FALSE(Allowed(ops, Action::kAuditRead, "$other", ""));
}

TEST_F(DecideTest, BindingsExactAndPrefix) {
  EXPECT_TRUE(Allowed(MakePrincipal("apikey:ci-bot"), Action::kAppend, "order-1", "OrderCreated"));
  // Exact binding: no prefix semantics.
  EXPECT_FALSE(Allowed(MakePrincipal("apikey:ci-bot2"), Action::kAppend, "order-1", "OrderCreated"));
  EXPECT_FALSE(Allowed(MakePrincipal("apikey:ci-bo"), Action::kAppend, "order-1", "OrderCreated"));
  // Prefix binding.
  EXPECT_TRUE(Allowed(MakePrincipal("jwt:analyst-"), Action::kRead, "order-1", "OrderCreated"));
  EXPECT_TRUE(Allowed(MakePrincipal("jwt:analyst-x"), Action::kRead, "order-1", "OrderCreated"));
  EXPECT_FALSE(Allowed(MakePrincipal("jwt:analyst"), Action::kRead, "order-1", "OrderCreated"));
  EXPECT_FALSE(Allowed(MakePrincipal("apikey:analyst-1"), Action::kRead, "order-1", "OrderCreated"));
}

TEST_F(DecideTest, TokenRolesUsedAndUnknownIgnored) {
  const Principal p = MakePrincipal("jwt:someone", {"ghost-role", "reader", "Reader"});
  const ResolvedPrincipal r = policy_->Resolve(p);
  ASSERT_EQ(r.role_indices().size(), 1u);
  EXPECT_EQ(policy_->roles()[r.role_indices()[0]].name, "reader");
  EXPECT_TRUE(policy_->MayRead(r, "order-1", "OrderCreated"));
  const Principal only_unknown = MakePrincipal("jwt:someone", {"ghost-role"});
  EXPECT_FALSE(Allowed(only_unknown, Action::kRead, "order-1", "OrderCreated"));
}

TEST_F(DecideTest, BindingAndTokenRolesCombine) {
  const Principal p = MakePrincipal("apikey:ci-bot", {"reader"});
  const ResolvedPrincipal r = policy_->Resolve(p);
  EXPECT_EQ(r.role_indices().size(), 2u);
  EXPECT_TRUE(policy_->Decide(r, Action::kProof, "order-1", "").allowed);
  EXPECT_TRUE(policy_->Decide(r, Action::kAppend, "order-1", "OrderCreated").allowed);
}

TEST_F(DecideTest, DefaultDeny) {
  const Principal nobody = MakePrincipal("apikey:nobody");
  for (uint32_t a = 0; a < kActionCount; ++a) {
    const Decision d = policy_->Decide(nobody, static_cast<Action>(a), "order-1", "OrderCreated");
    EXPECT_FALSE(d.allowed);
    EXPECT_EQ(d.rule, kDefaultDenyRule);
    EXPECT_FALSE(policy_->Decide(nobody, static_cast<Action>(a), "order-1", "").allowed);
  }
}

TEST(EmptyPolicy, DeniesEverything) {
  const Policy empty;
  const Principal p = MakePrincipal("apikey:admin", {"admin"});
  for (uint32_t a = 0; a < kActionCount; ++a) {
    EXPECT_FALSE(empty.Decide(p, static_cast<Action>(a), "s", "t").allowed);
    EXPECT_FALSE(empty.Decide(p, static_cast<Action>(a), "s", "").allowed);
  }
  const std::shared_ptr<const Policy> parsed = MustParse("");
  EXPECT_FALSE(parsed->Decide(p, Action::kAdmin, "", "").allowed);
}

TEST(StarBinding, MatchesEveryPrincipal) {
  const auto policy = MustParse(R"(
[[role]]
name = "health"
grants = [ { actions = ["proof"], streams = ["*"], event_types = ["*"] } ]
[[binding]]
principal = "*"
roles = ["health"]
)");
  EXPECT_TRUE(policy->Decide(MakePrincipal("jwt:x"), Action::kProof, "s", "").allowed);
  EXPECT_TRUE(policy->Decide(MakePrincipal("mtls:y"), Action::kProof, "s", "").allowed);
  EXPECT_FALSE(policy->Decide(MakePrincipal("mtls:y"), Action::kRead, "s", "T").allowed);
}

// A grant on "*" never reaches a system stream, but a deny on "*" does: a role that denies
// everything (an off-boarded principal) also loses what explicit grants on '$' streams gave.
TEST(StarDeny, CoversSystemStreams) {
  const auto policy = MustParse(R"(
[[role]]
name = "auditor"
grants = [ { actions = ["audit.read", "read"], streams = ["$audit", "$parked-*", "orders"], event_types = ["*"] } ]
[[role]]
name = "offboarded"
denies = [ { actions = ["audit.read", "read"], streams = ["*"], event_types = ["*"] } ]
[[role]]
name = "no-orders"
denies = [ { actions = ["read"], streams = ["order*"], event_types = ["*"] } ]
)");
  const Principal auditor = MakePrincipal("jwt:a", {"auditor"});
  EXPECT_TRUE(policy->Decide(auditor, Action::kAuditRead, "$audit", "").allowed);
  EXPECT_TRUE(policy->Decide(auditor, Action::kRead, "$parked-g", "T").allowed);
  const Principal gone = MakePrincipal("jwt:a", {"auditor", "offboarded"});
  EXPECT_FALSE(policy->Decide(gone, Action::kAuditRead, "$audit", "").allowed);
  EXPECT_FALSE(policy->Decide(gone, Action::kRead, "$parked-g", "T").allowed);
  EXPECT_FALSE(policy->Decide(gone, Action::kRead, "orders", "T").allowed);
  EXPECT_EQ(policy->Decide(gone, Action::kAuditRead, "$audit", "").rule, "role:offboarded/deny[0]");
  // A prefix deny stays a prefix: it does not reach '$' streams it does not name.
  const Principal partly = MakePrincipal("jwt:a", {"auditor", "no-orders"});
  EXPECT_FALSE(policy->Decide(partly, Action::kRead, "orders", "T").allowed);
  EXPECT_TRUE(policy->Decide(partly, Action::kRead, "$parked-g", "T").allowed);
}

TEST(ExactStream, MatchesOnlyItself) {
  const auto policy = MustParse(R"(
[[role]]
name = "r"
grants = [ { actions = ["append"], streams = ["order-1", "pay-*"], event_types = ["A"] } ]
)");
  const Principal p = MakePrincipal("jwt:x", {"r"});
  EXPECT_TRUE(policy->Decide(p, Action::kAppend, "order-1", "A").allowed);
  EXPECT_FALSE(policy->Decide(p, Action::kAppend, "order-10", "A").allowed);
  EXPECT_FALSE(policy->Decide(p, Action::kAppend, "order-", "A").allowed);
  EXPECT_TRUE(policy->Decide(p, Action::kAppend, "pay-", "A").allowed);
  EXPECT_TRUE(policy->Decide(p, Action::kAppend, "pay-9", "A").allowed);
  EXPECT_FALSE(policy->Decide(p, Action::kAppend, "pay", "A").allowed);
  EXPECT_FALSE(policy->Decide(p, Action::kAppend, "pay-9", "a").allowed);
}

TEST(Actions, NamesRoundTrip) {
  for (uint32_t a = 0; a < kActionCount; ++a) {
    const Action action = static_cast<Action>(a);
    EXPECT_EQ(ParseAction(ActionName(action)), action);
  }
  EXPECT_EQ(ActionName(Action::kReadPii), "read.pii");
  EXPECT_EQ(ActionName(Action::kAuditRead), "audit.read");
  EXPECT_FALSE(ParseAction("*").has_value());
  EXPECT_FALSE(ParseAction("Append").has_value());
  EXPECT_FALSE(ParseAction("").has_value());
  EXPECT_TRUE(IsEventTyped(Action::kReadPii));
  EXPECT_FALSE(IsEventTyped(Action::kForget));
}

// The gate of a subscription to the whole log: a grant that no deny of all types covers.
TEST(MayActSomewhere, ADenyOfEverythingOrOfEveryGrantedPatternClosesTheWholeLog) {
  const std::shared_ptr<const Policy> policy = MustParse(R"(
[[role]]
name = "sub"
grants = [ { actions = ["subscribe"], streams = ["order-*", "invoice-1"], event_types = ["*"] } ]

[[role]]
name = "kill-switch"
denies = [ { actions = ["subscribe"], streams = ["*"], event_types = ["*"] } ]

[[role]]
name = "no-orders"
denies = [ { actions = ["subscribe"], streams = ["order-*"], event_types = ["*"] } ]

[[role]]
name = "no-invoice"
denies = [ { actions = ["subscribe", "read"], streams = ["invoice-1"], event_types = ["*"] } ]

[[role]]
name = "no-eu-orders"
denies = [ { actions = ["subscribe"], streams = ["order-eu-*"], event_types = ["*"] } ]

[[role]]
name = "no-refund-events"
denies = [ { actions = ["subscribe"], streams = ["*"], event_types = ["RefundIssued"] } ]

[[role]]
name = "read-denied"
denies = [ { actions = ["read"], streams = ["*"], event_types = ["*"] } ]

[[role]]
name = "system"
grants = [ { actions = ["subscribe"], streams = ["$*"], event_types = ["*"] } ]
)");
  const auto may = [&](std::vector<std::string> roles) {
    return policy->MayActSomewhere(policy->Resolve(MakePrincipal("apikey:x", std::move(roles))),
                                   Action::kSubscribe);
  };
  EXPECT_TRUE(may({"sub"}));
  EXPECT_FALSE(may({}));
  EXPECT_FALSE(may({"sub", "kill-switch"}));
  EXPECT_TRUE(may({"sub", "no-orders"})) << "invoice-1 is still granted";
  EXPECT_FALSE(may({"sub", "no-orders", "no-invoice"})) << "every granted pattern is denied";
  EXPECT_TRUE(may({"sub", "no-eu-orders", "no-invoice"})) << "order-us-1 is still granted";
  EXPECT_TRUE(may({"sub", "no-refund-events"})) << "typed denies filter event by event";
  EXPECT_TRUE(may({"sub", "read-denied"})) << "another action's deny";
  EXPECT_TRUE(may({"system", "no-orders"}));
  EXPECT_FALSE(may({"system", "kill-switch"})) << "a deny on * covers system streams";
}

}  // namespace
}  // namespace cairn::policy
