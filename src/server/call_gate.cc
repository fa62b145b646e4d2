#include "server/call_gate.h"

#include <chrono>

#include "server/status_map.h"

namespace cairn::server {
namespace {

std::string_view FirstMetadata(const grpc::ServerContextBase* context, std::string_view key) {
  const auto& md = context->client_metadata();
  auto it = md.find(grpc::string_ref(key.data(), key.size()));
  if (it == md.end()) return {};
  return std::string_view(it->second.data(), it->second.size());
}

std::string PeerCertPem(const grpc::ServerContextBase* context) {
  auto auth_context = context->auth_context();
  if (!auth_context) return "";
  auto values = auth_context->FindPropertyValues("x509_pem_cert");
  if (values.empty()) return "";
  return std::string(values.front().data(), values.front().size());
}

int64_t NowUnixSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

CallGate::CallGate(const auth::Authenticator* authenticator, policy::PolicyHolder* policies,
                   const CidrSet* allowed_peers)
    : authenticator_(authenticator), policies_(policies), allowed_peers_(allowed_peers) {}

grpc::Status CallGate::Admit(grpc::ServerContextBase* context, CallIdentity* identity) const {
  const std::string peer = context->peer();
  auto ip = ParseGrpcPeer(peer);
  if (!ip) {
    return grpc::Status(grpc::StatusCode::PERMISSION_DENIED, "peer address not allowed");
  }
  if (!allowed_peers_->empty() && !allowed_peers_->ContainsText(*ip)) {
    return grpc::Status(grpc::StatusCode::PERMISSION_DENIED, "peer address not allowed");
  }
  const std::string cert_pem = PeerCertPem(context);
  auth::CallCredentials creds;
  creds.authorization = FirstMetadata(context, "authorization");
  creds.peer_cert_pem = cert_pem;
  creds.peer_address = *ip;
  auto principal = authenticator_->Authenticate(creds, NowUnixSeconds());
  if (!principal.ok()) return UnauthenticatedStatus(principal.status());
  identity->principal = std::move(principal).value();
  identity->peer_ip = std::string(*ip);
  identity->policy = policies_->Current();
  identity->resolved = identity->policy->Resolve(identity->principal);
  return grpc::Status::OK;
}

}  // namespace cairn::server
