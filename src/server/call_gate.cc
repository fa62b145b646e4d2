#include "server/call_gate.h"

#include <cassert>
#include <chrono>

#include "auth/basic_credentials.h"
#include "common/wall_clock.h"
#include "server/call_audit.h"
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

// The method a credential was presented for, from its shape only (never its content).
std::string_view CredentialMethod(const auth::CallCredentials& creds) {
  if (creds.authorization.empty()) return creds.peer_cert_pem.empty() ? "none" : "mtls";
  const size_t space = creds.authorization.find(' ');
  if (space == std::string_view::npos) return "unknown";
  if (auth::HasAuthScheme(creds.authorization, "basic")) return "apikey";
  return creds.authorization.substr(space + 1).rfind("cairn_", 0) == 0 ? "apikey" : "jwt";
}

}  // namespace

CallGate::CallGate(const auth::Authenticator* authenticator, policy::PolicyHolder* policies,
                   const CidrSet* allowed_peers, const CallAudit* audit,
                   AppendQuotas* quotas)
    : authenticator_(authenticator),
      policies_(policies),
      allowed_peers_(allowed_peers),
      audit_(audit),
      quotas_(quotas) {}

grpc::Status CallGate::AdmitPeer(grpc::ServerContextBase* context) const {
  return CheckPeer(context, context->peer());
}

grpc::Status CallGate::CheckPeer(grpc::ServerContextBase* context, std::string_view peer) const {
  auto ip = ParseGrpcPeer(peer);
  if (ip && (allowed_peers_->empty() || allowed_peers_->ContainsText(*ip))) return grpc::Status::OK;
  if (audit_ != nullptr) {
    audit_->ConnectionRefused(ip ? *ip : std::string_view(), RequestIdOf(context));
  }
  return grpc::Status(grpc::StatusCode::PERMISSION_DENIED, "peer address not allowed");
}

grpc::Status CallGate::Admit(grpc::ServerContextBase* context, CallIdentity* identity) const {
  const std::string peer = context->peer();
  if (grpc::Status s = CheckPeer(context, peer); !s.ok()) return s;
  std::string request_id = RequestIdOf(context);
  auto ip = ParseGrpcPeer(peer);
  assert(ip.has_value());
  const std::string cert_pem = PeerCertPem(context);
  auth::CallCredentials creds;
  creds.authorization = FirstMetadata(context, "authorization");
  creds.peer_cert_pem = cert_pem;
  creds.peer_address = *ip;
  bool record_failure = true;
  auto principal = authenticator_->Authenticate(creds, NowUnixSeconds(), &record_failure);
  if (!principal.ok()) {
    if (audit_ != nullptr && record_failure) {
      audit_->AuthFailure(request_id, CredentialMethod(creds), principal.status().message(), *ip);
    } else if (audit_ != nullptr) {
      audit_->AuthFailureCounted(CredentialMethod(creds), principal.status().message(), *ip);
    }
    return UnauthenticatedStatus(principal.status());
  }
  if (audit_ != nullptr) audit_->AuthSuccess(principal->method);
  identity->principal = std::move(principal).value();
  identity->peer_ip = std::string(*ip);
  identity->request_id = std::move(request_id);
  identity->audit = audit_;
  identity->quotas = quotas_;
  identity->authenticator = authenticator_;
  identity->policy = policies_->Current();
  identity->resolved = identity->policy->Resolve(identity->principal);
  return grpc::Status::OK;
}

grpc::Status CallGate::Refresh(CallIdentity* identity) const {
  assert(identity != nullptr);
  if (grpc::Status s = CheckNotExpired(identity); !s.ok()) return s;
  identity->policy = policies_->Current();
  identity->resolved = identity->policy->Resolve(identity->principal);
  return grpc::Status::OK;
}

subscribe::CredentialCheck CredentialCheckOf(const auth::Authenticator* authenticator) {
  if (authenticator == nullptr) return {};
  return [authenticator](const Principal& principal) {
    return authenticator->CheckApiKeyInForce(principal);
  };
}

grpc::Status CheckNotExpired(CallIdentity* identity) {
  assert(identity != nullptr);
  const CallAudit* audit = identity->audit;
  const int64_t expires = identity->principal.expires_unix_s;
  const bool expired = expires != 0 && NowUnixSeconds() > expires;
  const bool revoked = !expired && identity->authenticator != nullptr &&
                       !identity->authenticator->CheckApiKeyInForce(identity->principal).ok();
  if (expired || revoked) {
    // An authentication failure like one at admission (a long call outlived its credential).
    const AuthMethod method = identity->principal.method;
    const char* reason = revoked                       ? "api key revoked"
                         : method == AuthMethod::kApiKey ? "api key expired"
                         : method == AuthMethod::kJwt    ? "token expired"
                                                         : "credential expired";
    // Once a call: a call that keeps sending after its credential expired (BatchAppend answers
    // each append) must not add a record per message.
    if (audit != nullptr && !identity->expiry_audited) {
      audit->AuthFailure(identity->request_id, AuthMethodName(method), reason, identity->peer_ip);
    } else if (audit != nullptr) {
      // No source: a later message of one call, not a new attempt for the alert rules to count.
      audit->AuthFailureCounted(AuthMethodName(method), reason, /*source_ip=*/"");
    }
    identity->expiry_audited = true;
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                        revoked ? "credential revoked" : "credential expired");
  }
  return grpc::Status::OK;
}

void AuditAccessEnd(const CallGate& gate, CallIdentity* id, policy::Action action,
                    std::string_view resource, const Status& status, std::string_view rule) {
  assert(id != nullptr);
  if (id->audit == nullptr) return;
  if (status.code() == StatusCode::kUnauthenticated) {  // expired (now >= exp), or revoked
    if (id->expiry_audited) return;
    id->expiry_audited = true;
    const char* reason =
        status.message() == "api key revoked" ? "api key revoked" : "credential expired";
    id->audit->AuthFailure(id->request_id, AuthMethodName(id->principal.method), reason,
                           id->peer_ip);
    return;
  }
  if (status.code() != StatusCode::kPermissionDenied) return;
  if (!rule.empty()) {
    id->audit->Denied(*id, action, resource, "", rule);
    return;
  }
  if (!gate.Refresh(id).ok()) return;
  id->audit->Denied(*id, action, resource, "", id->Decide(action, resource, "").rule);
}

}  // namespace cairn::server
