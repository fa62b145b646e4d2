// The PKCS#11 KMS provider through the real server: a data directory initialised with `cairn init
// --config` on a SoftHSM token in the test's temp dir (its own SOFTHSM2_CONF, inherited by the
// server), KEK rotation over the network, and what happens while the token is gone: protected
// appends fail with UNAVAILABLE and write nothing, reads that need an uncached key fail with
// UNAVAILABLE, unprotected appends go on, and everything works again once the token is back.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "kms_test_util.h"
#include "protect_rules.h"
#include "server_env.h"
#include "unit/keys/softhsm_token.h"

namespace cairn::testing {
namespace CAIRN_UNITY_ID {

class KmsPkcs11ServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!SoftHsmInstalled()) GTEST_SKIP() << "SoftHSM is not installed";
    token_ = std::make_unique<SoftHsmToken>(env.dir().Sub("hsm"));
    ASSERT_TRUE(token_->ok());
    // ServerEnv made a directory with the local provider: make it again on the token.
    std::filesystem::remove_all(env.DataDir() + "/db");
    std::filesystem::remove(env.DataDir() + "/keyring");
    WriteFile(env.dir().Sub("keys.toml"), token_->Toml());
    auto init = RunCairn({"init", "--data-dir", env.DataDir(), "--config", env.dir().Sub("keys.toml")});
    ASSERT_EQ(init.exit_code, 0) << init.err;
    EXPECT_FALSE(std::filesystem::exists(env.DataDir() + "/keyring"));
    env.extra_config = ProtectRulesConfig(env, kKmsTestRules) + token_->Toml();
    ASSERT_TRUE(env.Start()) << env.server().output();
    admin = env.ClientWith(env.admin_key);
  }

  void Restart() {
    env.server().Stop();
    ASSERT_TRUE(env.Start()) << env.server().output();
    admin = env.ClientWith(env.admin_key);
  }

  ServerEnv env;
  std::unique_ptr<SoftHsmToken> token_;
  std::unique_ptr<Client> admin;
};

TEST_F(KmsPkcs11ServerTest, TokenGoneFailsProtectedWorkClosedAndRecoversWhenItIsBack) {
  ASSERT_TRUE(admin->Append(CustomerAppend("cust-alice", "alice")).ok());
  Restart();  // alice's key is no longer cached
  ASSERT_TRUE(token_->Hide());
  const uint64_t size = TreeSize(*admin);

  // Protected appends: UNAVAILABLE, for a known and for a new subject, and nothing written.
  auto known = AppendUntil(*admin, CustomerAppend("cust-alice", "alice"), StatusCode::kUnavailable);
  EXPECT_EQ(known.code(), StatusCode::kUnavailable) << known.ToString();
  auto fresh = admin->Append(CustomerAppend("cust-dave", "dave"));
  EXPECT_EQ(fresh.status().code(), StatusCode::kUnavailable) << fresh.status().ToString();
  EXPECT_EQ(TreeSize(*admin), size);

  // A read that needs alice's key fails; it never shows the stored ciphertext.
  Status read;
  auto events = ReadEvents(*admin, "cust-alice", &read);
  EXPECT_EQ(read.code(), StatusCode::kUnavailable) << read.ToString();
  for (const auto& e : events) EXPECT_EQ(e.data().find("alice@example.com"), std::string::npos);

  // Unprotected work goes on.
  ASSERT_TRUE(admin->Append(PlainAppend("order-1")).ok());
  EXPECT_EQ(TreeSize(*admin), size + 1);

  ASSERT_TRUE(token_->Show());
  auto back = AppendUntil(*admin, CustomerAppend("cust-alice", "alice"), StatusCode::kOk);
  EXPECT_TRUE(back.ok()) << back.ToString();
  events = ReadEvents(*admin, "cust-alice", &read);
  ASSERT_TRUE(read.ok()) << read.ToString();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_NE(events[0].data().find("alice@example.com"), std::string::npos) << events[0].data();
}

TEST_F(KmsPkcs11ServerTest, KekRotationOverTheNetworkKeepsOldEventsReadableAfterRestart) {
  ASSERT_TRUE(admin->Append(CustomerAppend("cust-alice", "alice")).ok());
  v1::RotateKeyRequest request;
  request.set_kek(true);
  auto rotated = admin->RotateKey(request);
  ASSERT_TRUE(rotated.ok()) << rotated.status().ToString();
  EXPECT_EQ(rotated->kind(), "kek");
  EXPECT_EQ(rotated->id().rfind("pkcs11:", 0), 0u);
  EXPECT_GE(rotated->rewrapped(), 3u);
  EXPECT_FALSE(rotated->resumed());
  ASSERT_TRUE(admin->Append(CustomerAppend("cust-bob", "bob")).ok());
  Restart();
  Status read;
  auto alice = ReadEvents(*admin, "cust-alice", &read);
  ASSERT_TRUE(read.ok()) << read.ToString();
  ASSERT_EQ(alice.size(), 1u);
  EXPECT_NE(alice[0].data().find("alice@example.com"), std::string::npos);
  auto bob = ReadEvents(*admin, "cust-bob", &read);
  ASSERT_TRUE(read.ok()) << read.ToString();
  ASSERT_EQ(bob.size(), 1u);
  EXPECT_NE(bob[0].data().find("bob@example.com"), std::string::npos);

  // A principal without `admin` may not rotate.
  auto bot = env.ClientWith(env.bot_key);
  EXPECT_EQ(bot->RotateKey(request).status().code(), StatusCode::kPermissionDenied);
}

}  // namespace
}  // namespace cairn::testing
