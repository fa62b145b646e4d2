// The local KMS provider through the real server while its keyring goes bad: exposed (mode
// 0644), replaced by another keyring, and at start-up. The server re-checks the keyring file
// about once a second; while it does not hold the KEK in use, protected appends fail with
// UNAVAILABLE and write nothing (no new subject key either), unprotected appends go on, and
// protected appends work again once the keyring is restored. KEK rotation with `cairn keys
// rotate --kek` offline keeps everything readable.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "keys/local_kms.h"
#include "kms_test_util.h"
#include "protect_rules.h"
#include "server_env.h"

namespace cairn::testing {
namespace CAIRN_UNITY_ID {

constexpr auto kPastHealthInterval = std::chrono::milliseconds(1500);

class KmsLocalServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    env.extra_config = ProtectRulesConfig(env, kKmsTestRules);
    ASSERT_TRUE(env.Start()) << env.server().output();
    admin = env.ClientWith(env.admin_key);
    keyring = env.DataDir() + "/keyring";
  }

  // While the keyring is bad: protected appends (known and new subject) refused, nothing
  // written, unprotected appends fine.
  void ExpectProtectedRefused() {
    std::this_thread::sleep_for(kPastHealthInterval);
    const uint64_t size = TreeSize(*admin);
    auto known = admin->Append(CustomerAppend("cust-alice", "alice"));
    EXPECT_EQ(known.status().code(), StatusCode::kUnavailable) << known.status().ToString();
    EXPECT_NE(known.status().message().find("keyring"), std::string::npos);
    auto fresh = admin->Append(CustomerAppend("cust-erin", "erin"));
    EXPECT_EQ(fresh.status().code(), StatusCode::kUnavailable) << fresh.status().ToString();
    // The keyring's path and what is wrong with it are the operator's (the server log), not
    // every appender's.
    for (const auto* refused : {&known, &fresh}) {
      const std::string& message = refused->status().message();
      EXPECT_EQ(message.find(env.DataDir()), std::string::npos) << message;
      EXPECT_EQ(message.find("mode"), std::string::npos) << message;
    }
    EXPECT_EQ(TreeSize(*admin), size);
    EXPECT_TRUE(admin->Append(PlainAppend("order-1")).ok());
    EXPECT_EQ(TreeSize(*admin), size + 1);
  }

  ServerEnv env;
  std::unique_ptr<Client> admin;
  std::string keyring;
};

TEST_F(KmsLocalServerTest, ExposedOrReplacedKeyringStopsProtectedAppendsUntilRestored) {
  ASSERT_TRUE(admin->Append(CustomerAppend("cust-alice", "alice")).ok());

  ASSERT_EQ(::chmod(keyring.c_str(), 0644), 0);
  ExpectProtectedRefused();
  ASSERT_EQ(::chmod(keyring.c_str(), 0600), 0);
  EXPECT_TRUE(AppendUntil(*admin, CustomerAppend("cust-alice", "alice"), StatusCode::kOk).ok());

  const std::string saved = env.dir().Sub("keyring.saved");
  std::filesystem::rename(keyring, saved);
  ASSERT_TRUE(keys::LocalKms::Create(keyring).ok());  // another KEK under the same name
  ExpectProtectedRefused();
  std::filesystem::rename(saved, keyring);
  EXPECT_TRUE(AppendUntil(*admin, CustomerAppend("cust-erin", "erin"), StatusCode::kOk).ok());

  Status read;
  auto events = ReadEvents(*admin, "cust-alice", &read);
  ASSERT_TRUE(read.ok()) << read.ToString();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_NE(events[1].data().find("alice@example.com"), std::string::npos);
}

TEST_F(KmsLocalServerTest, StartWithAnUnusableKeyringIsRefusedNamingTheFile) {
  env.server().Stop();
  ASSERT_EQ(::chmod(keyring.c_str(), 0644), 0);
  RefusedStart refused = RunServeExpectingRefusal({"--config", env.ConfigPath()});
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_NE(refused.output.find(keyring), std::string::npos) << refused.output;
  ASSERT_EQ(::chmod(keyring.c_str(), 0600), 0);
  std::filesystem::remove(keyring);
  refused = RunServeExpectingRefusal({"--config", env.ConfigPath()});
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_NE(refused.output.find(keyring), std::string::npos) << refused.output;
}

TEST_F(KmsLocalServerTest, OfflineKekRotationKeepsEventsReadable) {
  ASSERT_TRUE(admin->Append(CustomerAppend("cust-alice", "alice")).ok());
  env.server().Stop();
  const std::string before = ReadFile(keyring);
  auto rotated = RunCairn({"keys", "rotate", "--kek", "--json", "--data-dir", env.DataDir()});
  ASSERT_EQ(rotated.exit_code, 0) << rotated.err;
  EXPECT_NE(rotated.out.find("\"kind\":\"kek\""), std::string::npos) << rotated.out;
  EXPECT_NE(ReadFile(keyring), before);
  auto forgotten = RunCairn({"forget", "--json", "--data-dir", env.DataDir(), "nobody@example.com"});
  ASSERT_EQ(forgotten.exit_code, 0) << forgotten.err;
  auto verify = RunCairn({"verify", "--data-dir", env.DataDir()});
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
  ASSERT_TRUE(env.Start()) << env.server().output();
  admin = env.ClientWith(env.admin_key);
  Status read;
  auto events = ReadEvents(*admin, "cust-alice", &read);
  ASSERT_TRUE(read.ok()) << read.ToString();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_NE(events[0].data().find("alice@example.com"), std::string::npos);

  // Both offline acts are in the trail like a server's, by the local account, the subject only
  // as its salted hash.
  std::vector<nlohmann::json> offline;
  for (const v1::RecordedEvent& e : ReadEvents(*admin, "$audit", &read)) {
    EXPECT_EQ(e.data().find("nobody@example.com"), std::string::npos);
    if (e.type() == "$admin" && e.data().find("\"trigger\":\"offline\"") != std::string::npos) {
      offline.push_back(nlohmann::json::parse(e.data()));
    }
  }
  ASSERT_TRUE(read.ok()) << read.ToString();
  ASSERT_EQ(offline.size(), 2u);
  EXPECT_EQ(offline[0]["action"], "key.rotate");
  EXPECT_EQ(offline[0]["resource"], "kek");
  EXPECT_EQ(offline[1]["action"], "forget");
  EXPECT_EQ(offline[1]["resource"].get<std::string>().rfind("subject-hash:", 0), 0u);
  for (const nlohmann::json& r : offline) {
    EXPECT_EQ(r["outcome"], "success") << r.dump();
    EXPECT_EQ(r["principal"].get<std::string>().rfind("local:", 0), 0u) << r.dump();
  }
}

}  // namespace
}  // namespace cairn::testing
