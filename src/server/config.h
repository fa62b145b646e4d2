// Server configuration: one TOML file, environment overrides, and the checks that make
// `cairn serve` refuse an unsafe set-up.
//
//   data_dir = "/var/lib/cairn"                  # relative paths resolve against the file's dir
//   [server]
//   listen = "127.0.0.1:7400"                    # gRPC; "[::1]:7400" for IPv6
//   admin_listen = "127.0.0.1:7401"              # metrics/health HTTP; "" disables it
//   allow_cidrs = ["10.0.0.0/8", "::1/128"]      # client networks; required off loopback
//   core_dumps = false                           # true only to debug (common/core_dumps.h)
//   [tls]
//   enabled = true
//   cert = "tls/server.crt"
//   key = "tls/server.key"                       # must not be accessible by group/others
//   client_ca = ""                               # CA of client certificates (mTLS)
//   require_client_cert = false
//   min_version = "1.2"                          # "1.2" | "1.3"
//   [[auth.jwt]]                                 # see auth/auth_config.h for the meaning
//   issuer = "https://idp.example"
//   audience = "cairn"
//   jwks_file = "jwks.json"                      # or jwks_url (+ jwks_ca_file)
//   roles_claim = "roles"
//   require_typ = "at+jwt"                       # "" (default), "at+jwt" or "jwt"
//   leeway_s = 30                                # 0..60
//   jwks_refresh_interval_s = 300
//   jwks_refetch_min_interval_s = 30
//   [[auth.api_keys]]
//   id = "ci-bot"
//   secret_sha256 = "<64 hex>"
//   roles = ["order-service"]
//   expires = 2026-01-01T00:00:00Z               # TOML datetime or RFC 3339 string; offset required
//   created = 2025-10-01T00:00:00Z               # optional, same forms: for the key-age check
//   [auth.mtls]
//   spiffe_trust_domains = ["prod.acme"]         # SPIFFE IDs of these domains name callers
//   rules = [ { match = "CN=*,O=Acme", principal = "..." } ]
//   [auth]
//   failures_per_minute_max = 30
//   failure_sources_max = 10000
//   [policy]
//   file = "policy.toml"                         # "" = no policy: every call is denied
//   [keys]                                       # the KMS provider (keys/kms_config.h)
//   provider = "local"                           # "local" | "pkcs11"
//   keyring = "keyring"                          # local: default <data_dir>/keyring
//   passphrase_file = "kek.pass"                 # local: or passphrase_env = "CAIRN_KEK_PASSPHRASE"
//   module = "/usr/lib/softhsm/libsofthsm2.so"   # pkcs11: the module, and the token by
//   token_label = "cairn"                        #   token_label or slot = 0,
//   pin_file = "hsm.pin"                         #   the PIN (or pin_env = "CAIRN_PKCS11_PIN"),
//   key_label = "cairn-kek"                      #   and the KEK's label
//   [limits]
//   event_size_bytes_max = 1048576               # 1 KiB .. 64 MiB of data + metadata per event
//   batch_size_bytes_max = 4194304               # event_size_bytes_max .. 256 MiB per append
//   batch_events_max = 1000                      # 1 .. 10000 events per append
//   max_message_bytes = 4194304                  # 1 KiB .. 64 MiB
//   max_concurrent_streams = 256                 # 1 .. 65536
//   read_batch_max = 1000                        # 1 .. 10000
//   read_size_bytes_max = 16777216               # 64 KiB .. 1 GiB of stored events per engine read
//   reads_max = 128                              # 1 .. 192 Read/ReadAll calls in progress
//   reads_per_principal_max = 32                 # 1 .. reads_max of them per principal
//   grpc_memory_bytes_max = 2147483648           # 64 MiB .. 1 TiB: gRPC's memory quota
//   connection_idle_ms_max = 300000              # 10 s .. 1 day: idle connections closed
//   [subscriptions]                              # live subscriptions (subscribe/live_hub.h)
//   subscribers_max = 1024                       # 1 .. 65536 open live subscriptions
//   subscribers_per_principal_max = 256          # 1 .. 65536 of them per principal
//   ring_events_max = 65536                      # 1024 .. 4194304 recent events shared in memory
//   ring_bytes_max = 67108864                    # 1 MiB .. 4 GiB
//   lag_events_max = 32768                       # 1 .. ring_events_max; further behind: ended
//   delivery_threads = 2                         # 1 .. 64
//   [webhooks]                                   # see WebhooksSection
//   ca_file = "receivers-ca.pem"                 # extra trust roots for webhook receivers
//   workers = 4
//   retries_max = 8
//   backoff_initial_ms = 500
//   backoff_max_ms = 60000
//   connect_timeout_ms = 5000
//   timeout_ms = 10000
//   response_size_bytes_max = 65536
//   rotation_grace_s = 86400
//   dispatch = true                              # false: no webhook delivery on this node
//   [storage]                                    # see StorageSection
//   backend = "rocksdb"                          # "rocksdb" | "postgres"
//   postgres_dsn = "host=db.internal dbname=cairn user=cairn"   # no password: use PGPASSFILE
//   postgres_sslmode = "verify-full"             # overrides sslmode in the DSN when set
//   postgres_password_file = "/run/secrets/pg"   # 0600; else PGPASSWORD / PGPASSFILE
//   postgres_pool_connections_max = 16
//   postgres_optimistic_commits = true           # false: every commit locks first
//   [doctor]                                     # posture checks (server/posture.h)
//   interval_s = 3600                            # 60 .. 604800: how often serve re-runs them
//   kek_rotation_days_max = 365                  # 1 .. 3650
//   api_key_age_days_max = 90                    # 1 .. 3650 (needs `created` on API keys)
//   accept_risks = ["CAIRN-AUTH-001"]            # check ids serve starts despite (critical ones)
//   [audit]                                      # the `$audit` trail (audit/trail.h)
//   enabled = true
//   data_plane = "none"                          # "none" | "writes" | "all"
//   queue_records_max = 65536                    # 1 .. 1048576
//   batch_records_max = 1000                     # 1 .. 4000
//   [scrub]                                      # continuous verification (engine/scrubber.h)
//   enabled = true
//   interval_s = 3600                            # 10 .. 604800: the full scrub's period
//   delay_ms = 1000                              # 0 .. 600000: after a commit, before it is checked
//   records_per_step_max = 4096                  # 16 .. 65536 records per bounded step
//   busy_percent_max = 10                        # 1 .. 100: the scrub thread's share of wall time
//   [backup]                                     # online backups (Admin.Backup, `cairn backup`)
//   dir = "/var/backups/cairn"                   # an existing directory, not writable by group/others
//   [alerts]                                     # alert rules and sinks (audit/alerts.h)
//   enabled = true
//   rules_file = "alerts.toml"                   # "" = the built-in rules (docs/operations.md)
//   webhook_url = "https://hooks.example/cairn"  # "" = no webhook sink
//   webhook_secret_file = "alerts-webhook.secret" # "whsec_…", mode 0600; or webhook_secret_env
//   webhook_allow_addresses = ["10.0.0.5"]       # private receivers, one exact address each
//   [[witness]]                                  # C2SP tlog-witnesses (server/witness_pusher.h)
//   key = "witness.example/w1+1a2b3c4d+BA…"      # its cosigner verifier key (`cairn witness keygen`)
//   url = "https://witness.example/w1"           # submission prefix; http:// only to loopback
//   ca_file = "witness-ca.pem"                   # optional trust roots for its certificate
//   [log]                                        # JSON lines on stderr (common/log.h)
//   level = "info"                               # "debug" | "info" | "warn" | "error"
//
// Parsing (ParseConfig / LoadConfigFile) rejects, with kInvalidArgument
// "<source>:<line>:<column>: <what>": invalid TOML, unknown keys anywhere (named with their
// dotted path, e.g. "tls.enabeld"), values of the wrong type, unparsable allow_cidrs,
// out-of-range limits, `expires` without a time zone offset, and lists past their bounds. A file
// larger than kConfigFileSizeBytesMax is kResourceExhausted. Semantic checks of auth values
// (issuer present, hash format, ...) belong to auth/; of the policy file to policy/.
//
// ValidateForServe holds the "refuses to start" rules; see there.
//
// Thread safety: plain values and pure functions (ValidateForServe reads the file system).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "audit/trail.h"
#include "auth/auth_config.h"
#include "common/log.h"
#include "common/status.h"
#include "engine/types.h"
#include "keys/kms_config.h"
#include "storage/postgres/pg_log_store.h"

namespace cairn::server {

inline constexpr size_t kConfigFileSizeBytesMax = size_t{1} << 20;  // 1 MiB
inline constexpr size_t kJwtIssuersMax = 32;
inline constexpr size_t kApiKeysMax = 4096;
inline constexpr size_t kApiKeyRolesMax = 64;
inline constexpr size_t kJwtRolesAllowedMax = 64;  // as auth::kRolesMax
inline constexpr size_t kMtlsRulesMax = 256;
inline constexpr int64_t kJwtLeewaySecondsMax = 60;

struct ServerSection {
  std::string listen = "127.0.0.1:7400";
  std::string admin_listen = "127.0.0.1:7401";  // "" = no admin listener
  // HTTPS on the admin listener with the [tls] certificate, key, client CA and minimum version
  // (client certificates requested and required as on the gRPC listener). Needed off loopback.
  bool admin_tls = false;
  // Client networks allowed to connect (checked before the TLS handshake). Empty = no list,
  // which ValidateForServe accepts only when both listeners are on loopback.
  std::vector<std::string> allow_cidrs;
  // A crash may leave a core file (which holds unwrapped keys and revealed personal data).
  bool core_dumps = false;
};

struct TlsSection {
  bool enabled = true;
  std::string cert;       // PEM certificate chain (absolute after parsing)
  std::string key;        // PEM private key; mode must deny group and others
  std::string client_ca;  // PEM CA bundle for client certificates; "" = no mTLS
  bool require_client_cert = false;
  std::string min_version = "1.2";  // "1.2" or "1.3"
};

struct ProtectSection {
  std::string file;  // field protection rules (protect/rules.h); "" = nothing protected
};

struct PolicySection {
  std::string file;  // "" = the empty policy, which denies every call
};

struct LimitsSection {
  // The append limits of DESIGN.md (engine::Limits): data + metadata of one event, of one
  // append, and the events of one append. batch_size_bytes_max >= event_size_bytes_max.
  uint64_t event_size_bytes_max = uint64_t{1} << 20;  // 1 KiB .. 64 MiB
  uint64_t batch_size_bytes_max = uint64_t{4} << 20;  // .. 256 MiB
  uint64_t batch_events_max = 1000;                   // 1 .. 10000
  uint64_t max_message_bytes = uint64_t{4} << 20;  // one gRPC message, either way
  uint64_t max_concurrent_streams = 256;           // HTTP/2 streams per connection
  uint64_t read_batch_max = 1000;                  // events per read response
  // Stored bytes per engine read (engine::Limits::read_size_bytes_max): what one read of a
  // stream or of $all holds in memory at a time, whatever its events' sizes.
  uint64_t read_size_bytes_max = uint64_t{16} << 20;
  // A Read/ReadAll whose client has not taken a response for this long is cancelled
  // (server/write_watchdog.h).
  uint64_t write_stall_ms_max = 60000;
  // An EventStoreDB append (Append, or one correlation id of BatchAppend) unfinished for longer
  // than this is refused with RESOURCE_EXHAUSTED and nothing of it written: its chunks count
  // against the server's unfinished-append budget meanwhile (server/esdb/streams_service.h).
  uint64_t append_open_ms_max = 120000;  // 1000 .. 3600000
  // gRPC's memory quota for all connections and calls (buffers of requests being read, of
  // responses being written): under its pressure gRPC stops reading from connections and may
  // refuse or cancel calls with RESOURCE_EXHAUSTED.
  uint64_t grpc_memory_bytes_max = uint64_t{2} << 30;
  // A connection with no call in progress for this long is closed (GOAWAY; clients reconnect).
  uint64_t connection_idle_ms_max = 300000;
  // Open gRPC connections, in all and from one source (an IPv4 address or an IPv6 /64): one
  // more is closed at accept, before its TLS handshake (server/connection_table.h).
  uint64_t connections_max = 4096;             // 1 .. 1048576
  uint64_t connections_per_source_max = 256;   // 1 .. connections_max (unset: at most that)
  // cairn.v1 Read/ReadAll calls in progress, in all and per principal: each holds a server
  // thread while it runs (server/read_slots.h); one more is refused with RESOURCE_EXHAUSTED.
  uint64_t reads_max = 128;                    // 1 .. kReadsMaxLimit (192)
  uint64_t reads_per_principal_max = 32;       // 1 .. reads_max (unset: at most that)
};

// Webhook delivery (subscribe/webhook_dispatcher.h, docs/configuration.md).
struct WebhooksSection {
  std::string ca_file;                   // extra PEM trust roots for receivers (private CAs)
  uint64_t workers = 4;                  // 1 .. 64 delivery threads for all webhooks
  uint64_t retries_max = 8;              // 0 .. 100 retries of one event, then it is parked
  uint64_t backoff_initial_ms = 500;     // 1 .. 3600000
  uint64_t backoff_max_ms = 60000;       // backoff_initial_ms .. 86400000
  uint64_t connect_timeout_ms = 5000;    // 1 .. 60000
  uint64_t timeout_ms = 10000;           // 1 .. 300000, one whole request
  uint64_t response_size_bytes_max = 65536;  // 0 .. 1 MiB of response body read
  uint64_t rotation_grace_s = 86400;     // 1 .. 30 days: the previous secret signs this long
  // false: this node neither delivers webhooks nor manages them (several nodes on one
  // PostgreSQL: let one node dispatch, or each event is delivered once per node).
  bool dispatch = true;
};

// Live subscriptions (subscribe/live_hub.h, docs/configuration.md).
struct SubscriptionsSection {
  uint64_t subscribers_max = 1024;               // more are refused with RESOURCE_EXHAUSTED
  uint64_t subscribers_per_principal_max = 256;  // one principal's share of subscribers_max
  uint64_t ring_events_max = 65536;              // recent events shared by live subscribers
  uint64_t ring_bytes_max = uint64_t{64} << 20;
  uint64_t lag_events_max = 32768;               // a live subscriber further behind is ended
  uint64_t delivery_threads = 2;
};

// [groups]: consumer groups (persistent subscriptions). Each value is bounded when parsed.
struct GroupsSection {
  uint64_t groups_max = 64;
  uint64_t consumers_per_group_max = 32;
  uint64_t in_flight_max = 1000;                  // the most a consumer may ask to hold unacked
  uint64_t buffer_events_max = 2048;              // read ahead and not done, per group
  uint64_t buffer_bytes_max = uint64_t{64} << 20;
};

// [storage]: the LogStore backend: the embedded RocksDB store in data_dir/db, or a PostgreSQL
// database that several cairn nodes may share (storage/postgres/pg_log_store.h).
inline constexpr uint64_t kPostgresPoolConnectionsMax = 256;
struct StorageSection {
  std::string backend = "rocksdb";  // "rocksdb" | "postgres"
  std::string postgres_dsn;         // libpq key=value or postgres:// URI; never a password
  std::string postgres_sslmode;     // "" = the DSN's own sslmode (libpq default "prefer")
  std::string postgres_password_file;  // 0600 file with the password; else PGPASSWORD/PGPASSFILE
  uint64_t postgres_pool_connections_max = 16;
  bool postgres_optimistic_commits = true;  // storage::PgOptions::optimistic_commits
};

// The engine's limits for [limits] (appends and reads), for the server and the offline tools.
engine::Limits EngineLimits(const LimitsSection& limits);
// The engine's PostgreSQL options for [storage]; nullopt when backend = "rocksdb".
std::optional<storage::PgOptions> PostgresOptions(const StorageSection& storage);
// Refuses (kFailedPrecondition, one line) a postgres backend without a DSN, with a password in
// the DSN, off loopback without TLS, or with a password file others can read.
Status ValidateStorage(const StorageSection& storage);

// [doctor]: the posture checks (server/posture.h) that `cairn doctor` and `cairn serve` run.
inline constexpr size_t kAcceptRisksMax = 64;
struct DoctorSection {
  uint64_t interval_s = 3600;            // serve re-runs the checks this often
  uint64_t kek_rotation_days_max = 365;  // a KEK older than this is a finding
  uint64_t api_key_age_days_max = 90;    // an API key `created` longer ago is a finding
  std::vector<std::string> accept_risks;  // check ids serve starts despite (plus --accept-risk)
};

// [audit]: the `$audit` trail. Security records (auth failures, denials, refused connections,
// admin acts, integrity violations, start/stop) are kept whenever enabled; data_plane adds the
// allowed data-plane calls.
struct AuditSection {
  bool enabled = true;
  audit::DataPlaneAudit data_plane = audit::DataPlaneAudit::kNone;
  uint64_t queue_records_max = 65536;  // 1 .. audit::kAuditQueueRecordsMax
  uint64_t batch_records_max = 1000;   // 1 .. audit::kAuditBatchRecordsMax
};

// [scrub]: continuous verification of the log inside `cairn serve` (engine/scrubber.h): each
// commit is verified delay_ms after it lands, the whole log every interval_s (and at start).
struct ScrubSection {
  bool enabled = true;
  uint64_t interval_s = 3600;           // 10 .. 7 days
  uint64_t delay_ms = 1000;             // 0 .. 600000
  uint64_t records_per_step_max = 4096;  // 16 .. 65536
  uint64_t busy_percent_max = 10;        // 1 .. 100: the scrub thread's share of wall time
};

// [backup]: where Admin.Backup (`cairn backup`) makes its backup directories. Unset: backups
// over the network are off. Must be an existing directory of the server's user that group and
// others cannot write.
struct BackupSection {
  std::string dir;
};

// [alerts]: alert rules over audit records and posture findings, and where alerts go (a log line
// and `$alerts` always; a signed webhook when webhook_url is set; subscribe/alert_webhook.h).
// The webhook uses [webhooks] ca_file, connect_timeout_ms and timeout_ms.
struct AlertsSection {
  bool enabled = true;
  std::string rules_file;           // "" = audit::DefaultAlertRules()
  std::string webhook_url;          // https only; "" = no webhook sink
  std::string webhook_secret_file;  // with webhook_url: exactly one of file and env
  std::string webhook_secret_env;   // the variable's name, not the secret
  std::vector<std::string> webhook_allow_addresses;  // ≤ kAlertWebhookAllowAddressesMax IPs
};
inline constexpr size_t kAlertWebhookAllowAddressesMax = 64;

// [[witness]]: a C2SP tlog-witness the server pushes each new checkpoint to; the cosignatures
// are served at /checkpoint and /checkpoint/cosigned (server/witness_pusher.h). The key is
// checked to be a cosigner key (algorithm 0x04) and the URL to be https (http only to loopback)
// when the file is parsed; one key once.
struct WitnessSection {
  std::string key;
  std::string url;
  std::string ca_file;
  std::string client_cert;  // with client_key: a client certificate for a witness that asks
  std::string client_key;   // (PEM; the key owner-only)
};
inline constexpr size_t kConfigWitnessesMax = 16;

// [log]: the minimum level of the JSON log lines `cairn serve` writes to stderr.
struct LogSection {
  log::Level level = log::Level::kInfo;
};

struct Config {
  std::string data_dir;  // "" until set by the file, CAIRN_DATA_DIR or the command line
  ServerSection server;
  TlsSection tls;
  auth::AuthConfig auth;
  PolicySection policy;
  ProtectSection protect;
  keys::KmsConfig keys;  // [keys]: the KMS provider of data_dir
  LimitsSection limits;
  SubscriptionsSection subscriptions;
  GroupsSection groups;
  WebhooksSection webhooks;
  StorageSection storage;
  DoctorSection doctor;
  AuditSection audit;
  AlertsSection alerts;
  ScrubSection scrub;
  BackupSection backup;
  std::vector<WitnessSection> witnesses;
  LogSection log;
  std::string source_path;  // the file it came from (absolute), "" for defaults
};

// Every setting at its default (loopback only, TLS on, no credentials, no policy).
Config DefaultConfig();

// Parses `toml_text`; unset keys keep their defaults; relative paths resolve against `base_dir`.
// `source` names the text in error messages.
Result<Config> ParseConfig(std::string_view toml_text, const std::string& base_dir,
                           const std::string& source = "config");

// Reads `path` (at most kConfigFileSizeBytesMax bytes) and parses it with base_dir = its
// directory. kNotFound / kIOError when it cannot be read.
Result<Config> LoadConfigFile(const std::string& path);
// LoadConfigFile that also refuses a file others may write (kFailedPrecondition,
// common/trusted_file.h): for re-reads while the server runs (ApiKeyReloader), which the start's
// ValidateForServe check no longer guards.
Result<Config> LoadTrustedConfigFile(const std::string& path);

// Applies CAIRN_DATA_DIR, CAIRN_LISTEN, CAIRN_ADMIN_LISTEN, CAIRN_TLS_ENABLED
// ("true"/"false"/"1"/"0"), CAIRN_POLICY_FILE, CAIRN_KEYS_PROVIDER and CAIRN_KEYRING. `getenv` returns null for an unset variable;
// an empty value counts as unset. Paths from the environment are used as given (relative to the
// working directory). kInvalidArgument naming the variable for a bad value; *config unchanged
// then.
Status ApplyEnvOverrides(Config* config, const std::function<const char*(const char*)>& getenv);

// The refusals of `cairn serve`. kFailedPrecondition (or kInvalidArgument for malformed values)
// with a one-line reason naming the setting, for the first rule broken:
//  - data_dir not set;
//  - server.listen / server.admin_listen not "host:port" or "[v6]:port";
//    server.allow_cidrs entries malformed;
//  - tls.min_version not "1.2" or "1.3";
//  - tls.enabled = false while a listener is not on loopback (no plaintext off loopback);
//  - a listener not on loopback while server.allow_cidrs is empty;
//  - tls.enabled without tls.cert / tls.key, or either missing, unreadable or not a file;
//  - tls.key — and any configured path whose name ends in ".key" — accessible by group or others
//    (mode & 077);
//  - tls.require_client_cert without tls.enabled or without tls.client_ca; tls.client_ca set
//    but unreadable;
//  - auth.jwt[i].leeway_s outside 0..60;
//  - policy.file set but missing or not a file (its content is policy/'s business);
//  - backup.dir set but missing, not a directory, writable by group or others, owned by another
//    user, or set with the postgres backend;
//  - [keys]: a provider other than "local"/"pkcs11", settings of the other provider, two
//    passphrase or PIN sources, pkcs11 without module, token, PIN or key_label
//    (keys::CheckKmsConfig); keys.passphrase_file / keys.pin_file missing or accessible by group
//    or others; keys.module missing;
//  - the config file itself writable by others;
//  - storage.backend = "postgres" without postgres_dsn, or reaching a host off loopback without
//    TLS (postgres_sslmode require, verify-ca or verify-full).
Status ValidateForServe(const Config& config);

}  // namespace cairn::server
