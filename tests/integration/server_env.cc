#include "server_env.h"

#include <sys/stat.h>

#include <gtest/gtest.h>

#include <chrono>
#include <stdexcept>
#include <thread>

#include "auth/api_key.h"

namespace cairn::testing {

int64_t NowS() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string PostgresStorageToml(const std::string& dsn) {
  return "[storage]\nbackend = \"postgres\"\npostgres_dsn = \"" + dsn + "\"\n";
}

// A plain anonymous namespace: the file's functions below it use these helpers (a test file
// keeps its own in CAIRN_UNITY_ID, CMakeLists.txt).
namespace {

constexpr char kPolicy[] = R"(
[[role]]
name = "admin"
grants = [ { actions = ["append", "read", "subscribe", "read.pii", "delete", "forget", "proof", "audit.read", "admin"], streams = ["*", "$*"], event_types = ["*"] } ]

[[role]]
name = "order-service"
grants = [
  { actions = ["append"], streams = ["order-*"], event_types = ["OrderCreated", "OrderCancelled"] },
  { actions = ["read", "subscribe"], streams = ["order-*"], event_types = ["*"] },
]
denies = [ { actions = ["append"], streams = ["order-archive-*"], event_types = ["*"] } ]

[[role]]
name = "order-reader"
grants = [ { actions = ["read"], streams = ["order-*"], event_types = ["OrderCreated", "OrderCancelled"] } ]

[[binding]]
principal = "apikey:admin"
roles = ["admin"]

[[binding]]
principal = "apikey:ci-bot"
roles = ["order-service"]

[[binding]]
principal = "jwt:reader"
roles = ["order-reader"]
)";

std::string Key(const std::string& id, const std::string& roles, const std::string& extra,
                std::string* key_out) {
  auto key = auth::GenerateApiKey(id);
  if (!key.ok()) throw std::runtime_error("GenerateApiKey");
  *key_out = key->key;
  return "[[auth.api_keys]]\nid = \"" + id + "\"\nsecret_sha256 = \"" + key->secret_sha256 +
         "\"\nroles = " + roles + "\n" + extra + "\n";
}

crypto::CertRequest CaRequest(const std::string& cn) {
  crypto::CertRequest r;
  r.common_name = cn;
  r.usage = crypto::CertRequest::Usage::kCa;
  r.is_ca = true;
  r.not_before_unix_s = NowS() - 3600;
  r.not_after_unix_s = NowS() + 86400;
  return r;
}

}  // namespace

ServerEnv::ServerEnv() : ServerEnv("") {}

ServerEnv::ServerEnv(std::string storage_toml)
    : rsa_a(GenerateRsa2048()), ec_a(GenerateP256()), ed_a(GenerateEd25519()),
      rsa_b(GenerateRsa2048()), storage_toml_(std::move(storage_toml)) {
  std::vector<std::string> init_args = {"init", "--data-dir", DataDir()};
  if (!storage_toml_.empty()) {  // the log goes where [storage] says
    WriteFile(dir_.Sub("init.toml"), storage_toml_);
    init_args.insert(init_args.end(), {"--config", dir_.Sub("init.toml")});
  }
  auto init = RunCairn(init_args);
  if (init.exit_code != 0) throw std::runtime_error("cairn init failed: " + init.err);
  dev_ca = crypto::KeyAndCert(ReadFile(DataDir() + "/dev/ca.key"), ReadFile(CaCert()));
  other_ca = std::move(crypto::CreateSelfSignedCa(CaRequest("other CA")).value());
  WriteFile(dir_.Sub("jwks-a.json"),
            "{\"keys\":[" + PublicJwk(rsa_a.get(), "rsa-1") + "," + PublicJwk(ec_a.get(), "ec-1") +
                "," + PublicJwk(ed_a.get(), "ed-1") + "," + OctJwk(kHsSecret, "hs-1") + "]}");
  // It holds the HS256 secret: owner-only, as `cairn doctor` (CAIRN-FILE-004) asks.
  if (::chmod(dir_.Sub("jwks-a.json").c_str(), 0600) != 0) throw std::runtime_error("chmod jwks");
  WriteFile(dir_.Sub("jwks-b.json"), "{\"keys\":[" + PublicJwk(rsa_b.get(), "b-rsa") + "]}");
  WriteFile(PolicyPath(), kPolicy);
  api_keys_toml_ = Key("admin", "[\"admin\"]", "", &admin_key) + Key("ci-bot", "[]", "", &bot_key) +
                   Key("old", "[\"admin\"]", "expires = 2020-01-01T00:00:00Z", &expired_key);
}

std::string ServerEnv::ConfigText() const { return ConfigTextFor("data", ""); }

std::string ServerEnv::NodeConfigPath(int node) const {
  return dir_.Sub("node-" + std::to_string(node) + ".toml");
}

bool ServerEnv::StartNode(int node, ServerProcess* process) const {
  if (node < 1 || storage_toml_.empty()) throw std::logic_error("StartNode: node >= 1 on PostgreSQL");
  WriteFile(NodeConfigPath(node), ConfigTextFor("node-" + std::to_string(node),
                                                "\n[keys]\nkeyring = \"data/keyring\"\n"));
  return process->Start({"--config", NodeConfigPath(node)});
}

std::string ServerEnv::ConfigTextFor(const std::string& data_dir, const std::string& tail) const {
  const std::string& keys = api_keys_toml_;
  return "data_dir = \"" + data_dir + "\"\n"
         "[server]\nlisten = \"127.0.0.1:0\"\nadmin_listen = \"127.0.0.1:0\"\n" + server_extra +
         "\n[tls]\nenabled = true\ncert = \"data/dev/server.crt\"\nkey = \"data/dev/server.key\"\n"
         "client_ca = \"data/dev/ca.crt\"\n\n"
         "[auth]\nfailures_per_minute_max = " + std::to_string(failures_per_minute_max) + "\n\n"
         "[[auth.jwt]]\nissuer = \"" + std::string(kIssuerA) + "\"\naudience = \"" + kAudience +
         "\"\njwks_file = \"jwks-a.json\"\nleeway_s = 30\n\n"
         "[[auth.jwt]]\nissuer = \"" + std::string(kIssuerB) + "\"\nname = \"b\"\naudience = \"" + kAudience +
         "\"\njwks_file = \"jwks-b.json\"\n\n" + keys +
         "[auth.mtls]\nspiffe_trust_domains = [\"acme.test\"]\n"
         "rules = [ { match = \"CN=*,O=Acme\", principal = \"{CN}\" } ]\n\n"
         "[policy]\nfile = \"policy.toml\"\n" +
         (audit_enabled ? "" : "[audit]\nenabled = false\n") + extra_config +
         (storage_toml_.empty() ? "" : "\n" + storage_toml_) + tail;
}

void ServerEnv::WriteConfig(const std::string& text) const { WriteFile(ConfigPath(), text); }

bool ServerEnv::Start() {
  WriteConfig(ConfigText());
  return server_.Start({"--config", ConfigPath()});
}

std::unique_ptr<Client> ServerEnv::ClientWithOptions(ClientOptions options) const {
  options.server = server_.target();
  options.timeout_ms = 10000;
  return std::move(Client::Connect(options).value());
}

std::unique_ptr<Client> ServerEnv::ClientWith(const std::string& token) const {
  return ClientOf(server_, token);
}

std::unique_ptr<Client> ServerEnv::ClientOf(const ServerProcess& process,
                                            const std::string& token) const {
  ClientOptions options;
  options.server = process.target();
  options.ca_file = CaCert();
  options.token = token;
  options.timeout_ms = 10000;
  return std::move(Client::Connect(options).value());
}

std::string ServerEnv::Claims(const std::string& iss, const std::string& aud,
                              const std::string& sub, int64_t exp_offset_s,
                              const std::string& extra) const {
  const int64_t now = NowS();
  return "{\"iss\":\"" + iss + "\",\"aud\":\"" + aud + "\",\"sub\":\"" + sub +
         "\",\"iat\":" + std::to_string(now) + ",\"exp\":" + std::to_string(now + exp_offset_s) +
         extra + "}";
}

std::string ServerEnv::TokenA(const std::string& alg, const std::string& sub,
                              const std::string& roles_json, int64_t exp_offset_s) const {
  const std::string claims =
      Claims(kIssuerA, kAudience, sub, exp_offset_s, ",\"roles\":" + roles_json);
  if (alg == "HS256") return SignHs256(kHsSecret, R"({"alg":"HS256","kid":"hs-1"})", claims);
  EVP_PKEY* key = alg == "RS256" ? rsa_a.get() : alg == "ES256" ? ec_a.get() : ed_a.get();
  const std::string kid = alg == "RS256" ? "rsa-1" : alg == "ES256" ? "ec-1" : "ed-1";
  return SignJws(alg, key, R"({"alg":")" + alg + R"(","kid":")" + kid + R"("})", claims);
}

bool ServerEnv::NarrowBotSubscribeTo(const std::string& event_type) const {
  std::string policy = ReadFile(PolicyPath());
  const std::string grant =
      R"({ actions = ["read", "subscribe"], streams = ["order-*"], event_types = ["*"] },)";
  const size_t at = policy.find(grant);
  if (at == std::string::npos) return false;
  policy.replace(at, grant.size(),
                 R"({ actions = ["read"], streams = ["order-*"], event_types = ["*"] },
  { actions = ["subscribe"], streams = ["order-*"], event_types = [")" +
                     event_type + R"("] },)");
  WriteFile(PolicyPath(), policy);
  return true;
}

size_t TrailRecords(Client& admin, std::string_view type, std::string_view text) {
  size_t found = 0;
  v1::ReadRequest trail;
  trail.set_stream("$audit");
  const Status read = admin.Read(trail, [&](const v1::ReadResponse& chunk) {
    for (const auto& e : chunk.events()) {
      found += e.type() == type && e.data().find(text) != std::string::npos ? 1 : 0;
    }
    return true;
  });
  if (!read.ok() && read.code() != StatusCode::kNotFound) ADD_FAILURE() << read.ToString();
  return found;
}

bool WaitForTrailRecord(Client& admin, std::string_view type, std::string_view text,
                        int timeout_ms) {
  for (int waited_ms = 0; waited_ms < timeout_ms; waited_ms += 100) {
    if (TrailRecords(admin, type, text) > 0) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

void AppendLargeEvents(Client& client, const std::string& stream, int n) {
  const std::string data = R"({"pad":")" + std::string(20000, 'x') + R"("})";
  for (int done = 0; done < n;) {
    v1::AppendRequest request;
    request.set_stream(stream);
    for (int i = 0; i < 50 && done < n; ++i, ++done) {
      auto* e = request.add_events();
      e->set_type("OrderCreated");
      e->set_data(data);
    }
    auto r = client.Append(request);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
  }
}

}  // namespace cairn::testing
