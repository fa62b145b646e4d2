// Options::protect_rules_must_match_recorded: every open records the digest of its protection
// rules; an offline command's open with other rules (a dev DIR/cairn.toml without [protect] beside
// a server configured elsewhere) refuses client appends instead of storing personal data in the
// clear, and still reads, forgets and writes system records.
#include "customer_rules.h"
#include "engine_test_util.h"

namespace cairn::engine {
namespace CAIRN_UNITY_ID {

class ProtectRulesRecordTest : public EngineTest {
 protected:
  Result<std::unique_ptr<EventStore>> OpenMustMatch(const std::string& rules_file) {
    Options o;
    o.data_dir = dir_;
    o.protect_rules_file = rules_file;
    o.protect_rules_must_match_recorded = true;
    return EventStore::Open(o);
  }
};

TEST_F(ProtectRulesRecordTest, AnOpenThatMustMatchRefusesOtherRulesAndAcceptsTheSame) {
  ReopenProtected(kCustomerRules);  // the server: records its rules
  ASSERT_TRUE(store_->Append("c-0", ExpectedVersion::Any(), One("CustomerRegistered", Customer("bob"))).ok());
  Close();
  {
    auto offline = OpenMustMatch("");  // opens: reads, key acts and system appends go on
    ASSERT_TRUE(offline.ok()) << offline.status().ToString();
    auto refused = (*offline)->Append("c-1", ExpectedVersion::Any(), One("CustomerRegistered", Customer("alice")));
    ASSERT_FALSE(refused.ok()) << "an offline append without the rules was let through";
    EXPECT_EQ(refused.status().code(), StatusCode::kFailedPrecondition);
    EXPECT_NE(refused.status().message().find("other protection rules"), std::string::npos)
        << refused.status().message();
    EXPECT_FALSE((*offline)->Append("other", ExpectedVersion::Any(), One("T", "{}")).ok()) << "any type";
    EXPECT_TRUE((*offline)->Forget("bob").ok());
    EXPECT_TRUE((*offline)->AppendSystem("$audit", ExpectedVersion::Any(), One("$admin", "{}")).ok());
  }

  // The same rules in another file, written differently: accepted, and they protect.
  testing::WriteFile(tmp_.Sub("same.toml"), std::string("# the server's rules\n") + kCustomerRules);
  auto same = OpenMustMatch(tmp_.Sub("same.toml"));
  ASSERT_TRUE(same.ok()) << same.status().ToString();
  ASSERT_TRUE((*same)->Append("c-1", ExpectedVersion::Any(), One("CustomerRegistered", Customer("alice"))).ok());
  auto stored = (*same)->ReadAll(0, 10);
  ASSERT_TRUE(stored.ok());
  ASSERT_FALSE(stored->empty());
  EXPECT_EQ(stored->back().data.find("alice@example.com"), std::string::npos) << "stored in the clear";
  same->reset();

  // A server that drops the rules records that; offline opens follow it.
  Reopen();
  Close();
  auto plain = OpenMustMatch("");
  ASSERT_TRUE(plain.ok());
  EXPECT_TRUE((*plain)->Append("other", ExpectedVersion::Any(), One("T", "{}")).ok());
  plain->reset();
  auto stale = OpenMustMatch(tmp_.Sub("same.toml"));
  ASSERT_TRUE(stale.ok());
  EXPECT_EQ((*stale)->Append("other", ExpectedVersion::Any(), One("T", "{}")).status().code(),
            StatusCode::kFailedPrecondition);
}

}  // namespace CAIRN_UNITY_ID
}  // namespace cairn::engine
