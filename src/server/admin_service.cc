#include "server/admin_service.h"

#include <algorithm>

#include "common/log.h"
#include "common/bytes.h"
#include "common/wall_clock.h"
#include "crypto/secure.h"
#include "server/call_audit.h"
#include "server/status_map.h"

namespace cairn::server {

AdminService::AdminService(engine::EventStore* store, const CallGate* gate,
                           policy::PolicyHolder* policies, ServerFacts facts, TlsReloader* tls,
                           ApiKeyReloader* api_keys)
    : store_(store),
      gate_(gate),
      policies_(policies),
      facts_(std::move(facts)),
      tls_(tls),
      api_keys_(api_keys) {}

grpc::Status AdminService::ServerInfo(grpc::ServerContext* context, const v1::ServerInfoRequest*,
                                      v1::ServerInfoResponse* response) {
  CallIdentity id;
  if (grpc::Status s = gate_->Admit(context, &id); !s.ok()) return s;
  response->set_version(facts_.version);
  response->set_origin(store_->origin());
  auto latest = store_->LatestTreeSize();
  response->set_tree_size(latest.ok() ? *latest : store_->tree_size());
  response->set_tls(facts_.tls);
  for (const auto& m : facts_.auth_methods) response->add_auth_methods(m);
  response->set_started_at_unix_s(facts_.started_at_unix_s);
  response->set_policy_generation(policies_->generation());
  // What the server refused and what consumers reported are the operators' business: shown to
  // callers allowed `admin`, zero to others (no denial: the rest of the answer is theirs).
  if (id.Decide(policy::Action::kAdmin, "*", "").allowed) {
    if (facts_.refused_connections) response->set_refused_connections(facts_.refused_connections());
    if (facts_.violation_reports) {
      response->set_integrity_violation_reports(facts_.violation_reports());
    }
  }
  return grpc::Status::OK;
}

grpc::Status AdminService::WhoAmI(grpc::ServerContext* context, const v1::WhoAmIRequest*,
                                  v1::WhoAmIResponse* response) {
  CallIdentity id;
  if (grpc::Status s = gate_->Admit(context, &id); !s.ok()) return s;
  response->set_principal(id.principal.id);
  response->set_method(AuthMethodName(id.principal.method));
  for (uint32_t index : id.resolved.role_indices()) {
    response->add_roles(id.policy->roles()[index].name);
  }
  response->set_expires_unix_s(id.principal.expires_unix_s);
  if (const policy::Quota* quota = id.policy->QuotaOf(id.resolved); quota != nullptr) {
    v1::AppendQuota* out = response->mutable_append_quota();
    out->set_events_per_s(quota->append_events_per_s);
    out->set_bytes_per_s(quota->append_bytes_per_s);
    out->set_burst_s(quota->burst_s);
  }
  return grpc::Status::OK;
}

grpc::Status AdminService::ReloadPolicy(grpc::ServerContext* context,
                                        const v1::ReloadPolicyRequest*,
                                        v1::ReloadPolicyResponse* response) {
  CallIdentity id;
  if (grpc::Status s = gate_->Admit(context, &id); !s.ok()) return s;
  if (grpc::Status s = Require(id, policy::Action::kAdmin, "*", ""); !s.ok()) return s;
  AdminAct act;
  if (grpc::Status s = AdminAct::Begin(id, "policy.reload", "*", &act); !s.ok()) return s;
  policy::PolicyHolder::Version in_force;
  if (Status s = policies_->Reload(&in_force); !s.ok()) return act.Finish(ToGrpcStatus(s));
  response->set_generation(in_force.generation);
  act.AddDetail("generation", std::to_string(in_force.generation));
  act.AddDetail("policy_sha256", in_force.text_sha256);
  return act.FinishDurable(grpc::Status::OK);
}

grpc::Status AdminService::ReloadTls(grpc::ServerContext* context, const v1::ReloadTlsRequest*,
                                     v1::ReloadTlsResponse* response) {
  CallIdentity id;
  if (grpc::Status s = gate_->Admit(context, &id); !s.ok()) return s;
  if (grpc::Status s = Require(id, policy::Action::kAdmin, "*", ""); !s.ok()) return s;
  AdminAct act;
  if (grpc::Status s = AdminAct::Begin(id, "tls.reload", "*", &act); !s.ok()) return s;
  Result<TlsReloaded> reloaded = tls_->Reload(NowUnixSeconds());
  if (!reloaded.ok()) return act.Finish(ToGrpcStatus(reloaded.status()));
  response->set_cert_subject(reloaded->cert.subject);
  response->set_cert_sha256(reloaded->cert.sha256_hex);
  response->set_cert_not_after_unix_s(reloaded->cert.not_after_unix_s);
  response->set_client_ca_certs(static_cast<uint32_t>(reloaded->client_ca_certs));
  response->set_generation(reloaded->generation);
  for (auto& [name, value] : TlsReloadDetails(*reloaded)) act.AddDetail(name, value);
  return act.FinishDurable(grpc::Status::OK);
}

grpc::Status AdminService::ReloadApiKeys(grpc::ServerContext* context,
                                         const v1::ReloadApiKeysRequest*,
                                         v1::ReloadApiKeysResponse* response) {
  CallIdentity id;
  if (grpc::Status s = gate_->Admit(context, &id); !s.ok()) return s;
  if (grpc::Status s = Require(id, policy::Action::kAdmin, "*", ""); !s.ok()) return s;
  AdminAct act;
  if (grpc::Status s = AdminAct::Begin(id, "apikeys.reload", "*", &act); !s.ok()) return s;
  Result<ApiKeysReloaded> reloaded = api_keys_->Reload();
  if (!reloaded.ok()) {  // the text for the operator (an I/O error reaches the caller as INTERNAL)
    log::Warn("API key reload failed", {.action = "apikeys.reload",
                                        .outcome = "failure",
                                        .extra = {{"error.message", reloaded.status().message()}}});
    return act.Finish(ToGrpcStatus(reloaded.status()));
  }
  response->set_keys(static_cast<uint32_t>(reloaded->keys));
  for (const std::string& key_id : reloaded->added) response->add_added(key_id);
  for (const std::string& key_id : reloaded->removed) response->add_removed(key_id);
  for (const std::string& key_id : reloaded->changed) response->add_changed(key_id);
  for (auto& [name, value] : ApiKeysReloadDetails(*reloaded)) act.AddDetail(name, value);
  return act.FinishDurable(grpc::Status::OK);
}

grpc::Status AdminService::Forget(grpc::ServerContext* context, const v1::ForgetRequest* request,
                                  v1::ForgetResponse* response) {
  CallIdentity id;
  if (grpc::Status s = gate_->Admit(context, &id); !s.ok()) return s;
  if (grpc::Status s = Require(id, policy::Action::kForget, "*", ""); !s.ok()) return s;
  AdminAct act;
  if (grpc::Status s = AdminAct::Begin(id, "forget", SubjectResource(store_->SubjectHashHex(request->subject())), &act);
      !s.ok()) {
    return s;
  }
  auto result = store_->Forget(request->subject());
  if (!result.ok()) return act.FinishDurable(ToGrpcStatus(result.status()));  // may have destroyed some
  response->set_versions_destroyed(result->versions_destroyed);
  response->set_purge_pending(result->purge_pending);
  act.AddDetail("versions_destroyed", std::to_string(result->versions_destroyed));
  if (result->purge_pending) act.AddDetail("purge_pending", "true");
  return act.FinishDurable(grpc::Status::OK);
}

grpc::Status AdminService::ListKeys(grpc::ServerContext* context,
                                    const v1::ListKeysRequest* request,
                                    v1::ListKeysResponse* response) {
  CallIdentity id;
  if (grpc::Status s = gate_->Admit(context, &id); !s.ok()) return s;
  if (grpc::Status s = Require(id, policy::Action::kAdmin, "*", ""); !s.ok()) return s;
  constexpr uint32_t kPageSizeDefault = 1000;
  // A key on the wire is at most ~140 bytes (kind, a 36-byte kid, 64 hex digits, numbers).
  constexpr uint64_t kKeyInfoWireBytesMax = 256;
  const size_t keys_that_fit =
      static_cast<size_t>(std::max<uint64_t>(1, facts_.max_message_bytes / kKeyInfoWireBytesMax));
  const size_t page_size = std::min<size_t>(
      {request->page_size() == 0 ? kPageSizeDefault : request->page_size(),
       engine::kKeyPageKeysMax, keys_that_fit});
  auto page = store_->ListKeys(request->page_token(), page_size);
  if (!page.ok()) return ToGrpcStatus(page.status());
  response->set_next_page_token(page->next_page_token);
  for (const engine::KeyInfo& k : page->keys) {
    v1::KeyInfo* out = response->add_keys();
    out->set_kind(k.kind);
    out->set_id(k.id);
    out->set_version(k.version);
    out->set_created_unix_s(k.created_unix_s);
    out->set_subject_hash_hex(k.subject_hash_hex);
    out->set_current(k.current);
  }
  return grpc::Status::OK;
}

grpc::Status AdminService::RotateKey(grpc::ServerContext* context,
                                     const v1::RotateKeyRequest* request,
                                     v1::RotateKeyResponse* response) {
  CallIdentity id;
  if (grpc::Status s = gate_->Admit(context, &id); !s.ok()) return s;
  if (grpc::Status s = Require(id, policy::Action::kAdmin, "*", ""); !s.ok()) return s;
  if (int{request->storage()} + int{!request->subject().empty()} + int{request->kek()} != 1) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "rotate exactly one of: the storage key, a subject's key, the KEK");
  }
  const std::string resource = request->kek()       ? std::string("kek")
                               : request->storage() ? std::string("storage")
                                                    : SubjectResource(store_->SubjectHashHex(request->subject()));
  AdminAct act;
  if (grpc::Status s = AdminAct::Begin(id, "key.rotate", resource, &act); !s.ok()) return s;
  return act.FinishDurable(Rotate(*request, response, &act));
}

namespace {

// "cairn-backup-20261206T120000Z-1a2b3c4d": sorts by time; the random part keeps two backups of
// one second apart.
std::string BackupName() {
  return "cairn-backup-" + NowUtcCompact() + "-" + HexEncode(crypto::RandomString(4));
}

}  // namespace

grpc::Status AdminService::Backup(grpc::ServerContext* context, const v1::BackupRequest*,
                                  v1::BackupResponse* response) {
  CallIdentity id;
  if (grpc::Status s = gate_->Admit(context, &id); !s.ok()) return s;
  if (grpc::Status s = Require(id, policy::Action::kAdmin, "*", ""); !s.ok()) return s;
  if (facts_.backup_dir.empty()) {
    return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                        "backups are off: set [backup] dir in the server's configuration");
  }
  const std::string name = BackupName();
  AdminAct act;
  if (grpc::Status s = AdminAct::Begin(id, "backup", name, &act); !s.ok()) return s;
  auto made = store_->Backup(facts_.backup_dir + "/" + name);
  if (!made.ok()) return act.FinishDurable(ToGrpcStatus(made.status()));
  response->set_path(made->path);
  response->set_tree_size(made->tree_size);
  response->set_checkpoint_size(made->checkpoint_size);
  response->set_checkpoint_note(made->checkpoint_note);
  response->set_kek_id(made->kek_id);
  act.AddDetail("tree_size", std::to_string(made->tree_size));
  act.AddDetail("kek_id", made->kek_id);
  act.AddDetail("checkpoint_size", std::to_string(made->checkpoint_size));
  return act.FinishDurable(grpc::Status::OK);
}

grpc::Status AdminService::Rotate(const v1::RotateKeyRequest& request,
                                  v1::RotateKeyResponse* response, AdminAct* act) {
  if (request.kek()) {
    auto rotation = store_->RotateKek();
    if (!rotation.ok()) return ToGrpcStatus(rotation.status());
    response->set_kind("kek");
    response->set_id(rotation->kek_id);
    response->set_rewrapped(rotation->rewrapped);
    response->set_resumed(rotation->resumed);
    response->set_old_kek_kept(rotation->old_kek_kept);
    response->set_unreadable_secrets(rotation->unreadable_secrets);
    act->AddDetail("kek_id", rotation->kek_id);
    act->AddDetail("rewrapped", std::to_string(rotation->rewrapped));
    act->AddDetail("old_kek_kept", rotation->old_kek_kept ? "true" : "false");
    act->AddDetail("unreadable_secrets", std::to_string(rotation->unreadable_secrets));
  } else if (request.storage()) {
    auto epoch = store_->RotateStorageKey();
    if (!epoch.ok()) return ToGrpcStatus(epoch.status());
    response->set_kind("storage");
    response->set_id(std::to_string(*epoch));
    act->AddDetail("epoch", std::to_string(*epoch));
  } else {
    auto kid = store_->RotateSubjectKey(request.subject());
    if (!kid.ok()) return ToGrpcStatus(kid.status());
    response->set_kind("subject");
    response->set_id(*kid);
  }
  return grpc::Status::OK;
}

}  // namespace cairn::server
