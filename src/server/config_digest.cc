#include "server/config_digest.h"

#include "common/bytes.h"
#include "crypto/sha256.h"

namespace cairn::server {
namespace {

class Renderer {
 public:
  void Line(std::string_view key, std::string_view value) {
    out_.append(key).push_back('=');
    // Values are single-line; escape the two characters that would break the line structure.
    for (char c : value) {
      if (c == '\\') out_.append("\\\\");
      else if (c == '\n') out_.append("\\n");
      else out_.push_back(c);
    }
    out_.push_back('\n');
  }
  void Line(std::string_view key, uint64_t value) { Line(key, std::to_string(value)); }
  void Line(std::string_view key, int64_t value) { Line(key, std::to_string(value)); }
  // Named apart from Line: a string literal would convert to bool before string_view.
  void Flag(std::string_view key, bool value) {
    Line(key, std::string_view(value ? "true" : "false"));
  }
  void List(std::string_view key, const std::vector<std::string>& values) {
    std::string joined;
    for (const auto& v : values) joined.append(v).push_back(',');
    Line(key, joined);
  }
  std::string Take() { return std::move(out_); }

 private:
  std::string out_ = "cairn-config-v1\n";
};

void RenderAuth(const auth::AuthConfig& a, Renderer* r) {
  for (size_t i = 0; i < a.jwt.size(); ++i) {
    const auto& j = a.jwt[i];
    const std::string p = "auth.jwt." + std::to_string(i) + ".";
    // Only when set (as below): the name is part of every principal the issuer produces.
    if (!j.name.empty()) r->Line(p + "name", j.name);
    r->Line(p + "issuer", j.issuer);
    r->Line(p + "audience", j.audience);
    r->Line(p + "jwks_file", j.jwks_file);
    r->Line(p + "jwks_url", j.jwks_url);
    r->Line(p + "jwks_ca_file", j.jwks_ca_file);
    r->Line(p + "roles_claim", j.roles_claim);
    // Only when set, so that the digest of a configuration without it did not change.
    if (j.roles_allowed) r->List(p + "roles_allowed", *j.roles_allowed);
    if (!j.require_typ.empty()) r->Line(p + "require_typ", j.require_typ);  // only when set
    r->Line(p + "leeway_s", j.leeway_s);
    r->Line(p + "jwks_refresh_interval_s", j.jwks_refresh_interval_s);
    r->Line(p + "jwks_refetch_min_interval_s", j.jwks_refetch_min_interval_s);
  }
  for (size_t i = 0; i < a.api_keys.size(); ++i) {
    const auto& k = a.api_keys[i];
    const std::string p = "auth.api_keys." + std::to_string(i) + ".";
    r->Line(p + "id", k.id);  // never secret_sha256, nor anything derived from it
    r->List(p + "roles", k.roles);
    r->Line(p + "expires", k.expires_unix_s ? std::to_string(*k.expires_unix_s) : "");
    r->Line(p + "created", k.created_unix_s ? std::to_string(*k.created_unix_s) : "");
  }
  for (size_t i = 0; i < a.mtls.rules.size(); ++i) {
    const std::string p = "auth.mtls.rules." + std::to_string(i) + ".";
    r->Line(p + "match", a.mtls.rules[i].match);
    r->Line(p + "principal", a.mtls.rules[i].principal);
  }
  // Only when set, so that the digest of a configuration without it did not change.
  if (!a.mtls.spiffe_trust_domains.empty()) {
    r->List("auth.mtls.spiffe_trust_domains", a.mtls.spiffe_trust_domains);
  }
  r->Line("auth.failures_per_minute_max", a.failures_per_minute_max);
  r->Line("auth.failure_sources_max", a.failure_sources_max);
}

void RenderKeys(const keys::KmsConfig& k, Renderer* r) {
  r->Line("keys.provider", k.provider);
  r->Line("keys.local.keyring_path", k.local.keyring_path);
  r->Line("keys.local.passphrase_file", k.local.passphrase_file);  // the path, not the file
  r->Line("keys.local.passphrase_env", k.local.passphrase_env);    // the name, not the value
  r->Line("keys.pkcs11.module_path", k.pkcs11.module_path);
  r->Line("keys.pkcs11.token_label", k.pkcs11.token_label);
  r->Line("keys.pkcs11.slot_id", k.pkcs11.slot_id ? std::to_string(*k.pkcs11.slot_id) : "");
  r->Line("keys.pkcs11.pin_file", k.pkcs11.pin_file);
  r->Line("keys.pkcs11.pin_env", k.pkcs11.pin_env);
  r->Line("keys.pkcs11.key_label", k.pkcs11.key_label);
  r->Flag("keys.pkcs11.create_key_if_missing", k.pkcs11.create_key_if_missing);
  r->Line("keys.pkcs11.max_sessions", static_cast<uint64_t>(k.pkcs11.max_sessions));
  r->Line("keys.reopen_interval_ms", k.reopen_interval_ms);
}

}  // namespace

// Settings added after the rendering was first recorded: each only when it differs from its
// default, so that the digest of a configuration that does not set them did not change.
void RenderLaterSettings(const Config& c, Renderer* r) {
  const Config d = DefaultConfig();
  const auto line = [&](std::string_view key, uint64_t value, uint64_t default_value) {
    if (value != default_value) r->Line(key, value);
  };
  line("limits.event_size_bytes_max", c.limits.event_size_bytes_max, d.limits.event_size_bytes_max);
  line("limits.batch_size_bytes_max", c.limits.batch_size_bytes_max, d.limits.batch_size_bytes_max);
  line("limits.batch_events_max", c.limits.batch_events_max, d.limits.batch_events_max);
  line("limits.write_stall_ms_max", c.limits.write_stall_ms_max, d.limits.write_stall_ms_max);
  line("limits.append_open_ms_max", c.limits.append_open_ms_max, d.limits.append_open_ms_max);
  if (!c.storage.postgres_password_file.empty()) {
    r->Line("storage.postgres_password_file", c.storage.postgres_password_file);  // the path
  }
  line("storage.postgres_pool_connections_max", c.storage.postgres_pool_connections_max,
       d.storage.postgres_pool_connections_max);
  if (c.storage.postgres_optimistic_commits != d.storage.postgres_optimistic_commits) {
    r->Flag("storage.postgres_optimistic_commits", c.storage.postgres_optimistic_commits);
  }
}

std::string CanonicalConfigText(const Config& c) {
  Renderer r;
  r.Line("data_dir", c.data_dir);
  r.Line("server.listen", c.server.listen);
  r.Line("server.admin_listen", c.server.admin_listen);
  r.List("server.allow_cidrs", c.server.allow_cidrs);
  if (c.server.core_dumps) r.Flag("server.core_dumps", true);  // only when set, as above
  if (c.server.admin_tls) r.Flag("server.admin_tls", true);  // only when set: digests stay put
  r.Flag("tls.enabled", c.tls.enabled);
  r.Line("tls.cert", c.tls.cert);
  r.Line("tls.key", c.tls.key);  // the path, never the key
  r.Line("tls.client_ca", c.tls.client_ca);
  r.Flag("tls.require_client_cert", c.tls.require_client_cert);
  r.Line("tls.min_version", c.tls.min_version);
  RenderAuth(c.auth, &r);
  r.Line("policy.file", c.policy.file);
  r.Line("protect.file", c.protect.file);
  RenderKeys(c.keys, &r);
  r.Line("limits.max_message_bytes", c.limits.max_message_bytes);
  r.Line("limits.max_concurrent_streams", c.limits.max_concurrent_streams);
  r.Line("limits.read_batch_max", c.limits.read_batch_max);
  r.Line("limits.read_size_bytes_max", c.limits.read_size_bytes_max);
  r.Line("limits.grpc_memory_bytes_max", c.limits.grpc_memory_bytes_max);
  r.Line("limits.connection_idle_ms_max", c.limits.connection_idle_ms_max);
  r.Line("limits.connections_max", c.limits.connections_max);
  r.Line("limits.connections_per_source_max", c.limits.connections_per_source_max);
  r.Line("limits.reads_max", c.limits.reads_max);
  r.Line("limits.reads_per_principal_max", c.limits.reads_per_principal_max);
  r.Line("subscriptions.subscribers_max", c.subscriptions.subscribers_max);
  r.Line("subscriptions.subscribers_per_principal_max", c.subscriptions.subscribers_per_principal_max);
  r.Line("subscriptions.ring_events_max", c.subscriptions.ring_events_max);
  r.Line("subscriptions.ring_bytes_max", c.subscriptions.ring_bytes_max);
  r.Line("subscriptions.lag_events_max", c.subscriptions.lag_events_max);
  r.Line("subscriptions.delivery_threads", c.subscriptions.delivery_threads);
  r.Line("groups.groups_max", c.groups.groups_max);
  r.Line("groups.consumers_per_group_max", c.groups.consumers_per_group_max);
  r.Line("groups.in_flight_max", c.groups.in_flight_max);
  r.Line("groups.buffer_events_max", c.groups.buffer_events_max);
  r.Line("groups.buffer_bytes_max", c.groups.buffer_bytes_max);
  r.Line("webhooks.ca_file", c.webhooks.ca_file);
  r.Line("webhooks.workers", c.webhooks.workers);
  r.Line("webhooks.retries_max", c.webhooks.retries_max);
  r.Line("webhooks.backoff_initial_ms", c.webhooks.backoff_initial_ms);
  r.Line("webhooks.backoff_max_ms", c.webhooks.backoff_max_ms);
  r.Line("webhooks.connect_timeout_ms", c.webhooks.connect_timeout_ms);
  r.Line("webhooks.timeout_ms", c.webhooks.timeout_ms);
  r.Line("webhooks.response_size_bytes_max", c.webhooks.response_size_bytes_max);
  r.Line("webhooks.rotation_grace_s", c.webhooks.rotation_grace_s);
  r.Flag("webhooks.dispatch", c.webhooks.dispatch);
  r.Line("storage.backend", c.storage.backend);
  r.Line("storage.postgres_dsn", std::string_view(c.storage.postgres_dsn.empty() ? "unset" : "set"));
  r.Line("storage.postgres_sslmode", c.storage.postgres_sslmode);
  r.Line("doctor.interval_s", c.doctor.interval_s);
  r.Line("doctor.kek_rotation_days_max", c.doctor.kek_rotation_days_max);
  r.Line("doctor.api_key_age_days_max", c.doctor.api_key_age_days_max);
  r.List("doctor.accept_risks", c.doctor.accept_risks);
  r.Flag("audit.enabled", c.audit.enabled);
  r.Line("audit.data_plane", static_cast<uint64_t>(c.audit.data_plane));
  r.Line("audit.queue_records_max", c.audit.queue_records_max);
  r.Line("audit.batch_records_max", c.audit.batch_records_max);
  r.Line("backup.dir", c.backup.dir);
  r.Flag("scrub.enabled", c.scrub.enabled);
  r.Line("scrub.interval_s", c.scrub.interval_s);
  r.Line("scrub.delay_ms", c.scrub.delay_ms);
  r.Line("scrub.records_per_step_max", c.scrub.records_per_step_max);
  r.Line("scrub.busy_percent_max", c.scrub.busy_percent_max);
  r.Flag("alerts.enabled", c.alerts.enabled);
  r.Line("alerts.rules_file", c.alerts.rules_file);
  // Webhook URLs often carry tokens in their path or query: only whether one is set.
  r.Line("alerts.webhook_url", std::string_view(c.alerts.webhook_url.empty() ? "unset" : "set"));
  r.Line("alerts.webhook_secret_file", c.alerts.webhook_secret_file);
  r.Line("alerts.webhook_secret_env", c.alerts.webhook_secret_env);
  r.List("alerts.webhook_allow_addresses", c.alerts.webhook_allow_addresses);
  r.Line("log.level", std::string_view(log::LevelName(c.log.level)));
  for (size_t i = 0; i < c.witnesses.size(); ++i) {  // only when set: older digests stay
    const std::string w = "witness[" + std::to_string(i) + "].";
    r.Line(w + "key", c.witnesses[i].key);
    r.Line(w + "url", c.witnesses[i].url);
    r.Line(w + "ca_file", c.witnesses[i].ca_file);
    if (!c.witnesses[i].client_cert.empty()) {  // only when set: digests of older configs stay
      r.Line(w + "client_cert", c.witnesses[i].client_cert);
      r.Line(w + "client_key", c.witnesses[i].client_key);  // the path, never the key
    }
  }
  RenderLaterSettings(c, &r);
  return r.Take();
}

std::string ConfigSha256Hex(const Config& config) {
  const crypto::Hash h = crypto::Sha256(CanonicalConfigText(config));
  return HexEncode(std::span<const uint8_t>(h.data(), h.size()));
}

}  // namespace cairn::server
