// ParseConfig over hostile TOML. ParseConfig is pure: it reads no file and writes none (paths are
// only resolved, lexically, against base_dir; ValidateForServe and LoadConfigFile, which do touch
// the file system, are not called here). Properties: never crashes; an error is
// kInvalidArgument (or kResourceExhausted past the size bound) naming the source; whatever it
// accepts has its limits in range and every path absolute (under base_dir when relative); the
// canonical rendering of the config digest is deterministic and holds no secret: changing an API
// key's hash, the PostgreSQL DSN or the alert webhook URL (to another set value) leaves it alone.
#include <string>

#include "fuzz_util.h"
#include "server/config.h"
#include "server/config_digest.h"

namespace {

constexpr std::string_view kBaseDir = "/nonexistent/cairn-fuzz-config";

void CheckPath(const std::string& path) {
  if (path.empty()) return;
  FUZZ_CHECK(path.front() == '/');
}

void CheckPaths(const cairn::server::Config& c) {
  for (const std::string* p :
       {&c.data_dir, &c.tls.cert, &c.tls.key, &c.tls.client_ca, &c.policy.file, &c.protect.file,
        &c.alerts.rules_file, &c.alerts.webhook_secret_file, &c.webhooks.ca_file,
        &c.keys.local.keyring_path, &c.keys.local.passphrase_file, &c.keys.pkcs11.module_path,
        &c.keys.pkcs11.pin_file}) {
    CheckPath(*p);
  }
  for (const auto& jwt : c.auth.jwt) {
    CheckPath(jwt.jwks_file);
    CheckPath(jwt.jwks_ca_file);
  }
}

void CheckLimits(const cairn::server::Config& c) {
  FUZZ_CHECK(c.limits.max_message_bytes >= 1024 && c.limits.max_message_bytes <= (64u << 20));
  FUZZ_CHECK(c.limits.max_concurrent_streams >= 1 && c.limits.max_concurrent_streams <= 65536);
  FUZZ_CHECK(c.limits.read_batch_max >= 1 && c.limits.read_batch_max <= 10000);
  FUZZ_CHECK(c.auth.jwt.size() <= cairn::server::kJwtIssuersMax);
  FUZZ_CHECK(c.auth.api_keys.size() <= cairn::server::kApiKeysMax);
  // auth.jwt leeway_s is range-checked by ValidateForServe, not here (config.cc says why).
  for (const auto& key : c.auth.api_keys) {
    FUZZ_CHECK(key.roles.size() <= cairn::server::kApiKeyRolesMax);
  }
  FUZZ_CHECK(c.doctor.accept_risks.size() <= cairn::server::kAcceptRisksMax);
  FUZZ_CHECK(c.alerts.webhook_allow_addresses.size() <=
             cairn::server::kAlertWebhookAllowAddressesMax);
}

// The secrets the canonical text must not depend on, replaced by other values of the same kind.
void CheckDigestHidesSecrets(const cairn::server::Config& c) {
  const std::string text = cairn::server::CanonicalConfigText(c);
  FUZZ_CHECK(text == cairn::server::CanonicalConfigText(c));
  FUZZ_CHECK(cairn::server::ConfigSha256Hex(c).size() == 64);
  cairn::server::Config other = c;
  for (auto& key : other.auth.api_keys) key.secret_sha256 = std::string(64, 'f');
  if (!other.storage.postgres_dsn.empty()) other.storage.postgres_dsn = "host=other";
  if (!other.alerts.webhook_url.empty()) other.alerts.webhook_url = "https://other.invalid/";
  FUZZ_CHECK(cairn::server::CanonicalConfigText(other) == text);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto config = cairn::server::ParseConfig(cairn::fuzz::AsView(data, size), std::string(kBaseDir),
                                           "fuzz-config.toml");
  if (!config.ok()) {
    FUZZ_CHECK(config.status().code() == cairn::StatusCode::kInvalidArgument ||
               config.status().code() == cairn::StatusCode::kResourceExhausted);
    FUZZ_CHECK(config.status().message().starts_with("fuzz-config.toml"));
    return 0;
  }
  FUZZ_CHECK(config->source_path.empty());
  CheckPaths(*config);
  CheckLimits(*config);
  CheckDigestHidesSecrets(*config);
  // No environment: the overrides change nothing.
  cairn::server::Config copy = *config;
  FUZZ_CHECK(cairn::server::ApplyEnvOverrides(&copy, [](const char*) { return nullptr; }).ok());
  FUZZ_CHECK(cairn::server::CanonicalConfigText(copy) == cairn::server::CanonicalConfigText(*config));
  return 0;
}
