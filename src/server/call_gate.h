// CallGate: the first thing every RPC does. It checks the peer address against the allowlist
// (a second line behind PeerFilter), authenticates the call once (auth/), and pins the policy
// snapshot the whole call is judged by.
//
// A call that fails the gate gets UNAUTHENTICATED (or PERMISSION_DENIED for a refused peer)
// and nothing else: no stream names, no store state.
//
// Thread safety: Admit() is safe to call concurrently; the gate's collaborators must outlive it.
#pragma once

#include <memory>
#include <string>

#include <grpcpp/server_context.h>

#include "auth/authenticator.h"
#include "common/principal.h"
#include "policy/policy.h"
#include "policy/holder.h"
#include "server/cidr.h"
#include "subscribe/live_access.h"

namespace cairn::server {

class AppendQuotas;
class CallAudit;

// Who is calling and the policy that judges the call.
struct CallIdentity {
  Principal principal;
  std::string peer_ip;
  std::string request_id;           // x-request-id or a generated one (server/call_audit.h)
  const CallAudit* audit = nullptr;  // where denials and admin acts are audited; may be null
  AppendQuotas* quotas = nullptr;    // the append quotas' buckets (append_quota.h); may be null
  // Tells whether an API key is still configured as when the call was admitted (CheckNotExpired);
  // may be null (not checked).
  const auth::Authenticator* authenticator = nullptr;
  std::shared_ptr<const policy::Policy> policy;
  policy::ResolvedPrincipal resolved;
  bool expiry_audited = false;  // the credential's expiry or revocation was recorded (once a call)

  policy::Decision Decide(policy::Action action, std::string_view stream,
                          std::string_view event_type) const {
    return policy->Decide(resolved, action, stream, event_type);
  }
};

// UNAUTHENTICATED once the call's credential has expired (Principal::expires_unix_s), or its
// API key was removed or changed by a reload since the call was admitted
// (auth::Authenticator::CheckApiKeyInForce), audited through identity->audit as an
// authentication failure once per call (counted every time); OK otherwise. For calls that run
// on after Admit: reads between pages, and CallGate::Refresh.
grpc::Status CheckNotExpired(CallIdentity* identity);

// The credential check of subscriptions and consumer-group members (subscribe/live_access.h):
// Authenticator::CheckApiKeyInForce; empty for a null authenticator.
subscribe::CredentialCheck CredentialCheckOf(const auth::Authenticator* authenticator);

class CallGate {
 public:
  // `audit` records authentication failures and refused peers, counts authentication
  // successes, and is handed to every admitted call's CallIdentity (services use it unchecked).
  // `quotas` (may be null: no quota is enforced) is handed to every admitted call likewise, for
  // ChargeAppendQuota (server/append_quota.h).
  CallGate(const auth::Authenticator* authenticator, policy::PolicyHolder* policies,
           const CidrSet* allowed_peers, const CallAudit* audit, AppendQuotas* quotas = nullptr);

  // On success fills *identity; otherwise returns the gRPC status to answer with.
  // Works for both the synchronous and the callback API (ServerContextBase).
  grpc::Status Admit(grpc::ServerContextBase* context, CallIdentity* identity) const;
  // The peer check of Admit alone, for the calls that answer without credentials (the
  // EventStoreDB discovery calls): PERMISSION_DENIED, counted and audited, for a peer outside
  // server.allow_cidrs or one that is not an IP address.
  grpc::Status AdmitPeer(grpc::ServerContextBase* context) const;
  // For a call that lives on after Admit (a stream of appends): re-takes the policy in force and
  // re-resolves the principal's roles, so a reload reaches the call's next act; UNAUTHENTICATED
  // once the credential has expired (Principal::expires_unix_s), audited as an authentication
  // failure once per call (counted every time).
  grpc::Status Refresh(CallIdentity* identity) const;

 private:
  // AdmitPeer on a peer string already taken from the context (it is copied on every call).
  grpc::Status CheckPeer(grpc::ServerContextBase* context, std::string_view peer) const;
  const auth::Authenticator* authenticator_;
  policy::PolicyHolder* policies_;
  const CidrSet* allowed_peers_;
  const CallAudit* audit_;
  AppendQuotas* quotas_;  // may be null
};

// Audits the end of a long call that the server ended for access — a live subscription, a
// consumer-group member (cairn.v1 or EventStoreDB) — like a refused call: UNAUTHENTICATED (the
// credential expired, or a reload revoked its API key) as an authentication failure, once per
// call; PERMISSION_DENIED as a denial of `action` on `resource`: with `rule` when the caller
// knows why (a group that no longer names the consumer: "group-consumers"), else with the rule
// that decides it under the policy in force now (a reload took the grant away; the identity's
// roles are refreshed through `gate`). Any other status: nothing. Not thread-safe on *id.
void AuditAccessEnd(const CallGate& gate, CallIdentity* id, policy::Action action,
                    std::string_view resource, const Status& status, std::string_view rule = "");

}  // namespace cairn::server
