#include <gtest/gtest.h>
#include <sys/stat.h>

#include <map>
#include <string>

#include "crypto/ed25519.h"
#include "integrity/note.h"
#include "server/config.h"
#include "test_util.h"

namespace cairn::server {
namespace CAIRN_UNITY_ID {

Config MustParse(const std::string& text, const std::string& base_dir = "/etc/cairn") {
  Result<Config> config = ParseConfig(text, base_dir, "c.toml");
  EXPECT_TRUE(config.ok()) << config.status().ToString();
  return config.ok() ? std::move(config).value() : DefaultConfig();
}

void ExpectParseError(const std::string& text, std::initializer_list<std::string> needles) {
  Result<Config> config = ParseConfig(text, "/etc/cairn", "c.toml");
  ASSERT_FALSE(config.ok()) << text;
  EXPECT_EQ(config.status().code(), StatusCode::kInvalidArgument);
  for (const std::string& needle : needles) {
    EXPECT_NE(config.status().message().find(needle), std::string::npos)
        << "missing '" << needle << "' in: " << config.status().message();
  }
}

// ---------------------------------------------------------------------------------------------
// Parsing.

TEST(ConfigParse, Defaults) {
  const Config c = DefaultConfig();
  EXPECT_EQ(c.data_dir, "");
  EXPECT_EQ(c.server.listen, "127.0.0.1:7400");
  EXPECT_EQ(c.server.admin_listen, "127.0.0.1:7401");
  EXPECT_TRUE(c.server.allow_cidrs.empty());
  EXPECT_FALSE(c.server.core_dumps);
  EXPECT_FALSE(c.server.admin_tls);
  EXPECT_TRUE(c.tls.enabled);
  EXPECT_EQ(c.tls.cert, "");
  EXPECT_EQ(c.tls.key, "");
  EXPECT_EQ(c.tls.client_ca, "");
  EXPECT_FALSE(c.tls.require_client_cert);
  EXPECT_EQ(c.tls.min_version, "1.2");
  EXPECT_TRUE(c.auth.jwt.empty());
  EXPECT_TRUE(c.auth.api_keys.empty());
  EXPECT_TRUE(c.auth.mtls.rules.empty());
  EXPECT_EQ(c.auth.failures_per_minute_max, 30);
  EXPECT_EQ(c.policy.file, "");
  EXPECT_EQ(c.limits.max_message_bytes, 4194304u);
  EXPECT_EQ(c.limits.max_concurrent_streams, 256u);
  EXPECT_EQ(c.limits.read_batch_max, 1000u);
  EXPECT_EQ(c.limits.read_size_bytes_max, 16u << 20);
  EXPECT_EQ(c.source_path, "");

  // An empty file is the defaults.
  const Config empty = MustParse("");
  EXPECT_EQ(empty.server.listen, "127.0.0.1:7400");
  EXPECT_TRUE(empty.tls.enabled);
  EXPECT_EQ(empty.limits.read_batch_max, 1000u);
}

TEST(ConfigParse, FullFile) {
  const Config c = MustParse(R"(
data_dir = "data"
[server]
listen = "0.0.0.0:7400"
admin_listen = "[::1]:7401"
admin_tls = true
allow_cidrs = ["10.0.0.0/8", "::1/128"]
core_dumps = true
[tls]
enabled = true
cert = "tls/server.crt"
key = "/secure/server.key"
client_ca = "../ca/ca.crt"
require_client_cert = true
min_version = "1.3"
[[auth.jwt]]
issuer = "https://idp.example"
audience = "cairn"
jwks_file = "jwks.json"
jwks_ca_file = "ca.pem"
roles_claim = "groups"
require_typ = "at+jwt"
roles_allowed = ["reader", "writer"]
leeway_s = 10
jwks_refresh_interval_s = 600
jwks_refetch_min_interval_s = 60
[[auth.jwt]]
issuer = "https://other"
audience = "cairn"
jwks_url = "https://other/jwks"
[[auth.api_keys]]
id = "ci-bot"
secret_sha256 = "ab"
roles = ["order-service", "reader"]
expires = 2026-01-01T00:00:00Z
[[auth.api_keys]]
id = "no-expiry"
secret_sha256 = "cd"
roles = []
[auth.mtls]
spiffe_trust_domains = ["prod.acme"]
rules = [ { match = "CN=*,O=Acme", principal = "acme-$CN" } ]
[auth]
failures_per_minute_max = 5
failure_sources_max = 100
[policy]
file = "policy.toml"
[limits]
max_message_bytes = 1048576
max_concurrent_streams = 64
read_batch_max = 500
read_size_bytes_max = 1048576
grpc_memory_bytes_max = 1073741824
connection_idle_ms_max = 60000
)");
  EXPECT_EQ(c.limits.grpc_memory_bytes_max, uint64_t{1} << 30);
  EXPECT_EQ(c.limits.connection_idle_ms_max, 60000u);
  EXPECT_EQ(c.data_dir, "/etc/cairn/data");
  EXPECT_EQ(c.server.listen, "0.0.0.0:7400");
  EXPECT_EQ(c.server.admin_listen, "[::1]:7401");
  EXPECT_EQ(c.server.allow_cidrs, (std::vector<std::string>{"10.0.0.0/8", "::1/128"}));
  EXPECT_TRUE(c.server.core_dumps);
  EXPECT_TRUE(c.server.admin_tls);
  EXPECT_EQ(c.tls.cert, "/etc/cairn/tls/server.crt");
  EXPECT_EQ(c.tls.key, "/secure/server.key");
  EXPECT_EQ(c.tls.client_ca, "/etc/ca/ca.crt");
  EXPECT_TRUE(c.tls.require_client_cert);
  EXPECT_EQ(c.tls.min_version, "1.3");
  ASSERT_EQ(c.auth.jwt.size(), 2u);
  EXPECT_EQ(c.auth.jwt[0].issuer, "https://idp.example");
  EXPECT_EQ(c.auth.jwt[0].audience, "cairn");
  EXPECT_EQ(c.auth.jwt[0].jwks_file, "/etc/cairn/jwks.json");
  EXPECT_EQ(c.auth.jwt[0].jwks_ca_file, "/etc/cairn/ca.pem");
  EXPECT_EQ(c.auth.jwt[0].roles_claim, "groups");
  EXPECT_EQ(c.auth.jwt[0].require_typ, "at+jwt");
  EXPECT_EQ(c.auth.jwt[1].require_typ, "");
  ASSERT_TRUE(c.auth.jwt[0].roles_allowed.has_value());
  EXPECT_EQ(*c.auth.jwt[0].roles_allowed, (std::vector<std::string>{"reader", "writer"}));
  EXPECT_EQ(c.auth.jwt[0].leeway_s, 10);
  EXPECT_EQ(c.auth.jwt[0].jwks_refresh_interval_s, 600);
  EXPECT_EQ(c.auth.jwt[0].jwks_refetch_min_interval_s, 60);
  EXPECT_EQ(c.auth.jwt[1].jwks_url, "https://other/jwks");
  EXPECT_EQ(c.auth.jwt[1].roles_claim, "roles");
  EXPECT_FALSE(c.auth.jwt[1].roles_allowed.has_value()) << "unset: every claimed role counts";
  EXPECT_EQ(c.auth.jwt[1].leeway_s, 30);
  ASSERT_EQ(c.auth.api_keys.size(), 2u);
  EXPECT_EQ(c.auth.api_keys[0].id, "ci-bot");
  EXPECT_EQ(c.auth.api_keys[0].secret_sha256, "ab");
  EXPECT_EQ(c.auth.api_keys[0].roles, (std::vector<std::string>{"order-service", "reader"}));
  EXPECT_EQ(c.auth.api_keys[0].expires_unix_s, 1767225600);
  EXPECT_FALSE(c.auth.api_keys[1].expires_unix_s.has_value());
  EXPECT_EQ(c.auth.mtls.spiffe_trust_domains, (std::vector<std::string>{"prod.acme"}));
  ASSERT_EQ(c.auth.mtls.rules.size(), 1u);
  EXPECT_EQ(c.auth.mtls.rules[0].match, "CN=*,O=Acme");
  EXPECT_EQ(c.auth.mtls.rules[0].principal, "acme-$CN");
  EXPECT_EQ(c.auth.failures_per_minute_max, 5);
  EXPECT_EQ(c.auth.failure_sources_max, 100);
  EXPECT_EQ(c.policy.file, "/etc/cairn/policy.toml");
  EXPECT_EQ(c.limits.max_message_bytes, 1048576u);
  EXPECT_EQ(c.limits.max_concurrent_streams, 64u);
  EXPECT_EQ(c.limits.read_batch_max, 500u);
  EXPECT_EQ(c.limits.read_size_bytes_max, 1u << 20);
}

TEST(ConfigParse, UnknownKeysRejectedEverywhere) {
  ExpectParseError("datadir = \"x\"\n", {"c.toml:1:", "unknown key 'datadir'"});
  ExpectParseError("[server]\nlisten = \"127.0.0.1:1\"\nallow_cidr = []\n",
                   {"c.toml:3:", "unknown key 'server.allow_cidr'"});
  ExpectParseError("[tls]\nenabeld = false\n", {"c.toml:2:", "unknown key 'tls.enabeld'"});
  ExpectParseError("[[auth.jwt]]\nissuer = \"x\"\naudiance = \"y\"\n",
                   {"c.toml:3:", "unknown key 'auth.jwt[0].audiance'"});
  ExpectParseError("[[auth.api_keys]]\nid = \"x\"\nsecret = \"y\"\n",
                   {"unknown key 'auth.api_keys[0].secret'"});
  ExpectParseError("[auth.mtls]\nrules = [ { match = \"x\", principal = \"y\", extra = 1 } ]\n",
                   {"unknown key 'auth.mtls.rules[0].extra'"});
  ExpectParseError("[auth.mtls]\nrule = []\n", {"unknown key 'auth.mtls.rule'"});
  ExpectParseError("[auth]\nfailures_per_min = 3\n", {"unknown key 'auth.failures_per_min'"});
  ExpectParseError("[policy]\npath = \"p\"\n", {"unknown key 'policy.path'"});
  ExpectParseError("[limits]\nmax_message_size = 1\n", {"unknown key 'limits.max_message_size'"});
  ExpectParseError("[logging]\nlevel = \"info\"\n", {"unknown key 'logging'"});
}

TEST(ConfigParse, WrongTypesAndRanges) {
  ExpectParseError("data_dir = 1\n", {"'data_dir' must be a string"});
  ExpectParseError("server = 1\n", {"'server' must be a table"});
  ExpectParseError("[tls]\nenabled = \"false\"\n", {"'tls.enabled' must be true or false"});
  ExpectParseError("[server]\ncore_dumps = 1\n", {"'server.core_dumps' must be true or false"});
  ExpectParseError("[server]\nallow_cidrs = \"10.0.0.0/8\"\n",
                   {"'server.allow_cidrs' must be a list of strings"});
  ExpectParseError("[server]\nallow_cidrs = [\"10.0.0.1/8\"]\n",
                   {"c.toml:2:", "server.allow_cidrs", "host bits set"});
  ExpectParseError("[limits]\nmax_message_bytes = 0\n", {"'limits.max_message_bytes' = 0 is outside"});
  ExpectParseError("[limits]\nread_batch_max = 10001\n", {"'limits.read_batch_max'"});
  // A stored record and a group commit must fit the storage's caps: an event at 64 MiB used to
  // pass the configuration and abort the server on its first such append.
  ExpectParseError("[limits]\nevent_size_bytes_max = 67108864\n", {"'limits.event_size_bytes_max'"});
  ExpectParseError("[limits]\nbatch_size_bytes_max = 268435456\n", {"'limits.batch_size_bytes_max'"});
  ExpectParseError("[limits]\nread_size_bytes_max = 65535\n", {"'limits.read_size_bytes_max'"});
  ExpectParseError("[limits]\nmax_concurrent_streams = 1.5\n", {"must be an integer"});
  ExpectParseError("[[auth.jwt]]\nleeway_s = \"30\"\n", {"'auth.jwt[0].leeway_s' must be an integer"});
  ExpectParseError("[auth]\njwt = 1\n", {"'auth.jwt' must be a list of tables"});
  ExpectParseError("[[auth.api_keys]]\nroles = [1]\n", {"'auth.api_keys[0].roles' must be a list"});
  ExpectParseError("[server\n", {"c.toml:1:", "invalid TOML"});
}

TEST(ConfigParse, SubscriptionAndGroupLimits) {
  const Config defaults = DefaultConfig();
  EXPECT_EQ(defaults.groups.groups_max, 64u);
  EXPECT_EQ(defaults.subscriptions.subscribers_max, 1024u);
  const Config c = MustParse(
      "[subscriptions]\nsubscribers_max = 8\n"
      "[groups]\ngroups_max = 3\nconsumers_per_group_max = 2\nin_flight_max = 50\n"
      "buffer_events_max = 100\nbuffer_bytes_max = 2097152\n");
  EXPECT_EQ(c.subscriptions.subscribers_max, 8u);
  EXPECT_EQ(c.groups.groups_max, 3u);
  EXPECT_EQ(c.groups.consumers_per_group_max, 2u);
  EXPECT_EQ(c.groups.in_flight_max, 50u);
  EXPECT_EQ(c.groups.buffer_events_max, 100u);
  EXPECT_EQ(c.groups.buffer_bytes_max, 2097152u);
  ExpectParseError("[groups]\ngroups_max = 0\n", {"'groups.groups_max' = 0 is outside"});
  ExpectParseError("[groups]\nin_flight_max = 100001\n", {"'groups.in_flight_max'"});
  ExpectParseError("[groups]\nbuffer_bytes_max = 1\n", {"'groups.buffer_bytes_max'"});
  ExpectParseError("[groups]\nconsumers = 2\n", {"groups.consumers"});
  ExpectParseError("[subscriptions]\nlag_events_max = 70000\n", {"'subscriptions.lag_events_max'"});
  ExpectParseError("[subscriptions]\nsubscribers_max = 0\n", {"'subscriptions.subscribers_max'"});
}

TEST(ConfigParse, ConnectionLimits) {
  const Config defaults = DefaultConfig();
  EXPECT_EQ(defaults.limits.connections_max, 4096u);
  EXPECT_EQ(defaults.limits.connections_per_source_max, 256u);
  // A small total alone: the per-source default follows it down.
  const Config small = MustParse("[limits]\nconnections_max = 100\n");
  EXPECT_EQ(small.limits.connections_max, 100u);
  EXPECT_EQ(small.limits.connections_per_source_max, 100u);
  const Config c = MustParse("[limits]\nconnections_max = 100\nconnections_per_source_max = 100\n");
  EXPECT_EQ(c.limits.connections_max, 100u);
  EXPECT_EQ(c.limits.connections_per_source_max, 100u);
  ExpectParseError("[limits]\nconnections_max = 0\n", {"'limits.connections_max' = 0 is outside"});
  ExpectParseError("[limits]\nconnections_per_source_max = 0\n", {"'limits.connections_per_source_max'"});
  ExpectParseError("[limits]\nconnections_max = 10\nconnections_per_source_max = 11\n",
                   {"connections_per_source_max must not exceed limits.connections_max"});
}

TEST(ConfigParse, ReadSlotLimits) {
  const Config defaults = DefaultConfig();
  EXPECT_EQ(defaults.limits.reads_max, 128u);
  EXPECT_EQ(defaults.limits.reads_per_principal_max, 32u);
  // A small total alone: the per-principal default follows it down.
  const Config small = MustParse("[limits]\nreads_max = 8\n");
  EXPECT_EQ(small.limits.reads_max, 8u);
  EXPECT_EQ(small.limits.reads_per_principal_max, 8u);
  const Config c = MustParse("[limits]\nreads_max = 192\nreads_per_principal_max = 2\n");
  EXPECT_EQ(c.limits.reads_max, 192u);
  EXPECT_EQ(c.limits.reads_per_principal_max, 2u);
  // The server's 256 threads: at most 192 for reads, the rest for every other call.
  ExpectParseError("[limits]\nreads_max = 193\n", {"'limits.reads_max' = 193 is outside"});
  ExpectParseError("[limits]\nreads_max = 0\n", {"'limits.reads_max' = 0 is outside"});
  ExpectParseError("[limits]\nreads_per_principal_max = 0\n", {"'limits.reads_per_principal_max'"});
  ExpectParseError("[limits]\nreads_max = 10\nreads_per_principal_max = 11\n",
                   {"reads_per_principal_max must not exceed limits.reads_max"});
}

TEST(ConfigParse, AppendOpenLimit) {
  EXPECT_EQ(DefaultConfig().limits.append_open_ms_max, 120000u);
  EXPECT_EQ(MustParse("[limits]\nappend_open_ms_max = 1000\n").limits.append_open_ms_max, 1000u);
  ExpectParseError("[limits]\nappend_open_ms_max = 999\n",
                   {"'limits.append_open_ms_max' = 999 is outside"});
  ExpectParseError("[limits]\nappend_open_ms_max = 3600001\n", {"'limits.append_open_ms_max'"});
}

TEST(ConfigParse, WebhookDispatchIsOnUnlessTurnedOff) {
  EXPECT_TRUE(DefaultConfig().webhooks.dispatch);
  EXPECT_FALSE(MustParse("[webhooks]\ndispatch = false\n").webhooks.dispatch);
  ExpectParseError("[webhooks]\ndispatch = \"no\"\n", {"webhooks.dispatch"});
  // The backoff bounds are checked as a pair, also when only one of them is written (a longer
  // initial backoff than the default maximum used to pass and abort the server at start).
  ExpectParseError("[webhooks]\nbackoff_initial_ms = 120000\n",
                   {"webhooks.backoff_max_ms", "webhooks.backoff_initial_ms", "120000"});
  ExpectParseError("[webhooks]\nbackoff_max_ms = 10\n", {"webhooks.backoff_max_ms"});
  const Config slow = MustParse("[webhooks]\nbackoff_initial_ms = 120000\nbackoff_max_ms = 120000\n");
  EXPECT_EQ(slow.webhooks.backoff_initial_ms, 120000);
  EXPECT_EQ(slow.webhooks.backoff_max_ms, 120000);
}

TEST(ConfigParse, ExpiresForms) {
  auto expires = [](const std::string& value) {
    return MustParse("[[auth.api_keys]]\nid = \"k\"\nexpires = " + value + "\n")
        .auth.api_keys.at(0)
        .expires_unix_s;
  };
  EXPECT_EQ(expires("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(expires("2026-01-01T00:00:00Z"), 1767225600);
  EXPECT_EQ(expires("2026-01-01T01:00:00+01:00"), 1767225600);
  EXPECT_EQ(expires("2025-12-31T19:00:00-05:00"), 1767225600);
  EXPECT_EQ(expires("2026-01-01 00:00:00.999Z"), 1767225600);
  EXPECT_EQ(expires("\"2026-01-01T00:00:00Z\""), 1767225600);
  EXPECT_EQ(expires("\"2026-01-01t02:30:00+02:30\""), 1767225600);
  EXPECT_EQ(expires("\"2024-02-29T12:00:00.5Z\""), 1709208000);

  const std::string prefix = "[[auth.api_keys]]\nid = \"k\"\nexpires = ";
  ExpectParseError(prefix + "2026-01-01T00:00:00\n", {"needs a time zone offset"});
  ExpectParseError(prefix + "2026-01-01\n", {"must be a date-time with offset"});
  ExpectParseError(prefix + "12345\n", {"must be a date-time with offset"});
  for (const char* bad : {"2026-01-01T00:00:00", "2026-01-01", "2026-13-01T00:00:00Z",
                          "2025-02-29T00:00:00Z", "2026-01-01T24:00:00Z", "2026-01-01T00:00:60Z",
                          "2026-01-01T00:00:00+1:00", "2026-01-01T00:00:00Zjunk", "tomorrow",
                          "2026-01-01T00:00:00.Z", ""}) {
    ExpectParseError(prefix + "\"" + bad + "\"\n", {"auth.api_keys[0].expires", "RFC 3339"});
  }
}

TEST(ConfigParse, RelativePathsResolveAgainstConfigDir) {
  const Config c = MustParse(
      "data_dir = \"./d\"\n[tls]\ncert = \"c.pem\"\nkey = \"sub/../k.key\"\n"
      "[policy]\nfile = \"/abs/p.toml\"\n",
      "/srv/cairn/etc");
  EXPECT_EQ(c.data_dir, "/srv/cairn/etc/d");
  EXPECT_EQ(c.tls.cert, "/srv/cairn/etc/c.pem");
  EXPECT_EQ(c.tls.key, "/srv/cairn/etc/k.key");
  EXPECT_EQ(c.policy.file, "/abs/p.toml");
}

TEST(ConfigLoad, FromFile) {
  cairn::testing::TempDir dir;
  const std::string path = dir.Sub("cairn.toml");
  cairn::testing::WriteFile(path, "data_dir = \"data\"\n[policy]\nfile = \"policy.toml\"\n");
  Result<Config> c = LoadConfigFile(path);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->data_dir, dir.Sub("data"));
  EXPECT_EQ(c->policy.file, dir.Sub("policy.toml"));
  EXPECT_EQ(c->source_path, path);

  EXPECT_EQ(LoadConfigFile(dir.Sub("missing.toml")).status().code(), StatusCode::kNotFound);
  cairn::testing::WriteFile(path, "bogus = true\n");
  Result<Config> bad = LoadConfigFile(path);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find(path + ":1:"), std::string::npos) << bad.status().message();
  EXPECT_NE(bad.status().message().find("unknown key 'bogus'"), std::string::npos);

  cairn::testing::WriteFile(path, "# " + std::string(kConfigFileSizeBytesMax, 'x') + "\n");
  EXPECT_EQ(LoadConfigFile(path).status().code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(ParseConfig(std::string(kConfigFileSizeBytesMax + 1, '#'), "/").status().code(),
            StatusCode::kResourceExhausted);
}

// ---------------------------------------------------------------------------------------------
// Environment overrides.

TEST(ConfigEnv, Overrides) {
  std::map<std::string, std::string> env = {
      {"CAIRN_DATA_DIR", "/data"},          {"CAIRN_LISTEN", "0.0.0.0:9000"},
      {"CAIRN_ADMIN_LISTEN", "[::1]:9001"}, {"CAIRN_TLS_ENABLED", "false"},
      {"CAIRN_POLICY_FILE", "p.toml"},      {"CAIRN_UNRELATED", "x"}};
  auto getenv = [&env](const char* name) -> const char* {
    auto it = env.find(name);
    return it == env.end() ? nullptr : it->second.c_str();
  };
  Config c = DefaultConfig();
  ASSERT_TRUE(ApplyEnvOverrides(&c, getenv).ok());
  EXPECT_EQ(c.data_dir, "/data");
  EXPECT_EQ(c.server.listen, "0.0.0.0:9000");
  EXPECT_EQ(c.server.admin_listen, "[::1]:9001");
  EXPECT_FALSE(c.tls.enabled);
  EXPECT_EQ(c.policy.file, "p.toml");

  env = {{"CAIRN_TLS_ENABLED", "1"}, {"CAIRN_LISTEN", ""}};
  ASSERT_TRUE(ApplyEnvOverrides(&c, getenv).ok());
  EXPECT_TRUE(c.tls.enabled);
  EXPECT_EQ(c.server.listen, "0.0.0.0:9000");  // empty = unset

  env = {{"CAIRN_TLS_ENABLED", "off"}, {"CAIRN_DATA_DIR", "/other"}};
  Status s = ApplyEnvOverrides(&c, getenv);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("CAIRN_TLS_ENABLED"), std::string::npos);
  EXPECT_EQ(c.data_dir, "/data");  // unchanged on error
  EXPECT_TRUE(c.tls.enabled);

  Config untouched = DefaultConfig();
  ASSERT_TRUE(ApplyEnvOverrides(&untouched, [](const char*) -> const char* { return nullptr; }).ok());
  EXPECT_EQ(untouched.server.listen, "127.0.0.1:7400");
}

// ---------------------------------------------------------------------------------------------
// ValidateForServe.

class ServeCheck : public ::testing::Test {
 protected:
  void SetUp() override {
    cairn::testing::WriteFile(dir_.Sub("server.crt"), "cert");
    cairn::testing::WriteFile(dir_.Sub("server.key"), "key");
    cairn::testing::WriteFile(dir_.Sub("ca.crt"), "ca");
    cairn::testing::WriteFile(dir_.Sub("policy.toml"), "");
    ASSERT_EQ(::chmod(dir_.Sub("server.key").c_str(), 0600), 0);
    ASSERT_EQ(::chmod(dir_.Sub("server.crt").c_str(), 0644), 0);
    config_ = DefaultConfig();
    config_.data_dir = dir_.Sub("data");
    config_.tls.cert = dir_.Sub("server.crt");
    config_.tls.key = dir_.Sub("server.key");
  }

  // Expects ValidateForServe to refuse with a message containing every needle.
  void ExpectRefused(std::initializer_list<std::string> needles) {
    Status s = ValidateForServe(config_);
    ASSERT_FALSE(s.ok()) << "accepted";
    EXPECT_TRUE(s.code() == StatusCode::kFailedPrecondition ||
                s.code() == StatusCode::kInvalidArgument)
        << s.ToString();
    EXPECT_EQ(s.message().find('\n'), std::string::npos) << "not one line: " << s.message();
    for (const std::string& needle : needles) {
      EXPECT_NE(s.message().find(needle), std::string::npos)
          << "missing '" << needle << "' in: " << s.message();
    }
  }

  cairn::testing::TempDir dir_;
  Config config_;
};

TEST_F(ServeCheck, SecureLoopbackSetUpAccepted) {
  EXPECT_TRUE(ValidateForServe(config_).ok()) << ValidateForServe(config_).ToString();
  config_.server.listen = "0.0.0.0:7400";
  config_.server.admin_listen = "";
  config_.server.allow_cidrs = {"10.0.0.0/8"};
  config_.tls.client_ca = dir_.Sub("ca.crt");
  config_.tls.require_client_cert = true;
  config_.policy.file = dir_.Sub("policy.toml");
  config_.auth.jwt.push_back({});
  config_.auth.jwt.back().leeway_s = 60;
  EXPECT_TRUE(ValidateForServe(config_).ok()) << ValidateForServe(config_).ToString();
}

TEST_F(ServeCheck, BackupDirMustBeAnOwnersDirectoryOfTheEmbeddedStore) {
  const std::string dir = dir_.Sub("backups");
  config_.backup.dir = dir;
  ExpectRefused({"backup.dir", dir});  // missing
  cairn::testing::WriteFile(dir, "not a directory");
  ExpectRefused({"backup.dir", "not a directory"});
  ASSERT_EQ(::unlink(dir.c_str()), 0);
  ASSERT_EQ(::mkdir(dir.c_str(), 0770), 0);
  ASSERT_EQ(::chmod(dir.c_str(), 0770), 0);  // whatever the umask
  ExpectRefused({"backup.dir", "writable by group or others"});
  ASSERT_EQ(::chmod(dir.c_str(), 0700), 0);
  EXPECT_TRUE(ValidateForServe(config_).ok()) << ValidateForServe(config_).ToString();
  if (::geteuid() == 0) {  // only root can give the directory to another user
    ASSERT_EQ(::chown(dir.c_str(), 65534, 65534), 0);
    ExpectRefused({"backup.dir", "not owned by the user"});
    ASSERT_EQ(::chown(dir.c_str(), 0, 0), 0);
  }
  config_.storage.backend = "postgres";
  config_.storage.postgres_dsn = "host=127.0.0.1 dbname=cairn user=cairn";
  ExpectRefused({"backup.dir", "PostgreSQL"});
}

TEST(BackupConfig, DirResolvesAgainstTheConfigFileAndUnknownKeysAreRefused) {
  auto c = ParseConfig("[backup]\ndir = \"backups\"\n", "/etc/cairn", "c.toml");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->backup.dir, "/etc/cairn/backups");
  EXPECT_EQ(DefaultConfig().backup.dir, "");
  auto bad = ParseConfig("[backup]\ndirectory = \"/b\"\n", "/etc/cairn", "c.toml");
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
}

TEST_F(ServeCheck, PlaintextLoopbackAccepted) {
  config_.tls.enabled = false;
  config_.tls.cert.clear();
  config_.tls.key.clear();
  EXPECT_TRUE(ValidateForServe(config_).ok()) << ValidateForServe(config_).ToString();
  config_.server.listen = "localhost:7400";
  config_.server.admin_listen = "[::1]:7401";
  EXPECT_TRUE(ValidateForServe(config_).ok()) << ValidateForServe(config_).ToString();
}

// The admin listener binds numeric addresses only: "localhost" passed this check and then failed
// at start, after the gRPC listener had taken calls. gRPC address schemes are not host names.
TEST_F(ServeCheck, RefusesListenAddressesTheListenersWouldReadOtherwise) {
  config_.server.admin_listen = "localhost:7401";
  ExpectRefused({"server.admin_listen", "numeric address"});
  config_.server.admin_listen = "127.0.0.1:7401";
  for (const char* listen : {"unix:7400", "unix-abstract:7400", "vsock:7400", "dns:7400"}) {
    config_.server.listen = listen;
    ExpectRefused({"server.listen", "gRPC address scheme"});
  }
}

TEST_F(ServeCheck, RefusesMissingDataDir) {
  config_.data_dir.clear();
  ExpectRefused({"data_dir is not set"});
}

TEST_F(ServeCheck, RefusesPlaintextOffLoopback) {
  config_.tls.enabled = false;
  config_.server.listen = "0.0.0.0:7400";
  config_.server.allow_cidrs = {"10.0.0.0/8"};
  ExpectRefused({"tls.enabled = false", "server.listen", "plaintext"});
}

TEST_F(ServeCheck, RefusesPlaintextAdminOffLoopback) {
  config_.tls.enabled = false;
  config_.server.admin_listen = "10.1.1.1:7401";
  config_.server.allow_cidrs = {"10.0.0.0/8"};
  ExpectRefused({"tls.enabled = false", "server.admin_listen", "plaintext"});
}

// Off loopback the admin listener must be HTTPS (server.admin_tls), which needs [tls].
TEST_F(ServeCheck, RefusesPlainHttpAdminOffLoopbackAndAdminTlsWithoutTls) {
  config_.server.admin_listen = "10.1.1.1:7401";
  config_.server.allow_cidrs = {"10.0.0.0/8"};
  ExpectRefused({"server.admin_listen", "plain HTTP", "server.admin_tls = true"});
  config_.server.admin_tls = true;
  EXPECT_TRUE(ValidateForServe(config_).ok()) << ValidateForServe(config_).ToString();
  config_.server.admin_listen = "127.0.0.1:7401";
  config_.tls.enabled = false;
  config_.tls.cert.clear();
  config_.tls.key.clear();
  ExpectRefused({"server.admin_tls = true needs tls.enabled = true"});
  config_.server.admin_tls = false;
  EXPECT_TRUE(ValidateForServe(config_).ok()) << "plain HTTP on loopback stays allowed";
}

TEST_F(ServeCheck, RefusesNonLoopbackListenWithoutCidrs) {
  config_.server.listen = "0.0.0.0:7400";
  ExpectRefused({"server.listen", "server.allow_cidrs is empty"});
  config_.server.listen = "[::]:7400";
  ExpectRefused({"server.listen", "server.allow_cidrs is empty"});
  config_.server.listen = "cairn.example.com:7400";
  ExpectRefused({"server.listen", "server.allow_cidrs is empty"});
}

TEST_F(ServeCheck, RefusesNonLoopbackAdminWithoutCidrs) {
  config_.server.admin_listen = "0.0.0.0:7401";
  ExpectRefused({"server.admin_listen", "server.allow_cidrs is empty"});
}

TEST_F(ServeCheck, RefusesUnparsableListenAddresses) {
  config_.server.listen = "::1:7400";
  ExpectRefused({"server.listen", "brackets"});
  config_.server.listen = "127.0.0.1";
  ExpectRefused({"server.listen", "host:port"});
  config_.server.listen = "127.0.0.1:7400";
  config_.server.admin_listen = "127.0.0.1:99999";
  ExpectRefused({"server.admin_listen", "port"});
}

TEST_F(ServeCheck, RefusesBadCidrs) {
  config_.server.allow_cidrs = {"10.0.0.0/33"};
  ExpectRefused({"server.allow_cidrs", "10.0.0.0/33"});
}

TEST_F(ServeCheck, RefusesTlsWithoutCertOrKey) {
  config_.tls.cert.clear();
  ExpectRefused({"tls.cert is not set"});
  config_.tls.cert = dir_.Sub("server.crt");
  config_.tls.key.clear();
  ExpectRefused({"tls.key is not set"});
}

TEST_F(ServeCheck, RefusesUnreadableCertOrKey) {
  config_.tls.cert = dir_.Sub("missing.crt");
  ExpectRefused({"tls.cert", "missing.crt", "cannot be read"});
  config_.tls.cert = dir_.path();  // a directory
  ExpectRefused({"tls.cert", "not a regular file"});
  config_.tls.cert = dir_.Sub("server.crt");
  config_.tls.key = dir_.Sub("missing.key");
  ExpectRefused({"tls.key", "missing.key", "cannot be read"});
}

TEST_F(ServeCheck, RefusesKeyReadableByOthers) {
  ASSERT_EQ(::chmod(config_.tls.key.c_str(), 0640), 0);
  ExpectRefused({"tls.key " + config_.tls.key + " is readable by group or others; chmod 600 it"});
  ASSERT_EQ(::chmod(config_.tls.key.c_str(), 0604), 0);
  ExpectRefused({"tls.key", "chmod 600"});
  ASSERT_EQ(::chmod(config_.tls.key.c_str(), 0400), 0);
  EXPECT_TRUE(ValidateForServe(config_).ok());
}

TEST_F(ServeCheck, RefusesAnyDotKeyFileReadableByOthers) {
  cairn::testing::WriteFile(dir_.Sub("client-ca.key"), "oops");
  ASSERT_EQ(::chmod(dir_.Sub("client-ca.key").c_str(), 0644), 0);
  config_.tls.client_ca = dir_.Sub("client-ca.key");
  ExpectRefused({"tls.client_ca", "client-ca.key", "chmod 600"});
  config_.tls.client_ca.clear();
  config_.auth.jwt.push_back({});
  config_.auth.jwt.back().jwks_file = dir_.Sub("client-ca.key");
  ExpectRefused({"auth.jwt[0].jwks_file", "chmod 600"});
}

TEST_F(ServeCheck, RefusesRequireClientCertWithoutCa) {
  config_.tls.require_client_cert = true;
  ExpectRefused({"tls.require_client_cert", "tls.client_ca is not set"});
  config_.tls.client_ca = dir_.Sub("missing-ca.crt");
  ExpectRefused({"tls.client_ca", "cannot be read"});
}

TEST_F(ServeCheck, RefusesRequireClientCertWithoutTls) {
  config_.tls.enabled = false;
  config_.tls.require_client_cert = true;
  config_.tls.client_ca = dir_.Sub("ca.crt");
  ExpectRefused({"tls.require_client_cert", "tls.enabled"});
}

TEST_F(ServeCheck, RefusesBadMinVersion) {
  for (const char* v : {"1.1", "1.0", "", "TLS1.3", "1.4"}) {
    config_.tls.min_version = v;
    ExpectRefused({"tls.min_version"});
  }
  config_.tls.min_version = "1.3";
  EXPECT_TRUE(ValidateForServe(config_).ok());
}

TEST_F(ServeCheck, RefusesLeewayOutOfRange) {
  config_.auth.jwt.resize(2);
  config_.auth.jwt[1].leeway_s = 61;
  ExpectRefused({"auth.jwt[1].leeway_s = 61", "0..60"});
  config_.auth.jwt[1].leeway_s = -1;
  ExpectRefused({"auth.jwt[1].leeway_s = -1"});
  config_.auth.jwt[1].leeway_s = 0;
  EXPECT_TRUE(ValidateForServe(config_).ok());
}

TEST_F(ServeCheck, RefusesMissingPolicyFile) {
  config_.policy.file = dir_.Sub("nope.toml");
  ExpectRefused({"policy.file", "nope.toml"});
  config_.policy.file = dir_.path();
  ExpectRefused({"policy.file", "not a regular file"});
}

TEST_F(ServeCheck, RefusesConfigWritableByOthers) {
  const std::string path = dir_.Sub("cairn.toml");
  cairn::testing::WriteFile(path, "");
  ASSERT_EQ(::chmod(path.c_str(), 0666), 0);
  config_.source_path = path;
  ExpectRefused({"configuration file", "writable by others"});
  ASSERT_EQ(::chmod(path.c_str(), 0644), 0);
  EXPECT_TRUE(ValidateForServe(config_).ok());
}

TEST_F(ServeCheck, ParsedFileWithEnvThenValidate) {
  // The path `cairn serve` takes: file → env → checks.
  const std::string path = dir_.Sub("cairn.toml");
  cairn::testing::WriteFile(path, "data_dir = \"data\"\n[tls]\ncert = \"server.crt\"\n"
                                  "key = \"server.key\"\n");
  ASSERT_EQ(::chmod(path.c_str(), 0600), 0);
  Result<Config> c = LoadConfigFile(path);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_TRUE(ValidateForServe(*c).ok()) << ValidateForServe(*c).ToString();
  ASSERT_TRUE(ApplyEnvOverrides(&*c, [](const char* name) -> const char* {
                return std::string(name) == "CAIRN_LISTEN" ? "0.0.0.0:7400" : nullptr;
              }).ok());
  Status s = ValidateForServe(*c);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("server.allow_cidrs is empty"), std::string::npos) << s.message();
}

}  // namespace
}  // namespace cairn::server

namespace cairn::server {
namespace CAIRN_UNITY_ID {

// A cosigner key (integrity/cosignature_test.cc's known answer: seed 00 01 … 1f).
constexpr char kWitnessKey[] =
    "witness.example.com/w1+a0059f11+BAOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4";

std::string WitnessToml(const std::string& key, const std::string& url,
                        const std::string& extra = "") {
  return "[[witness]]\nkey = \"" + key + "\"\nurl = \"" + url + "\"\n" + extra;
}

TEST(ConfigParse, WitnessesNeedACosignerKeyAnAcceptableUrlAndNoRepeats) {
  const Config c =
      MustParse(WitnessToml(kWitnessKey, "https://w.example/w1", "ca_file = \"w.pem\"\n"));
  ASSERT_EQ(c.witnesses.size(), 1u);
  EXPECT_EQ(c.witnesses[0].url, "https://w.example/w1");
  EXPECT_EQ(c.witnesses[0].ca_file, "/etc/cairn/w.pem");
  EXPECT_TRUE(c.witnesses[0].client_cert.empty());
  EXPECT_TRUE(MustParse("").witnesses.empty());
  const Config mtls = MustParse(WitnessToml(kWitnessKey, "https://w.example/w1",
                                            "client_cert = \"log.crt\"\nclient_key = \"log.key\"\n"));
  EXPECT_EQ(mtls.witnesses[0].client_cert, "/etc/cairn/log.crt");
  EXPECT_EQ(mtls.witnesses[0].client_key, "/etc/cairn/log.key");
  ExpectParseError(WitnessToml(kWitnessKey, "https://w/", "client_cert = \"log.crt\"\n"),
                   {"witness[0].client_cert", "go together"});

  // A log's verifier key (a note signer, algorithm 0x01), valid as such, is not a witness's.
  const auto log_signer = crypto::Ed25519PrivateKey::Generate().value();
  const std::string log_key = integrity::VerifierKeyText("log.example", log_signer.public_key());
  ASSERT_TRUE(integrity::ParseVerifierKey(log_key).ok());
  ExpectParseError(WitnessToml(log_key, "https://w/"), {"witness[0].key", "cosigner key"});
  // Another key under the same name: refused (names tell cosignature lines and metrics apart).
  const auto other = crypto::Ed25519PrivateKey::Generate().value();
  const std::string same_name = integrity::VerifierKeyText(
      "witness.example.com/w1", other.public_key(), integrity::kCosignatureAlgorithmEd25519);
  ExpectParseError(WitnessToml(kWitnessKey, "https://a/") + WitnessToml(same_name, "https://b/"),
                   {"witness[1].key", "twice"});
  ExpectParseError(WitnessToml(kWitnessKey, "http://w.example/"), {"witness[0].url", "loopback"});
  ExpectParseError(WitnessToml(kWitnessKey, "ftp://w.example/"), {"witness[0].url"});
  ExpectParseError(WitnessToml(kWitnessKey, "https://a/") + WitnessToml(kWitnessKey, "https://b/"),
                   {"witness[1].key", "twice"});
  ExpectParseError(WitnessToml(kWitnessKey, "https://a/", "quorum = 2\n"), {"witness[0].quorum"});
  ExpectParseError("witness = 3\n", {"witness"});
}

}  // namespace
}  // namespace cairn::server
