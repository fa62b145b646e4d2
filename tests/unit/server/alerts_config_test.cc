// [alerts]: defaults, every key, and the refusals (unknown keys, a webhook without exactly one
// secret source, webhook settings without a URL, a non-https URL, too many allow addresses).
#include <gtest/gtest.h>

#include <string>

#include "server/config.h"

namespace cairn::server {
namespace CAIRN_UNITY_ID {

TEST(AlertsConfig, DefaultsAndEveryKey) {
  const Config d = DefaultConfig();
  EXPECT_TRUE(d.alerts.enabled);
  EXPECT_TRUE(d.alerts.rules_file.empty());
  EXPECT_TRUE(d.alerts.webhook_url.empty());
  auto c = ParseConfig(
      "[alerts]\nenabled = false\nrules_file = \"alerts.toml\"\n"
      "webhook_url = \"https://hooks.example/x?token=1\"\nwebhook_secret_file = \"w.secret\"\n"
      "webhook_allow_addresses = [\"10.0.0.5\", \"::1\"]\n",
      "/etc/cairn", "c.toml");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_FALSE(c->alerts.enabled);
  EXPECT_EQ(c->alerts.rules_file, "/etc/cairn/alerts.toml");  // relative to the file
  EXPECT_EQ(c->alerts.webhook_url, "https://hooks.example/x?token=1");
  EXPECT_EQ(c->alerts.webhook_secret_file, "/etc/cairn/w.secret");
  EXPECT_EQ(c->alerts.webhook_allow_addresses, (std::vector<std::string>{"10.0.0.5", "::1"}));
  auto env = ParseConfig(
      "[alerts]\nwebhook_url = \"https://hooks.example/x\"\nwebhook_secret_env = \"HOOK_SECRET\"\n",
      "/etc/cairn", "c.toml");
  ASSERT_TRUE(env.ok()) << env.status().ToString();
  EXPECT_EQ(env->alerts.webhook_secret_env, "HOOK_SECRET");
}

TEST(AlertsConfig, RejectsBadCombinationsAndUnknownKeys) {
  std::string many = "[alerts]\nwebhook_url = \"https://h.example/\"\nwebhook_secret_env = \"S\"\n"
                     "webhook_allow_addresses = [";
  for (int i = 0; i < 65; ++i) many += std::string(i ? "," : "") + "\"10.0.0." + std::to_string(i) + "\"";
  many += "]\n";
  const std::string cases[] = {
      "[alerts]\nrule_file = \"a.toml\"\n",
      "[alerts]\nenabled = 1\n",
      "[alerts]\nwebhook_url = \"https://h.example/\"\n",  // no secret
      "[alerts]\nwebhook_url = \"https://h.example/\"\nwebhook_secret_file = \"s\"\n"
      "webhook_secret_env = \"S\"\n",  // two secrets
      "[alerts]\nwebhook_secret_env = \"S\"\n",  // no URL
      "[alerts]\nwebhook_allow_addresses = [\"127.0.0.1\"]\n",  // no URL
      "[alerts]\nwebhook_url = \"http://h.example/\"\nwebhook_secret_env = \"S\"\n",
      many,
  };
  for (const std::string& text : cases) {
    auto c = ParseConfig(text, "/etc/cairn", "c.toml");
    ASSERT_FALSE(c.ok()) << text;
    EXPECT_EQ(c.status().code(), StatusCode::kInvalidArgument) << text;
    EXPECT_NE(c.status().message().find("alerts"), std::string::npos) << c.status().message();
  }
}

}  // namespace
}  // namespace cairn::server
