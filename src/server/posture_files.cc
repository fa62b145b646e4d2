// Posture checks of file modes: CAIRN-FILE-001..003 (FILE-004, the JWKS file, is in
// posture_auth.cc with the other JWKS checks).
#include <sys/stat.h>

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "server/dev_setup.h"
#include "server/posture_internal.h"

namespace cairn::server::posture {
namespace {

bool EndsWith(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Files that hold a secret: setting name → path.
std::vector<std::pair<std::string, std::string>> SecretFiles(const Config& config) {
  std::vector<std::pair<std::string, std::string>> files = {
      {"tls.key", config.tls.key},
      {"keys.keyring", EffectiveKeyringPath(config)},
      {"keys.passphrase_file", config.keys.local.passphrase_file},
      {"keys.pin_file", config.keys.pkcs11.pin_file},
  };
  // Any other configured file named *.key (as ValidateForServe treats them).
  const std::pair<std::string, std::string> others[] = {
      {"tls.cert", config.tls.cert}, {"tls.client_ca", config.tls.client_ca},
      {"policy.file", config.policy.file}, {"protect.file", config.protect.file}};
  for (const auto& [setting, path] : others) {
    if (EndsWith(path, ".key")) files.emplace_back(setting, path);
  }
  for (size_t i = 0; i < config.witnesses.size(); ++i) {  // client keys for witnesses' mTLS
    if (config.witnesses[i].client_key.empty()) continue;
    files.emplace_back("witness[" + std::to_string(i) + "].client_key", config.witnesses[i].client_key);
  }
  // The dev CA key, the dev JWT issuer's key and the admin API key that `cairn init` writes
  // beside the data: each mints or is an admin credential.
  if (!config.data_dir.empty()) {
    const DevSetup dev = DevSetupPaths(config.data_dir);
    files.emplace_back("the dev CA key",
                       (std::filesystem::path(config.data_dir) / "dev" / "ca.key").string());
    files.emplace_back("the dev JWT issuer key", dev.issuer_key_file);
    files.emplace_back("the dev admin API key", dev.admin_key_file);
  }
  return files;
}

void CheckSecretFiles(const Config& config, Findings* out) {
  for (const auto& [setting, path] : SecretFiles(config)) {
    const std::optional<mode_t> mode = FileMode(path);
    if (!mode || (*mode & 077) == 0) continue;
    out->Add("CAIRN-FILE-001", Severity::kCritical,
             setting + " " + path + " has mode " + ModeText(*mode) +
                 ": group or others can read a secret",
             "chmod 600 " + path + " (owned by the user cairn runs as)");
  }
}

void CheckConfigReadable(const Config& config, Findings* out) {
  const std::optional<mode_t> mode = FileMode(config.source_path);
  if (!mode || (*mode & S_IROTH) == 0) return;
  out->Add("CAIRN-FILE-002", Severity::kLow,
           "configuration file " + config.source_path + " has mode " + ModeText(*mode) +
               ": others can read the API key hashes, issuers and paths it names",
           "chmod o-r " + config.source_path);
}

void CheckWritable(const Config& config, Findings* out) {
  // The client CA mints mTLS principals; the webhook CA and the alert rules decide where
  // events and alerts go.
  std::vector<std::pair<std::string, std::string>> files = {
      {"configuration file", config.source_path},
      {"policy.file", config.policy.file},
      {"protect.file", config.protect.file},
      {"tls.client_ca", config.tls.client_ca},
      {"webhooks.ca_file", config.webhooks.ca_file},
      {"alerts.rules_file", config.alerts.rules_file}};
  // Whoever may write an issuer's keys, or the trust roots its keys are fetched with, may mint
  // tokens (cairn refuses to load them then; this says why).
  for (const auth::JwtIssuerConfig& issuer : config.auth.jwt) {
    files.emplace_back("auth.jwt jwks_file", issuer.jwks_file);
    files.emplace_back("auth.jwt jwks_ca_file", issuer.jwks_ca_file);
  }
  for (const auto& [setting, path] : files) {
    const std::optional<mode_t> mode = FileMode(path);
    if (!mode || (*mode & (S_IWGRP | S_IWOTH)) == 0) continue;
    const bool others = (*mode & S_IWOTH) != 0;
    out->Add("CAIRN-FILE-003", others ? Severity::kCritical : Severity::kHigh,
             setting + " " + path + " has mode " + ModeText(*mode) + ": " +
                 (others ? "anyone" : "the group") +
                 " can change who may do what, switch protection off or mint tokens",
             "chmod go-w " + path);
  }
}

}  // namespace

void CheckFiles(const Config& config, Findings* out) {
  CheckSecretFiles(config, out);
  CheckConfigReadable(config, out);
  CheckWritable(config, out);
}

}  // namespace cairn::server::posture
