// ApiKeyReloader (server/api_key_reload.h): [[auth.api_keys]] re-read from a real configuration
// file into a real Authenticator.
#include "server/api_key_reload.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <string>

#include "auth/api_key.h"
#include "test_util.h"

namespace cairn::server {
namespace CAIRN_UNITY_ID {

std::string KeyToml(const std::string& id, const std::string& hash) {
  return "[[auth.api_keys]]\nid = \"" + id + "\"\nsecret_sha256 = \"" + hash + "\"\n";
}

class ApiKeyReloaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    first_ = auth::GenerateApiKey("first").value();
    second_ = auth::GenerateApiKey("second").value();
    auth::AuthConfig config;
    config.api_keys.push_back({"first", first_.secret_sha256, {}, std::nullopt, std::nullopt});
    authenticator_ = auth::Authenticator::Create(config).value();
  }
  void Write(const std::string& text) {
    testing::WriteFile(path_, text);
    ASSERT_EQ(::chmod(path_.c_str(), 0600), 0);
  }
  bool Admits(const auth::GeneratedApiKey& key) {
    return authenticator_->Authenticate({"Bearer " + key.key, "", "127.0.0.1"}, 1700000000).ok();
  }

  testing::TempDir dir_;
  std::string path_ = dir_.Sub("cairn.toml");
  auth::GeneratedApiKey first_, second_;
  std::unique_ptr<auth::Authenticator> authenticator_;
};

TEST_F(ApiKeyReloaderTest, AppliesTheFilesKeys) {
  Write(KeyToml("second", second_.secret_sha256));
  ApiKeyReloader reloader(path_, authenticator_.get());
  auto reloaded = reloader.Reload();
  ASSERT_TRUE(reloaded.ok()) << reloaded.status().ToString();
  EXPECT_EQ(reloaded->added, std::vector<std::string>{"second"});
  EXPECT_EQ(reloaded->removed, std::vector<std::string>{"first"});
  EXPECT_TRUE(Admits(second_));
  EXPECT_FALSE(Admits(first_));
  const auto details = ApiKeysReloadDetails(*reloaded);
  ASSERT_EQ(details.size(), 3u);
  EXPECT_EQ(details[0], std::make_pair(std::string("keys"), std::string("1")));
  EXPECT_EQ(details[1], std::make_pair(std::string("added"), std::string("second")));
  EXPECT_EQ(details[2], std::make_pair(std::string("removed"), std::string("first")));
}

TEST_F(ApiKeyReloaderTest, AFileThatDoesNotParseChangesNothingAndSaysWhere) {
  Write(KeyToml("second", second_.secret_sha256) + "[server]\nlisten = 7400\n");  // not a string
  ApiKeyReloader reloader(path_, authenticator_.get());
  auto reloaded = reloader.Reload();
  ASSERT_FALSE(reloaded.ok());
  EXPECT_EQ(reloaded.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(reloaded.status().message().find("listen"), std::string::npos)
      << reloaded.status().message();
  EXPECT_TRUE(Admits(first_)) << "the keys in force stay";
  EXPECT_FALSE(Admits(second_));
  // An unknown key (a misspelt table) is refused too, as at start.
  Write(KeyToml("second", second_.secret_sha256) + "[[auth.api_key]]\nid = \"x\"\n");
  EXPECT_FALSE(reloader.Reload().ok());
  EXPECT_TRUE(Admits(first_));
  // A missing file.
  ApiKeyReloader missing(dir_.Sub("gone.toml"), authenticator_.get());
  EXPECT_FALSE(missing.Reload().ok());
  EXPECT_TRUE(Admits(first_));
}

TEST_F(ApiKeyReloaderTest, AFileOthersMayWriteIsRefused) {
  Write(KeyToml("second", second_.secret_sha256));
  ASSERT_EQ(::chmod(path_.c_str(), 0666), 0);
  ApiKeyReloader reloader(path_, authenticator_.get());
  auto reloaded = reloader.Reload();
  ASSERT_FALSE(reloaded.ok());
  EXPECT_EQ(reloaded.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_FALSE(Admits(second_)) << "whoever could write the file chose the keys";
  EXPECT_TRUE(Admits(first_));
}

TEST_F(ApiKeyReloaderTest, WithoutAConfigurationFileThereIsNothingToReload) {
  ApiKeyReloader reloader("", authenticator_.get());
  auto reloaded = reloader.Reload();
  ASSERT_FALSE(reloaded.ok());
  EXPECT_EQ(reloaded.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_TRUE(Admits(first_));
}

TEST(ApiKeysReloadDetailsTest, LongListsAreCutToFitAnAuditFieldAndSayHowManyMore) {
  ApiKeysReloaded reloaded;
  reloaded.keys = 0;
  for (int i = 0; i < 40; ++i) {  // ids of the largest size: 64 bytes
    std::string id = "k" + std::to_string(i);
    reloaded.removed.push_back(id + std::string(64 - id.size(), 'x'));
  }
  const auto details = ApiKeysReloadDetails(reloaded);
  ASSERT_EQ(details.size(), 2u);
  const std::string& listed = details[1].second;
  EXPECT_LE(listed.size(), 1024u) << "an audit field is cut at 1024 bytes";
  // 13 ids of 64 bytes and their commas fit in 900 bytes: 27 more.
  EXPECT_TRUE(listed.ends_with(",+27 more")) << listed;
  EXPECT_EQ(listed.find("k13"), std::string::npos) << listed;
  // A short list is named in full.
  ApiKeysReloaded few;
  few.changed = {"a", "b"};
  EXPECT_EQ(ApiKeysReloadDetails(few).back(), std::make_pair(std::string("changed"),
                                                              std::string("a,b")));
}

}  // namespace CAIRN_UNITY_ID
}  // namespace cairn::server
