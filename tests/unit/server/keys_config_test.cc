// The [keys] section of cairn.toml: parsing (paths resolved, unknown keys and providers refused),
// environment overrides, and the ValidateForServe refusals for bad combinations and exposed
// secret files.
#include <gtest/gtest.h>

#include <filesystem>
#include <sys/stat.h>

#include "server/config.h"
#include "test_util.h"

namespace cairn::server {
namespace CAIRN_UNITY_ID {

TEST(KeysConfigTest, ParsesBothProvidersAndResolvesPaths) {
  auto local = ParseConfig("[keys]\nkeyring = \"k/ring\"\npassphrase_file = \"pass\"\n", "/etc/cairn");
  ASSERT_TRUE(local.ok()) << local.status().ToString();
  EXPECT_EQ(local->keys.provider, "local");
  EXPECT_EQ(local->keys.local.keyring_path, "/etc/cairn/k/ring");
  EXPECT_EQ(local->keys.local.passphrase_file, "/etc/cairn/pass");

  auto p11 = ParseConfig(
      "[keys]\nprovider = \"pkcs11\"\nmodule = \"/usr/lib/m.so\"\nslot = 3\n"
      "token_label = \"t\"\npin_file = \"pin\"\nkey_label = \"kek\"\n",
      "/etc/cairn");
  ASSERT_TRUE(p11.ok()) << p11.status().ToString();
  EXPECT_EQ(p11->keys.provider, "pkcs11");
  EXPECT_EQ(p11->keys.pkcs11.module_path, "/usr/lib/m.so");
  ASSERT_TRUE(p11->keys.pkcs11.slot_id.has_value());
  EXPECT_EQ(*p11->keys.pkcs11.slot_id, 3u);
  EXPECT_EQ(p11->keys.pkcs11.pin_file, "/etc/cairn/pin");
  EXPECT_EQ(p11->keys.pkcs11.key_label, "kek");
}

TEST(KeysConfigTest, RefusesUnknownKeysProvidersAndNegativeSlots) {
  auto unknown = ParseConfig("[keys]\nkeyrnig = \"x\"\n", "/");
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("keys.keyrnig"), std::string::npos);
  EXPECT_FALSE(ParseConfig("[keys]\nprovider = \"vault\"\n", "/").ok());
  EXPECT_FALSE(ParseConfig("[keys]\nslot = -1\n", "/").ok());
}

TEST(KeysConfigTest, EnvironmentOverrides) {
  Config c = DefaultConfig();
  auto env = [](const char* n) -> const char* {
    if (std::string(n) == "CAIRN_KEYS_PROVIDER") return "pkcs11";
    if (std::string(n) == "CAIRN_KEYRING") return "/k";
    return nullptr;
  };
  ASSERT_TRUE(ApplyEnvOverrides(&c, env).ok());
  EXPECT_EQ(c.keys.provider, "pkcs11");
  EXPECT_EQ(c.keys.local.keyring_path, "/k");
  auto bad = [](const char* n) -> const char* {
    return std::string(n) == "CAIRN_KEYS_PROVIDER" ? "hsm" : nullptr;
  };
  EXPECT_EQ(ApplyEnvOverrides(&c, bad).code(), StatusCode::kInvalidArgument);
}

TEST(KeysConfigTest, ServeRefusesBadCombinationsAndExposedSecrets) {
  testing::TempDir tmp;
  Config c = DefaultConfig();
  c.data_dir = tmp.path();
  c.tls.enabled = false;
  ASSERT_TRUE(ValidateForServe(c).ok()) << ValidateForServe(c).ToString();

  c.keys.pkcs11.key_label = "kek";  // a pkcs11 setting with the local provider
  Status s = ValidateForServe(c);
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(s.message().find("[keys]"), std::string::npos) << s.message();
  EXPECT_EQ(s.message().find('\n'), std::string::npos);

  c.keys = {};
  c.keys.local.passphrase_file = tmp.Sub("pass");
  testing::WriteFile(c.keys.local.passphrase_file, "a passphrase of some length\n");
  ASSERT_EQ(::chmod(c.keys.local.passphrase_file.c_str(), 0644), 0);
  s = ValidateForServe(c);
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(s.message().find("keys.passphrase_file"), std::string::npos) << s.message();
  ASSERT_EQ(::chmod(c.keys.local.passphrase_file.c_str(), 0600), 0);
  EXPECT_TRUE(ValidateForServe(c).ok());

  c.keys = {};
  c.keys.provider = "pkcs11";
  c.keys.pkcs11.module_path = tmp.Sub("missing.so");
  c.keys.pkcs11.token_label = "t";
  c.keys.pkcs11.pin_env = "PIN";
  c.keys.pkcs11.key_label = "kek";
  s = ValidateForServe(c);
  EXPECT_NE(s.message().find("keys.module"), std::string::npos) << s.message();

  // A module anyone may replace is never loaded: the file, or its directory, writable by others.
  const std::string libs = tmp.Sub("libs");
  ASSERT_TRUE(std::filesystem::create_directories(libs));
  ASSERT_EQ(::chmod(libs.c_str(), 0755), 0);
  c.keys.pkcs11.module_path = libs + "/module.so";
  testing::WriteFile(c.keys.pkcs11.module_path, "not really a module");
  ASSERT_EQ(::chmod(c.keys.pkcs11.module_path.c_str(), 0644), 0);
  EXPECT_TRUE(ValidateForServe(c).ok()) << ValidateForServe(c).message();
  ASSERT_EQ(::chmod(c.keys.pkcs11.module_path.c_str(), 0666), 0);
  s = ValidateForServe(c);
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(s.message().find("may be written by group or others"), std::string::npos) << s.message();
  ASSERT_EQ(::chmod(c.keys.pkcs11.module_path.c_str(), 0644), 0);
  ASSERT_EQ(::chmod(libs.c_str(), 0777), 0);
  s = ValidateForServe(c);
  EXPECT_NE(s.message().find(libs + " may be written"), std::string::npos) << s.message();
  ASSERT_EQ(::chmod(libs.c_str(), 0755), 0);
  // Through a symlink the file it names is judged.
  const std::string link = tmp.Sub("link.so");
  std::filesystem::create_symlink(c.keys.pkcs11.module_path, link);
  c.keys.pkcs11.module_path = link;
  EXPECT_TRUE(ValidateForServe(c).ok());
}

}  // namespace
}  // namespace cairn::server
