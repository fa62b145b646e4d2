#include <gtest/gtest.h>

#include <string>

#include "server/config.h"
#include "server/config_digest.h"

namespace cairn::server {
namespace CAIRN_UNITY_ID {

TEST(AuditConfig, DefaultsKeepSecurityRecordsOnlyAndParseEveryMode) {
  const Config d = DefaultConfig();
  EXPECT_TRUE(d.audit.enabled);
  EXPECT_EQ(d.audit.data_plane, audit::DataPlaneAudit::kNone);
  EXPECT_EQ(d.audit.queue_records_max, 65536u);
  EXPECT_EQ(d.audit.batch_records_max, 1000u);
  auto c = ParseConfig(
      "[audit]\nenabled = false\ndata_plane = \"writes\"\nqueue_records_max = 10\n"
      "batch_records_max = 4000\n",
      "/etc/cairn", "c.toml");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_FALSE(c->audit.enabled);
  EXPECT_EQ(c->audit.data_plane, audit::DataPlaneAudit::kWrites);
  EXPECT_EQ(c->audit.queue_records_max, 10u);
  EXPECT_EQ(c->audit.batch_records_max, 4000u);
  auto all = ParseConfig("[audit]\ndata_plane = \"all\"\n", "/etc/cairn", "c.toml");
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->audit.data_plane, audit::DataPlaneAudit::kAll);
}

TEST(AuditConfig, RejectsUnknownModesKeysAndOutOfRangeBounds) {
  for (const char* text : {"[audit]\ndata_plane = \"reads\"\n", "[audit]\nqueue_records_max = 0\n",
                           "[audit]\nqueue_records_max = 1048577\n",
                           "[audit]\nbatch_records_max = 4001\n", "[audit]\nenabeld = true\n",
                           "[audit]\nenabled = \"yes\"\n"}) {
    auto c = ParseConfig(text, "/etc/cairn", "c.toml");
    ASSERT_FALSE(c.ok()) << text;
    EXPECT_EQ(c.status().code(), StatusCode::kInvalidArgument) << text;
    EXPECT_NE(c.status().message().find("audit."), std::string::npos) << c.status().message();
  }
}

}  // namespace
}  // namespace cairn::server

namespace cairn::server {
namespace CAIRN_UNITY_ID {

// Every setting counts: a change of the append limits or of the PostgreSQL connection settings
// changes the digest, and a configuration that leaves them at their defaults keeps the digest it
// had before they were recorded.
TEST(ConfigDigest, TheAppendLimitsAndPostgresSettingsCount) {
  auto digest = [](const std::string& toml) {
    auto c = ParseConfig(toml, "/etc/cairn", "c.toml");
    EXPECT_TRUE(c.ok()) << toml << ": " << c.status().ToString();
    return c.ok() ? ConfigSha256Hex(*c) : std::string();
  };
  const std::string base = digest("");
  EXPECT_EQ(CanonicalConfigText(DefaultConfig()).find("limits.event_size_bytes_max"),
            std::string::npos);
  EXPECT_EQ(digest("[limits]\nevent_size_bytes_max = 1048576\n"), base) << "the default";
  EXPECT_EQ(digest("[limits]\nappend_open_ms_max = 120000\n"), base) << "the default";
  for (const char* changed :
       {"[limits]\nevent_size_bytes_max = 2048\n", "[limits]\nbatch_size_bytes_max = 8388608\n",
        "[limits]\nbatch_events_max = 5\n", "[limits]\nwrite_stall_ms_max = 1000\n",
        "[limits]\nreads_max = 64\n", "[limits]\nreads_per_principal_max = 8\n",
        "[limits]\nappend_open_ms_max = 5000\n",
        "[storage]\npostgres_password_file = \"/etc/cairn/pg.pass\"\n",
        "[storage]\npostgres_pool_connections_max = 4\n",
        "[storage]\npostgres_optimistic_commits = false\n"}) {
    EXPECT_NE(digest(changed), base) << changed;
  }
}

TEST(ConfigDigest, StableChangesWithSettingsAndHoldsNoSecrets) {
  auto text = [](const std::string& toml) {
    auto c = ParseConfig(toml, "/etc/cairn", "c.toml");
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return c.ok() ? CanonicalConfigText(*c) : std::string();
  };
  const std::string key_hash(64, 'a');
  const std::string base =
      "[[auth.api_keys]]\nid = \"ops\"\nsecret_sha256 = \"" + key_hash + "\"\nroles = [\"r\"]\n";
  const std::string t = text(base);
  EXPECT_EQ(t.rfind("cairn-config-v1\n", 0), 0u);
  EXPECT_EQ(t, text(base));
  EXPECT_NE(t.find("auth.api_keys.0.id=ops\n"), std::string::npos) << t;
  EXPECT_NE(t.find("tls.enabled=true\n"), std::string::npos) << t;
  EXPECT_EQ(t.find(key_hash), std::string::npos);  // the key's hash is left out
  EXPECT_NE(text(base + "[audit]\ndata_plane = \"all\"\n"), t);
  EXPECT_NE(text(base + "[tls]\nenabled = false\n"), t);
  EXPECT_NE(text(base + "[scrub]\ninterval_s = 60\n"), t);
  EXPECT_NE(text(base + "[webhooks]\ndispatch = false\n"), t);
  EXPECT_NE(text(base + "[log]\nlevel = \"debug\"\n"), t);
  EXPECT_NE(text(base + "[alerts]\nenabled = false\n"), t);
  EXPECT_NE(text(base + "[server]\ncore_dumps = true\n"), t);
  EXPECT_NE(text(base + "[server]\nadmin_tls = true\n"), t);
  // Another secret under the same key id: the digest does not depend on secrets at all.
  const std::string other_hash(64, 'b');
  const std::string rekeyed =
      text("[[auth.api_keys]]\nid = \"ops\"\nsecret_sha256 = \"" + other_hash + "\"\nroles = [\"r\"]\n");
  EXPECT_EQ(rekeyed, t);
  // An issuer's name is part of its principals (jwt:<name>:<sub>): renaming it is a change.
  auto issuer = [](const std::string& name) {
    return "[[auth.jwt]]\n" + name + "issuer = \"https://idp.example\"\naudience = \"a\"\n"
           "jwks_file = \"/etc/cairn/jwks.json\"\n";
  };
  const std::string unnamed = text(base + issuer(""));
  EXPECT_NE(text(base + issuer("name = \"corp\"\n")), unnamed);
  EXPECT_NE(text(base + issuer("name = \"corp\"\n")), text(base + issuer("name = \"partner\"\n")));
  // A webhook URL may carry a token: its presence counts, its text is not in the rendering.
  const std::string hooked = text(base +
      "[alerts]\nwebhook_url = \"https://hooks.example/t0ken-in-path\"\nwebhook_secret_env = \"S\"\n");
  EXPECT_NE(hooked, t);
  EXPECT_EQ(hooked.find("t0ken-in-path"), std::string::npos) << hooked;
  auto c = ParseConfig(base, "/etc/cairn", "c.toml");
  ASSERT_TRUE(c.ok());
  const std::string hex = ConfigSha256Hex(*c);
  EXPECT_EQ(hex.size(), 64u);
  EXPECT_EQ(hex.find_first_not_of("0123456789abcdef"), std::string::npos);
}

}  // namespace
}  // namespace cairn::server
