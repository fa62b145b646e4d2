#include <gtest/gtest.h>

#include <string>

#include "policy/limits.h"
#include "policy/parse.h"

namespace cairn::policy {
namespace CAIRN_UNITY_ID {

// Parses `text` expecting kInvalidArgument whose message contains every one of `needles`.
void ExpectError(const std::string& text, std::initializer_list<std::string> needles) {
  Result<std::shared_ptr<const Policy>> policy = ParsePolicy(text, "p.toml");
  ASSERT_FALSE(policy.ok()) << text;
  EXPECT_EQ(policy.status().code(), StatusCode::kInvalidArgument);
  for (const std::string& needle : needles) {
    EXPECT_NE(policy.status().message().find(needle), std::string::npos)
        << "missing '" << needle << "' in: " << policy.status().message();
  }
}

constexpr char kGrant[] = R"({ actions = ["read"], streams = ["*"], event_types = ["*"] })";

std::string Role(const std::string& name, const std::string& extra = "") {
  return "[[role]]\nname = \"" + name + "\"\ngrants = [ " + kGrant + " ]\n" + extra;
}

TEST(PolicyParse, UnknownTopLevelKey) {
  ExpectError(Role("a") + "\n[[rolez]]\nname = \"b\"\n", {"p.toml:5:", "unknown key 'rolez'"});
  ExpectError("version = 1\n", {"p.toml:1:", "unknown key 'version'"});
}

TEST(PolicyParse, AllIsNotAStreamPattern) {
  // A deny written on "$all" would deny nothing: refused, naming what to write instead.
  ExpectError(R"([[role]]
name = "a"
grants = [ { actions = ["read"], streams = ["*"], event_types = ["*"] } ]
denies = [ { actions = ["subscribe"], streams = ["$all"], event_types = ["*"] } ]
)",
              {"'$all'", "\"*\""});
  // "$all-archive" and "$all*" are ordinary system-stream patterns.
  EXPECT_TRUE(ParsePolicy(R"([[role]]
name = "a"
grants = [ { actions = ["read"], streams = ["$all-archive", "$all*"], event_types = ["*"] } ]
)",
                          "p.toml")
                  .ok());
}

TEST(PolicyParse, UnknownRoleKey) {
  ExpectError(Role("a", "descripton = \"x\"\n"), {"p.toml:4:", "unknown key 'descripton'", "role[0]"});
}

TEST(PolicyParse, UnknownGrantKey) {
  ExpectError(R"([[role]]
name = "a"
grants = [
  { actions = ["read"], streams = ["*"], event_types = ["*"] },
  { actions = ["read"], streams = ["*"], event_type = ["*"] },
])",
              {"p.toml:5:", "unknown key 'event_type'", "role:a/grant[1]"});
  ExpectError(R"([[role]]
name = "a"
denies = [ { actions = ["read"], stream = ["*"], event_types = ["*"] } ])",
              {"p.toml:3:", "unknown key 'stream'", "role:a/deny[0]"});
}

TEST(PolicyParse, UnknownBindingKey) {
  ExpectError(Role("a") + "[[binding]]\nprincipal = \"jwt:x\"\nroles = [\"a\"]\nrole = \"a\"\n",
              {"p.toml:7:", "unknown key 'role'", "binding[0]"});
}

TEST(PolicyParse, UnknownAction) {
  ExpectError(R"([[role]]
name = "a"
grants = [ { actions = ["read", "apend"], streams = ["*"], event_types = ["*"] } ])",
              {"p.toml:3:", "unknown action 'apend'"});
  ExpectError(R"([[role]]
name = "a"
grants = [ { actions = ["*"], streams = ["*"], event_types = ["*"] } ])",
              {"unknown action '*'"});
}

// Types are not judged for whole-stream actions; a rule that names types for one of them would
// read as narrower (grant) or wider (deny) than it acts, so it is refused.
TEST(PolicyParse, EventTypesOnAWholeStreamActionAreRefused) {
  for (const char* action : {"delete", "forget", "proof", "audit.read", "admin"}) {
    for (const char* list : {"grants", "denies"}) {
      ExpectError(Role("r") + "[[role]]\nname = \"a\"\n" + list + " = [ { actions = [\"read\", \"" +
                      action + "\"], streams = [\"$audit\"], event_types = [\"X\"] } ]\n",
                  {"p.toml:6:", "event_types must be [\"*\"]", "rule of their own"});
    }
  }
  for (uint32_t i = 0; i < kActionCount; ++i) {  // the mask is exactly the untyped actions
    const auto action = static_cast<Action>(i);
    EXPECT_EQ((kWholeStreamActionMask & ActionBit(action)) != 0, !IsEventTyped(action)) << i;
  }
  Result<std::shared_ptr<const Policy>> ok = ParsePolicy(
      R"([[role]]
name = "a"
grants = [ { actions = ["read", "admin"], streams = ["*"], event_types = ["*"] },
           { actions = ["read"], streams = ["*"], event_types = ["X"] } ])",
      "p.toml");
  EXPECT_TRUE(ok.ok()) << ok.status().ToString();
}

TEST(PolicyParse, UndefinedRoleInBinding) {
  ExpectError(Role("a") + "[[binding]]\nprincipal = \"jwt:x\"\nroles = [\"a\", \"b\"]\n",
              {"p.toml:6:", "role 'b' is not defined"});
}

TEST(PolicyParse, DuplicateRole) {
  ExpectError(Role("a") + Role("a"), {"p.toml:5:", "duplicate role name 'a'"});
}

TEST(PolicyParse, BadToml) {
  ExpectError("[[role]]\nname = \"a\nx", {"p.toml:2:", "invalid TOML"});
  ExpectError("[[role]]\nname = ", {"p.toml:", "invalid TOML"});
}

TEST(PolicyParse, EmptyListsAndMissingKeys) {
  ExpectError("[[role]]\nname = \"a\"\ngrants = []\n", {"'grants' is empty"});
  ExpectError("[[role]]\nname = \"a\"\n", {"needs 'grants' or 'denies'"});
  ExpectError("[[role]]\ngrants = [ " + std::string(kGrant) + " ]\n", {"missing key 'name'"});
  ExpectError("[[role]]\nname = \"a\"\ngrants = [ { actions = [], streams = [\"*\"], "
              "event_types = [\"*\"] } ]\n",
              {"'actions' is empty"});
  ExpectError("[[role]]\nname = \"a\"\ngrants = [ { actions = [\"read\"], streams = [], "
              "event_types = [\"*\"] } ]\n",
              {"'streams' is empty"});
  ExpectError("[[role]]\nname = \"a\"\ngrants = [ { actions = [\"read\"], streams = [\"*\"], "
              "event_types = [] } ]\n",
              {"'event_types' is empty"});
  ExpectError("[[role]]\nname = \"a\"\ngrants = [ { actions = [\"delete\"], streams = [\"*\"] } ]\n",
              {"missing key 'event_types'"});
  ExpectError(Role("a") + "[[binding]]\nprincipal = \"jwt:x\"\nroles = []\n", {"'roles' is empty"});
  ExpectError(Role("a") + "[[binding]]\nroles = [\"a\"]\n", {"missing key 'principal'"});
}

TEST(PolicyParse, BadPatterns) {
  auto grant = [](const std::string& streams, const std::string& types) {
    return "[[role]]\nname = \"a\"\ngrants = [ { actions = [\"read\"], streams = " + streams +
           ", event_types = " + types + " } ]\n";
  };
  ExpectError(grant("[\"or*der\"]", "[\"*\"]"), {"'*' is allowed only at the end"});
  ExpectError(grant("[\"\"]", "[\"*\"]"), {"empty stream pattern"});
  ExpectError(grant("[\"a b\"]", "[\"*\"]"), {"space or control"});
  ExpectError(grant("[\"*\"]", "[\"*\", \"A\"]"), {"only entry"});
  ExpectError(grant("[\"*\"]", "[\"Order*\"]"), {"exact names"});
  ExpectError(grant("[\"*\"]", "[\"\"]"), {"empty event type"});
  ExpectError(grant("[\"*\"]", "\"A\""), {"must be a list of strings"});
  ExpectError(grant("[\"*\"]", "[1]"), {"must be a list of strings"});
  ExpectError(Role("a") + "[[binding]]\nprincipal = \"ci-bot\"\nroles = [\"a\"]\n",
              {"must start with jwt:, apikey: or mtls:"});
  ExpectError(Role("a") + "[[binding]]\nprincipal = \"jwt:*x\"\nroles = [\"a\"]\n",
              {"only at the end"});
  ExpectError(Role("bad name"), {"role name 'bad name'"});
}

TEST(PolicyParse, LimitsEnforced) {
  std::string many_roles;
  for (size_t i = 0; i <= kRolesMax; ++i) many_roles += Role("r" + std::to_string(i));
  ExpectError(many_roles, {"more than " + std::to_string(kRolesMax) + " 'role' entries"});

  std::string types = "[";
  for (size_t i = 0; i <= kRuleEventTypesMax; ++i) types += "\"T" + std::to_string(i) + "\",";
  types += "]";
  ExpectError("[[role]]\nname = \"a\"\ngrants = [ { actions = [\"read\"], streams = [\"*\"], "
              "event_types = " + types + " } ]\n",
              {"more than " + std::to_string(kRuleEventTypesMax)});

  ExpectError(Role(std::string(kRoleNameSizeBytesMax + 1, 'x')), {"role name must be"});
  ExpectError("[[role]]\nname = \"a\"\ngrants = [ { actions = [\"read\"], streams = [\"" +
                  std::string(kStreamPatternSizeBytesMax + 1, 's') + "\"], event_types = [\"*\"] } ]\n",
              {"stream pattern longer than"});

  const std::string huge = "# " + std::string(kPolicyFileSizeBytesMax, 'x') + "\n";
  Result<std::shared_ptr<const Policy>> policy = ParsePolicy(huge, "p.toml");
  ASSERT_FALSE(policy.ok());
  EXPECT_EQ(policy.status().code(), StatusCode::kResourceExhausted);
}

TEST(PolicyParse, GrantsAsArrayOfTablesSyntax) {
  Result<std::shared_ptr<const Policy>> policy = ParsePolicy(R"(
[[role]]
name = "a"
[[role.grants]]
actions = ["read"]
streams = ["x-*"]
event_types = ["E"]
)", "p.toml");
  ASSERT_TRUE(policy.ok()) << policy.status().ToString();
  ASSERT_EQ(policy.value()->roles().size(), 1u);
  EXPECT_EQ(policy.value()->roles()[0].grants.size(), 1u);
  EXPECT_EQ(policy.value()->source(), "p.toml");
  EXPECT_EQ(policy.value()->FindRole("a"), 0);
  EXPECT_EQ(policy.value()->FindRole("b"), -1);
}

}  // namespace
}  // namespace cairn::policy
