// Posture checks of keys, storage and operations: CAIRN-KEY-*, CAIRN-SECRET-001, CAIRN-PG-001,
// CAIRN-AUDIT-001, CAIRN-LOG-001, CAIRN-SCRUB-001, CAIRN-ALERT-001.
//
// At-rest encryption has no switch: every record is AES-256-GCM encrypted under a storage key
// wrapped by the KEK. What can be wrong is where the KEK lives: the local provider without a
// passphrase keeps it in the keyring file, by default inside the data directory, so a copy of
// the directory (a backup, a snapshot of the volume) carries the key that opens it (KEY-001).
//
// KEK age (KEY-002): the local keyring file is rewritten (new file, atomic rename) at `cairn
// init` and at every `cairn keys rotate --kek`, so its modification time is the time of the last
// KEK change; a PKCS#11 token records no such time, so the check does not run for it.
#include <algorithm>
#include <cctype>
#include <filesystem>
#include <string>

#include "server/cidr.h"
#include "server/posture_internal.h"

namespace cairn::server::posture {
namespace {

constexpr int64_t kDayS = 86400;
constexpr size_t kDsnSizeBytesMax = 4096;

bool InsideDir(const std::string& path, const std::string& dir) {
  if (path.empty() || dir.empty()) return false;
  const std::string d = std::filesystem::path(dir).lexically_normal().string();
  const std::string p = std::filesystem::path(path).lexically_normal().string();
  return p.size() > d.size() && p.compare(0, d.size(), d) == 0 &&
         (d.back() == '/' || p[d.size()] == '/');
}

void CheckKekBesideData(const Config& config, Findings* out) {
  if (config.keys.provider != keys::kProviderLocal) return;
  if (!config.keys.local.passphrase_file.empty() || !config.keys.local.passphrase_env.empty()) {
    return;
  }
  const std::string keyring = EffectiveKeyringPath(config);
  if (!InsideDir(keyring, config.data_dir)) return;
  out->Add("CAIRN-KEY-001", Severity::kMedium,
           "records are encrypted at rest (always on; there is no switch), but [keys] uses the "
           "local provider without a passphrase and its keyring " + keyring +
               " lies inside data_dir: a copy of the data directory includes the key that opens it",
           "set keys.passphrase_file (outside data_dir) or keys.passphrase_env, or use the pkcs11 "
           "provider (an HSM); or keep keys.keyring on another volume than the data");
}

void CheckKekAge(const Config& config, const PostureContext& context, Findings* out) {
  const std::string keyring = EffectiveKeyringPath(config);
  const std::optional<int64_t> changed = FileMtime(keyring);
  if (!changed) return;  // pkcs11, or no keyring yet
  const int64_t age_s = context.now_unix_s - *changed;
  const int64_t max_s = static_cast<int64_t>(config.doctor.kek_rotation_days_max) * kDayS;
  if (age_s <= max_s) return;
  out->Add("CAIRN-KEY-002", Severity::kMedium,
           "the KEK in " + keyring + " was last created or rotated " +
               std::to_string(age_s / kDayS) + " days ago (doctor.kek_rotation_days_max = " +
               std::to_string(config.doctor.kek_rotation_days_max) + ")",
           "run `cairn keys rotate --kek` (re-wraps every key; the data stays readable)");
}

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// "key=value key2='v a l'" pairs (libpq keyword/value form); bounded by the DSN's length.
void ParseKeywordDsn(std::string_view dsn, PgDsn* out) {
  size_t i = 0;
  while (i < dsn.size()) {
    while (i < dsn.size() && std::isspace(static_cast<unsigned char>(dsn[i]))) ++i;
    const size_t key_start = i;
    while (i < dsn.size() && dsn[i] != '=' && !std::isspace(static_cast<unsigned char>(dsn[i]))) ++i;
    const std::string key = Lower(dsn.substr(key_start, i - key_start));
    while (i < dsn.size() && std::isspace(static_cast<unsigned char>(dsn[i]))) ++i;
    if (i >= dsn.size() || dsn[i] != '=') break;
    ++i;
    while (i < dsn.size() && std::isspace(static_cast<unsigned char>(dsn[i]))) ++i;
    std::string value;
    if (i < dsn.size() && dsn[i] == '\'') {
      for (++i; i < dsn.size() && dsn[i] != '\''; ++i) {
        if (dsn[i] == '\\' && i + 1 < dsn.size()) ++i;
        value.push_back(dsn[i]);
      }
      ++i;
    } else {
      while (i < dsn.size() && !std::isspace(static_cast<unsigned char>(dsn[i]))) value.push_back(dsn[i++]);
    }
    if (key == "host" || key == "hostaddr") {
      size_t start = 0;
      for (size_t comma = 0; comma != std::string::npos; start = comma + 1) {
        comma = value.find(',', start);
        out->hosts.push_back(value.substr(start, comma == std::string::npos ? comma : comma - start));
      }
    } else if (key == "sslmode") {
      out->sslmode = value;
    } else if (key == "password") {
      out->has_password = !value.empty();
    }
  }
}

// postgres://[user[:password]@][host[:port][,...]][/db][?param=value&...]
void ParseUriDsn(std::string_view dsn, PgDsn* out) {
  std::string_view rest = dsn.substr(dsn.find("://") + 3);
  const size_t query = rest.find('?');
  std::string_view params = query == std::string_view::npos ? "" : rest.substr(query + 1);
  rest = rest.substr(0, query);
  std::string_view authority = rest.substr(0, rest.find('/'));
  const size_t at = authority.rfind('@');
  if (at != std::string_view::npos) {
    const std::string_view user_info = authority.substr(0, at);
    const size_t colon = user_info.find(':');
    out->has_password = colon != std::string_view::npos && colon + 1 < user_info.size();
    authority = authority.substr(at + 1);
  }
  size_t start = 0;
  for (size_t comma = 0; comma != std::string_view::npos; start = comma + 1) {
    comma = authority.find(',', start);
    std::string_view host = authority.substr(start, comma == std::string_view::npos ? comma : comma - start);
    if (!host.empty() && host[0] == '[') {
      host = host.substr(1, host.find(']') - 1);
    } else {
      host = host.substr(0, host.find(':'));
    }
    out->hosts.emplace_back(host);
  }
  for (size_t p = 0; p < params.size();) {
    const size_t amp = std::min(params.find('&', p), params.size());
    const std::string_view kv = params.substr(p, amp - p);
    const size_t eq = kv.find('=');
    const std::string key = Lower(kv.substr(0, eq));
    const std::string_view value = eq == std::string_view::npos ? "" : kv.substr(eq + 1);
    if (key == "sslmode") out->sslmode = std::string(value);
    if (key == "password") out->has_password = !value.empty();
    if (key == "host") out->hosts.emplace_back(value);
    p = amp + 1;
  }
}

bool IsLocalPgHost(const std::string& host) {
  return host.empty() || host[0] == '/' || host[0] == '@' || IsLoopbackHost(host);
}

}  // namespace

bool PgReachesRemoteHost(const PgDsn& dsn) {
  return std::any_of(dsn.hosts.begin(), dsn.hosts.end(),
                     [](const std::string& h) { return !IsLocalPgHost(h); });
}

PgDsn ParsePgDsn(std::string_view dsn) {
  PgDsn out;
  dsn = dsn.substr(0, kDsnSizeBytesMax);
  if (dsn.rfind("postgres://", 0) == 0 || dsn.rfind("postgresql://", 0) == 0) {
    ParseUriDsn(dsn, &out);
  } else {
    ParseKeywordDsn(dsn, &out);
  }
  if (out.hosts.empty()) out.hosts.emplace_back();  // libpq's default: the local socket
  return out;
}

void CheckKeys(const Config& config, const PostureContext& context, Findings* out) {
  CheckKekBesideData(config, out);
  CheckKekAge(config, context, out);
}

void CheckStorage(const Config& config, Findings* out) {
  const StorageSection& s = config.storage;
  const PgDsn dsn = ParsePgDsn(s.postgres_dsn);
  if (!s.postgres_dsn.empty() && dsn.has_password) {
    out->Add("CAIRN-SECRET-001", Severity::kCritical,
             "storage.postgres_dsn in " +
                 (config.source_path.empty() ? std::string("the configuration")
                                             : config.source_path) +
                 " contains a password",
             "remove the password from the DSN; give it through PGPASSFILE (mode 0600) or "
             "PGPASSWORD in the service's environment");
  }
  if (s.backend != "postgres") return;
  const std::string sslmode = s.postgres_sslmode.empty() ? dsn.sslmode : s.postgres_sslmode;
  if (!PgReachesRemoteHost(dsn) || sslmode == "verify-full" || sslmode == "verify-ca") return;
  const bool encrypted = sslmode == "require";
  out->Add("CAIRN-PG-001", encrypted ? Severity::kMedium : Severity::kCritical,
           std::string("storage.backend = \"postgres\" reaches a host off loopback with sslmode ") +
               (sslmode.empty() ? "unset (libpq's default \"prefer\" falls back to plaintext)"
                                : "= \"" + sslmode + "\"") +
               (encrypted ? ": encrypted, but the server's certificate is not verified"
                          : ": events and credentials may cross the network in clear"),
           "set storage.postgres_sslmode = \"verify-full\" (with the database's CA in "
           "PGSSLROOTCERT)");
}

void CheckOperations(const Config& config, Findings* out) {
  if (!config.audit.enabled) {
    out->Add("CAIRN-AUDIT-001", Severity::kMedium,
             "audit.enabled = false: authentication failures, denials and admin acts leave no "
             "tamper-evident record",
             "set audit.enabled = true (the default)");
  }
  if (config.log.level == log::Level::kDebug) {
    out->Add("CAIRN-LOG-001", Severity::kLow,
             "log.level = \"debug\": more detail (principals, stream ids, addresses) reaches the "
             "log shippers, and the volume hides what matters",
             "set log.level = \"info\" (the default) outside a debugging session");
  }
  if (!config.scrub.enabled) {
    out->Add("CAIRN-SCRUB-001", Severity::kMedium,
             "scrub.enabled = false: a record altered or rotted on disk goes unnoticed until "
             "someone runs cairn verify",
             "set scrub.enabled = true (the default)");
  }
  if (!config.alerts.enabled) {
    out->Add("CAIRN-ALERT-001", Severity::kMedium,
             "alerts.enabled = false: brute-force logins, integrity violations and key "
             "destruction raise no alert",
             "set alerts.enabled = true (the default) and route alerts.webhook_url to on-call");
  }
}

}  // namespace cairn::server::posture
