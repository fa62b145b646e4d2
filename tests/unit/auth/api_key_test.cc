#include "auth/api_key.h"

#include <gtest/gtest.h>

namespace cairn::auth {
namespace CAIRN_UNITY_ID {

constexpr int64_t kNow = 1700000000;

struct Fixture {
  GeneratedApiKey ci = GenerateApiKey("ci-bot").value();
  GeneratedApiKey old = GenerateApiKey("old").value();
  std::unique_ptr<ApiKeyVerifier> verifier;
  Fixture() {
    ApiKeyConfig a{"ci-bot", ci.secret_sha256, {"writer", "reader"}, std::nullopt, std::nullopt};
    ApiKeyConfig b{"old", old.secret_sha256, {}, kNow - 1, std::nullopt};
    auto v = ApiKeyVerifier::Create({a, b});
    EXPECT_TRUE(v.ok()) << v.status().ToString();
    verifier = std::move(v).value();
  }
  std::string Reason(const std::string& key) {
    auto r = verifier->Verify(key, kNow);
    return r.ok() ? "" : r.status().message();
  }
};

TEST(ApiKeyTest, GeneratedKeyFormat) {
  auto k = GenerateApiKey("ci-bot");
  ASSERT_TRUE(k.ok());
  EXPECT_EQ(k->key.rfind("cairn_ci-bot_", 0), 0u);
  EXPECT_EQ(k->key.size(), std::string("cairn_ci-bot_").size() + 43);
  EXPECT_EQ(k->secret_sha256, ApiKeyHash(k->key));
  EXPECT_EQ(k->secret_sha256.size(), 64u);
  EXPECT_NE(GenerateApiKey("ci-bot")->key, k->key);
  EXPECT_FALSE(GenerateApiKey("bad_id").ok());
  EXPECT_FALSE(GenerateApiKey("").ok());
  EXPECT_FALSE(GenerateApiKey(std::string(65, 'a')).ok());
}

TEST(ApiKeyTest, RightKeyIsAccepted) {
  Fixture f;
  auto r = f.verifier->Verify(f.ci.key, kNow);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->id, "apikey:ci-bot");
  EXPECT_EQ(r->method, AuthMethod::kApiKey);
  EXPECT_EQ(r->roles, (std::vector<std::string>{"writer", "reader"}));
  EXPECT_EQ(r->expires_unix_s, 0);
}

TEST(ApiKeyTest, SecretMayContainUnderscores) {
  std::string key = "cairn_svc-1_" + std::string(20, 'a') + "_" + std::string(20, 'b');
  std::string_view id, secret;
  ASSERT_TRUE(SplitApiKey(key, &id, &secret));
  EXPECT_EQ(id, "svc-1");
  EXPECT_EQ(secret, std::string(20, 'a') + "_" + std::string(20, 'b'));
  auto v = ApiKeyVerifier::Create({{"svc-1", ApiKeyHash(key), {}, std::nullopt, std::nullopt}});
  ASSERT_TRUE(v.ok());
  EXPECT_TRUE((*v)->Verify(key, kNow).ok());
}

TEST(ApiKeyTest, WrongSecretUnknownIdExpired) {
  Fixture f;
  std::string wrong = f.ci.key;
  wrong.back() = wrong.back() == 'A' ? 'B' : 'A';
  EXPECT_EQ(f.Reason(wrong), "api key invalid");
  // The other key's secret under this id.
  std::string swapped = "cairn_ci-bot_" + f.old.key.substr(std::string("cairn_old_").size());
  EXPECT_EQ(f.Reason(swapped), "api key invalid");
  EXPECT_EQ(f.Reason("cairn_nobody_" + f.ci.key.substr(13)), "unknown api key");
  EXPECT_EQ(f.Reason(f.old.key), "api key expired");
  // Expiry is inclusive of its second.
  EXPECT_TRUE(f.verifier->Verify(f.old.key, kNow - 1).ok());
}

TEST(ApiKeyTest, MalformedKeys) {
  Fixture f;
  std::string secret = f.ci.key.substr(13);
  for (const std::string& bad : std::vector<std::string>
       {std::string("ci-bot_") + secret, "CAIRN_ci-bot_" + secret, "cairn__" + secret,
        "cairn_ci.bot_" + secret, "cairn_ci-bot", "cairn_ci-bot_" + secret.substr(0, 31),
        "cairn_ci-bot_" + secret + "+", "cairn_ci-bot_" + secret + "=",
        "cairn_" + std::string(65, 'a') + "_" + secret, "cairn_ci-bot_" + std::string(257, 'a')}) {
    EXPECT_EQ(f.Reason(bad), "malformed api key") << bad;
  }
}

TEST(ApiKeyTest, ConfigValidation) {
  std::string h(64, 'a');
  EXPECT_TRUE(ApiKeyVerifier::Create({{"a", h, {}, std::nullopt, std::nullopt}}).ok());
  EXPECT_FALSE(ApiKeyVerifier::Create({{"a_b", h, {}, std::nullopt, std::nullopt}}).ok());
  EXPECT_FALSE(ApiKeyVerifier::Create({{"a", h.substr(1), {}, std::nullopt, std::nullopt}}).ok());
  EXPECT_FALSE(ApiKeyVerifier::Create({{"a", std::string(64, 'g'), {}, std::nullopt, std::nullopt}}).ok());
  EXPECT_FALSE(ApiKeyVerifier::Create({{"a", h, {}, std::nullopt, std::nullopt},
                                       {"a", h, {}, std::nullopt, std::nullopt}})
                   .ok());
  EXPECT_FALSE(ApiKeyVerifier::Create({{"a", h, {""}, std::nullopt, std::nullopt}}).ok());
  // Upper-case hex in the configuration is accepted.
  auto k = GenerateApiKey("up").value();
  std::string upper = k.secret_sha256;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  auto v = ApiKeyVerifier::Create({{"up", upper, {}, std::nullopt, std::nullopt}});
  ASSERT_TRUE(v.ok());
  EXPECT_TRUE((*v)->Verify(k.key, kNow).ok());
}

}  // namespace
}  // namespace cairn::auth
