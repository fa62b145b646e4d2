// Posture checks (server/posture.h): for every check in the catalogue, a configuration (or store
// content) that triggers it and one that does not; plus the helpers and the [doctor] / [storage]
// config sections.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/time.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <set>
#include <string>

#include "crypto/x509.h"
#include "engine/event_store.h"
#include "policy/parse.h"
#include "server/config.h"
#include "server/dev_setup.h"
#include "server/posture.h"
#include "server/posture_internal.h"
#include "subscribe/webhook_store.h"
#include "test_util.h"

namespace cairn::server {
namespace CAIRN_UNITY_ID {

using testing::TempDir;
using testing::WriteFile;

constexpr int64_t kDayS = 86400;

int64_t Now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void WriteMode(const std::string& path, const std::string& text, mode_t mode) {
  WriteFile(path, text);
  ASSERT_EQ(::chmod(path.c_str(), mode), 0) << path;
}

// A server certificate valid from an hour ago for `days_left` days (negative: expired).
void WriteCert(const std::string& path, int64_t days_left) {
  crypto::CertRequest ca;
  ca.common_name = "posture test CA";
  ca.usage = crypto::CertRequest::Usage::kCa;
  ca.is_ca = true;
  ca.not_before_unix_s = Now() - 400 * kDayS;
  ca.not_after_unix_s = Now() + 400 * kDayS;
  auto issuer = crypto::CreateSelfSignedCa(ca);
  ASSERT_TRUE(issuer.ok()) << issuer.status().ToString();
  crypto::CertRequest leaf;
  leaf.common_name = "localhost";
  leaf.dns_sans = {"localhost"};
  leaf.not_before_unix_s = Now() - 200 * kDayS;
  leaf.not_after_unix_s = Now() + days_left * kDayS;
  auto cert = crypto::IssueCertificate(*issuer, leaf);
  ASSERT_TRUE(cert.ok()) << cert.status().ToString();
  WriteMode(path, cert->cert_pem, 0644);
}

constexpr char kSafePolicy[] = R"(
[[role]]
name = "admin"
grants = [ { actions = ["admin", "read"], streams = ["*", "$*"], event_types = ["*"] } ]
[[role]]
name = "orders"
grants = [ { actions = ["append"], streams = ["order-*"], event_types = ["OrderPlaced"] } ]
[[role]]
name = "auditor"
grants = [ { actions = ["audit.read"], streams = ["$audit"], event_types = ["*"] } ]
[[binding]]
principal = "apikey:ops"
roles = ["admin"]
[[binding]]
principal = "jwt:*"
roles = ["orders"]
[[quota]]
principal = "*"
append_events_per_s = 1000
)";

std::string Jwks(size_t oct_bytes) {
  // base64url of `oct_bytes` bytes: 4 characters per 3 bytes, unpadded.
  const std::string k((oct_bytes * 4 + 2) / 3, 'A');
  return R"({"keys":[{"kty":"oct","kid":"hs-1","alg":"HS256","k":")" + k + R"("}]})";
}

// A configuration every check passes, with its files in a temp directory; and, for the store
// checks, a data directory with an open store.
class Env {
 public:
  Env() {
    WriteCert(dir.Sub("server.crt"), 365);
    WriteMode(dir.Sub("server.key"), "not a real key\n", 0600);
    WriteMode(dir.Sub("cairn.toml"), "# config\n", 0600);
    WriteMode(dir.Sub("policy.toml"), kSafePolicy, 0644);
    config.data_dir = dir.Sub("data");
    config.source_path = dir.Sub("cairn.toml");
    config.tls.cert = dir.Sub("server.crt");
    config.tls.key = dir.Sub("server.key");
    config.policy.file = dir.Sub("policy.toml");
    config.keys.local.passphrase_env = "CAIRN_TEST_KEK_PASSPHRASE";
    auth::JwtIssuerConfig jwt;
    jwt.issuer = "https://idp.test";
    jwt.audience = "cairn";
    jwt.jwks_url = "https://idp.test/jwks";
    config.auth.jwt.push_back(jwt);
    auth::ApiKeyConfig key;
    key.id = "ops";
    key.secret_sha256 = std::string(64, 'a');
    key.roles = {"admin"};
    key.expires_unix_s = Now() + 30 * kDayS;
    key.created_unix_s = Now() - 10 * kDayS;
    config.auth.api_keys.push_back(key);
  }
  ~Env() {
    store.reset();
  }

  void OpenStore() {
    ASSERT_TRUE(engine::EventStore::Init({config.data_dir, "posture.test/log", {}, std::nullopt}).ok());
    engine::Options options;
    options.data_dir = config.data_dir;
    auto opened = engine::EventStore::Open(options);
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    store = std::move(opened).value();
  }

  void Append(const std::string& stream, const std::string& type, const std::string& data) {
    std::vector<engine::ProposedEvent> events(1);
    events[0].event_type = type;
    events[0].data = data;
    const bool system = stream[0] == '$';
    auto appended = system ? store->AppendSystem(stream, engine::ExpectedVersion::Any(), std::move(events))
                           : store->Append(stream, engine::ExpectedVersion::Any(), std::move(events));
    ASSERT_TRUE(appended.ok()) << appended.status().ToString();
  }

  void AddWebhook(const std::string& name, std::vector<std::string> allow) {
    subscribe::WebhookDefinition def;
    def.name = name;
    def.url = "https://receiver.example/hook?token=sekret";
    def.source = "$all";
    def.allow_addresses = std::move(allow);
    def.creator.id = "apikey:ops";
    def.created_unix_s = Now();
    subscribe::WebhookStore hooks(store.get());
    ASSERT_TRUE(hooks.Create(def, crypto::SecureBytes(std::string(32, 'k')), 0).ok());
  }

  std::vector<Finding> Run() {
    PostureContext context;
    context.store = store.get();
    context.now_unix_s = Now();
    return RunPostureChecks(config, context);
  }

  TempDir dir;
  Config config = DefaultConfig();
  std::unique_ptr<engine::EventStore> store;
};

struct Case {
  std::string name;  // test name suffix
  std::string id;
  Severity severity;
  std::function<void(Env&)> trigger;
  std::function<void(Env&)> clean;  // a near miss that must not fire
  bool store = false;
};

// Set-up steps that write the policy file.
// A quota for every principal: keeps CAIRN-POL-006 out of cases about other checks.
constexpr char kAnyQuota[] = "[[quota]]\nprincipal = \"*\"\nappend_events_per_s = 1000\n";

std::function<void(Env&)> PolicyOf(std::string text) {
  return [text](Env& e) { WriteMode(e.config.policy.file, text, 0644); };
}
std::function<void(Env&)> SafePolicyPlus(const std::string& text) {
  return PolicyOf(std::string(kSafePolicy) + text);
}
std::string Binding(const std::string& principal, const std::string& role) {
  return "[[binding]]\nprincipal = \"" + principal + "\"\nroles = [\"" + role + "\"]\n";
}
std::string Role(const std::string& name, const std::string& actions, const std::string& stream,
                 const std::string& type) {
  return "[[role]]\nname = \"" + name + "\"\ngrants = [ { actions = [" + actions +
         "], streams = [\"" + stream + "\"], event_types = [\"" + type + "\"] } ]\n";
}

// Issuer 0 reads its keys from a JWKS file holding one HS256 key of `oct_bytes`, with `mode`.
std::function<void(Env&)> JwksFile(size_t oct_bytes, mode_t mode) {
  return [oct_bytes, mode](Env& e) {
    e.config.auth.jwt[0].jwks_url.clear();
    e.config.auth.jwt[0].jwks_file = e.dir.Sub("jwks.json");
    WriteMode(e.config.auth.jwt[0].jwks_file, Jwks(oct_bytes), mode);
  };
}

// A second issuer, named, both with roles_allowed (no CAIRN-AUTH-008).
void AddNamedIssuer(Env& e, const std::string& name) {
  e.config.auth.jwt.push_back(e.config.auth.jwt[0]);
  e.config.auth.jwt[1].name = name;
  for (auto& issuer : e.config.auth.jwt) issuer.roles_allowed = std::vector<std::string>{"orders"};
}

void PrintTo(const Case& c, std::ostream* os) { *os << c.name << " (" << c.id << ")"; }

const std::vector<Case>& Cases() {
  static const std::vector<Case> kCases = {
      {"TlsOffOffLoopback", "CAIRN-TLS-001", Severity::kCritical,
       [](Env& e) {
         e.config.tls.enabled = false;
         e.config.server.listen = "10.0.0.1:7400";
         e.config.server.allow_cidrs = {"10.0.0.0/8"};
       },
       [](Env& e) {
         e.config.server.listen = "10.0.0.1:7400";
         e.config.server.allow_cidrs = {"10.0.0.0/8"};
       }},
      {"TlsOffLoopback", "CAIRN-TLS-001", Severity::kLow,
       [](Env& e) { e.config.tls.enabled = false; }, [](Env&) {}},
      {"TlsOld", "CAIRN-TLS-002", Severity::kHigh,
       [](Env& e) { e.config.tls.min_version = "1.1"; },
       [](Env& e) { e.config.tls.min_version = "1.3"; }},
      {"CertExpiring", "CAIRN-TLS-003", Severity::kMedium,
       [](Env& e) { WriteCert(e.config.tls.cert, 20); },
       [](Env& e) { WriteCert(e.config.tls.cert, 31); }},
      {"CertExpiringSoon", "CAIRN-TLS-003", Severity::kHigh,
       [](Env& e) { WriteCert(e.config.tls.cert, 3); },
       [](Env& e) { e.config.tls.enabled = false; WriteCert(e.config.tls.cert, 3); }},
      {"CertExpired", "CAIRN-TLS-003", Severity::kCritical,
       [](Env& e) { WriteCert(e.config.tls.cert, -2); }, [](Env&) {}},
      {"NoAllowlist", "CAIRN-NET-001", Severity::kCritical,
       [](Env& e) { e.config.server.listen = "0.0.0.0:7400"; },
       [](Env& e) {
         e.config.server.listen = "0.0.0.0:7400";
         e.config.server.allow_cidrs = {"192.168.1.0/24"};
       }},
      {"AllowEveryoneV4", "CAIRN-NET-002", Severity::kCritical,
       [](Env& e) {
         e.config.server.listen = "0.0.0.0:7400";
         e.config.server.allow_cidrs = {"10.0.0.0/8", "0.0.0.0/0"};
       },
       [](Env& e) {
         e.config.server.listen = "0.0.0.0:7400";
         e.config.server.allow_cidrs = {"10.0.0.0/8", "0.0.0.0/8"};
       }},
      {"AllowEveryoneV4Mapped", "CAIRN-NET-002", Severity::kCritical,
       [](Env& e) {
         e.config.server.listen = "0.0.0.0:7400";
         e.config.server.allow_cidrs = {"::ffff:0.0.0.0/96"};  // every IPv4 client
       },
       [](Env& e) {
         e.config.server.listen = "0.0.0.0:7400";
         e.config.server.allow_cidrs = {"::ffff:10.0.0.0/104"};
       }},
      {"AllowEveryoneV6Loopback", "CAIRN-NET-002", Severity::kMedium,
       [](Env& e) { e.config.server.allow_cidrs = {"::/0"}; },
       [](Env& e) { e.config.server.allow_cidrs = {"::1/128"}; }},
      {"AdminPublic", "CAIRN-NET-003", Severity::kHigh,
       [](Env& e) {
         e.config.server.admin_listen = "0.0.0.0:7401";
         e.config.server.allow_cidrs = {"10.0.0.0/8"};
       },
       [](Env& e) { e.config.server.admin_listen = ""; }},
      // Over TLS but to any client of the allowlist; with required client certificates, fine.
      {"AdminPublicOverTls", "CAIRN-NET-003", Severity::kMedium,
       [](Env& e) {
         e.config.server.admin_listen = "0.0.0.0:7401";
         e.config.server.admin_tls = true;
         e.config.server.allow_cidrs = {"10.0.0.0/8"};
       },
       [](Env& e) {
         e.config.server.admin_listen = "0.0.0.0:7401";
         e.config.server.admin_tls = true;
         e.config.server.allow_cidrs = {"10.0.0.0/8"};
         e.config.tls.client_ca = e.dir.Sub("clients-ca.pem");
         WriteMode(e.config.tls.client_ca, "-----BEGIN CERTIFICATE-----\n", 0644);
         e.config.tls.require_client_cert = true;
       }},
      {"KeyReadable", "CAIRN-FILE-001", Severity::kCritical,
       [](Env& e) { ASSERT_EQ(::chmod(e.config.tls.key.c_str(), 0640), 0); },
       [](Env& e) { ASSERT_EQ(::chmod(e.config.tls.key.c_str(), 0400), 0); }},
      {"PassphraseFileReadable", "CAIRN-FILE-001", Severity::kCritical,
       [](Env& e) {
         e.config.keys.local.passphrase_file = e.dir.Sub("kek.pass");
         WriteMode(e.config.keys.local.passphrase_file, "x\n", 0604);
       },
       [](Env& e) {
         e.config.keys.local.passphrase_file = e.dir.Sub("kek.pass");
         WriteMode(e.config.keys.local.passphrase_file, "x\n", 0600);
       }},
      {"ConfigReadable", "CAIRN-FILE-002", Severity::kLow,
       [](Env& e) { ASSERT_EQ(::chmod(e.config.source_path.c_str(), 0644), 0); },
       [](Env& e) { ASSERT_EQ(::chmod(e.config.source_path.c_str(), 0640), 0); }},
      {"PolicyWritableByOthers", "CAIRN-FILE-003", Severity::kCritical,
       [](Env& e) { ASSERT_EQ(::chmod(e.config.policy.file.c_str(), 0666), 0); },
       [](Env& e) { ASSERT_EQ(::chmod(e.config.policy.file.c_str(), 0644), 0); }},
      {"ConfigWritableByGroup", "CAIRN-FILE-003", Severity::kHigh,
       [](Env& e) { ASSERT_EQ(::chmod(e.config.source_path.c_str(), 0620), 0); },
       [](Env& e) { ASSERT_EQ(::chmod(e.config.source_path.c_str(), 0600), 0); }},
      {"JwksSecretReadable", "CAIRN-FILE-004", Severity::kHigh, JwksFile(32, 0644), JwksFile(32, 0600)},
      {"JwksFileWritableByGroup", "CAIRN-FILE-003", Severity::kHigh,
       [](Env& e) {
         e.config.auth.jwt[0].jwks_url.clear();
         e.config.auth.jwt[0].jwks_file = e.dir.Sub("jwks-public.json");
         WriteMode(e.config.auth.jwt[0].jwks_file, R"({"keys":[]})", 0664);
       },
       [](Env& e) {
         e.config.auth.jwt[0].jwks_url.clear();
         e.config.auth.jwt[0].jwks_file = e.dir.Sub("jwks-public.json");
         WriteMode(e.config.auth.jwt[0].jwks_file, R"({"keys":[]})", 0644);
       }},
      {"JwksCaFileWritableByOthers", "CAIRN-FILE-003", Severity::kCritical,
       [](Env& e) {
         e.config.auth.jwt[0].jwks_ca_file = e.dir.Sub("idp-ca.pem");
         WriteMode(e.config.auth.jwt[0].jwks_ca_file, "-----BEGIN CERTIFICATE-----\n", 0646);
       },
       [](Env& e) {
         e.config.auth.jwt[0].jwks_ca_file = e.dir.Sub("idp-ca.pem");
         WriteMode(e.config.auth.jwt[0].jwks_ca_file, "-----BEGIN CERTIFICATE-----\n", 0644);
       }},
      // Whoever may add a root to the client CA mints mTLS principals.
      {"ClientCaWritableByOthers", "CAIRN-FILE-003", Severity::kCritical,
       [](Env& e) {
         e.config.tls.client_ca = e.dir.Sub("clients-ca.pem");
         WriteMode(e.config.tls.client_ca, "-----BEGIN CERTIFICATE-----\n", 0646);
       },
       [](Env& e) {
         e.config.tls.client_ca = e.dir.Sub("clients-ca.pem");
         WriteMode(e.config.tls.client_ca, "-----BEGIN CERTIFICATE-----\n", 0644);
       }},
      // The dev issuer's key signs admin tokens.
      {"DevIssuerKeyReadable", "CAIRN-FILE-001", Severity::kCritical,
       [](Env& e) {
         std::filesystem::create_directories(e.config.data_dir + "/dev");
         WriteMode(DevSetupPaths(e.config.data_dir).issuer_key_file, "x\n", 0644);
       },
       [](Env& e) {
         std::filesystem::create_directories(e.config.data_dir + "/dev");
         WriteMode(DevSetupPaths(e.config.data_dir).issuer_key_file, "x\n", 0600);
       }},
      {"ApiKeyNoExpiry", "CAIRN-AUTH-001", Severity::kMedium,
       [](Env& e) { e.config.auth.api_keys[0].expires_unix_s.reset(); }, [](Env&) {}},
      {"ApiKeyOld", "CAIRN-AUTH-002", Severity::kMedium,
       [](Env& e) { e.config.auth.api_keys[0].created_unix_s = Now() - 91 * kDayS; },
       [](Env& e) {
         e.config.auth.api_keys[0].created_unix_s = Now() - 91 * kDayS;
         e.config.doctor.api_key_age_days_max = 120;
       }},
      {"NoAudience", "CAIRN-AUTH-003", Severity::kHigh,
       [](Env& e) { e.config.auth.jwt[0].audience.clear(); }, [](Env&) {}},
      {"ShortHs256", "CAIRN-AUTH-004", Severity::kHigh, JwksFile(16, 0600), JwksFile(32, 0600)},
      {"LongLeeway", "CAIRN-AUTH-005", Severity::kMedium,
       [](Env& e) { e.config.auth.jwt[0].leeway_s = 61; },
       [](Env& e) { e.config.auth.jwt[0].leeway_s = 60; }},
      {"JwksHttp", "CAIRN-AUTH-006", Severity::kHigh,
       [](Env& e) { e.config.auth.jwt[0].jwks_url = "http://idp.test/jwks"; },
       [](Env& e) { e.config.auth.jwt[0].jwks_url = "https://idp.test/http://"; }},
      {"IssuerMayAssertAnyRole", "CAIRN-AUTH-008", Severity::kMedium,
       [](Env& e) { e.config.auth.jwt.push_back(e.config.auth.jwt[0]); e.config.auth.jwt[1].name = "partner"; },
       [](Env& e) {
         e.config.auth.jwt.push_back(e.config.auth.jwt[0]);
         e.config.auth.jwt[1].name = "partner";
         e.config.auth.jwt[0].roles_allowed = std::vector<std::string>{"reader"};
         e.config.auth.jwt[1].roles_allowed = std::vector<std::string>{};
       }},
      {"ApiKeyExpired", "CAIRN-AUTH-007", Severity::kLow,
       [](Env& e) { e.config.auth.api_keys[0].expires_unix_s = Now() - 1; },
       [](Env& e) { e.config.auth.api_keys[0].expires_unix_s = Now() + 60; }},
      {"PrefixBindingReachesANamedIssuer", "CAIRN-POL-005", Severity::kMedium,
       [](Env& e) {
         AddNamedIssuer(e, "ops-vendor");
         SafePolicyPlus(Binding("jwt:ops*", "orders"))(e);
       },
       [](Env& e) {
         AddNamedIssuer(e, "ops-vendor");
         SafePolicyPlus(Binding("jwt:ops-vendor:*", "orders") + Binding("jwt:*", "orders"))(e);
       }},
      {"AdminToEveryone", "CAIRN-POL-001", Severity::kCritical, SafePolicyPlus(Binding("*", "admin")),
       SafePolicyPlus(Binding("*", "orders"))},
      {"AdminToPrefix", "CAIRN-POL-001", Severity::kHigh, SafePolicyPlus(Binding("jwt:svc-*", "admin")),
       SafePolicyPlus(Binding("jwt:svc-1", "admin"))},
      // Every token holder (every API key, every client certificate) is everyone who can get one.
      {"AdminToEveryTokenHolder", "CAIRN-POL-001", Severity::kCritical, SafePolicyPlus(Binding("jwt:*", "admin")),
       SafePolicyPlus(Binding("jwt:ops", "admin"))},
      {"ForgetToEveryone", "CAIRN-POL-001", Severity::kCritical,
       SafePolicyPlus(Role("shredder", "\"forget\"", "*", "*") + Binding("*", "shredder")),
       SafePolicyPlus(Role("shredder", "\"forget\"", "*", "*") + Binding("apikey:dpo", "shredder"))},
      {"SystemStreamsToNonAdmin", "CAIRN-POL-002", Severity::kMedium,
       SafePolicyPlus(Role("snoop", "\"read\"", "$*", "*")),
       SafePolicyPlus(Role("snoop", "\"read\"", "*", "*"))},
      {"AppendEverywhere", "CAIRN-POL-003", Severity::kMedium,
       SafePolicyPlus(Role("writer", "\"append\"", "*", "*")),
       SafePolicyPlus(Role("writer", "\"append\"", "*", "OrderPlaced"))},
      {"AppendEverywhereAdmin", "CAIRN-POL-003", Severity::kLow,
       PolicyOf(Role("root", "\"append\", \"admin\"", "*", "*") + kAnyQuota),
       PolicyOf(Role("root", "\"append\", \"admin\"", "o-*", "*") + kAnyQuota)},
      {"NoAppendQuota", "CAIRN-POL-006", Severity::kLow,
       PolicyOf(Role("orders", "\"append\"", "order-*", "OrderPlaced") + Binding("jwt:*", "orders")),
       PolicyOf(Role("orders", "\"append\"", "order-*", "OrderPlaced") + Binding("jwt:*", "orders") +
                "[[quota]]\nprincipal = \"jwt:svc-*\"\nappend_events_per_s = 10\n")},
      {"PolicyBroken", "CAIRN-POL-004", Severity::kHigh, PolicyOf("[[role]]\nnmae = \"x\"\n"),
       [](Env& e) { e.config.policy.file.clear(); }},
      {"PiiInClear", "CAIRN-DATA-001", Severity::kHigh,
       [](Env& e) {
         e.Append("customer-1", "CustomerRegistered",
                  R"({"customerId":"c1","contact":{"emailAddress":"a@b.example"}})");
       },
       [](Env& e) {
         e.Append("customer-1", "CustomerRegistered", R"({"customerId":"c1","tier":"gold"})");
         e.Append("$audit", "$auth", R"({"address":"127.0.0.1"})");
       },
       true},
      {"EmailStreamId", "CAIRN-DATA-002", Severity::kMedium,
       [](Env& e) { e.Append("alice@example.com", "Visited", R"({"page":1})"); },
       [](Env& e) { e.Append("customer-7f3a@v2", "Visited", R"({"page":1})"); }, true},
      {"KekBesideData", "CAIRN-KEY-001", Severity::kMedium,
       [](Env& e) { e.config.keys.local.passphrase_env.clear(); },
       [](Env& e) {
         e.config.keys.local.passphrase_env.clear();
         e.config.keys.local.keyring_path = e.dir.Sub("elsewhere/keyring");
       }},
      {"KekOld", "CAIRN-KEY-002", Severity::kMedium,
       [](Env& e) {
         e.config.keys.local.keyring_path = e.dir.Sub("keyring");
         WriteMode(e.config.keys.local.keyring_path, "line\n", 0600);
         const struct timeval times[2] = {{Now() - 400 * kDayS, 0}, {Now() - 400 * kDayS, 0}};
         ASSERT_EQ(::utimes(e.config.keys.local.keyring_path.c_str(), times), 0);
       },
       [](Env& e) {
         e.config.keys.local.keyring_path = e.dir.Sub("keyring");
         WriteMode(e.config.keys.local.keyring_path, "line\n", 0600);
         const struct timeval times[2] = {{Now() - 300 * kDayS, 0}, {Now() - 300 * kDayS, 0}};
         ASSERT_EQ(::utimes(e.config.keys.local.keyring_path.c_str(), times), 0);
       }},
      {"PasswordInDsn", "CAIRN-SECRET-001", Severity::kCritical,
       [](Env& e) { e.config.storage.postgres_dsn = "host=db.internal password='hunter2 x'"; },
       [](Env& e) { e.config.storage.postgres_dsn = "host=db.internal passfile=/etc/pgpass"; }},
      {"PasswordInDsnUri", "CAIRN-SECRET-001", Severity::kCritical,
       [](Env& e) { e.config.storage.postgres_dsn = "postgres://cairn:hunter2@db.internal/cairn"; },
       [](Env& e) { e.config.storage.postgres_dsn = "postgres://cairn@db.internal/cairn"; }},
      {"AuditOff", "CAIRN-AUDIT-001", Severity::kMedium,
       [](Env& e) { e.config.audit.enabled = false; },
       [](Env& e) { e.config.audit.enabled = true; }},
      {"DebugLog", "CAIRN-LOG-001", Severity::kLow,
       [](Env& e) { e.config.log.level = log::Level::kDebug; },
       [](Env& e) { e.config.log.level = log::Level::kInfo; }},
      {"ScrubOff", "CAIRN-SCRUB-001", Severity::kMedium,
       [](Env& e) { e.config.scrub.enabled = false; },
       [](Env& e) { e.config.scrub.enabled = true; }},
      {"AlertsOff", "CAIRN-ALERT-001", Severity::kMedium,
       [](Env& e) { e.config.alerts.enabled = false; },
       [](Env& e) { e.config.alerts.enabled = true; }},
      {"CoreDumps", "CAIRN-PROC-001", Severity::kMedium,
       [](Env& e) { e.config.server.core_dumps = true; },
       [](Env& e) { e.config.server.core_dumps = false; }},
      {"PgPlaintext", "CAIRN-PG-001", Severity::kCritical,
       [](Env& e) {
         e.config.storage.backend = "postgres";
         e.config.storage.postgres_dsn = "host=db.internal dbname=cairn sslmode=prefer";
       },
       [](Env& e) {
         e.config.storage.backend = "postgres";
         e.config.storage.postgres_dsn = "host=127.0.0.1,/run/postgresql dbname=cairn";
       }},
      {"PgUnverified", "CAIRN-PG-001", Severity::kMedium,
       [](Env& e) {
         e.config.storage.backend = "postgres";
         e.config.storage.postgres_dsn = "postgresql://cairn@db.internal:5432/cairn?sslmode=require";
       },
       [](Env& e) {
         e.config.storage.backend = "postgres";
         e.config.storage.postgres_dsn = "postgresql://cairn@db.internal:5432/cairn?sslmode=require";
         e.config.storage.postgres_sslmode = "verify-full";
       }},
      {"HookPrivate", "CAIRN-HOOK-001", Severity::kMedium,
       [](Env& e) { e.AddWebhook("internal", {"10.1.2.3"}); },
       [](Env& e) { e.AddWebhook("public", {"8.8.8.8"}); }, true},
      {"AlertHookPrivate", "CAIRN-HOOK-001", Severity::kMedium,
       [](Env& e) {
         e.config.alerts.webhook_url = "https://alerts.example/in";
         e.config.alerts.webhook_allow_addresses = {"192.168.7.7"};
       },
       [](Env& e) {
         e.config.alerts.webhook_url = "https://alerts.example/in";
         e.config.alerts.webhook_allow_addresses = {"1.1.1.1"};
       }},
      {"HookMetadata", "CAIRN-HOOK-001", Severity::kHigh,
       [](Env& e) { e.AddWebhook("imds", {"169.254.169.254"}); },
       [](Env& e) { e.AddWebhook("none", {}); }, true},
  };
  return kCases;
}

std::vector<const Finding*> WithId(const std::vector<Finding>& findings, const std::string& id) {
  std::vector<const Finding*> out;
  for (const Finding& f : findings) {
    if (f.id == id) out.push_back(&f);
  }
  return out;
}

std::string Describe(const std::vector<Finding>& findings) {
  std::string out;
  for (const Finding& f : findings) {
    out += f.id + " " + SeverityName(f.severity) + ": " + f.finding + "\n";
  }
  return out;
}

class PostureCheck : public ::testing::TestWithParam<Case> {};

TEST_P(PostureCheck, Triggers) {
  const Case& c = GetParam();
  Env env;
  if (c.store) env.OpenStore();
  c.trigger(env);
  const std::vector<Finding> findings = env.Run();
  const auto hits = WithId(findings, c.id);
  ASSERT_FALSE(hits.empty()) << Describe(findings);
  EXPECT_EQ(hits[0]->severity, c.severity) << Describe(findings);
  EXPECT_FALSE(hits[0]->title.empty());
  EXPECT_FALSE(hits[0]->finding.empty());
  EXPECT_FALSE(hits[0]->fix.empty());
  // Nothing else fires: the trigger is the only thing wrong with the configuration.
  for (const Finding& f : findings) EXPECT_EQ(f.id, c.id) << Describe(findings);
}

TEST_P(PostureCheck, NearMissDoesNotTrigger) {
  const Case& c = GetParam();
  Env env;
  if (c.store) env.OpenStore();
  c.clean(env);
  const std::vector<Finding> findings = env.Run();
  EXPECT_TRUE(WithId(findings, c.id).empty()) << Describe(findings);
}

INSTANTIATE_TEST_SUITE_P(Every, PostureCheck, ::testing::ValuesIn(Cases()),
                         [](const ::testing::TestParamInfo<Case>& info) { return info.param.name; });

TEST(Posture, EveryCatalogueCheckHasATriggerCase) {
  std::set<std::string> covered;
  for (const Case& c : Cases()) covered.insert(c.id);
  for (const CheckInfo& check : PostureCatalogue()) {
    EXPECT_EQ(covered.count(std::string(check.id)), 1u) << check.id << " has no test case";
  }
  EXPECT_GE(PostureCatalogue().size(), 24u);
  std::set<std::string_view> ids;
  for (const CheckInfo& check : PostureCatalogue()) {
    EXPECT_TRUE(ids.insert(check.id).second) << "duplicate id " << check.id;
  }
}

TEST(Posture, CleanConfigurationHasNoFindings) {
  Env env;
  env.OpenStore();
  env.Append("order-1", "OrderPlaced", R"({"orderId":"o1","total":12})");
  const std::vector<Finding> findings = env.Run();
  EXPECT_TRUE(findings.empty()) << Describe(findings);
}

TEST(Posture, WithoutStoreTheStoreChecksDoNotRun) {
  Env env;
  env.OpenStore();
  env.Append("alice@example.com", "Registered", R"({"email":"alice@example.com"})");
  env.AddWebhook("internal", {"10.1.2.3"});
  PostureContext context;
  context.now_unix_s = Now();
  const std::vector<Finding> findings = RunPostureChecks(env.config, context);
  EXPECT_TRUE(findings.empty()) << Describe(findings);
  const std::vector<std::string> skipped = StoreCheckIds();
  EXPECT_EQ(skipped, (std::vector<std::string>{"CAIRN-DATA-001", "CAIRN-DATA-002", "CAIRN-HOOK-001"}));
  EXPECT_EQ(env.Run().size(), 3u) << Describe(env.Run());
}

TEST(Posture, FindingsNeverCarrySecretsOrPersonalData) {
  Env env;
  env.OpenStore();
  env.config.storage.postgres_dsn = "postgres://cairn:hunter2@db.internal/cairn";
  env.config.auth.jwt[0].jwks_url.clear();
  env.config.auth.jwt[0].jwks_file = env.dir.Sub("jwks.json");
  WriteMode(env.config.auth.jwt[0].jwks_file,
            R"({"keys":[{"kty":"oct","kid":"hs-1","k":"c2hvcnRzZWNyZXQ"}]})", 0644);
  env.Append("bob@example.org", "Registered", R"({"email":"bob@example.org","phone":"+4912345"})");
  env.AddWebhook("hook", {"10.1.2.3"});
  const std::vector<Finding> findings = env.Run();
  EXPECT_FALSE(WithId(findings, "CAIRN-DATA-001").empty());
  for (const Finding& f : findings) {
    for (std::string_view secret :
         {"hunter2", "c2hvcnRzZWNyZXQ", "bob@", "example.org", "+4912345", "sekret", "token="}) {
      EXPECT_EQ(f.finding.find(secret), std::string::npos) << f.id << ": " << f.finding;
      EXPECT_EQ(f.fix.find(secret), std::string::npos) << f.id << ": " << f.fix;
    }
  }
  // The finding names the fields (pointers), not their values.
  const auto pii = WithId(findings, "CAIRN-DATA-001");
  ASSERT_EQ(pii.size(), 1u);
  EXPECT_NE(pii[0]->finding.find("/email"), std::string::npos);
  EXPECT_NE(pii[0]->finding.find("/phone"), std::string::npos);
  EXPECT_NE(pii[0]->finding.find("\"Registered\""), std::string::npos);
}

// A member name that could itself be personal data (an e-mail address or a person's name used
// as a key) is never shown: it becomes `*` in the pointer, like an array index.
TEST(Posture, MemberNamesThatCouldBeDataAreNotShown) {
  Env env;
  env.OpenStore();
  env.Append("contacts-1", "ContactsImported",
             R"({"contacts":{"bob@example.org":{"phone":"+4912345"},"Jane Doe":{"email":"j"},)"
             R"("4915112345":{"name":"x"}},"list":[{"email":"a"},{"Phone Number":"b"}],)"
             R"("carol@example.net_email":"c"})");
  const auto findings = env.Run();
  const auto pii = WithId(findings, "CAIRN-DATA-001");
  ASSERT_EQ(pii.size(), 1u) << Describe(findings);
  for (std::string_view data :
       {"bob", "example.org", "Jane", "Doe", "4915112345", "+4912345", "carol", "example.net"}) {
    EXPECT_EQ(pii[0]->finding.find(data), std::string::npos) << pii[0]->finding;
  }
  EXPECT_NE(pii[0]->finding.find("store /*, /contacts/*/email, /contacts/*/name, /contacts/*/phone, "
                                 "/list/*/Phone Number, /list/*/email in clear"),
            std::string::npos) << pii[0]->finding;
  EXPECT_EQ(pii[0]->finding.find("…"), std::string::npos) << "nothing was left out";
  EXPECT_NE(pii[0]->finding.find("/list/*/email"), std::string::npos) << pii[0]->finding;
  EXPECT_EQ(pii[0]->finding.find("/list/0"), std::string::npos) << pii[0]->finding;
}

// What appenders send does not decide the checks' memory: the pointers one event type reports
// are capped, and the sample ends once kSampleDataBytesMax of data has been parsed.
TEST(Posture, TheDataSampleIsBoundedInPointersAndBytes) {
  Env env;
  env.OpenStore();
  std::string many = "{";
  for (size_t i = 0; i < 3 * kSamplePointersPerTypeMax; ++i) {
    many += (i == 0 ? "\"" : ",\"") + std::string("k") + std::to_string(i) + "_email\":\"x\"";
  }
  many += "}";
  env.Append("s-1", "Wide", many);
  auto findings = env.Run();
  auto pii = WithId(findings, "CAIRN-DATA-001");
  ASSERT_EQ(pii.size(), 1u) << Describe(findings);
  const std::string& text = pii[0]->finding;
  EXPECT_EQ(static_cast<size_t>(std::count(text.begin(), text.end(), '/')),
            kSamplePointersPerTypeMax) << text;
  EXPECT_NE(text.find(", …"), std::string::npos) << text;
  // Events of 900 KiB: the sample stops after about kSampleDataBytesMax of them, newest first.
  const std::string big = R"({"pad":")" + std::string(900 * 1024, 'x') + R"("})";
  const size_t big_events = kSampleDataBytesMax / big.size() + 8;
  for (size_t i = 0; i < big_events; ++i) env.Append("s-2", "Big", big);
  const std::string late = R"({"email":"x"})";
  env.Append("s-3", "Late", late);
  findings = env.Run();
  pii = WithId(findings, "CAIRN-DATA-001");
  ASSERT_EQ(pii.size(), 1u) << Describe(findings);
  EXPECT_NE(pii[0]->finding.find("\"Late\""), std::string::npos) << "the newest event is sampled";
  // The "Late" event, then big ones until the budget is reached (the one that reaches it is
  // parsed); the oldest big ones and the "Wide" event are not looked at.
  const size_t sampled = 1 + (kSampleDataBytesMax - late.size()) / big.size() + 1;
  ASSERT_LT(sampled, big_events + 2);
  EXPECT_NE(pii[0]->finding.find("in the last " + std::to_string(sampled) + " events"),
            std::string::npos) << pii[0]->finding.substr(0, 120);
}

// The JWKS file is the operator's: members of unexpected JSON types are skipped, never thrown
// out of the checks (which run on the posture monitor's thread of a running server).
TEST(Posture, AJwksFileWithMembersOfOtherTypesIsSkippedNotThrown) {
  Env env;
  env.config.auth.jwt[0].jwks_url.clear();
  env.config.auth.jwt[0].jwks_file = env.dir.Sub("jwks.json");
  WriteMode(env.config.auth.jwt[0].jwks_file,
            R"({"keys":[{"kty":7},{"kty":"oct","kid":[1],"k":"c2hvcnQ"},{"kty":null}]})", 0600);
  std::vector<Finding> findings;
  EXPECT_NO_THROW(findings = env.Run());
  const auto short_keys = WithId(findings, "CAIRN-AUTH-004");
  ASSERT_EQ(short_keys.size(), 1u) << Describe(findings);  // the oct key, with an unnamed kid
  EXPECT_NE(short_keys[0]->finding.find("HS256 key \"\""), std::string::npos)
      << short_keys[0]->finding;
}

TEST(Posture, ProtectedFieldsAreNotReported) {
  Env env;
  ASSERT_TRUE(engine::EventStore::Init({env.config.data_dir, "posture.test/log", {}, std::nullopt}).ok());
  WriteMode(env.dir.Sub("protect.toml"),
            "[[rule]]\nevent_type = \"CustomerRegistered\"\nsubject = \"/customerId\"\n"
            "fields = [\"/email\"]\n", 0644);
  engine::Options options;
  options.data_dir = env.config.data_dir;
  options.protect_rules_file = env.dir.Sub("protect.toml");
  auto opened = engine::EventStore::Open(options);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  env.store = std::move(opened).value();
  env.Append("customer-1", "CustomerRegistered", R"({"customerId":"c1","email":"a@b.example"})");
  EXPECT_TRUE(WithId(env.Run(), "CAIRN-DATA-001").empty()) << Describe(env.Run());
  // The same field under a type without a rule is reported.
  env.Append("customer-1", "CustomerUpdated", R"({"customerId":"c1","email":"a@b.example"})");
  const auto findings = env.Run();  // WithId points into it
  const auto hits = WithId(findings, "CAIRN-DATA-001");
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_NE(hits[0]->finding.find("CustomerUpdated"), std::string::npos);
}

TEST(Posture, Acceptance) {
  std::vector<Finding> findings = {
      {"CAIRN-AUTH-001", Severity::kMedium, "t", "f", "x"},
      {"CAIRN-NET-002", Severity::kCritical, "t", "f", "x"},
      {"CAIRN-SECRET-001", Severity::kCritical, "t", "f", "x"},
  };
  EXPECT_EQ(CountAtLeast(findings, Severity::kMedium), 3u);
  EXPECT_EQ(CountAtLeast(findings, Severity::kCritical), 2u);
  auto first = FirstUnacceptedCritical(findings, {});
  ASSERT_TRUE(first);
  EXPECT_EQ(first->id, "CAIRN-NET-002");
  first = FirstUnacceptedCritical(findings, {"CAIRN-NET-002"});
  ASSERT_TRUE(first);
  EXPECT_EQ(first->id, "CAIRN-SECRET-001");
  EXPECT_FALSE(FirstUnacceptedCritical(findings, {"CAIRN-SECRET-001", "CAIRN-NET-002"}));
  // Accepting a non-critical id changes nothing; ids are exact.
  EXPECT_TRUE(FirstUnacceptedCritical(findings, {"CAIRN-AUTH-001", "cairn-net-002"}));
}

// A policy about to be reloaded is judged like the one at the start (a reload must not bring in
// what the start refuses): its first critical finding, unless accepted.
TEST(Posture, APolicyToReloadIsJudgedLikeTheStart) {
  Config config = DefaultConfig();
  config.policy.file = "/etc/cairn/policy.toml";
  auto risky = policy::ParsePolicy(std::string(kSafePolicy) + Binding("*", "admin"), "p.toml");
  ASSERT_TRUE(risky.ok()) << risky.status().ToString();
  auto refused = UnacceptedCriticalOfPolicy(**risky, config, {});
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(refused->id, "CAIRN-POL-001");
  EXPECT_FALSE(UnacceptedCriticalOfPolicy(**risky, config, {"CAIRN-POL-001"}).has_value());
  auto safe = policy::ParsePolicy(kSafePolicy, "p.toml");
  ASSERT_TRUE(safe.ok());
  EXPECT_FALSE(UnacceptedCriticalOfPolicy(**safe, config, {}).has_value());
}

// One check reports at most kFindingsPerCheckMax findings; when it finds more, the most severe
// stay: a binding of `*` after twenty prefix bindings still refuses the start and the reload.
TEST(Posture, TheCapOnFindingsOfOneCheckKeepsTheMostSevere) {
  Config config = DefaultConfig();
  config.policy.file = "/etc/cairn/policy.toml";
  std::string text = kSafePolicy;
  for (size_t i = 0; i < kFindingsPerCheckMax; ++i) {
    text += Binding("jwt:team-" + std::to_string(i) + "-*", "admin");
  }
  text += Binding("*", "admin");
  auto risky = policy::ParsePolicy(text, "p.toml");
  ASSERT_TRUE(risky.ok()) << risky.status().ToString();
  auto refused = UnacceptedCriticalOfPolicy(**risky, config, {});
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(refused->id, "CAIRN-POL-001");
  EXPECT_EQ(refused->severity, Severity::kCritical);
}

TEST(Posture, PiiNames) {
  for (const char* yes : {"email", "e_mail", "customerEmail", "EMAIL_ADDRESS", "phone", "phoneNumber",
                          "ssn", "iban", "name", "firstName", "last_name", "fullName", "address",
                          "billingAddress", "dateOfBirth", "passport", "ipAddress"}) {
    EXPECT_TRUE(posture::LooksLikePiiName(yes)) << yes;
  }
  for (const char* no : {"orderId", "eventName", "productName", "fileName", "total", "mailbox2",
                         "classification", "tier", "lessons", ""}) {
    EXPECT_FALSE(posture::LooksLikePiiName(no)) << no;
  }
}

TEST(Posture, EmailLikeStreamIds) {
  for (const char* yes : {"alice@example.com", "customer-bob.smith@mail.example.org"}) {
    EXPECT_TRUE(posture::LooksLikeEmail(yes)) << yes;
  }
  for (const char* no : {"order-1", "@example.com", "a@b", "a@b.c", "a@b.c0m", "a@@b.com",
                         "customer-7f3a@v2"}) {
    EXPECT_FALSE(posture::LooksLikeEmail(no)) << no;
  }
}

TEST(Posture, PgDsn) {
  posture::PgDsn d = posture::ParsePgDsn("host=a.example,/tmp sslmode = 'verify-full' password=''");
  EXPECT_EQ(d.hosts, (std::vector<std::string>{"a.example", "/tmp"}));
  EXPECT_EQ(d.sslmode, "verify-full");
  EXPECT_FALSE(d.has_password);
  d = posture::ParsePgDsn("postgres://u:p@[::1]:5432,db2:5433/x?sslmode=disable");
  EXPECT_EQ(d.hosts, (std::vector<std::string>{"::1", "db2"}));
  EXPECT_EQ(d.sslmode, "disable");
  EXPECT_TRUE(d.has_password);
  d = posture::ParsePgDsn("dbname=cairn");
  EXPECT_EQ(d.hosts, (std::vector<std::string>{""}));  // the local socket
}

// libpq fills what the DSN leaves out from the environment: a DSN without a host reaches PGHOST,
// and PGHOSTADDR overrides where a named host connects. Both are judged, so that a password is
// never sent in clear to a host the DSN text does not show.
TEST(Posture, PgDsnTakesTheEnvironmentLikeLibpq) {
  struct EnvGuard {
    ~EnvGuard() {
      for (const char* name : {"PGHOST", "PGHOSTADDR", "PGSSLMODE", "PGSERVICE"}) ::unsetenv(name);
    }
  } guard;
  ::setenv("PGHOST", "db.internal", 1);
  posture::PgDsn d = posture::ParsePgDsn("dbname=cairn user=cairn");
  EXPECT_EQ(d.hosts, (std::vector<std::string>{"db.internal"}));
  EXPECT_TRUE(posture::PgReachesRemoteHost(d));
  d = posture::ParsePgDsn("host=localhost dbname=cairn");  // the DSN's host wins over PGHOST
  EXPECT_FALSE(posture::PgReachesRemoteHost(d));
  ::setenv("PGHOSTADDR", "192.0.2.7", 1);
  d = posture::ParsePgDsn("host=localhost dbname=cairn");
  EXPECT_TRUE(posture::PgReachesRemoteHost(d));
  EXPECT_FALSE(posture::PgReachesRemoteHost(posture::ParsePgDsn("host=localhost hostaddr=127.0.0.1")));
  ::unsetenv("PGHOST");
  ::unsetenv("PGHOSTADDR");
  ::setenv("PGSSLMODE", "verify-full", 1);
  EXPECT_EQ(posture::ParsePgDsn("host=db").sslmode, "verify-full");
  EXPECT_EQ(posture::ParsePgDsn("host=db sslmode=disable").sslmode, "disable");
  ::unsetenv("PGSSLMODE");
  ::setenv("PGSERVICE", "prod", 1);
  EXPECT_TRUE(posture::PgReachesRemoteHost(posture::ParsePgDsn("dbname=cairn")));
  EXPECT_FALSE(posture::PgReachesRemoteHost(posture::ParsePgDsn("host=/var/run/postgresql")));
  // And the server refuses to start on it without TLS.
  StorageSection storage;
  storage.backend = "postgres";
  storage.postgres_dsn = "dbname=cairn";
  EXPECT_EQ(ValidateStorage(storage).code(), StatusCode::kFailedPrecondition);
  ::unsetenv("PGSERVICE");
  EXPECT_TRUE(ValidateStorage(storage).ok());
}

TEST(DoctorConfig, ParsesStorageDoctorAndCreated) {
  auto c = ParseConfig(R"(
[storage]
backend = "postgres"
postgres_dsn = "host=db"
postgres_sslmode = "verify-full"
[doctor]
interval_s = 600
kek_rotation_days_max = 180
api_key_age_days_max = 30
accept_risks = ["CAIRN-NET-002"]
[[auth.api_keys]]
id = "k"
secret_sha256 = "00"
created = 2026-01-02T00:00:00Z
)", "/etc/cairn", "c.toml");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->storage.backend, "postgres");
  EXPECT_EQ(c->storage.postgres_sslmode, "verify-full");
  EXPECT_EQ(c->doctor.interval_s, 600u);
  EXPECT_EQ(c->doctor.kek_rotation_days_max, 180u);
  EXPECT_EQ(c->doctor.api_key_age_days_max, 30u);
  EXPECT_EQ(c->doctor.accept_risks, (std::vector<std::string>{"CAIRN-NET-002"}));
  ASSERT_TRUE(c->auth.api_keys[0].created_unix_s);
  EXPECT_EQ(*c->auth.api_keys[0].created_unix_s, 1767312000);
  const Config d = DefaultConfig();
  EXPECT_EQ(d.storage.backend, "rocksdb");
  EXPECT_EQ(d.doctor.interval_s, 3600u);
  EXPECT_EQ(d.doctor.kek_rotation_days_max, 365u);
  EXPECT_EQ(d.doctor.api_key_age_days_max, 90u);
  // Bad values are refused, naming the key.
  for (const char* bad : {"[storage]\nbackend = \"mysql\"\n", "[storage]\npostgres_sslmode = \"on\"\n",
                          "[doctor]\ninterval_s = 5\n", "[doctor]\nkek_rotation_days_max = 0\n",
                          "[doctor]\nbogus = 1\n", "[[auth.api_keys]]\ncreated = 2026-01-02\n"}) {
    EXPECT_FALSE(ParseConfig(bad, "/etc/cairn", "c.toml").ok()) << bad;
  }
}

TEST(DoctorConfig, ServeRefusesPostgresWithoutADsnAndAcceptsALoopbackOne) {
  Config c = DefaultConfig();
  c.data_dir = "/tmp/x";
  c.tls.enabled = false;
  c.storage.backend = "postgres";
  Status s = ValidateForServe(c);
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(s.message().find("postgres_dsn"), std::string::npos) << s.message();
  c.storage.postgres_dsn = "host=127.0.0.1 dbname=cairn";
  EXPECT_TRUE(ValidateForServe(c).ok()) << ValidateForServe(c).ToString();
}

}  // namespace
}  // namespace cairn::server
