// CallAudit: how the server's calls reach the audit trail (audit/trail.h) and the call counters.
//
// Every audited act is recorded exactly once, by the code that decides it:
//  - CallGate: authentication failures (method, fixed reason, source address; never the
//    credential), peers refused by the per-call allowlist check, successes counted by method;
//  - Require(): a policy denial (principal, action, resource, event type and the deciding rule —
//    the rule goes to the trail, never to the caller); at most DenialThrottle's share per
//    principal, the others counted (cairn_denials_total) and told to the alert rules only;
//  - AdminAct: admin acts. Begin() reserves a trail slot BEFORE the act, so a full audit queue
//    refuses the act (UNAVAILABLE) instead of letting it happen unaudited; Finish() records it
//    with its outcome;
//  - CountAllowed()/DataPlane(): allowed data-plane calls are counted by action
//    (cairn_calls_allowed_total) and, as audit.data_plane says, added to the trail.
//
// The request id of a call is its `x-request-id` metadata when that is 1..64 characters of
// [A-Za-z0-9._-], else a generated one ("c-<process random>-<counter>").
//
// Thread safety: every method is thread-safe; the trail and the registry must outlive it.
#pragma once

#include <array>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <grpcpp/server_context.h>
#include <grpcpp/support/status.h>

#include "audit/metrics.h"
#include "audit/trail.h"
#include "auth/failure_limiter.h"
#include "common/principal.h"
#include "policy/action.h"
#include "server/call_gate.h"
#include "server/connection_table.h"
#include "server/denial_throttle.h"

namespace cairn::server {

inline constexpr size_t kRequestIdBytesMax = 64;

// The call's request id (see above).
std::string RequestIdOf(const grpc::ServerContextBase* context);

// The name of a gRPC status code ("PERMISSION_DENIED"); "" for OK.
std::string_view GrpcCodeName(grpc::StatusCode code);

class CallAudit {
 public:
  static constexpr size_t kRefusalSourcesMax = 4096;
  // `trail` is required; `metrics` may be null (no counters).
  CallAudit(audit::AuditTrail* trail, audit::MetricsRegistry* metrics);

  audit::AuditTrail* trail() const { return trail_; }

  void AuthFailure(std::string_view request_id, std::string_view method, std::string_view reason,
                   std::string_view source_ip) const;
  // A failure that is counted (cairn_auth_failures_total) but not recorded: a rate-limited
  // source's repeated refusals (auth::Authenticator::Authenticate's record_failure). The alert
  // listener, when set, still sees it, so that a brute force beyond the rate limit reaches an
  // auth_failures rule whose threshold is above the records the limit lets through. An empty
  // `source_ip` (a later message of a call whose credential expired) is counted only.
  void AuthFailureCounted(std::string_view method, std::string_view reason,
                          std::string_view source_ip) const;
  // The alert engine, told of counted-only failures (above). Set before any call; may be null.
  void SetAlertListener(audit::AuditListener* alerts) { alerts_ = alerts; }
  void AuthSuccess(AuthMethod method) const;
  // Safe on gRPC poller threads (only a Submit). Every refusal is counted
  // (cairn_refused_connections_total); a source (an IPv4 address or an IPv6 /64) gets at most
  // one record per 10-second bucket, so that connecting from outside allow_cidrs (or past the
  // connection limits) cannot fill the trail (which cannot be deleted) and the logs at the rate it connects.
  void ConnectionRefused(std::string_view source_ip, std::string_view request_id,
                         ConnectionRefusal why = ConnectionRefusal::kAddressNotAllowed) const;
  // A policy denial: recorded while the principal is within DenialThrottle's share of the trail
  // (the first one after a throttled run carries detail unrecorded_denials_before = how many
  // were left out); otherwise counted in cairn_denials_total and told to the alert rules only.
  void Denied(const CallIdentity& id, policy::Action action, std::string_view resource,
              std::string_view event_type, std::string_view rule) const;
  // An append refused by the caller's quota (server/append_quota.h): an access denial of
  // `append` on `resource` whose rule is the quota's label, error RESOURCE_EXHAUSTED, details
  // limit and retry_after_ms. The caller throttles these (AppendQuotas::Verdict::audit).
  void QuotaRefused(const CallIdentity& id, std::string_view resource, std::string_view rule,
                    std::string_view limit, uint64_t retry_after_ms) const;
  void CountAllowed(policy::Action action) const;
  // An allowed data-plane call (append, delete, read, subscribe) for the trail, as data_plane
  // says; the record is built only when it would be kept.
  void DataPlane(const CallIdentity& id, policy::Action action, std::string_view resource,
                 const grpc::Status& outcome,
                 std::vector<std::pair<std::string, std::string>> details = {}) const;
  bool data_plane_wanted(bool is_write) const;
  // The two halves of DataPlane() for calls that finish later (appends): the record as far as
  // the call is known, then its submission with the outcome.
  audit::AuditRecord DataPlaneRecord(const CallIdentity& id, policy::Action action,
                                     std::string_view resource) const;
  void SubmitDataPlane(audit::AuditRecord record, const grpc::Status& outcome) const;

 private:
  audit::AuditTrail* trail_;
  audit::MetricsRegistry* metrics_;  // may be null
  audit::AuditListener* alerts_ = nullptr;  // may be null
  std::array<audit::Counter*, policy::kActionCount> allowed_{};
  std::array<audit::Counter*, policy::kActionCount> denied_{};  // denials not recorded
  mutable DenialThrottle denials_;  // which denials are recorded
  std::array<audit::Counter*, 4> auth_successes_{};  // by AuthMethod
  audit::Counter* refused_ = nullptr;                 // refusals not recorded (counted here)
  mutable auth::FailureLimiter refusals_{1, kRefusalSourcesMax};  // one record per bucket
};

// The resource of an act on a data subject: "subject-hash:<hex>", with the store's salted hash
// (engine::EventStore::SubjectHashHex; the `subject_hash_hex` of `cairn keys list`), never the
// subject id itself: it may be personal data, the trail cannot be erased, and a plain SHA-256 of
// a guessable id (an email, a customer number) is undone by trying guesses.
std::string SubjectResource(std::string_view subject_hash_hex);

// For a call on the whole log ("$all"), whose events are then judged one by one: some grant of
// `action` that no all-types deny covers (Policy::MayActSomewhere), else audited and answered
// with PERMISSION_DENIED naming action and "$all".
grpc::Status RequireOnWholeLog(const CallIdentity& id, policy::Action action);

// Decides `action` on (stream, event_type) for the call; a denial is audited (with the rule)
// and answered with PERMISSION_DENIED naming action, stream and type (never the rule).
grpc::Status Require(const CallIdentity& id, policy::Action action, std::string_view stream,
                     std::string_view event_type);

// One admin act of a call (see above). Usage:
//   AdminAct act;
//   if (auto s = AdminAct::Begin(id, "policy.reload", "*", &act); !s.ok()) return s;
//   grpc::Status result = ...do it...;
//   return act.Finish(result);
class AdminAct {
 public:
  AdminAct() = default;
  AdminAct(AdminAct&&) = default;
  AdminAct& operator=(AdminAct&&) = default;

  // UNAVAILABLE when the trail cannot take the record (queue full, or writes failing): the act
  // must not happen.
  static grpc::Status Begin(const CallIdentity& id, std::string act, std::string resource,
                            AdminAct* out);
  void AddDetail(std::string name, std::string value);
  // Records the act with its outcome (the error code, never the error text: it may name a data
  // subject); returns `status` unchanged.
  grpc::Status Finish(grpc::Status status);
  // Finish, then waits until the trail wrote the record (or one round of attempts to write it
  // failed; it is retried meanwhile): for the acts that cannot be undone (forget, key rotation,
  // policy reload), so that the caller's answer does not precede the record's durability. On a
  // synchronous handler's thread only (it blocks for about one commit).
  grpc::Status FinishDurable(grpc::Status status);

 private:
  audit::AuditTrail* trail_ = nullptr;  // the call's trail; null in tests without one
  audit::AuditTrail::AdminSlot slot_;
  audit::AuditRecord record_;
  bool begun_ = false;
  bool has_slot_ = false;  // false when the call has no trail (tests without one)
};

}  // namespace cairn::server
