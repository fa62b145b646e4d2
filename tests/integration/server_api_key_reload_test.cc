// API keys reloaded without a restart (Admin.ReloadApiKeys, `cairn reload-api-keys`, SIGHUP)
// against the real server: an added key is admitted, a removed key is refused from the next
// call (also on a channel that is open), a file that does not parse changes nothing, and only
// `admin` may ask.
#include <signal.h>
#include <sys/stat.h>

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>

#include "auth/api_key.h"
#include "cairn/groups.h"
#include "server_env.h"

namespace cairn::testing {
namespace CAIRN_UNITY_ID {

std::string KeyBlock(const std::string& id, const auth::GeneratedApiKey& key,
                     const std::string& roles) {
  return "\n[[auth.api_keys]]\nid = \"" + id + "\"\nsecret_sha256 = \"" + key.secret_sha256 +
         "\"\nroles = " + roles + "\n";
}

// The configuration without the bot's key (the block ServerEnv writes for id "ci-bot").
std::string WithoutBot(std::string config) {
  const size_t at = config.find("[[auth.api_keys]]\nid = \"ci-bot\"");
  EXPECT_NE(at, std::string::npos);
  const size_t end = config.find("[[auth.api_keys]]", at + 1);
  config.erase(at, end - at);
  return config;
}

class ServerApiKeyReloadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(env.Start()) << env.server().output();
    admin = env.ClientWith(env.admin_key);
    fresh = auth::GenerateApiKey("svc-new").value();
  }

  ServerEnv env;
  std::unique_ptr<Client> admin;
  auth::GeneratedApiKey fresh;
};

TEST_F(ServerApiKeyReloadTest, AnAddedKeyIsAdmittedAndARemovedOneRefusedWithoutARestart) {
  auto newcomer = env.ClientWith(fresh.key);
  EXPECT_EQ(newcomer->WhoAmI().status().code(), StatusCode::kUnauthenticated);
  auto bot = env.ClientWith(env.bot_key);
  ASSERT_TRUE(bot->WhoAmI().ok());  // the bot's channel is open from here on

  env.WriteConfig(WithoutBot(env.ConfigText()) +
                  KeyBlock("svc-new", fresh, "[\"order-service\"]"));
  auto reloaded = admin->ReloadApiKeys();
  ASSERT_TRUE(reloaded.ok()) << reloaded.status().ToString();
  EXPECT_EQ(reloaded->keys(), 3u);  // admin, old (expired) and svc-new
  ASSERT_EQ(reloaded->added_size(), 1);
  EXPECT_EQ(reloaded->added(0), "svc-new");
  ASSERT_EQ(reloaded->removed_size(), 1);
  EXPECT_EQ(reloaded->removed(0), "ci-bot");

  auto who = newcomer->WhoAmI();
  ASSERT_TRUE(who.ok()) << who.status().ToString();
  EXPECT_EQ(who->principal(), "apikey:svc-new");
  ASSERT_EQ(who->roles_size(), 1);
  EXPECT_EQ(who->roles(0), "order-service");
  EXPECT_EQ(bot->WhoAmI().status().code(), StatusCode::kUnauthenticated)
      << "a removed key still works on its open channel";
  EXPECT_TRUE(admin->WhoAmI().ok());
}

// A consumer-group member whose key a reload removes is dropped from the group at its next
// round, its call ends UNAUTHENTICATED, and the end is in the trail as an authentication failure
// ("api key revoked"), as for a live subscription.
TEST(ServerApiKeyReloadAuditTest, ARemovedKeyEndsItsGroupMembershipAndTheEndIsAudited) {
  ServerEnv env;
  env.audit_enabled = true;
  ASSERT_TRUE(env.Start()) << env.server().output();
  auto admin = env.ClientWith(env.admin_key);
  const auth::GeneratedApiKey fresh = auth::GenerateApiKey("svc-new").value();
  v1::GroupSettings settings;
  settings.set_name("reload-g");
  settings.set_source("$all");
  ASSERT_TRUE(Groups(*admin).Create(settings).ok());
  env.WriteConfig(env.ConfigText() + KeyBlock("svc-new", fresh, "[\"admin\"]"));
  ASSERT_TRUE(admin->ReloadApiKeys().ok());
  auto member = env.ClientWith(fresh.key);
  auto stream = Groups(*member).Connect("reload-g");
  ASSERT_TRUE(stream.ok()) << stream.status().ToString();

  env.WriteConfig(env.ConfigText());  // without svc-new
  auto reloaded = admin->ReloadApiKeys();
  ASSERT_TRUE(reloaded.ok()) << reloaded.status().ToString();
  ASSERT_EQ(reloaded->removed_size(), 1);
  Status ended = Status::Ok();
  for (int i = 0; i < 20 && ended.ok(); ++i) {
    auto next = (*stream)->Next(500);
    if (!next.ok()) ended = next.status();
  }
  EXPECT_EQ(ended.code(), StatusCode::kUnauthenticated) << ended.ToString();

  EXPECT_TRUE(WaitForTrailRecord(*admin, "$auth.failure", "api key revoked"))
      << "no $auth.failure with reason 'api key revoked' in $audit";
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // no second record follows
  EXPECT_EQ(TrailRecords(*admin, "$auth.failure", "api key revoked"), 1u);
}

TEST_F(ServerApiKeyReloadTest, AFileThatDoesNotParseChangesNothing) {
  env.WriteConfig(WithoutBot(env.ConfigText()) + "\n[limits]\nbatch_events_max = \"many\"\n");
  auto reloaded = admin->ReloadApiKeys();
  ASSERT_FALSE(reloaded.ok());
  EXPECT_EQ(reloaded.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(reloaded.status().message().find("batch_events_max"), std::string::npos)
      << reloaded.status().message();
  EXPECT_TRUE(env.ClientWith(env.bot_key)->WhoAmI().ok()) << "the keys in force changed";
}

TEST_F(ServerApiKeyReloadTest, AFileOthersMayWriteIsRefused) {
  env.WriteConfig(env.ConfigText() + KeyBlock("svc-new", fresh, "[\"admin\"]"));
  ASSERT_EQ(::chmod(env.ConfigPath().c_str(), 0666), 0);
  auto reloaded = admin->ReloadApiKeys();
  ASSERT_FALSE(reloaded.ok());
  EXPECT_EQ(reloaded.status().code(), StatusCode::kFailedPrecondition)
      << reloaded.status().ToString();
  EXPECT_EQ(env.ClientWith(fresh.key)->WhoAmI().status().code(), StatusCode::kUnauthenticated)
      << "a key from a file anyone could write was admitted";
}

TEST_F(ServerApiKeyReloadTest, OnlyAdminMayAsk) {
  env.WriteConfig(WithoutBot(env.ConfigText()));
  auto bot = env.ClientWith(env.bot_key);
  EXPECT_EQ(bot->ReloadApiKeys().status().code(), StatusCode::kPermissionDenied);
  EXPECT_TRUE(bot->WhoAmI().ok()) << "a denied reload removed the bot's own key";
}

TEST_F(ServerApiKeyReloadTest, SighupAndTheCommandReloadToo) {
  env.WriteConfig(env.ConfigText() + KeyBlock("svc-new", fresh, "[]"));
  env.server().Signal(SIGHUP);
  auto newcomer = env.ClientWith(fresh.key);
  bool admitted = false;
  for (int i = 0; i < 100 && !admitted; ++i) {
    admitted = newcomer->WhoAmI().ok();
    if (!admitted) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(admitted) << env.server().output();
  bool logged = false;  // the key is in force a moment before the line is written and read
  for (int i = 0; i < 100 && !logged; ++i) {
    logged = env.server().output().find("\"message\":\"API keys reloaded\"") != std::string::npos;
    if (!logged) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(logged) << env.server().output();

  env.WriteConfig(WithoutBot(env.ConfigText()) + KeyBlock("svc-new", fresh, "[]"));
  CommandResult json = RunCairn({"reload-api-keys", "--json", "--server", env.server().target(),
                                 "--ca", env.CaCert(), "--token", env.admin_key});
  EXPECT_EQ(json.exit_code, 0) << json.err;
  EXPECT_NE(json.out.find(R"({"keys":3,"added":[],"removed":["ci-bot"],"changed":[]})"),
            std::string::npos)
      << json.out;
  EXPECT_EQ(env.ClientWith(env.bot_key)->WhoAmI().status().code(), StatusCode::kUnauthenticated);
}

}  // namespace CAIRN_UNITY_ID
}  // namespace cairn::testing
