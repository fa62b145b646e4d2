#include "server/config.h"

#include "auth/http_fetch.h"
#include "integrity/note.h"

#include "server/posture_internal.h"

#include "common/trusted_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <initializer_list>
#include <optional>
#include <toml++/toml.h>

#include "auth/mtls.h"
#include "engine/types.h"
#include "server/cidr.h"
#include "server/read_slots.h"

namespace cairn::server {
namespace {

// ---------------------------------------------------------------------------------------------
// Time: RFC 3339 / TOML datetimes → Unix seconds.

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
int64_t DaysFromCivil(int64_t y, int64_t m, int64_t d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

int64_t DaysInMonth(int64_t y, int64_t m) {
  static const int64_t kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return m == 2 && leap ? 29 : kDays[m - 1];
}

// Validated fields → Unix seconds; nullopt when a field is out of range.
std::optional<int64_t> UnixSeconds(int64_t year, int64_t month, int64_t day, int64_t hour,
                                   int64_t minute, int64_t second, int64_t offset_minutes) {
  if (year < 1970 || year > 9999 || month < 1 || month > 12) return std::nullopt;
  if (day < 1 || day > DaysInMonth(year, month)) return std::nullopt;
  if (hour > 23 || minute > 59 || second > 59 || hour < 0 || minute < 0 || second < 0) {
    return std::nullopt;
  }
  if (offset_minutes < -(24 * 60) || offset_minutes > 24 * 60) return std::nullopt;
  return DaysFromCivil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second -
         offset_minutes * 60;
}

// Strict RFC 3339: YYYY-MM-DD(T|t| )HH:MM:SS(.fraction)?(Z|z|±HH:MM). Leap seconds (":60") are
// rejected. Fractions are dropped.
std::optional<int64_t> ParseRfc3339(std::string_view s) {
  size_t pos = 0;
  auto digits = [&](size_t n, int64_t* out) {
    if (pos + n > s.size()) return false;
    int64_t v = 0;
    for (size_t i = 0; i < n; ++i) {
      const char c = s[pos + i];
      if (c < '0' || c > '9') return false;
      v = v * 10 + (c - '0');
    }
    pos += n;
    *out = v;
    return true;
  };
  auto expect = [&](std::string_view chars) {
    if (pos >= s.size() || chars.find(s[pos]) == std::string_view::npos) return false;
    ++pos;
    return true;
  };
  int64_t y, mo, d, h, mi, se;
  if (!digits(4, &y) || !expect("-") || !digits(2, &mo) || !expect("-") || !digits(2, &d) ||
      !expect("Tt ") || !digits(2, &h) || !expect(":") || !digits(2, &mi) || !expect(":") ||
      !digits(2, &se)) {
    return std::nullopt;
  }
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    const size_t start = pos;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') ++pos;
    if (pos == start) return std::nullopt;
  }
  int64_t offset_minutes = 0;
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    const int64_t sign = s[pos] == '-' ? -1 : 1;
    ++pos;
    int64_t oh, om;
    if (!digits(2, &oh) || !expect(":") || !digits(2, &om) || oh > 23 || om > 59) {
      return std::nullopt;
    }
    offset_minutes = sign * (oh * 60 + om);
  } else {
    return std::nullopt;  // no offset: the instant would be ambiguous
  }
  if (pos != s.size()) return std::nullopt;
  return UnixSeconds(y, mo, d, h, mi, se, offset_minutes);
}

// ---------------------------------------------------------------------------------------------
// Parsing.

std::string JoinPath(std::string_view parent, std::string_view key) {
  if (parent.empty()) return std::string(key);
  return std::string(parent) + "." + std::string(key);
}

class Parser {
 public:
  Parser(const std::string& source, const std::string& base_dir)
      : source_(source), base_dir_(base_dir) {}

  Result<Config> Parse(std::string_view text) const {
    if (text.size() > kConfigFileSizeBytesMax) {
      return Status::ResourceExhausted(source_ + ": configuration larger than " +
                                       std::to_string(kConfigFileSizeBytesMax) + " bytes");
    }
    toml::table root;
    try {
      root = toml::parse(text, source_);
    } catch (const toml::parse_error& e) {
      return Err(e.source(), "invalid TOML: " + std::string(e.description()));
    }
    Config config = DefaultConfig();
    CAIRN_RETURN_IF_ERROR(
        CheckKeys(root, "", {"data_dir", "server", "tls", "auth", "policy", "protect", "keys", "limits",
                    "webhooks", "subscriptions", "groups", "storage", "doctor", "audit", "scrub",
                    "alerts", "log", "backup", "witness"}));
    CAIRN_RETURN_IF_ERROR(GetPath(root, "", "data_dir", &config.data_dir));
    CAIRN_RETURN_IF_ERROR(Section(root, "server", [&](const toml::table& t) {
      return ParseServer(t, &config.server);
    }));
    CAIRN_RETURN_IF_ERROR(
        Section(root, "tls", [&](const toml::table& t) { return ParseTls(t, &config.tls); }));
    CAIRN_RETURN_IF_ERROR(
        Section(root, "auth", [&](const toml::table& t) { return ParseAuth(t, &config.auth); }));
    CAIRN_RETURN_IF_ERROR(Section(root, "policy", [&](const toml::table& t) {
      CAIRN_RETURN_IF_ERROR(CheckKeys(t, "policy", {"file"}));
      return GetPath(t, "policy", "file", &config.policy.file);
    }));
    CAIRN_RETURN_IF_ERROR(Section(root, "protect", [&](const toml::table& t) {
      CAIRN_RETURN_IF_ERROR(CheckKeys(t, "protect", {"file"}));
      return GetPath(t, "protect", "file", &config.protect.file);
    }));
    CAIRN_RETURN_IF_ERROR(
        Section(root, "keys", [&](const toml::table& t) { return ParseKeys(t, &config.keys); }));
    CAIRN_RETURN_IF_ERROR(Section(root, "limits", [&](const toml::table& t) {
      return ParseLimits(t, &config.limits);
    }));
    CAIRN_RETURN_IF_ERROR(Section(root, "webhooks", [&](const toml::table& t) {
      return ParseWebhooks(t, &config.webhooks);
    }));
    CAIRN_RETURN_IF_ERROR(Section(root, "subscriptions", [&](const toml::table& t) {
      return ParseSubscriptions(t, &config.subscriptions);
    }));
    CAIRN_RETURN_IF_ERROR(Section(root, "groups", [&](const toml::table& t) {
      return ParseGroups(t, &config.groups);
    }));
    CAIRN_RETURN_IF_ERROR(Section(root, "storage", [&](const toml::table& t) {
      return ParseStorage(t, &config.storage);
    }));
    CAIRN_RETURN_IF_ERROR(Section(root, "doctor", [&](const toml::table& t) {
      return ParseDoctor(t, &config.doctor);
    }));
    CAIRN_RETURN_IF_ERROR(
        Section(root, "audit", [&](const toml::table& t) { return ParseAudit(t, &config.audit); }));
    CAIRN_RETURN_IF_ERROR(
        Section(root, "scrub", [&](const toml::table& t) { return ParseScrub(t, &config.scrub); }));
    CAIRN_RETURN_IF_ERROR(Section(root, "alerts", [&](const toml::table& t) {
      return ParseAlerts(t, &config.alerts);
    }));
    CAIRN_RETURN_IF_ERROR(
        Section(root, "log", [&](const toml::table& t) { return ParseLog(t, &config.log); }));
    CAIRN_RETURN_IF_ERROR(Section(root, "backup", [&](const toml::table& t) {
      CAIRN_RETURN_IF_ERROR(CheckKeys(t, "backup", {"dir"}));
      return GetPath(t, "backup", "dir", &config.backup.dir);
    }));
    CAIRN_RETURN_IF_ERROR(ParseWitnesses(root, &config.witnesses));
    return config;
  }

 private:
  Status ParseWitnesses(const toml::table& root, std::vector<WitnessSection>* out) const {
    std::vector<const toml::table*> tables;
    CAIRN_RETURN_IF_ERROR(GetTableList(root, "", "witness", kConfigWitnessesMax, &tables));
    for (size_t i = 0; i < tables.size(); ++i) {
      const std::string w = "witness[" + std::to_string(i) + "]";
      const toml::table& t = *tables[i];
      WitnessSection section;
      CAIRN_RETURN_IF_ERROR(CheckKeys(t, w, {"key", "url", "ca_file", "client_cert", "client_key"}));
      CAIRN_RETURN_IF_ERROR(GetString(t, w, "key", &section.key));
      CAIRN_RETURN_IF_ERROR(GetString(t, w, "url", &section.url));
      CAIRN_RETURN_IF_ERROR(GetPath(t, w, "ca_file", &section.ca_file));
      CAIRN_RETURN_IF_ERROR(GetPath(t, w, "client_cert", &section.client_cert));
      CAIRN_RETURN_IF_ERROR(GetPath(t, w, "client_key", &section.client_key));
      if (section.client_cert.empty() != section.client_key.empty()) {
        return Err(t.source(), "'" + w + ".client_cert' and '" + w + ".client_key' go together");
      }
      auto key = integrity::ParseVerifierKey(section.key, integrity::kCosignatureAlgorithmEd25519);
      if (!key.ok()) {
        return Err(t.source(), "'" + w + ".key' is not a witness's cosigner key: " +
                                   key.status().message());
      }
      if (Status url = auth::CheckFetchUrl(section.url); !url.ok()) {
        return Err(t.source(), "'" + w + ".url': " + url.message());
      }
      for (const WitnessSection& seen : *out) {
        // One witness, one name: its cosignature lines and metrics are told apart by name.
        auto other = integrity::ParseVerifierKey(seen.key, integrity::kCosignatureAlgorithmEd25519);
        if (seen.key == section.key || (other.ok() && other->name == key->name)) {
          return Err(t.source(), "'" + w + ".key' is given twice (or its name is)");
        }
      }
      out->push_back(std::move(section));
    }
    return Status::Ok();
  }

  Status ParseLog(const toml::table& t, LogSection* out) const {
    CAIRN_RETURN_IF_ERROR(CheckKeys(t, "log", {"level"}));
    std::string level(log::LevelName(out->level));
    CAIRN_RETURN_IF_ERROR(GetString(t, "log", "level", &level));
    std::optional<log::Level> parsed = log::ParseLevel(level);
    if (!parsed) {
      return Err(t.get("level")->source(),
                 "'log.level' must be \"debug\", \"info\", \"warn\" or \"error\"");
    }
    out->level = *parsed;
    return Status::Ok();
  }

  Status ParseAlerts(const toml::table& t, AlertsSection* out) const {
    const std::string_view w = "alerts";
    CAIRN_RETURN_IF_ERROR(CheckKeys(t, w,
                                    {"enabled", "rules_file", "webhook_url", "webhook_secret_file",
                                     "webhook_secret_env", "webhook_allow_addresses"}));
    CAIRN_RETURN_IF_ERROR(GetBool(t, w, "enabled", &out->enabled));
    CAIRN_RETURN_IF_ERROR(GetPath(t, w, "rules_file", &out->rules_file));
    CAIRN_RETURN_IF_ERROR(GetString(t, w, "webhook_url", &out->webhook_url));
    CAIRN_RETURN_IF_ERROR(GetPath(t, w, "webhook_secret_file", &out->webhook_secret_file));
    CAIRN_RETURN_IF_ERROR(GetString(t, w, "webhook_secret_env", &out->webhook_secret_env));
    CAIRN_RETURN_IF_ERROR(GetStringList(t, w, "webhook_allow_addresses",
                                        kAlertWebhookAllowAddressesMax,
                                        &out->webhook_allow_addresses));
    if (!out->webhook_url.empty() && !out->webhook_url.starts_with("https://")) {
      return Err(t.get("webhook_url")->source(), "'alerts.webhook_url' must be an https:// URL");
    }
    const bool file = !out->webhook_secret_file.empty();
    const bool env = !out->webhook_secret_env.empty();
    if (!out->webhook_url.empty() && file == env) {
      return Err(t.source(), "alerts.webhook_url needs exactly one of webhook_secret_file and "
                             "webhook_secret_env");
    }
    if (out->webhook_url.empty() && (file || env || !out->webhook_allow_addresses.empty())) {
      return Err(t.source(), "alerts: webhook settings without webhook_url");
    }
    return Status::Ok();
  }

  Status ParseScrub(const toml::table& t, ScrubSection* out) const {
    const std::string_view w = "scrub";
    CAIRN_RETURN_IF_ERROR(
        CheckKeys(t, w, {"enabled", "interval_s", "delay_ms", "records_per_step_max", "busy_percent_max"}));
    CAIRN_RETURN_IF_ERROR(GetBool(t, w, "enabled", &out->enabled));
    CAIRN_RETURN_IF_ERROR(GetUint(t, w, "interval_s", 10, 7 * 86400, &out->interval_s));
    CAIRN_RETURN_IF_ERROR(GetUint(t, w, "delay_ms", 0, 600000, &out->delay_ms));
    CAIRN_RETURN_IF_ERROR(GetUint(t, w, "busy_percent_max", 1, 100, &out->busy_percent_max));
    return GetUint(t, w, "records_per_step_max", 16, 65536, &out->records_per_step_max);
  }

  Status ParseAudit(const toml::table& t, AuditSection* out) const {
    const std::string_view w = "audit";
    CAIRN_RETURN_IF_ERROR(
        CheckKeys(t, w, {"enabled", "data_plane", "queue_records_max", "batch_records_max"}));
    CAIRN_RETURN_IF_ERROR(GetBool(t, w, "enabled", &out->enabled));
    std::string mode = "none";
    CAIRN_RETURN_IF_ERROR(GetString(t, w, "data_plane", &mode));
    if (mode == "none") {
      out->data_plane = audit::DataPlaneAudit::kNone;
    } else if (mode == "writes") {
      out->data_plane = audit::DataPlaneAudit::kWrites;
    } else if (mode == "all") {
      out->data_plane = audit::DataPlaneAudit::kAll;
    } else {
      return Err(t.get("data_plane")->source(),
                 "'audit.data_plane' must be \"none\", \"writes\" or \"all\"");
    }
    CAIRN_RETURN_IF_ERROR(GetUint(t, w, "queue_records_max", 1,
                                  static_cast<int64_t>(audit::kAuditQueueRecordsMax),
                                  &out->queue_records_max));
    return GetUint(t, w, "batch_records_max", 1,
                   static_cast<int64_t>(audit::kAuditBatchRecordsMax), &out->batch_records_max);
  }

  Status ParseStorage(const toml::table& t, StorageSection* out) const {
    CAIRN_RETURN_IF_ERROR(
        CheckKeys(t, "storage", {"backend", "postgres_dsn", "postgres_sslmode",
                                 "postgres_password_file", "postgres_pool_connections_max",
                                 "postgres_optimistic_commits"}));
    CAIRN_RETURN_IF_ERROR(GetString(t, "storage", "backend", &out->backend));
    if (out->backend != "rocksdb" && out->backend != "postgres") {
      return Err(t.get("backend")->source(), "'storage.backend' must be \"rocksdb\" or \"postgres\"");
    }
    CAIRN_RETURN_IF_ERROR(GetString(t, "storage", "postgres_dsn", &out->postgres_dsn));
    CAIRN_RETURN_IF_ERROR(GetString(t, "storage", "postgres_sslmode", &out->postgres_sslmode));
    CAIRN_RETURN_IF_ERROR(GetPath(t, "storage", "postgres_password_file", &out->postgres_password_file));
    CAIRN_RETURN_IF_ERROR(GetUint(t, "storage", "postgres_pool_connections_max", 2,
                                  static_cast<int64_t>(kPostgresPoolConnectionsMax),
                                  &out->postgres_pool_connections_max));
    CAIRN_RETURN_IF_ERROR(GetBool(t, "storage", "postgres_optimistic_commits", &out->postgres_optimistic_commits));
    static constexpr std::string_view kModes[] = {"",        "disable", "allow",    "prefer",
                                                  "require", "verify-ca", "verify-full"};
    if (std::find(std::begin(kModes), std::end(kModes), out->postgres_sslmode) == std::end(kModes)) {
      return Err(t.get("postgres_sslmode")->source(),
                 "'storage.postgres_sslmode' must be one of disable, allow, prefer, require, "
                 "verify-ca, verify-full");
    }
    return Status::Ok();
  }

  Status ParseDoctor(const toml::table& t, DoctorSection* out) const {
    const std::string_view w = "doctor";
    CAIRN_RETURN_IF_ERROR(CheckKeys(
        t, w, {"interval_s", "kek_rotation_days_max", "api_key_age_days_max", "accept_risks"}));
    CAIRN_RETURN_IF_ERROR(GetUint(t, w, "interval_s", 60, 7 * 86400, &out->interval_s));
    CAIRN_RETURN_IF_ERROR(
        GetUint(t, w, "kek_rotation_days_max", 1, 3650, &out->kek_rotation_days_max));
    CAIRN_RETURN_IF_ERROR(
        GetUint(t, w, "api_key_age_days_max", 1, 3650, &out->api_key_age_days_max));
    return GetStringList(t, w, "accept_risks", kAcceptRisksMax, &out->accept_risks);
  }

  Status ParseGroups(const toml::table& t, GroupsSection* out) const {
    const std::string_view w = "groups";
    CAIRN_RETURN_IF_ERROR(CheckKeys(t, w,
                                    {"groups_max", "consumers_per_group_max", "in_flight_max",
                                     "buffer_events_max", "buffer_bytes_max"}));
    CAIRN_RETURN_IF_ERROR(GetUint(t, w, "groups_max", 1, 4096, &out->groups_max));
    CAIRN_RETURN_IF_ERROR(
        GetUint(t, w, "consumers_per_group_max", 1, 1024, &out->consumers_per_group_max));
    CAIRN_RETURN_IF_ERROR(GetUint(t, w, "in_flight_max", 1, 100000, &out->in_flight_max));
    CAIRN_RETURN_IF_ERROR(GetUint(t, w, "buffer_events_max", 16, 1 << 20, &out->buffer_events_max));
    return GetUint(t, w, "buffer_bytes_max", 1 << 20, int64_t{4} << 30, &out->buffer_bytes_max);
  }

  Status ParseSubscriptions(const toml::table& t, SubscriptionsSection* out) const {
    const std::string_view w = "subscriptions";
    CAIRN_RETURN_IF_ERROR(CheckKeys(t, w,
                                    {"subscribers_max", "subscribers_per_principal_max",
                                     "ring_events_max", "ring_bytes_max", "lag_events_max",
                                     "delivery_threads"}));
    CAIRN_RETURN_IF_ERROR(GetUint(t, w, "subscribers_max", 1, 65536, &out->subscribers_max));
    CAIRN_RETURN_IF_ERROR(GetUint(t, w, "subscribers_per_principal_max", 1, 65536,
                                  &out->subscribers_per_principal_max));
    CAIRN_RETURN_IF_ERROR(GetUint(t, w, "ring_events_max", 1024, 4 << 20, &out->ring_events_max));
    CAIRN_RETURN_IF_ERROR(
        GetUint(t, w, "ring_bytes_max", 1 << 20, int64_t{4} << 30, &out->ring_bytes_max));
    CAIRN_RETURN_IF_ERROR(GetUint(t, w, "lag_events_max", 1,
                                  static_cast<int64_t>(out->ring_events_max), &out->lag_events_max));
    return GetUint(t, w, "delivery_threads", 1, 64, &out->delivery_threads);
  }

  Status ParseWebhooks(const toml::table& t, WebhooksSection* out) const {
    CAIRN_RETURN_IF_ERROR(CheckKeys(t, "webhooks",
                                    {"ca_file", "workers", "retries_max", "backoff_initial_ms",
                                     "backoff_max_ms", "connect_timeout_ms", "timeout_ms",
                                     "response_size_bytes_max", "rotation_grace_s", "dispatch"}));
    const std::string_view w = "webhooks";
    CAIRN_RETURN_IF_ERROR(GetBool(t, w, "dispatch", &out->dispatch));
    CAIRN_RETURN_IF_ERROR(GetPath(t, w, "ca_file", &out->ca_file));
    CAIRN_RETURN_IF_ERROR(GetUint(t, w, "workers", 1, 64, &out->workers));
    CAIRN_RETURN_IF_ERROR(GetUint(t, w, "retries_max", 0, 100, &out->retries_max));
    CAIRN_RETURN_IF_ERROR(GetUint(t, w, "backoff_initial_ms", 1, 3600000, &out->backoff_initial_ms));
    CAIRN_RETURN_IF_ERROR(GetUint(t, w, "backoff_max_ms", 1, 86400000, &out->backoff_max_ms));
    if (out->backoff_max_ms < out->backoff_initial_ms) {  // also when only the initial one is set
      return Status::InvalidArgument(source_ + ": webhooks.backoff_max_ms (" +
                                     std::to_string(out->backoff_max_ms) +
                                     ") must be at least webhooks.backoff_initial_ms (" +
                                     std::to_string(out->backoff_initial_ms) + ")");
    }
    CAIRN_RETURN_IF_ERROR(GetUint(t, w, "connect_timeout_ms", 1, 60000, &out->connect_timeout_ms));
    CAIRN_RETURN_IF_ERROR(GetUint(t, w, "timeout_ms", 1, 300000, &out->timeout_ms));
    CAIRN_RETURN_IF_ERROR(
        GetUint(t, w, "response_size_bytes_max", 0, 1 << 20, &out->response_size_bytes_max));
    return GetUint(t, w, "rotation_grace_s", 1, 30 * 86400, &out->rotation_grace_s);
  }

  Status Err(const toml::source_region& where, const std::string& what) const {
    return Status::InvalidArgument(source_ + ":" + std::to_string(where.begin.line) + ":" +
                                   std::to_string(where.begin.column) + ": " + what);
  }

  Status CheckKeys(const toml::table& table, std::string_view path,
                   std::initializer_list<std::string_view> allowed) const {
    for (auto&& [key, node] : table) {
      if (std::find(allowed.begin(), allowed.end(), key.str()) == allowed.end()) {
        return Err(key.source(), "unknown key '" + JoinPath(path, key.str()) + "'");
      }
    }
    return Status::Ok();
  }

  Status GetTable(const toml::table& parent, std::string_view path, std::string_view key,
                  const toml::table** out) const {
    *out = nullptr;
    const toml::node* node = parent.get(key);
    if (node == nullptr) return Status::Ok();
    *out = node->as_table();
    if (*out == nullptr) return Err(node->source(), "'" + JoinPath(path, key) + "' must be a table");
    return Status::Ok();
  }

  template <typename F>
  Status Section(const toml::table& root, std::string_view key, F&& parse) const {
    const toml::table* table = nullptr;
    CAIRN_RETURN_IF_ERROR(GetTable(root, "", key, &table));
    if (table == nullptr) return Status::Ok();
    return parse(*table);
  }

  Status GetString(const toml::table& t, std::string_view path, std::string_view key,
                   std::string* out) const {
    const toml::node* node = t.get(key);
    if (node == nullptr) return Status::Ok();
    const auto* s = node->as_string();
    if (s == nullptr) return Err(node->source(), "'" + JoinPath(path, key) + "' must be a string");
    *out = s->get();
    return Status::Ok();
  }

  // A string naming a file or directory; a relative one resolves against the config's dir.
  Status GetPath(const toml::table& t, std::string_view path, std::string_view key,
                 std::string* out) const {
    CAIRN_RETURN_IF_ERROR(GetString(t, path, key, out));
    if (t.get(key) != nullptr && !out->empty()) *out = Resolve(*out);
    return Status::Ok();
  }

  std::string Resolve(const std::string& p) const {
    const std::filesystem::path fs_path(p);
    if (fs_path.is_absolute() || base_dir_.empty()) return fs_path.lexically_normal().string();
    return (std::filesystem::path(base_dir_) / fs_path).lexically_normal().string();
  }

  Status GetBool(const toml::table& t, std::string_view path, std::string_view key,
                 bool* out) const {
    const toml::node* node = t.get(key);
    if (node == nullptr) return Status::Ok();
    const auto* b = node->as_boolean();
    if (b == nullptr) return Err(node->source(), "'" + JoinPath(path, key) + "' must be true or false");
    *out = b->get();
    return Status::Ok();
  }

  Status GetInt(const toml::table& t, std::string_view path, std::string_view key, int64_t min,
                int64_t max, int64_t* out) const {
    const toml::node* node = t.get(key);
    if (node == nullptr) return Status::Ok();
    const auto* i = node->as_integer();
    if (i == nullptr) return Err(node->source(), "'" + JoinPath(path, key) + "' must be an integer");
    if (i->get() < min || i->get() > max) {
      return Err(node->source(), "'" + JoinPath(path, key) + "' = " + std::to_string(i->get()) +
                                     " is outside " + std::to_string(min) + ".." +
                                     std::to_string(max));
    }
    *out = i->get();
    return Status::Ok();
  }

  Status GetUint(const toml::table& t, std::string_view path, std::string_view key, int64_t min,
                 int64_t max, uint64_t* out) const {
    assert(min >= 0);
    int64_t v = static_cast<int64_t>(*out);
    CAIRN_RETURN_IF_ERROR(GetInt(t, path, key, min, max, &v));
    *out = static_cast<uint64_t>(v);
    return Status::Ok();
  }

  Status GetStringList(const toml::table& t, std::string_view path, std::string_view key,
                       size_t count_max, std::vector<std::string>* out) const {
    const toml::node* node = t.get(key);
    if (node == nullptr) return Status::Ok();
    const toml::array* array = node->as_array();
    const std::string name = JoinPath(path, key);
    if (array == nullptr) return Err(node->source(), "'" + name + "' must be a list of strings");
    if (array->size() > count_max) {
      return Err(node->source(), "'" + name + "' has more than " + std::to_string(count_max) +
                                     " entries");
    }
    out->clear();
    for (const toml::node& element : *array) {
      const auto* s = element.as_string();
      if (s == nullptr) return Err(element.source(), "'" + name + "' must be a list of strings");
      out->push_back(s->get());
    }
    return Status::Ok();
  }

  // A list of tables: [[a.b]] or b = [ {...}, ... ].
  Status GetTableList(const toml::table& t, std::string_view path, std::string_view key,
                      size_t count_max, std::vector<const toml::table*>* out) const {
    out->clear();
    const toml::node* node = t.get(key);
    if (node == nullptr) return Status::Ok();
    const toml::array* array = node->as_array();
    const std::string name = JoinPath(path, key);
    if (array == nullptr) return Err(node->source(), "'" + name + "' must be a list of tables");
    if (array->size() > count_max) {
      return Err(node->source(), "more than " + std::to_string(count_max) + " '" + name +
                                     "' entries");
    }
    for (const toml::node& element : *array) {
      const toml::table* table = element.as_table();
      if (table == nullptr) return Err(element.source(), "'" + name + "' must be a list of tables");
      out->push_back(table);
    }
    return Status::Ok();
  }

  Status ParseServer(const toml::table& t, ServerSection* out) const {
    CAIRN_RETURN_IF_ERROR(CheckKeys(t, "server", {"listen", "admin_listen", "admin_tls", "allow_cidrs", "core_dumps"}));
    CAIRN_RETURN_IF_ERROR(GetString(t, "server", "listen", &out->listen));
    CAIRN_RETURN_IF_ERROR(GetString(t, "server", "admin_listen", &out->admin_listen));
    CAIRN_RETURN_IF_ERROR(GetBool(t, "server", "admin_tls", &out->admin_tls));
    CAIRN_RETURN_IF_ERROR(GetBool(t, "server", "core_dumps", &out->core_dumps));
    CAIRN_RETURN_IF_ERROR(
        GetStringList(t, "server", "allow_cidrs", kCidrEntriesMax, &out->allow_cidrs));
    if (Result<CidrSet> cidrs = CidrSet::Parse(out->allow_cidrs); !cidrs.ok()) {
      return Err(t.get("allow_cidrs")->source(), "server.allow_cidrs: " + cidrs.status().message());
    }
    return Status::Ok();
  }

  Status ParseTls(const toml::table& t, TlsSection* out) const {
    CAIRN_RETURN_IF_ERROR(CheckKeys(
        t, "tls", {"enabled", "cert", "key", "client_ca", "require_client_cert", "min_version"}));
    CAIRN_RETURN_IF_ERROR(GetBool(t, "tls", "enabled", &out->enabled));
    CAIRN_RETURN_IF_ERROR(GetPath(t, "tls", "cert", &out->cert));
    CAIRN_RETURN_IF_ERROR(GetPath(t, "tls", "key", &out->key));
    CAIRN_RETURN_IF_ERROR(GetPath(t, "tls", "client_ca", &out->client_ca));
    CAIRN_RETURN_IF_ERROR(GetBool(t, "tls", "require_client_cert", &out->require_client_cert));
    CAIRN_RETURN_IF_ERROR(GetString(t, "tls", "min_version", &out->min_version));
    return Status::Ok();
  }

  Status ParseAuth(const toml::table& t, auth::AuthConfig* out) const {
    CAIRN_RETURN_IF_ERROR(CheckKeys(
        t, "auth", {"jwt", "api_keys", "mtls", "failures_per_minute_max", "failure_sources_max"}));
    CAIRN_RETURN_IF_ERROR(GetInt(t, "auth", "failures_per_minute_max", 1, 1000000,
                                 &out->failures_per_minute_max));
    CAIRN_RETURN_IF_ERROR(GetInt(t, "auth", "failure_sources_max", 1, 10000000,
                                 &out->failure_sources_max));
    std::vector<const toml::table*> tables;
    CAIRN_RETURN_IF_ERROR(GetTableList(t, "auth", "jwt", kJwtIssuersMax, &tables));
    for (size_t i = 0; i < tables.size(); ++i) {
      auth::JwtIssuerConfig jwt;
      CAIRN_RETURN_IF_ERROR(ParseJwt(*tables[i], "auth.jwt[" + std::to_string(i) + "]", &jwt));
      out->jwt.push_back(std::move(jwt));
    }
    CAIRN_RETURN_IF_ERROR(GetTableList(t, "auth", "api_keys", kApiKeysMax, &tables));
    for (size_t i = 0; i < tables.size(); ++i) {
      auth::ApiKeyConfig key;
      CAIRN_RETURN_IF_ERROR(
          ParseApiKey(*tables[i], "auth.api_keys[" + std::to_string(i) + "]", &key));
      out->api_keys.push_back(std::move(key));
    }
    const toml::table* mtls = nullptr;
    CAIRN_RETURN_IF_ERROR(GetTable(t, "auth", "mtls", &mtls));
    if (mtls != nullptr) {
      CAIRN_RETURN_IF_ERROR(CheckKeys(*mtls, "auth.mtls", {"rules", "spiffe_trust_domains"}));
      CAIRN_RETURN_IF_ERROR(GetStringList(*mtls, "auth.mtls", "spiffe_trust_domains",
                                          auth::kSpiffeTrustDomainsMax,
                                          &out->mtls.spiffe_trust_domains));
      CAIRN_RETURN_IF_ERROR(GetTableList(*mtls, "auth.mtls", "rules", kMtlsRulesMax, &tables));
      for (size_t i = 0; i < tables.size(); ++i) {
        const std::string path = "auth.mtls.rules[" + std::to_string(i) + "]";
        CAIRN_RETURN_IF_ERROR(CheckKeys(*tables[i], path, {"match", "principal"}));
        auth::MtlsRule rule;
        CAIRN_RETURN_IF_ERROR(GetString(*tables[i], path, "match", &rule.match));
        CAIRN_RETURN_IF_ERROR(GetString(*tables[i], path, "principal", &rule.principal));
        out->mtls.rules.push_back(std::move(rule));
      }
    }
    return Status::Ok();
  }

  Status ParseJwt(const toml::table& t, const std::string& path, auth::JwtIssuerConfig* out) const {
    CAIRN_RETURN_IF_ERROR(CheckKeys(
        t, path,
        {"issuer", "name", "audience", "jwks_file", "jwks_url", "jwks_ca_file", "roles_claim",
         "roles_allowed", "require_typ", "leeway_s", "jwks_refresh_interval_s",
         "jwks_refetch_min_interval_s"}));
    CAIRN_RETURN_IF_ERROR(GetString(t, path, "issuer", &out->issuer));
    CAIRN_RETURN_IF_ERROR(GetString(t, path, "name", &out->name));
    CAIRN_RETURN_IF_ERROR(GetString(t, path, "audience", &out->audience));
    CAIRN_RETURN_IF_ERROR(GetPath(t, path, "jwks_file", &out->jwks_file));
    CAIRN_RETURN_IF_ERROR(GetString(t, path, "jwks_url", &out->jwks_url));
    CAIRN_RETURN_IF_ERROR(GetPath(t, path, "jwks_ca_file", &out->jwks_ca_file));
    CAIRN_RETURN_IF_ERROR(GetString(t, path, "roles_claim", &out->roles_claim));
    CAIRN_RETURN_IF_ERROR(GetString(t, path, "require_typ", &out->require_typ));
    if (t.contains("roles_allowed")) {
      out->roles_allowed.emplace();
      CAIRN_RETURN_IF_ERROR(
          GetStringList(t, path, "roles_allowed", kJwtRolesAllowedMax, &*out->roles_allowed));
    }
    // leeway_s is range-checked by ValidateForServe (0..60) so that the refusal names it there;
    // here only absurd values are rejected.
    CAIRN_RETURN_IF_ERROR(GetInt(t, path, "leeway_s", INT32_MIN, INT32_MAX, &out->leeway_s));
    CAIRN_RETURN_IF_ERROR(GetInt(t, path, "jwks_refresh_interval_s", 1, 86400,
                                 &out->jwks_refresh_interval_s));
    CAIRN_RETURN_IF_ERROR(GetInt(t, path, "jwks_refetch_min_interval_s", 1, 86400,
                                 &out->jwks_refetch_min_interval_s));
    return Status::Ok();
  }

  Status ParseApiKey(const toml::table& t, const std::string& path, auth::ApiKeyConfig* out) const {
    CAIRN_RETURN_IF_ERROR(
        CheckKeys(t, path, {"id", "secret_sha256", "roles", "expires", "created"}));
    CAIRN_RETURN_IF_ERROR(GetString(t, path, "id", &out->id));
    CAIRN_RETURN_IF_ERROR(GetString(t, path, "secret_sha256", &out->secret_sha256));
    CAIRN_RETURN_IF_ERROR(GetStringList(t, path, "roles", kApiKeyRolesMax, &out->roles));
    CAIRN_RETURN_IF_ERROR(GetTime(t, path, "created", &out->created_unix_s));
    return GetTime(t, path, "expires", &out->expires_unix_s);
  }

  // A TOML date-time with offset or an RFC 3339 string → Unix seconds; absent = unchanged.
  Status GetTime(const toml::table& t, const std::string& path, std::string_view key,
                 std::optional<int64_t>* out) const {
    const toml::node* expires = t.get(key);
    if (expires == nullptr) return Status::Ok();
    const std::string name = path + "." + std::string(key);
    if (const auto* dt = expires->as_date_time()) {
      const toml::date_time& v = dt->get();
      if (!v.offset) {
        return Err(expires->source(), "'" + name + "' needs a time zone offset (e.g. Z)");
      }
      const std::optional<int64_t> unix_s =
          UnixSeconds(v.date.year, v.date.month, v.date.day, v.time.hour, v.time.minute,
                      v.time.second, v.offset->minutes);
      if (!unix_s) return Err(expires->source(), "'" + name + "' is out of range");
      *out = *unix_s;
      return Status::Ok();
    }
    if (const auto* s = expires->as_string()) {
      const std::optional<int64_t> unix_s = ParseRfc3339(s->get());
      if (!unix_s) {
        return Err(expires->source(), "'" + name + "' = \"" + s->get() +
                                          "\" is not an RFC 3339 time with offset "
                                          "(e.g. 2026-01-01T00:00:00Z)");
      }
      *out = *unix_s;
      return Status::Ok();
    }
    return Err(expires->source(), "'" + name + "' must be a date-time with offset "
                                               "(e.g. 2026-01-01T00:00:00Z)");
  }

  Status ParseKeys(const toml::table& t, keys::KmsConfig* out) const {
    CAIRN_RETURN_IF_ERROR(CheckKeys(t, "keys",
                                    {"provider", "keyring", "passphrase_file", "passphrase_env",
                                     "module", "slot", "token_label", "pin_file", "pin_env",
                                     "key_label"}));
    CAIRN_RETURN_IF_ERROR(GetString(t, "keys", "provider", &out->provider));
    if (out->provider != keys::kProviderLocal && out->provider != keys::kProviderPkcs11) {
      return Err(t.get("provider")->source(), "'keys.provider' must be \"local\" or \"pkcs11\"");
    }
    CAIRN_RETURN_IF_ERROR(GetPath(t, "keys", "keyring", &out->local.keyring_path));
    CAIRN_RETURN_IF_ERROR(GetPath(t, "keys", "passphrase_file", &out->local.passphrase_file));
    CAIRN_RETURN_IF_ERROR(GetString(t, "keys", "passphrase_env", &out->local.passphrase_env));
    CAIRN_RETURN_IF_ERROR(GetPath(t, "keys", "module", &out->pkcs11.module_path));
    if (t.get("slot") != nullptr) {
      int64_t slot = 0;
      CAIRN_RETURN_IF_ERROR(GetInt(t, "keys", "slot", 0, INT64_MAX, &slot));
      out->pkcs11.slot_id = static_cast<uint64_t>(slot);
    }
    CAIRN_RETURN_IF_ERROR(GetString(t, "keys", "token_label", &out->pkcs11.token_label));
    CAIRN_RETURN_IF_ERROR(GetPath(t, "keys", "pin_file", &out->pkcs11.pin_file));
    CAIRN_RETURN_IF_ERROR(GetString(t, "keys", "pin_env", &out->pkcs11.pin_env));
    return GetString(t, "keys", "key_label", &out->pkcs11.key_label);
  }

  Status ParseLimits(const toml::table& t, LimitsSection* out) const {
    CAIRN_RETURN_IF_ERROR(CheckKeys(
        t, "limits",
        {"event_size_bytes_max", "batch_size_bytes_max", "batch_events_max", "max_message_bytes",
         "max_concurrent_streams", "read_batch_max", "read_size_bytes_max", "write_stall_ms_max",
         "grpc_memory_bytes_max", "connection_idle_ms_max", "connections_max",
         "connections_per_source_max", "reads_max", "reads_per_principal_max",
         "append_open_ms_max"}));
    // The stored record and the group commit must fit the storage's caps (engine/types.h).
    CAIRN_RETURN_IF_ERROR(GetUint(t, "limits", "event_size_bytes_max", 1024,
                                  static_cast<int64_t>(engine::kEventSizeBytesMaxLimit),
                                  &out->event_size_bytes_max));
    CAIRN_RETURN_IF_ERROR(GetUint(t, "limits", "batch_size_bytes_max", 1024,
                                  static_cast<int64_t>(engine::kBatchSizeBytesMaxLimit),
                                  &out->batch_size_bytes_max));
    CAIRN_RETURN_IF_ERROR(GetUint(t, "limits", "batch_events_max", 1, 10000, &out->batch_events_max));
    if (out->batch_size_bytes_max < out->event_size_bytes_max) {
      return Status::InvalidArgument(source_ + ": limits.batch_size_bytes_max must be at least "
                                     "limits.event_size_bytes_max");
    }
    CAIRN_RETURN_IF_ERROR(
        GetUint(t, "limits", "max_message_bytes", 1024, int64_t{64} << 20, &out->max_message_bytes));
    CAIRN_RETURN_IF_ERROR(
        GetUint(t, "limits", "max_concurrent_streams", 1, 65536, &out->max_concurrent_streams));
    CAIRN_RETURN_IF_ERROR(GetUint(t, "limits", "read_batch_max", 1, 10000, &out->read_batch_max));
    CAIRN_RETURN_IF_ERROR(GetUint(t, "limits", "read_size_bytes_max", int64_t{64} << 10,
                                  int64_t{1} << 30, &out->read_size_bytes_max));
    CAIRN_RETURN_IF_ERROR(
        GetUint(t, "limits", "write_stall_ms_max", 1000, 3600000, &out->write_stall_ms_max));
    CAIRN_RETURN_IF_ERROR(
        GetUint(t, "limits", "append_open_ms_max", 1000, 3600000, &out->append_open_ms_max));
    CAIRN_RETURN_IF_ERROR(GetUint(t, "limits", "grpc_memory_bytes_max", int64_t{64} << 20,
                                  int64_t{1} << 40, &out->grpc_memory_bytes_max));
    CAIRN_RETURN_IF_ERROR(
        GetUint(t, "limits", "connection_idle_ms_max", 10000, 86400000, &out->connection_idle_ms_max));
    CAIRN_RETURN_IF_ERROR(
        GetUint(t, "limits", "connections_max", 1, int64_t{1} << 20, &out->connections_max));
    // Not set: the default, within connections_max (a small total alone is a valid setting).
    if (t.get("connections_per_source_max") == nullptr) {
      out->connections_per_source_max = std::min(out->connections_per_source_max, out->connections_max);
    }
    CAIRN_RETURN_IF_ERROR(GetUint(t, "limits", "connections_per_source_max", 1,
                                  int64_t{1} << 20, &out->connections_per_source_max));
    if (out->connections_per_source_max > out->connections_max) {
      return Status::InvalidArgument(source_ + ": limits.connections_per_source_max must not "
                                     "exceed limits.connections_max");
    }
    return ParseReadSlots(t, out);
  }

  // Read/ReadAll calls in progress (server/read_slots.h), like the connection limits above.
  Status ParseReadSlots(const toml::table& t, LimitsSection* out) const {
    CAIRN_RETURN_IF_ERROR(GetUint(t, "limits", "reads_max", 1,
                                  static_cast<int64_t>(kReadsMaxLimit), &out->reads_max));
    if (t.get("reads_per_principal_max") == nullptr) {
      out->reads_per_principal_max = std::min(out->reads_per_principal_max, out->reads_max);
    }
    CAIRN_RETURN_IF_ERROR(GetUint(t, "limits", "reads_per_principal_max", 1,
                                  static_cast<int64_t>(kReadsMaxLimit), &out->reads_per_principal_max));
    if (out->reads_per_principal_max > out->reads_max) {
      return Status::InvalidArgument(source_ + ": limits.reads_per_principal_max must not "
                                     "exceed limits.reads_max");
    }
    return Status::Ok();
  }

  const std::string& source_;
  const std::string& base_dir_;
};


// ---------------------------------------------------------------------------------------------
// Validation helpers.

Status Refuse(const std::string& why) { return Status::FailedPrecondition(why); }

// [backup] dir: an existing directory nobody but its owner (and root) can write into, so that no
// one else can plant a name Backup would then write through; only for the embedded store.
Status ValidateBackupDir(const Config& config) {
  const std::string& dir = config.backup.dir;
  if (dir.empty()) return Status::Ok();
  if (config.storage.backend == "postgres") {
    return Refuse("backup.dir is for the embedded store; back a PostgreSQL log up with the "
                  "database's own backups");
  }
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) return Refuse("backup.dir " + dir + ": " + std::strerror(errno));
  if (!S_ISDIR(st.st_mode)) return Refuse("backup.dir " + dir + " is not a directory");
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    return Refuse("backup.dir " + dir + " is writable by group or others; chmod go-w it");
  }
  if (st.st_uid != ::geteuid()) {
    return Refuse("backup.dir " + dir + " is not owned by the user cairn serve runs as");
  }
  return Status::Ok();
}

// The file must exist, be a regular file and be readable by this process.
Status CheckReadableFile(const std::string& setting, const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    return Refuse(setting + " " + path + " cannot be read: " + std::strerror(errno));
  }
  struct stat st {};
  const bool regular = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
  ::close(fd);
  if (!regular) return Refuse(setting + " " + path + " is not a regular file");
  return Status::Ok();
}

Status CheckPrivateKeyMode(const std::string& setting, const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return Refuse(setting + " " + path + " cannot be read: " + std::strerror(errno));
  }
  if ((st.st_mode & 077) != 0) {
    return Refuse(setting + " " + path + " is readable by group or others; chmod 600 it");
  }
  return Status::Ok();
}

// Code the server loads into itself (a PKCS#11 module): whoever can replace it runs inside cairn
// with the HSM session and every unwrapped key. Refused when the file or its directory may be
// written by group or others, or is owned by another user than root or cairn's.
Status CheckLoadedCode(const std::string& setting, const std::string& path) {
  std::error_code ec;
  const std::filesystem::path real = std::filesystem::canonical(path, ec);
  if (ec) return Refuse(setting + " " + path + " cannot be resolved: " + ec.message());
  for (const std::filesystem::path& p : {real, real.parent_path()}) {
    struct stat st {};
    if (::stat(p.c_str(), &st) != 0) {
      return Refuse(setting + " " + p.string() + " cannot be read: " + std::strerror(errno));
    }
    if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
      return Refuse(setting + " " + p.string() + " may be written by group or others; cairn would load code anyone could replace");
    }
    if (st.st_uid != 0 && st.st_uid != ::geteuid()) {
      return Refuse(setting + " " + p.string() + " is owned by another user (uid " +
                    std::to_string(st.st_uid) + "); cairn would load code that user could replace");
    }
  }
  return Status::Ok();
}

bool EndsWithKey(const std::string& path) {
  return path.size() >= 4 && path.compare(path.size() - 4, 4, ".key") == 0;
}

// `numeric`: the admin listener binds an address, never a name. gRPC reads "unix:...",
// "vsock:..." and the like as URI schemes, not as a host named "unix": refused for both.
Status CheckListen(const std::string& setting, const std::string& value, bool tls_enabled,
                   bool have_cidrs, bool numeric) {
  Result<HostPort> hp = ParseHostPort(value);
  if (!hp.ok()) return Status::InvalidArgument(setting + ": " + hp.status().message());
  for (std::string_view scheme : {"unix", "unix-abstract", "vsock", "ipv4", "ipv6", "dns"}) {
    if (hp->host == scheme) {
      return Status::InvalidArgument(setting + " = \"" + value + "\": '" + std::string(scheme) +
                                     ":' is a gRPC address scheme, not a host; give host:port");
    }
  }
  if (numeric && !CidrSet::Parse({hp->host}).ok()) {
    return Status::InvalidArgument(setting + " = \"" + value +
                                   "\": give a numeric address (127.0.0.1:7401, [::1]:7401)");
  }
  if (IsLoopbackHost(hp->host)) return Status::Ok();
  if (!tls_enabled) {
    return Refuse("tls.enabled = false with " + setting + " = \"" + value +
                  "\" off loopback: refusing plaintext; enable TLS or listen on 127.0.0.1");
  }
  if (!have_cidrs) {
    return Refuse(setting + " = \"" + value +
                  "\" is not loopback and server.allow_cidrs is empty; list the client "
                  "networks (e.g. allow_cidrs = [\"10.0.0.0/8\"])");
  }
  return Status::Ok();
}

bool ParseBool(std::string_view v, bool* out) {
  if (v == "true" || v == "1") {
    *out = true;
    return true;
  }
  if (v == "false" || v == "0") {
    *out = false;
    return true;
  }
  return false;
}

// [keys]: the provider's combination of settings, and its secret files (private, like tls.key;
// read by keys/ itself, which wipes them).
Status ValidateKeys(const keys::KmsConfig& k) {
  CAIRN_RETURN_IF_ERROR(keys::CheckKmsConfig(k));
  const std::pair<const char*, const std::string*> secrets[] = {
      {"keys.passphrase_file", &k.local.passphrase_file}, {"keys.pin_file", &k.pkcs11.pin_file}};
  for (const auto& [setting, path] : secrets) {
    if (path->empty()) continue;
    CAIRN_RETURN_IF_ERROR(CheckReadableFile(setting, *path));
    CAIRN_RETURN_IF_ERROR(CheckPrivateKeyMode(setting, *path));
  }
  if (!k.pkcs11.module_path.empty()) {
    CAIRN_RETURN_IF_ERROR(CheckReadableFile("keys.module", k.pkcs11.module_path));
    CAIRN_RETURN_IF_ERROR(CheckLoadedCode("keys.module", k.pkcs11.module_path));
  }
  return Status::Ok();
}

}  // namespace

Config DefaultConfig() { return Config{}; }

Result<Config> ParseConfig(std::string_view toml_text, const std::string& base_dir,
                           const std::string& source) {
  return Parser(source, base_dir).Parse(toml_text);
}

namespace {

Result<Config> ParseConfigFileText(const std::string& path, const std::string& text) {
  std::error_code ec;
  std::filesystem::path absolute = std::filesystem::absolute(path, ec);
  if (ec) return Status::IOError("configuration file " + path + ": " + ec.message());
  absolute = absolute.lexically_normal();
  CAIRN_ASSIGN_OR_RETURN(Config config,
                         ParseConfig(text, absolute.parent_path().string(), path));
  config.source_path = absolute.string();
  return config;
}

}  // namespace

Result<Config> LoadConfigFile(const std::string& path) {
  CAIRN_ASSIGN_OR_RETURN(std::string text,
                         ReadSmallFile(path, "configuration file", kConfigFileSizeBytesMax));
  return ParseConfigFileText(path, text);
}

Result<Config> LoadTrustedConfigFile(const std::string& path) {
  CAIRN_ASSIGN_OR_RETURN(std::string text,
                         ReadTrustedFile(path, "configuration file", kConfigFileSizeBytesMax));
  return ParseConfigFileText(path, text);
}

Status ApplyEnvOverrides(Config* config, const std::function<const char*(const char*)>& getenv) {
  assert(config != nullptr);
  auto get = [&getenv](const char* name) -> std::optional<std::string> {
    const char* v = getenv(name);
    if (v == nullptr || *v == '\0') return std::nullopt;
    return std::string(v);
  };
  Config updated = *config;
  if (auto v = get("CAIRN_DATA_DIR")) updated.data_dir = *v;
  if (auto v = get("CAIRN_LISTEN")) updated.server.listen = *v;
  if (auto v = get("CAIRN_ADMIN_LISTEN")) updated.server.admin_listen = *v;
  if (auto v = get("CAIRN_POLICY_FILE")) updated.policy.file = *v;
  if (auto v = get("CAIRN_KEYS_PROVIDER")) {
    if (*v != keys::kProviderLocal && *v != keys::kProviderPkcs11) {
      return Status::InvalidArgument("CAIRN_KEYS_PROVIDER must be local or pkcs11");
    }
    updated.keys.provider = *v;
  }
  if (auto v = get("CAIRN_KEYRING")) updated.keys.local.keyring_path = *v;
  if (auto v = get("CAIRN_STORAGE_BACKEND")) {
    if (*v != "rocksdb" && *v != "postgres") {
      return Status::InvalidArgument("CAIRN_STORAGE_BACKEND must be rocksdb or postgres");
    }
    updated.storage.backend = *v;
  }
  if (auto v = get("CAIRN_POSTGRES_DSN")) updated.storage.postgres_dsn = *v;
  if (auto v = get("CAIRN_POSTGRES_PASSWORD_FILE")) updated.storage.postgres_password_file = *v;
  if (auto v = get("CAIRN_TLS_ENABLED")) {
    if (!ParseBool(*v, &updated.tls.enabled)) {
      return Status::InvalidArgument("CAIRN_TLS_ENABLED must be true, false, 1 or 0");
    }
  }
  *config = std::move(updated);
  return Status::Ok();
}

Status ValidateForServe(const Config& config) {
  if (config.data_dir.empty()) {
    return Refuse("data_dir is not set (config file, CAIRN_DATA_DIR or --data-dir)");
  }
  Result<CidrSet> cidrs = CidrSet::Parse(config.server.allow_cidrs);
  if (!cidrs.ok()) return Status::InvalidArgument("server.allow_cidrs: " + cidrs.status().message());
  if (config.tls.min_version != "1.2" && config.tls.min_version != "1.3") {
    return Status::InvalidArgument("tls.min_version = \"" + config.tls.min_version +
                                   "\": must be \"1.2\" or \"1.3\"");
  }
  const bool tls = config.tls.enabled;
  CAIRN_RETURN_IF_ERROR(CheckListen("server.listen", config.server.listen, tls, !cidrs->empty(),
                                    /*numeric=*/false));
  if (!config.server.admin_listen.empty()) {
    CAIRN_RETURN_IF_ERROR(CheckListen("server.admin_listen", config.server.admin_listen, tls,
                                      !cidrs->empty(), /*numeric=*/true));
    const Result<HostPort> admin = ParseHostPort(config.server.admin_listen);  // CheckListen: ok
    if (!config.server.admin_tls && !IsLoopbackHost(admin->host)) {
      return Refuse("server.admin_listen = \"" + config.server.admin_listen +
                    "\" is off loopback and serves plain HTTP: set server.admin_tls = true, or "
                    "listen on 127.0.0.1");
    }
  }
  if (config.server.admin_tls && !tls) return Refuse("server.admin_tls = true needs tls.enabled = true");
  if (tls) {
    if (config.tls.cert.empty()) return Refuse("tls.enabled = true but tls.cert is not set");
    if (config.tls.key.empty()) return Refuse("tls.enabled = true but tls.key is not set");
    CAIRN_RETURN_IF_ERROR(CheckReadableFile("tls.cert", config.tls.cert));
    CAIRN_RETURN_IF_ERROR(CheckReadableFile("tls.key", config.tls.key));
    CAIRN_RETURN_IF_ERROR(CheckPrivateKeyMode("tls.key", config.tls.key));
  }
  if (config.tls.require_client_cert && !tls) {
    return Refuse("tls.require_client_cert = true needs tls.enabled = true");
  }
  if (config.tls.require_client_cert && config.tls.client_ca.empty()) {
    return Refuse("tls.require_client_cert = true but tls.client_ca is not set");
  }
  if (tls && !config.tls.client_ca.empty()) {
    CAIRN_RETURN_IF_ERROR(CheckReadableFile("tls.client_ca", config.tls.client_ca));
  }
  for (size_t i = 0; i < config.auth.jwt.size(); ++i) {
    const int64_t leeway_s = config.auth.jwt[i].leeway_s;
    if (leeway_s < 0 || leeway_s > kJwtLeewaySecondsMax) {
      return Status::InvalidArgument("auth.jwt[" + std::to_string(i) + "].leeway_s = " +
                                     std::to_string(leeway_s) + " is outside 0.." +
                                     std::to_string(kJwtLeewaySecondsMax));
    }
  }
  if (!config.policy.file.empty()) {
    struct stat st {};
    if (::stat(config.policy.file.c_str(), &st) != 0) {
      return Refuse("policy.file " + config.policy.file + ": " + std::strerror(errno));
    }
    if (!S_ISREG(st.st_mode)) return Refuse("policy.file " + config.policy.file + " is not a regular file");
  }
  CAIRN_RETURN_IF_ERROR(ValidateBackupDir(config));
  CAIRN_RETURN_IF_ERROR(ValidateKeys(config.keys));
  // Any other configured file named *.key is treated as a private key too.
  std::vector<std::pair<std::string, std::string>> files = {
      {"tls.cert", config.tls.cert}, {"tls.client_ca", config.tls.client_ca},
      {"policy.file", config.policy.file}};
  for (size_t i = 0; i < config.auth.jwt.size(); ++i) {
    const std::string prefix = "auth.jwt[" + std::to_string(i) + "].";
    files.emplace_back(prefix + "jwks_file", config.auth.jwt[i].jwks_file);
    files.emplace_back(prefix + "jwks_ca_file", config.auth.jwt[i].jwks_ca_file);
  }
  for (const auto& [setting, path] : files) {
    if (!path.empty() && EndsWithKey(path)) CAIRN_RETURN_IF_ERROR(CheckPrivateKeyMode(setting, path));
  }
  if (!config.source_path.empty()) {
    struct stat st {};
    if (::stat(config.source_path.c_str(), &st) == 0 && (st.st_mode & S_IWOTH) != 0) {
      return Refuse("configuration file " + config.source_path +
                    " is writable by others; chmod o-w it");
    }
  }
  return ValidateStorage(config.storage);
}

Status ValidateStorage(const StorageSection& s) {
  if (s.backend != "postgres") return Status::Ok();
  if (s.postgres_dsn.empty()) return Refuse("storage.backend = \"postgres\" needs storage.postgres_dsn");
  const posture::PgDsn dsn = posture::ParsePgDsn(s.postgres_dsn);
  if (dsn.malformed) {
    return Refuse("storage.postgres_dsn is not a libpq connection string of at most 4096 bytes");
  }
  if (dsn.has_password) {
    return Refuse("storage.postgres_dsn contains a password (password or sslpassword); use "
                  "storage.postgres_password_file or PGPASSWORD, and an unencrypted client key "
                  "file readable by cairn only");
  }
  const std::string sslmode = s.postgres_sslmode.empty() ? dsn.sslmode : s.postgres_sslmode;
  const bool tls = sslmode == "require" || sslmode == "verify-ca" || sslmode == "verify-full";
  if (posture::PgReachesRemoteHost(dsn) && !tls) {
    return Refuse("storage.postgres_dsn reaches a host off loopback without TLS; set "
                  "storage.postgres_sslmode = \"verify-full\"");
  }
  if (!s.postgres_password_file.empty()) {
    CAIRN_RETURN_IF_ERROR(CheckPrivateKeyMode("storage.postgres_password_file", s.postgres_password_file));
  }
  return Status::Ok();
}

engine::Limits EngineLimits(const LimitsSection& limits) {
  engine::Limits out;
  out.event_size_bytes_max = static_cast<size_t>(limits.event_size_bytes_max);
  out.batch_size_bytes_max = static_cast<size_t>(limits.batch_size_bytes_max);
  out.batch_events_max = static_cast<size_t>(limits.batch_events_max);
  out.read_size_bytes_max = limits.read_size_bytes_max;
  return out;
}

std::optional<storage::PgOptions> PostgresOptions(const StorageSection& s) {
  if (s.backend != "postgres") return std::nullopt;
  storage::PgOptions o;
  o.conninfo = s.postgres_dsn;
  o.sslmode = s.postgres_sslmode;
  o.password_file = s.postgres_password_file;
  o.pool_connections_max = static_cast<size_t>(s.postgres_pool_connections_max);
  o.optimistic_commits = s.postgres_optimistic_commits;
  return o;
}

}  // namespace cairn::server
