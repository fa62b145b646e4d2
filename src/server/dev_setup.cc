#include "server/dev_setup.h"

#include <sys/stat.h>

#include <filesystem>

#include "auth/api_key.h"
#include "auth/dev_issuer.h"
#include "crypto/secure.h"
#include "crypto/x509.h"
#include "engine/event_store.h"

namespace cairn::server {
namespace {

constexpr char kPolicyText[] = R"(# cairn dev policy (written by cairn init). Default deny; deny wins.
[[role]]
name = "admin"
grants = [
  { actions = ["append", "read", "subscribe", "read.pii", "delete", "forget", "proof", "audit.read", "admin"], streams = ["*", "$*"], event_types = ["*"] },
]

[[role]]
name = "writer"
grants = [
  { actions = ["append", "read", "subscribe", "proof"], streams = ["*"], event_types = ["*"] },
]

[[role]]
name = "reader"
grants = [
  { actions = ["read", "subscribe", "proof"], streams = ["*"], event_types = ["*"] },
]

[[binding]]
principal = "apikey:admin"
roles = ["admin"]
)";

std::string ConfigText(const std::string& admin_key_hash) {
  return std::string(R"(# cairn server configuration (written by cairn init --dev).
# Relative paths are relative to this file's folder. See docs/configuration.md.
data_dir = "."

[server]
listen = "127.0.0.1:7400"
admin_listen = "127.0.0.1:7401"

[tls]
enabled = true
cert = "dev/server.crt"
key = "dev/server.key"
client_ca = "dev/ca.crt"

[[auth.jwt]]
issuer = ")") + kDevIssuer + R"("
audience = ")" + kDevAudience + R"("
jwks_file = "dev/dev-jwks.json"

[[auth.api_keys]]
id = "admin"
secret_sha256 = ")" + admin_key_hash + R"("
roles = ["admin"]

[policy]
file = "policy.toml"
)";
}

// Replaces a key left by an interrupted set-up: cairn.toml, written last, never named it.
Status WriteAdminKey(const DevSetup& paths, std::string* hash) {
  auto key = auth::GenerateApiKey("admin");
  if (!key.ok()) return key.status();
  *hash = key->secret_sha256;
  key->key.push_back('\n');
  Status s = crypto::ReplaceFile(paths.admin_key_file, key->key, 0600);
  crypto::Cleanse(&key->key);
  return s;
}

}  // namespace

DevSetup DevSetupPaths(const std::string& data_dir) {
  const std::filesystem::path dir(data_dir);
  DevSetup s;
  s.config_file = (dir / kConfigFileName).string();
  s.policy_file = (dir / "policy.toml").string();
  s.admin_key_file = (dir / "dev" / "admin.apikey").string();
  s.ca_cert = (dir / "dev" / "ca.crt").string();
  s.issuer_key_file = (dir / "dev" / auth::kDevIssuerKeyFile).string();
  return s;
}

Result<DevSetup> CreateDevSetup(const std::string& data_dir, const std::string& origin,
                                bool init_store) {
  DevSetup paths = DevSetupPaths(data_dir);
  if (std::filesystem::exists(paths.config_file)) return paths;
  if (init_store && !std::filesystem::exists(std::filesystem::path(data_dir) / "db")) {
    engine::InitOptions init;
    init.data_dir = data_dir;
    init.origin = origin;
    CAIRN_RETURN_IF_ERROR(engine::EventStore::Init(init));
  }
  const std::string dev_dir = (std::filesystem::path(data_dir) / "dev").string();
  crypto::DevPkiFiles pki;
  if (Status s = crypto::CreateDevPki(dev_dir, &pki); !s.ok()) return s.Annotate("dev PKI");
  if (!std::filesystem::exists(paths.issuer_key_file)) {
    if (Status s = auth::CreateDevIssuer(dev_dir, kDevIssuer); !s.ok()) return s.Annotate("dev issuer");
  }
  if (Status s = auth::EnsureDevIssuerJwks(dev_dir); !s.ok()) return s.Annotate("dev issuer JWKS");
  std::string hash;
  if (Status s = WriteAdminKey(paths, &hash); !s.ok()) return s.Annotate("admin API key");
  if (!std::filesystem::exists(paths.policy_file)) {
    if (Status s = crypto::WritePrivateFile(paths.policy_file, kPolicyText); !s.ok()) return s;
  }
  if (Status s = crypto::WritePrivateFile(paths.config_file, ConfigText(hash)); !s.ok()) return s;
  paths.created = true;
  return paths;
}

}  // namespace cairn::server
