#include "server/posture.h"

#include <sys/stat.h>

#include <algorithm>
#include <cassert>
#include <filesystem>

#include "server/cidr.h"
#include "server/posture_internal.h"

namespace cairn::server {

const char* SeverityName(Severity severity) {
  switch (severity) {
    case Severity::kInfo: return "info";
    case Severity::kLow: return "low";
    case Severity::kMedium: return "medium";
    case Severity::kHigh: return "high";
    case Severity::kCritical: return "critical";
  }
  return "info";
}

const std::vector<CheckInfo>& PostureCatalogue() {
  static const std::vector<CheckInfo> kChecks = {
      {"CAIRN-TLS-001", "TLS is off", false},
      {"CAIRN-TLS-002", "TLS versions below 1.2 allowed", false},
      {"CAIRN-TLS-003", "server certificate expired or expiring within 30 days", false},
      {"CAIRN-NET-001", "listener off loopback without a client allowlist", false},
      {"CAIRN-NET-002", "client allowlist admits every address", false},
      {"CAIRN-NET-003", "metrics (admin) listener off loopback", false},
      {"CAIRN-FILE-001", "private key, keyring or secret file readable by others", false},
      {"CAIRN-FILE-002", "configuration file readable by others", false},
      {"CAIRN-FILE-003", "configuration, policy or protection rules writable by others", false},
      {"CAIRN-FILE-004", "JWKS file with symmetric keys readable by others", false},
      {"CAIRN-AUTH-001", "API key without expiry", false},
      {"CAIRN-AUTH-002", "API key older than the allowed age", false},
      {"CAIRN-AUTH-003", "JWT issuer without an audience", false},
      {"CAIRN-AUTH-004", "HS256 JWT key with a short secret", false},
      {"CAIRN-AUTH-005", "JWT leeway over 60 s", false},
      {"CAIRN-AUTH-006", "JWKS fetched over plain HTTP", false},
      {"CAIRN-AUTH-007", "expired API key still configured", false},
      {"CAIRN-AUTH-008", "one of several JWT issuers may assert any role", false},
      {"CAIRN-POL-001", "admin granted to a wildcard principal", false},
      {"CAIRN-POL-002", "system ($) streams granted to a role without admin", false},
      {"CAIRN-POL-003", "append on every stream and every event type", false},
      {"CAIRN-POL-004", "policy file cannot be loaded", false},
      {"CAIRN-POL-005", "a JWT prefix binding reaches a named issuer's principals", false},
      {"CAIRN-POL-006", "append granted with no append quota in the policy", false},
      {"CAIRN-DATA-001", "personal-data-looking fields stored in clear", true},
      {"CAIRN-DATA-002", "stream ids that look like e-mail addresses", true},
      {"CAIRN-KEY-001", "at-rest encryption key kept beside the data", false},
      {"CAIRN-KEY-002", "key-encryption key not rotated within the configured period", false},
      {"CAIRN-SECRET-001", "a password in the configuration file", false},
      {"CAIRN-AUDIT-001", "audit trail off", false},
      {"CAIRN-LOG-001", "debug logging on", false},
      {"CAIRN-SCRUB-001", "continuous verification off", false},
      {"CAIRN-ALERT-001", "alerts off", false},
      {"CAIRN-PROC-001", "core dumps allowed", false},
      {"CAIRN-PG-001", "PostgreSQL without verified TLS off loopback", false},
      {"CAIRN-HOOK-001", "webhook allowlists a private or internal address", true},  // alerts too
  };
  return kChecks;
}

std::vector<std::string> StoreCheckIds() {
  std::vector<std::string> ids;
  for (const CheckInfo& c : PostureCatalogue()) {
    if (c.needs_store) ids.emplace_back(c.id);
  }
  return ids;
}

namespace posture {

void Findings::Add(std::string_view id, Severity severity, std::string finding, std::string fix) {
  const auto& catalogue = PostureCatalogue();
  const auto it = std::find_if(catalogue.begin(), catalogue.end(),
                               [&](const CheckInfo& c) { return c.id == id; });
  assert(it != catalogue.end());  // every id is in the catalogue
  Finding added{std::string(id), severity,
                it == catalogue.end() ? std::string(id) : std::string(it->title),
                std::move(finding), std::move(fix)};
  const size_t same = static_cast<size_t>(
      std::count_if(out_.begin(), out_.end(), [&](const Finding& f) { return f.id == id; }));
  if (same < kFindingsPerCheckMax) {
    out_.push_back(std::move(added));
    return;
  }
  // At the cap the least severe finding of this check gives way: a critical one found late (a
  // `*` binding after twenty prefix bindings) must still refuse the start.
  auto least = out_.end();
  for (auto f = out_.begin(); f != out_.end(); ++f) {
    if (f->id == id && (least == out_.end() || f->severity < least->severity)) least = f;
  }
  assert(least != out_.end());
  if (least->severity < severity) *least = std::move(added);
}

std::vector<Finding> Findings::Take() { return std::move(out_); }

std::optional<mode_t> FileMode(const std::string& path) {
  struct stat st {};
  if (path.empty() || ::stat(path.c_str(), &st) != 0) return std::nullopt;
  return st.st_mode;
}

std::optional<int64_t> FileMtime(const std::string& path) {
  struct stat st {};
  if (path.empty() || ::stat(path.c_str(), &st) != 0) return std::nullopt;
  return static_cast<int64_t>(st.st_mtime);
}

std::string ModeText(mode_t mode) {
  char text[8];
  std::snprintf(text, sizeof(text), "%04o", static_cast<unsigned>(mode & 07777));
  return text;
}

bool IsLoopbackListen(const std::string& listen) {
  Result<HostPort> hp = ParseHostPort(listen);
  return hp.ok() && IsLoopbackHost(hp->host);
}

bool AnyListenerOffLoopback(const Config& config) {
  if (!IsLoopbackListen(config.server.listen)) return true;
  return !config.server.admin_listen.empty() && !IsLoopbackListen(config.server.admin_listen);
}

std::string EffectiveKeyringPath(const Config& config) {
  if (config.keys.provider != keys::kProviderLocal) return "";
  if (!config.keys.local.keyring_path.empty()) return config.keys.local.keyring_path;
  if (config.data_dir.empty()) return "";
  return (std::filesystem::path(config.data_dir) / "keyring").lexically_normal().string();
}

}  // namespace posture

std::vector<Finding> RunPostureChecks(const Config& config, const PostureContext& context) {
  posture::Findings out;
  posture::CheckNetwork(config, context, &out);
  posture::CheckFiles(config, &out);
  posture::CheckAuth(config, context, &out);
  posture::CheckPolicy(config, &out);
  if (context.store != nullptr) posture::CheckData(context, &out);
  posture::CheckKeys(config, context, &out);
  posture::CheckStorage(config, &out);
  posture::CheckOperations(config, &out);
  if (context.store != nullptr) posture::CheckWebhooks(context, &out);
  posture::CheckAlertWebhook(config, &out);
  std::vector<Finding> findings = out.Take();
  // Catalogue order, most severe first within a check.
  const auto& catalogue = PostureCatalogue();
  auto rank = [&](const Finding& f) {
    return std::find_if(catalogue.begin(), catalogue.end(),
                        [&](const CheckInfo& c) { return c.id == f.id; }) -
           catalogue.begin();
  };
  std::stable_sort(findings.begin(), findings.end(), [&](const Finding& a, const Finding& b) {
    if (rank(a) != rank(b)) return rank(a) < rank(b);
    return a.severity > b.severity;
  });
  return findings;
}

size_t CountAtLeast(const std::vector<Finding>& findings, Severity severity) {
  return static_cast<size_t>(std::count_if(findings.begin(), findings.end(),
                                           [&](const Finding& f) { return f.severity >= severity; }));
}

std::optional<Finding> FirstUnacceptedCritical(const std::vector<Finding>& findings,
                                               const std::vector<std::string>& accepted) {
  for (const Finding& f : findings) {
    if (f.severity != Severity::kCritical) continue;
    if (std::find(accepted.begin(), accepted.end(), f.id) == accepted.end()) return f;
  }
  return std::nullopt;
}

}  // namespace cairn::server
