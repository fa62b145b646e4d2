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

  // Starts the stopped server again; cust-alice's one event reads in the clear (the same keys).
  void StartAndExpectAliceRevealed() {
    ASSERT_TRUE(env.Start()) << env.server().output();
    admin = env.ClientWith(env.admin_key);
    Status read;
    auto events = ReadEvents(*admin, "cust-alice", &read);
    ASSERT_TRUE(read.ok()) << read.ToString();
    ASSERT_EQ(events.size(), 1u);
    EXPECT_NE(events[0].data().find("alice@example.com"), std::string::npos);
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
  ASSERT_NO_FATAL_FAILURE(StartAndExpectAliceRevealed());
  Status read;

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

void WritePassphrase(const std::string& path, const std::string& text) {
  WriteFile(path, text + "\n");
  ASSERT_EQ(::chmod(path.c_str(), 0600), 0);
}

// `cairn keys passphrase`: refused while the server holds the directory; gives the keyring a
// passphrase, after which the server starts only with it and the events still reveal; changes
// it again; every change is an offline act in `$audit`.
TEST_F(KmsLocalServerTest, TheKeyringPassphraseIsSetAndChangedOfflineAndTheKeysStayTheSame) {
  ASSERT_TRUE(admin->Append(CustomerAppend("cust-alice", "alice")).ok());
  const std::string first = env.dir().Sub("pass-1"), second = env.dir().Sub("pass-2");
  WritePassphrase(first, "the first passphrase of this log");
  WritePassphrase(second, "the second passphrase of this log");
  const std::string before = ReadFile(keyring);
  auto locked = RunCairn({"keys", "passphrase", "--data-dir", env.DataDir(), "--new-passphrase-file", first});
  EXPECT_EQ(locked.exit_code, 1) << locked.out << locked.err;
  EXPECT_NE(locked.err.find("pid"), std::string::npos) << locked.err;
  EXPECT_EQ(ReadFile(keyring), before);

  env.server().Stop();
  EXPECT_EQ(RunCairn({"keys", "passphrase", "--data-dir", env.DataDir()}).exit_code, 2) << "no new source";
  auto set = RunCairn({"keys", "passphrase", "--data-dir", env.DataDir(), "--new-passphrase-file", first});
  ASSERT_EQ(set.exit_code, 0) << set.out << set.err;
  EXPECT_NE(set.out.find("keyring passphrase set: 1 key-encryption key version"), std::string::npos) << set.out;
  EXPECT_EQ(ReadFile(keyring).find("cairn-local-kek-v1"), std::string::npos) << "the key is no longer in clear";
  RefusedStart refused = RunServeExpectingRefusal({"--config", env.ConfigPath()});
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_NE(refused.output.find("passphrase"), std::string::npos) << refused.output;

  // Change it: the current passphrase comes from a configuration's [keys], as for `serve`.
  const std::string keys_config = env.dir().Sub("keys-1.toml");
  WriteFile(keys_config, "[keys]\npassphrase_file = \"" + first + "\"\n");
  EXPECT_EQ(RunCairn({"keys", "passphrase", "--data-dir", env.DataDir(), "--config", keys_config,
                      "--new-passphrase-file", first}).exit_code, 2) << "the same passphrase";
  auto changed = RunCairn({"keys", "passphrase", "--json", "--data-dir", env.DataDir(), "--config",
                           keys_config, "--new-passphrase-file", second});
  ASSERT_EQ(changed.exit_code, 0) << changed.out << changed.err;
  EXPECT_NE(changed.out.find("\"kek_versions\":1"), std::string::npos) << changed.out;
  EXPECT_EQ(changed.out.find("second passphrase"), std::string::npos);
  auto stale = RunCairn({"keys", "passphrase", "--data-dir", env.DataDir(), "--config", keys_config,
                         "--new-passphrase-file", first});
  EXPECT_EQ(stale.exit_code, 1) << "the old passphrase no longer opens the keyring";
  EXPECT_NE(stale.err.find("wrong passphrase"), std::string::npos) << stale.err;

  env.extra_config += "\n[keys]\npassphrase_file = \"" + second + "\"\n";
  ASSERT_NO_FATAL_FAILURE(StartAndExpectAliceRevealed());
  Status read;
  EXPECT_TRUE(admin->Append(CustomerAppend("cust-bob", "bob")).ok());
  std::vector<std::string> outcomes;
  for (const v1::RecordedEvent& e : ReadEvents(*admin, "$audit", &read)) {
    if (e.type() != "$admin") continue;
    auto record = nlohmann::json::parse(e.data());
    if (record["action"] == "key.passphrase") outcomes.push_back(record["outcome"]);
  }
  ASSERT_TRUE(read.ok()) << read.ToString();
  // Set, changed, and the refused attempt with the stale passphrase (the store did not open, so
  // that one is not audited: nothing happened).
  EXPECT_EQ(outcomes, (std::vector<std::string>{"success", "success"}));
}

}  // namespace
}  // namespace cairn::testing
