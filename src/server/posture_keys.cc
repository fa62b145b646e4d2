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
#include <cstdlib>
#include <filesystem>
#include <string>

#include <libpq-fe.h>
#include <openssl/crypto.h>

#include "server/cidr.h"
#include "server/posture_internal.h"

namespace cairn::server::posture {
namespace {

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
           "give the keyring a passphrase (`cairn keys passphrase --new-passphrase-file FILE`, "
           "then keys.passphrase_file outside data_dir, or keys.passphrase_env; then `cairn keys "
           "rotate --kek`), or use the pkcs11 provider (an HSM); or keep keys.keyring on another "
           "volume than the data");
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

bool IsLocalPgHost(const std::string& host) {
  return host.empty() || host[0] == '/' || host[0] == '@' || IsLoopbackHost(host);
}

}  // namespace

bool PgReachesRemoteHost(const PgDsn& dsn) {
  return std::any_of(dsn.hosts.begin(), dsn.hosts.end(),
                     [](const std::string& h) { return !IsLocalPgHost(h); });
}

// Parsed by libpq itself (PQconninfoParse), so that what is judged is what libpq will connect
// to: keyword/value and URI forms, quoting, and percent-encoded URI parameters alike
// ("?h%6fst=db.example.com" is a host, "?pass%77ord=x" a password).
namespace {

void AddHostList(std::string_view value, std::vector<std::string>* hosts) {
  for (size_t start = 0;;) {
    const size_t comma = value.find(',', start);
    hosts->emplace_back(value.substr(start, comma == std::string_view::npos ? comma : comma - start));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
}

std::string_view Env(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? std::string_view() : std::string_view(value);
}

}  // namespace

PgDsn ParsePgDsn(std::string_view dsn) {
  PgDsn out;
  if (dsn.size() > kDsnSizeBytesMax) {
    out.malformed = true;
    out.hosts.emplace_back();
    return out;
  }
  const std::string text(dsn);
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(text.c_str(), &error);
  if (error != nullptr) PQfreemem(error);  // may quote the DSN: never shown
  if (options == nullptr) {
    out.malformed = true;
    out.hosts.emplace_back();
    return out;
  }
  // What libpq takes from the environment for a setting the DSN leaves out is judged too.
  std::string host(Env("PGHOST")), hostaddr(Env("PGHOSTADDR")), service(Env("PGSERVICE"));
  const std::string_view sslmode = Env("PGSSLMODE");
  for (PQconninfoOption* o = options; o->keyword != nullptr; ++o) {
    if (o->val == nullptr) continue;
    const std::string_view key = o->keyword;
    const std::string_view value = o->val;
    if (key == "host") {
      host = value;
    } else if (key == "hostaddr") {
      hostaddr = value;
    } else if (key == "service") {
      service = value;
    } else if (key == "sslmode") {
      out.sslmode = std::string(value);
    } else if (key == "password" || key == "sslpassword") {  // sslpassword: the client key passphrase
      out.has_password = out.has_password || !value.empty();
      OPENSSL_cleanse(o->val, value.size());
    }
  }
  PQconninfoFree(options);
  if (out.sslmode.empty()) out.sslmode = std::string(sslmode);
  if (!host.empty()) AddHostList(host, &out.hosts);
  if (!hostaddr.empty()) AddHostList(hostaddr, &out.hosts);
  // A service file may name any host: judged off loopback unless a host is given.
  if (host.empty() && hostaddr.empty() && !service.empty()) out.hosts.push_back("service " + service);
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
  if (config.server.core_dumps) {
    out->Add("CAIRN-PROC-001", Severity::kMedium,
             "server.core_dumps = true: a crash can write unwrapped keys and revealed personal "
             "data to a core file, and other processes of the same user may attach to the server",
             "set server.core_dumps = false (the default) outside a debugging session");
  }
}

}  // namespace cairn::server::posture
