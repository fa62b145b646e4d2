// A forget whose purge fails after the delete committed (the store answers an error) must not
// leave the subject's unwrapped key in this engine's cache: reads show the erased value at once,
// not the plaintext until the cache's TTL.
#include "customer_rules.h"
#include "engine_test_util.h"
#include "faulty_store.h"

namespace cairn::engine {
namespace CAIRN_UNITY_ID {

class ForgetFaultTest : public EngineTest {
 protected:
  void SetUp() override {
    EngineTest::SetUp();
    ReopenProtected(kCustomerRules, WithFaults(&plan_));
  }

  // The plaintext of the stream's first event as a principal with read.pii sees it.
  std::string ShownData(const std::string& stream) {
    auto events = store_->ReadStream(stream, 0, Direction::kForwards, 10);
    EXPECT_TRUE(events.ok());
    if (!events.ok() || events->events.empty()) return "";
    auto shown = store_->Reveal(events->events[0], /*may_read_pii=*/true);
    EXPECT_TRUE(shown.ok()) << shown.status().ToString();
    return shown.ok() ? shown->data : "";
  }

  FaultPlan plan_;
};

TEST_F(ForgetFaultTest, AForgetWhosePurgeFailsLeavesNoKeyInTheCache) {
  ASSERT_TRUE(store_->Append("c", ExpectedVersion::Any(), One("CustomerRegistered", Customer("erin"))).ok());
  ASSERT_NE(ShownData("c").find("erin@example.com"), std::string::npos);  // the key is cached now
  plan_.fail_destroys_after_delete = true;
  auto forgot = store_->Forget("erin");
  EXPECT_EQ(forgot.status().code(), StatusCode::kIOError);
  EXPECT_EQ(ShownData("c").find("erin@example.com"), std::string::npos)
      << "the failed forget left the key in the cache";
  plan_.fail_destroys_after_delete = false;
  auto again = store_->Forget("erin");  // the index is still there: forget can be run again
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(ShownData("c").find("erin@example.com"), std::string::npos);
}

}  // namespace
}  // namespace cairn::engine
