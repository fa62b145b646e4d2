// Append quotas ([[quota]] in the policy, policy/quota.h) against the real server over cairn.v1:
// a principal past its quota is refused with RESOURCE_EXHAUSTED and a retry-after, nothing of
// the refused append is written, the refusal is audited once per window, others are not
// limited, and the quota comes and goes with a policy reload.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>

#include "server_env.h"

namespace cairn::testing {
namespace CAIRN_UNITY_ID {

v1::AppendRequest OrderEvents(const std::string& stream, int count) {
  v1::AppendRequest request;
  request.set_stream(stream);
  for (int i = 0; i < count; ++i) {
    auto* event = request.add_events();
    event->set_type("OrderCreated");
    event->set_data(R"({"amount":10})");
  }
  return request;
}

// One event per second for the bot (apikey:ci-bot), no burst beyond it.
constexpr char kBotQuota[] = R"(
[[quota]]
principal = "apikey:ci-bot"
append_events_per_s = 1
)";

size_t Count(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

class ServerQuotaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(env.Start()) << env.server().output();
    admin = env.ClientWith(env.admin_key);
    bot = env.ClientWith(env.bot_key);
    policy_without_quota = ReadFile(env.PolicyPath());
  }
  void Reload(const std::string& policy) {
    WriteFile(env.PolicyPath(), policy);
    auto reloaded = admin->ReloadPolicy();
    ASSERT_TRUE(reloaded.ok()) << reloaded.status().ToString();
  }
  uint64_t StreamEvents(const std::string& stream) {
    auto info = admin->GetStreamInfo(stream);
    return info.ok() ? info->event_count() : 0;
  }

  ServerEnv env;
  std::unique_ptr<Client> admin, bot;
  std::string policy_without_quota;
};

TEST_F(ServerQuotaTest, APrincipalPastItsQuotaIsRefusedWithARetryAfterAndNothingIsWritten) {
  Reload(policy_without_quota + kBotQuota);
  // From a full bucket (1 event) a batch of 11 is admitted, leaving 10 events (10 s) of debt:
  // more than a slow machine takes for the calls below.
  ASSERT_TRUE(bot->Append(OrderEvents("order-q1", 11)).ok());
  auto refused = bot->Append(OrderEvents("order-q1", 1));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kResourceExhausted);
  EXPECT_NE(refused.status().message().find("append quota exceeded (append_events_per_s = 1)"),
            std::string::npos)
      << refused.status().message();
  ASSERT_TRUE(refused.status().detail().has_value()) << "the retry-after (ErrorDetail)";
  const int64_t retry_after_ms = *refused.status().detail();
  EXPECT_GT(retry_after_ms, 5000);
  EXPECT_LE(retry_after_ms, 10'000);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(bot->Append(OrderEvents("order-q1", 1)).status().code(),
              StatusCode::kResourceExhausted);
  }
  EXPECT_EQ(StreamEvents("order-q1"), 11u) << "a refused append wrote something";

  // Others are not limited by the bot's quota.
  ASSERT_TRUE(admin->Append(OrderEvents("order-q1", 50)).ok());

  // Four refusals, one audit record in the window (its log line), naming the quota.
  bool logged = false;
  for (int i = 0; i < 100 && !logged; ++i) {
    logged = env.server().output().find("\"cairn.reason\":\"append quota exceeded\"") !=
             std::string::npos;
    if (!logged) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  const std::string out = env.server().output();
  EXPECT_EQ(Count(out, "\"cairn.reason\":\"append quota exceeded\""), 1u) << out;
  EXPECT_NE(out.find("\"cairn.rule\":\"quota[0]\""), std::string::npos) << out;

  // A reload to 100 events/s keeps the debt (10 events), now repaid in 100 ms: the bot appends
  // again soon after.
  std::string faster = kBotQuota;
  faster.replace(faster.find("= 1\n"), 4, "= 100\n");
  Reload(policy_without_quota + faster);
  Result<v1::AppendResponse> again = bot->Append(OrderEvents("order-q1", 1));
  for (int i = 0; i < 100 && !again.ok(); ++i) {
    EXPECT_EQ(again.status().code(), StatusCode::kResourceExhausted);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    again = bot->Append(OrderEvents("order-q1", 1));
  }
  EXPECT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(StreamEvents("order-q1"), 62u);
}

TEST_F(ServerQuotaTest, WhoAmIShowsTheCallersQuota) {
  Reload(policy_without_quota + kBotQuota + R"(
[[quota]]
principal = "apikey:*"
append_bytes_per_s = 4096
burst_s = 3
)");
  auto who = bot->WhoAmI();
  ASSERT_TRUE(who.ok()) << who.status().ToString();
  ASSERT_TRUE(who->has_append_quota()) << "the first matching quota applies";
  EXPECT_EQ(who->append_quota().events_per_s(), 1u);
  EXPECT_EQ(who->append_quota().bytes_per_s(), 0u);
  EXPECT_EQ(who->append_quota().burst_s(), 1u);
  auto admin_who = admin->WhoAmI();
  ASSERT_TRUE(admin_who.ok());
  EXPECT_EQ(admin_who->append_quota().bytes_per_s(), 4096u) << "apikey:admin matches apikey:*";
  EXPECT_EQ(admin_who->append_quota().burst_s(), 3u);
  auto alice = env.ClientWith(env.TokenA("EdDSA", "alice"))->WhoAmI();
  ASSERT_TRUE(alice.ok());
  EXPECT_FALSE(alice->has_append_quota()) << "no quota matches jwt:alice";

  const std::vector<std::string> flags = {"--server", env.server().target(), "--ca", env.CaCert(),
                                          "--token", env.bot_key};
  std::vector<std::string> args = {"whoami"};
  args.insert(args.end(), flags.begin(), flags.end());
  CommandResult text = RunCairn(args);
  EXPECT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find("append quota: 1 events/s burst 1 s"), std::string::npos) << text.out;
  args.push_back("--json");
  CommandResult json = RunCairn(args);
  EXPECT_EQ(json.exit_code, 0) << json.err;
  EXPECT_NE(json.out.find(R"("append_quota":{"events_per_s":1,"bytes_per_s":0,"burst_s":1})"),
            std::string::npos)
      << json.out;
}

TEST_F(ServerQuotaTest, AReloadAddsAndRemovesTheQuota) {
  // No quota yet: the bot appends as fast as it likes.
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(bot->Append(OrderEvents("order-q2", 10)).ok());
  Reload(policy_without_quota + kBotQuota);
  ASSERT_TRUE(bot->Append(OrderEvents("order-q2", 10)).ok());
  EXPECT_EQ(bot->Append(OrderEvents("order-q2", 1)).status().code(),
            StatusCode::kResourceExhausted);
  Reload(policy_without_quota);
  auto freed = bot->Append(OrderEvents("order-q2", 10));
  EXPECT_TRUE(freed.ok()) << freed.status().ToString();
}

TEST_F(ServerQuotaTest, ABytesQuotaCountsDataAndMetadata) {
  // 1200 bytes at once, 20 per second.
  Reload(policy_without_quota + R"(
[[quota]]
principal = "apikey:ci-bot"
append_bytes_per_s = 20
burst_s = 60
)");
  // 701 bytes of data and 601 of metadata: the data alone would leave 499 bytes in the bucket,
  // with the metadata it is 102 bytes (5 s) in debt.
  v1::AppendRequest big = OrderEvents("order-q3", 1);
  big.mutable_events(0)->set_data(R"({"note":")" + std::string(690, 'x') + R"("})");
  big.mutable_events(0)->set_metadata(R"({"m":")" + std::string(593, 'y') + R"("})");
  ASSERT_EQ(big.events(0).data().size() + big.events(0).metadata().size(), 1302u);
  ASSERT_TRUE(bot->Append(big).ok());
  auto refused = bot->Append(OrderEvents("order-q3", 1));
  ASSERT_FALSE(refused.ok()) << "the metadata was not counted";
  EXPECT_NE(refused.status().message().find("append_bytes_per_s = 20)"), std::string::npos)
      << refused.status().message();
  EXPECT_EQ(StreamEvents("order-q3"), 1u);
}

TEST_F(ServerQuotaTest, ADeleteCountsAsOneEventOfTheQuota) {
  Reload(policy_without_quota + R"(
[[quota]]
principal = "apikey:admin"
append_events_per_s = 1
)");
  ASSERT_TRUE(admin->Append(OrderEvents("order-d1", 10)).ok());  // 9 s of debt
  v1::DeleteRequest request;
  request.set_stream("order-d1");
  auto refused = admin->Delete(request);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kResourceExhausted);
  auto info = admin->GetStreamInfo("order-d1");
  ASSERT_TRUE(info.ok());
  EXPECT_FALSE(info->deleted()) << "a refused delete wrote its tombstone";
  // Without the quota the delete goes through.
  Reload(policy_without_quota);
  EXPECT_TRUE(admin->Delete(request).ok());
}

}  // namespace CAIRN_UNITY_ID
}  // namespace cairn::testing
