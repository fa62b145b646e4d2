// cairn.v1.Admin: ServerInfo and WhoAmI for any authenticated caller; ReloadPolicy and ReloadTls
// need action `admin` (resource "*"); Forget needs `forget` (resource "*"); ListKeys, RotateKey
// and Backup need `admin` (resource "*"). A ListKeys page holds at most what fits in one message
// of limits.max_message_bytes, whatever page_size asks. A policy reload that fails leaves the old
// policy in force and answers INVALID_ARGUMENT with the parser's one-line reason; a TLS reload
// that fails leaves the served certificate (server/tls_reload.h). Reloads, forget, rotation and
// backup are admin acts (server/call_audit.h): refused with UNAVAILABLE when the audit queue is
// full.
//
// Thread safety: gRPC calls the methods concurrently; PolicyHolder and TlsReloader serialise
// reloads.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "cairn/v1/admin.grpc.pb.h"
#include "engine/event_store.h"
#include "policy/holder.h"
#include "server/api_key_reload.h"
#include "server/call_audit.h"
#include "server/call_gate.h"
#include "server/tls_reload.h"

namespace cairn::server {

struct ServerFacts {
  std::string version;
  bool tls = true;
  std::vector<std::string> auth_methods;
  int64_t started_at_unix_s = 0;
  std::function<uint64_t()> refused_connections;  // may be empty
  std::function<uint64_t()> violation_reports;    // may be empty
  uint64_t max_message_bytes = uint64_t{4} << 20;  // limits.max_message_bytes: bounds a page
  std::string backup_dir;  // [backup] dir: where Backup makes its directories ("": no backups)
};

class AdminService final : public v1::Admin::Service {
 public:
  // `tls` replaces the certificates (server/tls_reload.h), `api_keys` the API keys
  // (server/api_key_reload.h); not owned, they outlive the service.
  AdminService(engine::EventStore* store, const CallGate* gate, policy::PolicyHolder* policies,
               ServerFacts facts, TlsReloader* tls, ApiKeyReloader* api_keys);

  grpc::Status ServerInfo(grpc::ServerContext* context, const v1::ServerInfoRequest* request,
                          v1::ServerInfoResponse* response) override;
  grpc::Status WhoAmI(grpc::ServerContext* context, const v1::WhoAmIRequest* request,
                      v1::WhoAmIResponse* response) override;
  grpc::Status ReloadPolicy(grpc::ServerContext* context, const v1::ReloadPolicyRequest* request,
                            v1::ReloadPolicyResponse* response) override;
  grpc::Status ReloadTls(grpc::ServerContext* context, const v1::ReloadTlsRequest* request,
                         v1::ReloadTlsResponse* response) override;
  grpc::Status ReloadApiKeys(grpc::ServerContext* context,
                             const v1::ReloadApiKeysRequest* request,
                             v1::ReloadApiKeysResponse* response) override;
  grpc::Status Forget(grpc::ServerContext* context, const v1::ForgetRequest* request,
                      v1::ForgetResponse* response) override;
  grpc::Status ListKeys(grpc::ServerContext* context, const v1::ListKeysRequest* request,
                        v1::ListKeysResponse* response) override;
  grpc::Status RotateKey(grpc::ServerContext* context, const v1::RotateKeyRequest* request,
                         v1::RotateKeyResponse* response) override;
  grpc::Status Backup(grpc::ServerContext* context, const v1::BackupRequest* request,
                      v1::BackupResponse* response) override;

 private:
  grpc::Status Rotate(const v1::RotateKeyRequest& request, v1::RotateKeyResponse* response,
                      AdminAct* act);

  engine::EventStore* store_;
  const CallGate* gate_;
  policy::PolicyHolder* policies_;
  ServerFacts facts_;
  TlsReloader* tls_;
  ApiKeyReloader* api_keys_;
};

}  // namespace cairn::server
