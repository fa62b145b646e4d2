#include "server/server.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <mutex>

#include <absl/synchronization/mutex.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/impl/server_builder_option.h>
#include <grpcpp/resource_quota.h>

#include "audit/alert_rules.h"
#include "audit/alert_sinks.h"
#include "audit/alerts.h"
#include "audit/audit_metrics.h"
#include "audit/log_listener.h"
#include "common/log.h"
#include "integrity/checkpoint.h"
#include "audit/metrics.h"
#include "audit/trail.h"
#include "auth/authenticator.h"
#include "common/steady_clock.h"
#include "common/wall_clock.h"
#include "engine/event_store.h"
#include "engine/scrubber.h"
#include "policy/holder.h"
#include "policy/parse.h"
#include "common/trusted_file.h"
#include "crypto/secure.h"
#include "crypto/x509.h"
#include "server/admin_http.h"
#include "server/api_key_reload.h"
#include "server/append_quota.h"
#include "server/witness_pusher.h"
#include "server/admin_service.h"
#include "server/esdb/features_service.h"
#include "server/esdb/gossip_service.h"
#include "server/esdb/persistent_service.h"
#include "server/esdb/streams_service.h"
#include "server/call_audit.h"
#include "server/checkpoint_route.h"
#include "server/tile_route.h"
#include "server/call_gate.h"
#include "server/config_digest.h"
#include "server/groups_service.h"
#include "server/cidr.h"
#include "server/integrity_service.h"
#include "server/peer_filter.h"
#include "server/scrub_monitor.h"
#include "server/posture_monitor.h"
#include "server/read_slots.h"
#include "server/readiness_route.h"
#include "server/server_metrics.h"
#include "server/streams_service.h"
#include "server/subscribe_frame.h"
#include "server/subscriptions_service.h"
#include "server/listening_sockets.h"
#include "server/server_certificates.h"
#include "server/tls_credentials.h"
#include "server/tls_material.h"
#include "server/tls_reload.h"
#include "subscribe/group_engine.h"
#include "subscribe/live_hub.h"
#include "server/webhooks_service.h"
#include "server/status_map.h"
#include "server/write_watchdog.h"
#include "subscribe/alert_webhook.h"
#include "subscribe/webhook_dispatcher.h"

namespace cairn::server {
namespace {

constexpr size_t kWitnessCaFileBytesMax = 1 << 20;
// The component state that keeps the latest cosigned checkpoint across restarts.
constexpr std::string_view kWitnessCosignedState = "witness/cosigned";

// Stores `note` as the kept cosigned checkpoint unless the stored one is of a larger tree (another
// node of a shared log kept a later one: read, then put, so two nodes racing may still leave the
// smaller; the next round of either puts a larger one again).
Status KeepCosigned(engine::EventStore* store, const integrity::NoteVerifier& log_key,
                    const std::string& note) {
  CAIRN_ASSIGN_OR_RETURN(integrity::Checkpoint mine, integrity::VerifyCheckpoint(note, log_key));
  CAIRN_ASSIGN_OR_RETURN(std::optional<std::string> stored, store->ReadComponentState(kWitnessCosignedState));
  if (stored) {
    Result<integrity::Checkpoint> theirs = integrity::VerifyCheckpoint(*stored, log_key);
    if (theirs.ok() && theirs->size > mine.size) return Status::Ok();
  }
  return store->PutComponentState(kWitnessCosignedState, note);
}

// A [[witness]] table as the pusher takes it: its key (a cosigner's, not named as the log),
// and the files it names read (the client key owner-only, matched to its certificate).
Result<WitnessEndpoint> WitnessEndpointFor(const WitnessSection& w, const std::string& origin) {
  WitnessEndpoint endpoint;
  auto key = integrity::ParseVerifierKey(w.key, integrity::kCosignatureAlgorithmEd25519);
  if (!key.ok()) return key.status().Annotate("witness key");
  if (key->name == origin) {
    return Status::InvalidArgument("witness " + key->name + ": a witness key must not be named "
                                   "as the log's origin");
  }
  endpoint.key = std::move(key).value();
  endpoint.url = w.url;
  if (!w.ca_file.empty()) {
    auto pem = ReadSmallFile(w.ca_file, "witness ca_file", kWitnessCaFileBytesMax);
    if (!pem.ok()) return pem.status();
    endpoint.ca_pem = std::move(pem).value();
  }
  if (!w.client_cert.empty()) {
    auto cert = ReadSmallFile(w.client_cert, "witness client_cert", kWitnessCaFileBytesMax);
    if (!cert.ok()) return cert.status();
    auto key_pem = ReadPrivateFile(w.client_key, "witness client_key", kWitnessCaFileBytesMax);
    if (!key_pem.ok()) return key_pem.status();
    endpoint.client_key_pem = std::make_shared<const crypto::SecureBytes>(*key_pem);
    crypto::Cleanse(&key_pem.value());
    if (Status match = crypto::CheckKeyMatchesCert(*cert, endpoint.client_key_pem->view(),
                                                   "witness client_cert", "witness client_key");
        !match.ok()) {
      return match;
    }
    endpoint.client_cert_pem = std::move(cert).value();
  }
  return endpoint;
}

constexpr char kVersion[] = "0.1.0";
constexpr int kPollersMin = 4;
constexpr int kPollersMax = 64;
constexpr uint32_t kCheckpointIntervalMs = 1000;
constexpr int kHandshakeTimeoutMs = 10000;
// One AppendSystem to `$audit` holds at most this many records and about this many bytes
// (below the engine's per-append limits: 1000 events, 4 MiB).
constexpr size_t kAuditAppendRecordsMax = 1000;
constexpr size_t kAuditAppendBytesMax = size_t{3} << 20;

// Installs the PeerFilter's socket mutator in the server's channel arguments.
class PeerFilterOption final : public grpc::ServerBuilderOption {
 public:
  explicit PeerFilterOption(PeerFilter* filter) : filter_(filter) {}
  void UpdateArguments(grpc::ChannelArguments* args) override { filter_->InstallIn(args); }
  void UpdatePlugins(std::vector<std::unique_ptr<grpc::ServerBuilderPlugin>>*) override {}

 private:
  PeerFilter* filter_;
};

std::vector<std::string> AuthMethods(const Config& config) {
  std::vector<std::string> methods;
  if (!config.auth.jwt.empty()) methods.push_back("jwt");
  if (!config.auth.api_keys.empty()) methods.push_back("apikey");
  if (config.tls.enabled && !config.tls.client_ca.empty()) methods.push_back("mtls");
  return methods;
}

class ServerImpl final : public Server {
 public:
  explicit ServerImpl(const Config& config) : config_(config), policies_(config.policy.file) {}
  ~ServerImpl() override { Shutdown(5000); }

  Status Init();
  int grpc_port() const override { return grpc_port_; }
  int admin_port() const override { return admin_ ? admin_->port() : 0; }
  Status ReloadPolicy() override;
  Result<ApiKeysReloaded> ReloadApiKeys() override;
  Result<TlsReloaded> ReloadTls() override;
  Status TlsReloadRefusal() const override { return tls_reloader_->refusal(); }
  uint64_t refused_connections() const override {
    return peer_filter_ ? peer_filter_->refused_count() : 0;
  }
  void Shutdown(int64_t drain_timeout_ms) override;

 private:
  Status OpenParts();
  Status StartAlerts();
  Status StartAudit();
  Status WriteAudit(const std::vector<audit::AuditRecord>& records);
  // The `server.start` record (success, or failure with `failed_step`) and `server.stop`.
  void AuditStartOrStop(audit::AuditKind kind, std::string_view failed_step = {},
                        StatusCode failure = StatusCode::kOk);
  Result<std::shared_ptr<grpc::ServerCredentials>> MakeGrpcCredentials();
  Status StartGrpc();
  void CheckOneListeningSocket();
  ConnectionLimits FittedConnectionLimits() const;
  std::unique_ptr<WriteWatchdog> StallWatchdog(const std::string& metric, const std::string& help);
  Status StartAdmin();
  Status StartLiveSubscriptions();
  Status StartGroups();
  Status StartWebhooks();
  Status StartScrub();
  Status StartWitnesses();
  Status StartPosture();

  Config config_;
  // Created first in Init; others register their metrics on it.
  std::unique_ptr<audit::MetricsRegistry> metrics_;
  // Counts auth failures, denials, refused connections and violations: a listener of audit_,
  // so declared before it.
  std::unique_ptr<audit::AuditMetrics> audit_metrics_;
  // Alert rules and sinks (audit/alerts.h); null when alerts.enabled = false. A listener of
  // audit_, so declared before it (destroyed after it). DOCTOR and SCRUB feed it too.
  std::unique_ptr<audit::AlertEngine> alerts_;
  // The `$audit` trail (audit/trail.h), created right after the store opens and before any
  // listener takes calls; always present (with audit.enabled = false its writer discards, so
  // that listeners — logs, metrics, alerts — still see every record).
  std::unique_ptr<audit::AuditTrail> audit_;
  audit::AuditLogListener audit_log_;
  std::unique_ptr<CallAudit> call_audit_;
  policy::PolicyHolder policies_;
  CidrSet allowed_peers_;
  std::unique_ptr<engine::EventStore> store_;
  // The scrub (engine/scrubber.h): started once the store and the audit trail are up, stopped
  // before either goes; its monitor reports to metrics_, audit_ and the log.
  std::unique_ptr<ScrubMonitor> scrub_monitor_;
  std::unique_ptr<engine::Scrubber> scrubber_;
  // Pushes checkpoints to [[witness]] (server/witness_pusher.h); null without witnesses. Stopped
  // after the admin listener that serves its cosignatures, before the store it reads.
  std::unique_ptr<WitnessPusher> witness_pusher_;
  std::unique_ptr<auth::Authenticator> authenticator_;
  std::unique_ptr<ApiKeyReloader> api_key_reloader_;  // [[auth.api_keys]] from the config file
  // Before the services: their calls' writes are watched until the gRPC server has stopped.
  std::unique_ptr<WriteWatchdog> write_watchdog_;
  std::unique_ptr<WriteWatchdog> esdb_append_watchdog_;
  std::unique_ptr<PeerFilter> peer_filter_;
  // The gRPC listener's replaceable certificates (null when TLS is off or min_version is 1.3):
  // its credentials point at it, so it outlives grpc_ (declared before it). The reloader changes
  // them and the admin listener's.
  std::unique_ptr<ServerCertificates> certificates_;
  std::unique_ptr<TlsReloader> tls_reloader_;
  std::shared_ptr<const AdminTlsContext> admin_tls_;  // with server.admin_tls
  std::atomic<uint64_t> admin_refused_{0};  // admin HTTP peers outside server.allow_cidrs
  std::unique_ptr<ReadinessRoute> readiness_;  // /readyz; made before the admin listener starts
  std::unique_ptr<AppendQuotas> append_quotas_;  // the policy's [[quota]] buckets
  std::unique_ptr<ReadSlots> read_slots_;        // Read/ReadAll in progress; outlives streams_
  std::unique_ptr<ReadSlots> esdb_read_slots_;   // EventStoreDB Reads in progress, likewise
  std::unique_ptr<CallGate> gate_;
  std::unique_ptr<StreamsService> streams_;
  std::unique_ptr<IntegrityService> integrity_;
  std::unique_ptr<AdminService> admin_service_;
  std::unique_ptr<subscribe::LiveHub> live_hub_;
  std::unique_ptr<SubscriptionsService> subscriptions_;
  std::unique_ptr<subscribe::GroupEngine> group_engine_;
  std::unique_ptr<GroupsService> groups_service_;
  std::unique_ptr<subscribe::WebhookDispatcher> webhook_dispatcher_;
  std::unique_ptr<WebhooksService> webhooks_service_;
  // The EventStoreDB/KurrentDB-compatible services (server/esdb/, docs/eventstoredb-clients.md).
  std::unique_ptr<esdb::ServerFeaturesService> esdb_features_;
  std::unique_ptr<esdb::GossipService> esdb_gossip_;
  std::unique_ptr<esdb::StreamsService> esdb_streams_;
  std::unique_ptr<esdb::PersistentSubscriptionsService> esdb_persistent_;
  std::unique_ptr<grpc::Server> grpc_;
  std::unique_ptr<AdminHttpServer> admin_;
  // Posture checks at start and every doctor.interval_s; reads store_, feeds metrics_ and alerts_.
  std::unique_ptr<PostureMonitor> posture_;
  int grpc_port_ = 0;
  std::once_flag shutdown_once_;
  bool start_recorded_ = false;  // a successful `server.start` was submitted: `server.stop` follows
};

Status ServerImpl::OpenParts() {
  auto cidrs = CidrSet::Parse(config_.server.allow_cidrs);
  if (!cidrs.ok()) return cidrs.status().Annotate("server.allow_cidrs");
  allowed_peers_ = std::move(cidrs).value();
  if (!config_.policy.file.empty()) {  // at start there is no previous policy to keep
    auto policy = policy::LoadPolicyFile(config_.policy.file);
    if (!policy.ok()) return policy.status().Annotate("policy.file");
    policies_.Install(std::move(policy).value());
  }
  // A reload refuses what the start refuses (the start's own check is the posture monitor's).
  policies_.SetReloadCheck([this](const policy::Policy& policy) {
    auto refused = UnacceptedCriticalOfPolicy(policy, config_, config_.doctor.accept_risks);
    if (!refused) return Status::Ok();
    return Status::FailedPrecondition("posture check " + refused->id + " (critical): " + refused->finding +
                                      "; fix: " + refused->fix + " — or accept the risk with doctor.accept_risks");
  });
  auto authenticator = auth::Authenticator::Create(config_.auth);
  if (!authenticator.ok()) return authenticator.status().Annotate("auth");
  authenticator_ = std::move(authenticator).value();
  api_key_reloader_ = std::make_unique<ApiKeyReloader>(config_.source_path, authenticator_.get());
  engine::Options options;
  options.data_dir = config_.data_dir;
  options.checkpoint_interval_ms = kCheckpointIntervalMs;
  options.limits = EngineLimits(config_.limits);
  options.protect_rules_file = config_.protect.file;
  options.kms = config_.keys;
  options.postgres = PostgresOptions(config_.storage);
  options.metrics = metrics_.get();
  auto store = engine::EventStore::Open(options);
  if (!store.ok()) return store.status().Annotate("data_dir " + config_.data_dir);
  store_ = std::move(store).value();
  return Status::Ok();
}

// A watchdog that cancels calls stalled for limits.write_stall_ms_max, counted in `metric`.
std::unique_ptr<WriteWatchdog> ServerImpl::StallWatchdog(const std::string& metric,
                                                         const std::string& help) {
  return std::make_unique<WriteWatchdog>(static_cast<int64_t>(config_.limits.write_stall_ms_max),
                                         /*poll_ms=*/1000, metrics_->GetCounter(metric, help));
}

// The configured connection limits, within what the process may open (RLIMIT_NOFILE, raised to
// its hard limit first): connections must leave descriptors for the store and the listeners.
ConnectionLimits ServerImpl::FittedConnectionLimits() const {
  const ConnectionLimits wanted{config_.limits.connections_max,
                                config_.limits.connections_per_source_max};
  const uint64_t descriptors = RaiseDescriptorLimit();
  const ConnectionLimits fitted = CapToDescriptors(wanted, descriptors);
  if (fitted.total_max < wanted.total_max) {
    log::Warn("limits.connections_max lowered to " + std::to_string(fitted.total_max) +
                  ": the process may open " + std::to_string(descriptors) +
                  " descriptors (RLIMIT_NOFILE; raise it, e.g. LimitNOFILE= in systemd)",
              {.action = "server.start"});
  }
  return fitted;
}

// The gRPC listener's credentials and, with server.admin_tls, the admin listener's TLS, both from
// one reading of the [tls] files. Replaceable certificates (server/server_certificates.h) where
// TlsReloadRefusal() allows them.
Result<std::shared_ptr<grpc::ServerCredentials>> ServerImpl::MakeGrpcCredentials() {
  Status refusal = server::TlsReloadRefusal(config_.tls, config_.server.listen);
  if (!config_.tls.enabled) {
    tls_reloader_ =
        std::make_unique<TlsReloader>(config_.tls, std::move(refusal), nullptr, metrics_.get());
    return grpc::InsecureServerCredentials();
  }
  CAIRN_ASSIGN_OR_RETURN(TlsMaterial material, LoadTlsMaterial(config_.tls));
  if (config_.server.admin_tls) {
    auto admin_tls = MakeAdminTlsContext(config_.tls, material);
    if (!admin_tls.ok()) return admin_tls.status().Annotate("server.admin_tls");
    admin_tls_ = std::move(admin_tls).value();
  }
  const crypto::CertSummary served = material.cert;
  const bool reloadable = refusal.ok();
  if (reloadable) {
    certificates_ = std::make_unique<ServerCertificates>(std::move(material),
                                                         ClientCertificateRequest(config_.tls));
  }
  tls_reloader_ = std::make_unique<TlsReloader>(config_.tls, std::move(refusal),
                                                certificates_.get(), metrics_.get());
  tls_reloader_->ReportServed(served);
  return reloadable ? certificates_->Credentials() : MakeServerCredentials(config_.tls, material);
}

Status ServerImpl::StartGrpc() {
  auto credentials = MakeGrpcCredentials();
  if (!credentials.ok()) return credentials.status();
  peer_filter_ = std::make_unique<PeerFilter>(allowed_peers_, FittedConnectionLimits());
  // On gRPC's poller threads: only a Submit (never blocks).
  peer_filter_->set_on_refused([this](const std::string& ip, ConnectionRefusal why) {
    call_audit_->ConnectionRefused(ip, "", why);
  });
  append_quotas_ = std::make_unique<AppendQuotas>(metrics_.get());
  gate_ = std::make_unique<CallGate>(authenticator_.get(), &policies_, &allowed_peers_,
                                     call_audit_.get(), append_quotas_.get());
  StreamsServiceOptions stream_options;
  stream_options.read_chunk_events_max = config_.limits.read_batch_max;
  stream_options.append_events_max = config_.limits.batch_events_max;
  stream_options.read_chunk_bytes_max =
      std::min<uint64_t>(stream_options.read_chunk_bytes_max, config_.limits.max_message_bytes / 2);
  stream_options.metrics = metrics_.get();
  write_watchdog_ = StallWatchdog("cairn_read_stalls_cancelled_total",
                                  "Read/ReadAll calls (cairn.v1 and EventStoreDB) cancelled "
                                  "because the client stopped reading.");
  stream_options.write_watchdog = write_watchdog_.get();
  read_slots_ = std::make_unique<ReadSlots>(config_.limits.reads_max,
                                            config_.limits.reads_per_principal_max, metrics_.get());
  stream_options.read_slots = read_slots_.get();
  streams_ = std::make_unique<StreamsService>(store_.get(), gate_.get(), stream_options);
  integrity_ = std::make_unique<IntegrityService>(store_.get(), gate_.get(), witness_pusher_.get(),
                                                  read_slots_.get());
  ServerFacts facts{kVersion, config_.tls.enabled, AuthMethods(config_), NowUnixSeconds(),
                    [this] {
                      return peer_filter_->refused_count() + peer_filter_->over_limit_count() +
                             admin_refused_.load();
                    },
                    [this] { return integrity_->violation_reports(); },
                    config_.limits.max_message_bytes, config_.backup.dir};
  admin_service_ = std::make_unique<AdminService>(store_.get(), gate_.get(), &policies_, facts,
                                                  tls_reloader_.get(), api_key_reloader_.get());

  if (Status s = StartWebhooks(); !s.ok()) return s;

  if (Status s = StartLiveSubscriptions(); !s.ok()) return s;
  if (Status s = StartGroups(); !s.ok()) return s;

  grpc::ServerBuilder builder;
  builder.AddListeningPort(config_.server.listen, *credentials, &grpc_port_);
  builder.SetOption(std::make_unique<PeerFilterOption>(peer_filter_.get()));
  // No SO_REUSEPORT: a second server on the same port must fail, not split the clients; and the
  // replaceable certificates need one listening socket (server/server_certificates.h).
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.SetMaxReceiveMessageSize(static_cast<int>(config_.limits.max_message_bytes));
  builder.SetMaxSendMessageSize(static_cast<int>(config_.limits.max_message_bytes));
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS,
                             static_cast<int>(config_.limits.max_concurrent_streams));
  // Sync handlers block for a group commit; keep enough polling threads alive that gRPC does
  // not create and destroy a thread per call under load (its default keeps at most 2).
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MIN_POLLERS, kPollersMin);
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MAX_POLLERS, kPollersMax);
  // A TLS handshake that has not finished in this long is dropped (a slow-loris peer holds a
  // descriptor otherwise); an idle connection is closed after connection_idle_ms_max.
  builder.AddChannelArgument(GRPC_ARG_SERVER_HANDSHAKE_TIMEOUT_MS, kHandshakeTimeoutMs);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_IDLE_MS,
                             static_cast<int>(config_.limits.connection_idle_ms_max));
  grpc::ResourceQuota quota("cairn");
  quota.SetMaxThreads(static_cast<int>(kServerThreadsMax));
  quota.Resize(static_cast<size_t>(config_.limits.grpc_memory_bytes_max));
  builder.SetResourceQuota(quota);
  builder.RegisterService(streams_.get());
  builder.RegisterService(integrity_.get());
  builder.RegisterService(admin_service_.get());
  builder.RegisterService(subscriptions_.get());
  builder.RegisterService(groups_service_.get());
  builder.RegisterService(webhooks_service_.get());
  // EventStoreDB/KurrentDB-compatible services (server/esdb/), same port, same gate.
  esdb_features_ = std::make_unique<esdb::ServerFeaturesService>(gate_.get());
  esdb_gossip_ = std::make_unique<esdb::GossipService>(config_.server.listen, gate_.get());
  builder.RegisterService(esdb_features_.get());
  builder.RegisterService(esdb_gossip_.get());
  esdb::StreamsServiceOptions esdb_stream_options;
  esdb_stream_options.live_hub = live_hub_.get();
  esdb_stream_options.read_page_events_max = config_.limits.read_batch_max;
  // The engine's append limits ([limits]), so that clients are told the limit that applies.
  esdb_stream_options.append_size_bytes_max = config_.limits.batch_size_bytes_max;
  esdb_stream_options.append_events_max = config_.limits.batch_events_max;
  // Room for several appends at the configured limit, whatever it is.
  esdb_stream_options.unfinished_append_bytes_max = std::max<uint64_t>(
      esdb_stream_options.unfinished_append_bytes_max,
      4 * (config_.limits.batch_size_bytes_max +
           config_.limits.batch_events_max * esdb::kAppendEventOverheadBytes));
  esdb_stream_options.metrics = metrics_.get();
  esdb_read_slots_ = std::make_unique<ReadSlots>(
      config_.limits.reads_max, config_.limits.reads_per_principal_max, metrics_.get());
  esdb_stream_options.read_slots = esdb_read_slots_.get();
  esdb_stream_options.write_watchdog = write_watchdog_.get();
  esdb_append_watchdog_ = StallWatchdog("cairn_esdb_append_stalls_cancelled_total",
                                        "EventStoreDB Append/BatchAppend calls cancelled because "
                                        "the client stopped sending an unfinished append.");
  esdb_stream_options.append_watchdog = esdb_append_watchdog_.get();
  esdb_stream_options.append_open_ms_max = static_cast<int64_t>(config_.limits.append_open_ms_max);
  esdb_streams_ = std::make_unique<esdb::StreamsService>(store_.get(), gate_.get(),
                                                         esdb_stream_options);
  builder.RegisterService(esdb_streams_.get());
  esdb_persistent_ = std::make_unique<esdb::PersistentSubscriptionsService>(
      store_.get(), gate_.get(), &policies_, group_engine_.get());
  builder.RegisterService(esdb_persistent_.get());
  grpc_ = builder.BuildAndStart();
  if (!grpc_ || grpc_port_ == 0) {
    return Status::Unavailable("cannot listen on server.listen " + config_.server.listen);
  }
  CheckOneListeningSocket();
  return Status::Ok();
}

// Replaceable certificates are safe on one listening socket only (server/server_certificates.h):
// what TlsReloadRefusal() expected from server.listen is checked against what gRPC bound.
void ServerImpl::CheckOneListeningSocket() {
  if (certificates_ == nullptr) return;
  Result<size_t> sockets = CountOwnListeningSockets(grpc_port_);
  if (sockets.ok() && *sockets == 1) return;
  const std::string why =
      sockets.ok() ? "gRPC listens on " + std::to_string(*sockets) + " sockets for server.listen"
                   : "the listening sockets cannot be counted (" + sockets.status().message() + ")";
  tls_reloader_->FixCertificates(Status::FailedPrecondition(
      why + ": the certificates are fixed until a restart (gRPC 1.51 does not serialise "
            "handshakes on several sockets against a certificate change)"));
  log::Warn("TLS certificates cannot be reloaded: " + why, {.action = "server.start"});
}

// Consumer groups: resumed from their saved positions before the server takes calls.
Status ServerImpl::StartGroups() {
  subscribe::GroupLimits group_limits;
  group_limits.groups_max = config_.groups.groups_max;
  group_limits.consumers_per_group_max = config_.groups.consumers_per_group_max;
  group_limits.in_flight_max = static_cast<uint32_t>(config_.groups.in_flight_max);
  group_limits.buffer_events_max = config_.groups.buffer_events_max;
  group_limits.buffer_bytes_max = config_.groups.buffer_bytes_max;
  group_limits.write_stall_ms_max = static_cast<int64_t>(config_.limits.write_stall_ms_max);
  group_engine_ = std::make_unique<subscribe::GroupEngine>(store_.get(), group_limits);
  if (Status s = group_engine_->Start(); !s.ok()) return s.Annotate("consumer groups");
  groups_service_ =
      std::make_unique<GroupsService>(store_.get(), gate_.get(), &policies_, group_engine_.get());
  return Status::Ok();
}

Status ServerImpl::StartWebhooks() {
  const WebhooksSection& w = config_.webhooks;
  if (!w.dispatch) {
    log::Info("webhook dispatch is off on this node ([webhooks] dispatch = false)",
              {.action = "server.start"});
    webhooks_service_ = std::make_unique<WebhooksService>(nullptr, gate_.get());
    return Status::Ok();
  }
  subscribe::DispatcherOptions options;
  options.sender.ca_file = w.ca_file;
  options.sender.connect_timeout_ms = static_cast<int64_t>(w.connect_timeout_ms);
  options.sender.timeout_ms = static_cast<int64_t>(w.timeout_ms);
  options.sender.response_size_bytes_max = w.response_size_bytes_max;
  options.workers = w.workers;
  options.retries_max = static_cast<uint32_t>(w.retries_max);
  options.backoff_initial_ms = static_cast<int64_t>(w.backoff_initial_ms);
  options.backoff_max_ms = static_cast<int64_t>(w.backoff_max_ms);
  options.rotation_grace_s = static_cast<int64_t>(w.rotation_grace_s);
  options.configured_roles = [auth = authenticator_.get()](std::string_view id, int64_t now_s) {
    return auth->ConfiguredRoles(id, now_s);
  };
  webhook_dispatcher_ =
      std::make_unique<subscribe::WebhookDispatcher>(store_.get(), &policies_, options);
  if (Status s = webhook_dispatcher_->Start(); !s.ok()) return s.Annotate("webhooks");
  webhooks_service_ = std::make_unique<WebhooksService>(webhook_dispatcher_.get(), gate_.get());
  return Status::Ok();
}

// Continuous verification ([scrub]): incremental after each commit, full on a schedule.
Status ServerImpl::StartScrub() {
  const ScrubSection& c = config_.scrub;
  if (!c.enabled) return Status::Ok();
  scrub_monitor_ = std::make_unique<ScrubMonitor>(metrics_.get(), audit_.get());
  engine::ScrubberOptions options;
  options.full_interval_ms = static_cast<int64_t>(c.interval_s) * 1000;
  options.delay_ms = static_cast<int64_t>(c.delay_ms);
  options.records_per_step_max = c.records_per_step_max;
  options.busy_percent_max = static_cast<int>(c.busy_percent_max);
  auto scrubber = engine::Scrubber::Start(store_.get(), options, scrub_monitor_.get());
  if (!scrubber.ok()) return scrubber.status().Annotate("scrub");
  scrubber_ = std::move(scrubber).value();
  return Status::Ok();
}

Status ServerImpl::StartWitnesses() {
  if (config_.witnesses.empty()) return Status::Ok();
  std::vector<WitnessEndpoint> endpoints;
  for (const WitnessSection& w : config_.witnesses) {
    CAIRN_ASSIGN_OR_RETURN(WitnessEndpoint endpoint, WitnessEndpointFor(w, store_->origin()));
    endpoints.push_back(std::move(endpoint));
  }
  engine::EventStore* store = store_.get();
  // The cosigned checkpoint outlives a restart in the store's component state (shared by the
  // nodes of a PostgreSQL log: a node may start from another node's, if it is of this log).
  WitnessKeeping keeping;
  CAIRN_ASSIGN_OR_RETURN(keeping.log_key, integrity::ParseVerifierKey(store->verifier_key()));
  Result<std::optional<std::string>> kept = store->ReadComponentState(kWitnessCosignedState);
  if (kept.ok()) {
    keeping.kept = kept->value_or("");
  } else {  // the witnesses cosign again: not a reason to stay down
    log::Warn("the cosigned checkpoint kept by an earlier run cannot be read",
              {.action = "witness.keep", .outcome = "failure",
               .extra = {{"error.message", kept.status().message()}}});
  }
  keeping.keep = [store, log_key = keeping.log_key](const std::string& note) {
    return KeepCosigned(store, log_key, note);
  };
  auto pusher = WitnessPusher::Start(
      std::move(endpoints), [store] { return store->LatestStoredCheckpoint(); },
      [store](uint64_t size1, uint64_t size2) -> Result<std::vector<crypto::Hash>> {
        CAIRN_ASSIGN_OR_RETURN(engine::ConsistencyProof proof, store->ProveConsistency(size1, size2));
        return std::move(proof.proof);
      },
      WitnessPusherOptions{}, std::move(keeping));
  if (!pusher.ok()) return pusher.status().Annotate("witness");
  witness_pusher_ = std::move(pusher).value();
  const WitnessPusher* p = witness_pusher_.get();
  for (size_t i = 0; i < config_.witnesses.size(); ++i) {
    const audit::Labels labels = {{"witness", p->States()[i].name}};
    metrics_->GaugeFunction("cairn_witness_cosigned_size",
                            "The largest tree size the witness cosigned for this node.", labels,
                            [p, i] { return static_cast<double>(p->States()[i].cosigned_size); });
    metrics_->GaugeFunction("cairn_witness_failures",
                            "Calls to the witness that failed in a row (0 after a cosignature).",
                            labels, [p, i] { return static_cast<double>(p->States()[i].failures); });
  }
  return Status::Ok();
}

Status ServerImpl::StartLiveSubscriptions() {
  const SubscriptionsSection& c = config_.subscriptions;
  subscribe::LiveHubOptions options;
  options.subscribers_max = c.subscribers_max;
  options.subscribers_per_principal_max = c.subscribers_per_principal_max;
  options.ring_events_max = c.ring_events_max;
  options.ring_bytes_max = c.ring_bytes_max;
  options.lag_events_max = std::min(c.lag_events_max, c.ring_events_max);
  options.delivery_threads = c.delivery_threads;
  // One message stays well inside the gRPC message limit.
  options.cursor.batch_bytes_max =
      std::min<uint64_t>(options.cursor.batch_bytes_max, config_.limits.max_message_bytes / 4);
  options.wire_encoder = EncodeRecordedEvent;  // once per event for all cairn.v1 subscribers
  options.credential_check = CredentialCheckOf(authenticator_.get());
  auto hub = subscribe::LiveHub::Start(store_.get(), &policies_, options);
  if (!hub.ok()) return hub.status().Annotate("subscriptions");
  live_hub_ = std::move(hub).value();
  subscriptions_ = std::make_unique<SubscriptionsService>(live_hub_.get(), gate_.get());
  return Status::Ok();
}

Status ServerImpl::StartAdmin() {
  if (config_.server.admin_listen.empty()) return Status::Ok();  // no admin listener
  AdminHttpOptions options;
  options.listen = config_.server.admin_listen;
  if (config_.server.admin_tls) {
    assert(admin_tls_ != nullptr);  // made with the gRPC listener's credentials
    options.tls = admin_tls_;
  }
  // Local processes (a Prometheus, health probes, a witness on this host) connecting from the
  // loopback address are admitted whatever allow_cidrs says: the listener is loopback by
  // default, and the page is the same for every peer.
  options.allow_peer = [this](std::string_view ip) {
    if (allowed_peers_.empty() || allowed_peers_.ContainsText(ip)) return true;
    if (ip == "127.0.0.1" || ip == "::1" || ip == "::ffff:127.0.0.1") return true;
    admin_refused_.fetch_add(1, std::memory_order_relaxed);
    call_audit_->ConnectionRefused(ip, "");  // counted and audited as gRPC's refusals are
    return false;
  };
  std::map<std::string, HttpHandler> routes;
  // Gauges over parts made by now; scrapes end (admin_->Stop()) before those parts go.
  RegisterServerGauges(metrics_.get(), live_hub_.get(), group_engine_.get(), audit_.get());
  routes["/metrics"] = [this] { return MetricsResponse(*metrics_); };
  routes["/healthz"] = [] { return HttpResponse{200, "text/plain; charset=utf-8", "ok\n"}; };
  readiness_ = std::make_unique<ReadinessRoute>(
      [this] {
        if (store_ == nullptr) return Status::Unavailable("the store is not open");
        storage::LogStore* log = store_->log_store();
        return log == nullptr ? Status::Ok() : log->WriteHealth();
      },
      SteadyNowMs);
  routes["/readyz"] = [this] { return readiness_->Probe(); };
  // Neither signs per request.
  routes["/checkpoint"] = [this] { return CheckpointRoute(*store_, witness_pusher_.get()); };
  routes["/checkpoint/cosigned"] = [this] {
    if (witness_pusher_ == nullptr) {
      return HttpResponse{404, "text/plain; charset=utf-8", "no witnesses are configured\n"};
    }
    return CosignedCheckpointRoute(*witness_pusher_);
  };
  std::map<std::string, HttpPathHandler> prefix_routes;
  prefix_routes[kTileRoutePrefix] = [this](std::string_view path) {
    return TileRoute(*store_, path);
  };
  auto admin = AdminHttpServer::Start(options, std::move(routes), {}, std::move(prefix_routes));
  if (!admin.ok()) return admin.status().Annotate("server.admin_listen");
  admin_ = std::move(admin).value();
  if (options.tls != nullptr) tls_reloader_->set_admin_listener(admin_.get());
  return Status::Ok();
}

// Posture checks (server/posture_monitor.h): refuses to start on a critical finding that neither
// --accept-risk nor doctor.accept_risks names.
Status ServerImpl::StartPosture() {
  PostureMonitor::Options options;
  options.config = config_;
  options.store = store_.get();
  options.metrics = metrics_.get();
  options.alerts = alerts_.get();
  options.accepted = config_.doctor.accept_risks;
  options.interval_s = static_cast<int64_t>(config_.doctor.interval_s);
  auto monitor = PostureMonitor::Start(std::move(options));
  if (!monitor.ok()) return monitor.status();
  posture_ = std::move(monitor).value();
  return Status::Ok();
}

Status ServerImpl::Init() {
  // Debian builds Abseil without NDEBUG, which leaves gRPC's mutexes checking lock order on
  // every acquisition (a graph of lock ids): measurable on the hot path, and a debugging aid.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  metrics_ = std::make_unique<audit::MetricsRegistry>();
  if (Status s = ValidateForServe(config_); !s.ok()) return s;
  if (Status s = OpenParts(); !s.ok()) return s;
  if (Status s = StartAlerts(); !s.ok()) return s;
  if (Status s = StartAudit(); !s.ok()) return s;
  // From here a failed start is on the trail: a `server.start` record with outcome failure, the
  // step that failed (a fixed name: the status text may hold paths) and no `server.stop`.
  const std::pair<std::string_view, Status (ServerImpl::*)()> steps[] = {
      {"posture", &ServerImpl::StartPosture},  // may refuse: a critical finding
      {"scrub", &ServerImpl::StartScrub},
      {"witnesses", &ServerImpl::StartWitnesses},
      {"grpc_listener", &ServerImpl::StartGrpc},
      {"admin_listener", &ServerImpl::StartAdmin},
  };
  for (const auto& [step, start] : steps) {
    if (Status s = (this->*start)(); !s.ok()) {
      AuditStartOrStop(audit::AuditKind::kServerStart, step, s.code());
      return s;
    }
  }
  AuditStartOrStop(audit::AuditKind::kServerStart);
  start_recorded_ = true;
  return Status::Ok();
}

Status ServerImpl::StartAlerts() {
  const AlertsSection& a = config_.alerts;
  if (!a.enabled) return Status::Ok();
  std::vector<audit::AlertRule> rules = audit::DefaultAlertRules();
  if (!a.rules_file.empty()) {
    auto loaded = audit::LoadAlertRules(a.rules_file);
    if (!loaded.ok()) return loaded.status().Annotate("alerts.rules_file");
    rules = std::move(loaded).value();
  }
  std::vector<std::unique_ptr<audit::AlertSink>> sinks;
  sinks.push_back(std::make_unique<audit::LogAlertSink>());
  auto stream_sink = std::make_unique<audit::StreamAlertSink>([this](const std::string& body) {
    std::vector<engine::ProposedEvent> batch(1);
    batch[0].event_type = std::string(audit::kAlertEventType);
    batch[0].data = body;
    auto appended = store_->AppendSystem(audit::kAlertsStream, engine::ExpectedVersion::Any(),
                                         std::move(batch));
    return appended.ok() ? Status::Ok() : appended.status();
  });
  if (metrics_) {  // the sinks live in alerts_, which the registry outlives
    const audit::StreamAlertSink* stream = stream_sink.get();
    metrics_->CounterFunction("cairn_alerts_stream_failures_total",
                              "Alerts that could not be appended to $alerts.", {},
                              [stream] { return stream->failures(); });
  }
  sinks.push_back(std::move(stream_sink));
  if (!a.webhook_url.empty()) {
    subscribe::AlertWebhookOptions w;
    w.url = a.webhook_url;
    w.origin = store_->origin();
    w.allow_addresses = a.webhook_allow_addresses;
    w.secret_file = a.webhook_secret_file;
    w.secret_env = a.webhook_secret_env;
    w.sender.ca_file = config_.webhooks.ca_file;
    w.sender.connect_timeout_ms = static_cast<int64_t>(config_.webhooks.connect_timeout_ms);
    w.sender.timeout_ms = static_cast<int64_t>(config_.webhooks.timeout_ms);
    w.sender.response_size_bytes_max = config_.webhooks.response_size_bytes_max;
    auto sink = subscribe::AlertWebhookSink::Create(w);
    if (!sink.ok()) return sink.status().Annotate("alerts.webhook_url");
    if (metrics_) RegisterAlertWebhookMetrics(metrics_.get(), sink->get());
    sinks.push_back(std::move(sink).value());
  }
  audit::AlertEngineOptions options;
  options.metrics = metrics_.get();
  auto engine = audit::AlertEngine::Start(std::move(rules), std::move(sinks), std::move(options));
  if (!engine.ok()) return engine.status().Annotate("alerts");
  alerts_ = std::move(engine).value();
  return Status::Ok();
}

Status ServerImpl::StartAudit() {
  audit::AuditTrailOptions options;
  options.queue_records_max = config_.audit.queue_records_max;
  options.batch_records_max = config_.audit.batch_records_max;
  options.data_plane =
      config_.audit.enabled ? config_.audit.data_plane : audit::DataPlaneAudit::kNone;
  auto trail = audit::AuditTrail::Start(
      options, [this](const std::vector<audit::AuditRecord>& records) {
        return config_.audit.enabled ? WriteAudit(records) : Status::Ok();
      });
  if (!trail.ok()) return trail.status().Annotate("audit");
  audit_ = std::move(trail).value();
  audit_->AddListener(&audit_log_);
  audit_metrics_ = std::make_unique<audit::AuditMetrics>(metrics_.get(), PolicyActionNames());
  audit_->AddListener(audit_metrics_.get());
  if (alerts_) audit_->AddListener(alerts_.get());
  call_audit_ = std::make_unique<CallAudit>(audit_.get(), metrics_.get());
  if (alerts_) call_audit_->SetAlertListener(alerts_.get());
  return Status::Ok();
}

// The trail's writer (its thread only): the records, in order, in as few appends as the engine's
// limits allow — normally one per batch.
Status ServerImpl::WriteAudit(const std::vector<audit::AuditRecord>& records) {
  std::vector<engine::ProposedEvent> events;
  size_t bytes = 0;
  auto flush = [&]() -> Status {
    if (events.empty()) return Status::Ok();
    auto appended = store_->AppendSystem(audit::kAuditStream, engine::ExpectedVersion::Any(),
                                         std::move(events));
    events.clear();
    bytes = 0;
    return appended.ok() ? Status::Ok() : appended.status();
  };
  for (const audit::AuditRecord& record : records) {
    engine::ProposedEvent event;
    event.event_id = record.event_id;  // a retried batch appends nothing twice
    event.event_type = std::string(audit::AuditEventType(record.kind));
    event.data = audit::EncodeAuditRecordJson(record);
    if (events.size() == kAuditAppendRecordsMax || bytes + event.data.size() > kAuditAppendBytesMax) {
      CAIRN_RETURN_IF_ERROR(flush());
    }
    bytes += event.data.size();
    events.push_back(std::move(event));
  }
  return flush();
}

// SIGHUP: an admin act like Admin.ReloadPolicy, audited the same way and failing closed (the
// policy is not reloaded) when the audit queue has no room for its record.
Status ServerImpl::ReloadPolicy() {
  auto slot = audit_->ReserveAdmin();
  if (!slot.ok()) return slot.status();
  policy::PolicyHolder::Version in_force;
  const Status reloaded = policies_.Reload(&in_force);
  audit::AuditRecord r;
  r.kind = audit::AuditKind::kAdmin;
  r.action = "policy.reload";
  r.resource = "*";
  r.outcome = reloaded.ok() ? "success" : "failure";
  if (!reloaded.ok()) r.error_code = std::string(GrpcCodeName(ToGrpcStatus(reloaded).error_code()));
  r.details = {{"trigger", "signal"},
               {"generation", std::to_string(in_force.generation)},
               {"policy_sha256", in_force.text_sha256}};
  slot->Submit(std::move(r));
  return reloaded;
}

// A reload by SIGHUP: an admin act like its RPC's, audited the same way (details.trigger =
// "signal", the reload's details on success, the error code only on failure: the text is in the
// log) and failing closed — nothing is reloaded — when the audit queue has no room for its
// record.
template <class Reloaded, class Reload, class Details>
Result<Reloaded> SignalReload(audit::AuditTrail& trail, std::string_view action,
                              const Reload& reload, const Details& details) {
  auto slot = trail.ReserveAdmin();
  if (!slot.ok()) return slot.status();
  Result<Reloaded> reloaded = reload();
  audit::AuditRecord r;
  r.kind = audit::AuditKind::kAdmin;
  r.action = std::string(action);
  r.resource = "*";
  r.outcome = reloaded.ok() ? "success" : "failure";
  r.details = {{"trigger", "signal"}};
  if (reloaded.ok()) {
    for (auto& detail : details(*reloaded)) r.details.push_back(std::move(detail));
  } else {
    r.error_code = std::string(GrpcCodeName(ToGrpcStatus(reloaded.status()).error_code()));
  }
  slot->Submit(std::move(r));
  return reloaded;
}

Result<ApiKeysReloaded> ServerImpl::ReloadApiKeys() {
  return SignalReload<ApiKeysReloaded>(
      *audit_, "apikeys.reload", [this] { return api_key_reloader_->Reload(); },
      ApiKeysReloadDetails);
}

Result<TlsReloaded> ServerImpl::ReloadTls() {
  if (Status fixed = tls_reloader_->refusal(); !fixed.ok()) return fixed;  // nothing to attempt
  return SignalReload<TlsReloaded>(
      *audit_, "tls.reload", [this] { return tls_reloader_->Reload(NowUnixSeconds()); },
      TlsReloadDetails);
}

void ServerImpl::AuditStartOrStop(audit::AuditKind kind, std::string_view failed_step,
                                  StatusCode failure) {
  assert(failed_step.empty() == (failure == StatusCode::kOk));
  audit::AuditRecord r;
  r.kind = kind;
  r.action = kind == audit::AuditKind::kServerStart ? "server.start" : "server.stop";
  r.resource = store_ ? store_->origin() : "";
  r.outcome = failed_step.empty() ? "success" : "failure";
  if (!failed_step.empty()) {
    r.error_code = StatusCodeName(failure);
    r.reason = "the start failed at " + std::string(failed_step);
  }
  r.details = {{"version", kVersion},
               {"config_sha256", ConfigSha256Hex(config_)},
               {"listen", config_.server.listen},
               {"tls", config_.tls.enabled ? "true" : "false"},
               {"audit_enabled", config_.audit.enabled ? "true" : "false"}};
  if (store_) r.details.emplace_back("tree_size", std::to_string(store_->tree_size()));
  audit_->Submit(std::move(r));
}

void ServerImpl::Shutdown(int64_t drain_timeout_ms) {
  std::call_once(shutdown_once_, [&] {
    if (posture_) posture_->Stop();  // its checks read the store
    if (admin_) admin_->Stop();
    if (witness_pusher_) witness_pusher_->Stop();  // within one witness call
    // Its thread checks the store's health: joined now, before anything it reads goes. (Before,
    // a check a late probe had started could still be running when the store was reset.)
    readiness_.reset();
    // Live subscriptions never end by themselves: end them (UNAVAILABLE with their resume
    // position) so that the gRPC shutdown below does not wait out the drain timeout for them.
    if (live_hub_) live_hub_->Shutdown();
    // Saves every group position and ends the consumers' streams (UNAVAILABLE), so the gRPC
    // shutdown below does not wait for them.
    if (group_engine_) group_engine_->Stop();
    if (grpc_) {
      grpc_->Shutdown(std::chrono::system_clock::now() +
                      std::chrono::milliseconds(drain_timeout_ms));
      grpc_->Wait();
    }
    // The scrub first (within one bounded step): a mismatch it reports still reaches the trail.
    if (scrubber_) scrubber_->Stop();
    // Every call is answered: the stop record is the trail's last; Stop() writes what is
    // queued through the store, so it runs before the store closes.
    if (audit_) {
      if (start_recorded_) AuditStartOrStop(audit::AuditKind::kServerStop);
      audit_->Stop();
    }
    // Delivers the queued alerts (to `$alerts` through the store) and stops the webhook.
    if (alerts_) alerts_->Stop();
    live_hub_.reset();  // after every subscription's reactor is done, before the store
    group_engine_.reset();  // after every consumer's reactor is done, before the store
    if (webhook_dispatcher_) webhook_dispatcher_->Stop();  // before the store it reads
    store_.reset();  // drains queued appends: they are durable or answered with an error
    authenticator_.reset();
  });
}

}  // namespace

Result<std::unique_ptr<Server>> Server::Start(const Config& config) {
  auto server = std::make_unique<ServerImpl>(config);
  if (Status s = server->Init(); !s.ok()) return s;
  return std::unique_ptr<Server>(std::move(server));
}

}  // namespace cairn::server
