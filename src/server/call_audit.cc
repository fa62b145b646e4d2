#include "server/call_audit.h"

#include <atomic>
#include <chrono>
#include <cassert>
#include <cstdio>
#include <span>

#include "audit/audit_metrics.h"
#include "common/bytes.h"
#include "common/steady_clock.h"
#include "crypto/secure.h"
#include "crypto/sha256.h"
#include "server/status_map.h"

namespace cairn::server {
namespace {

using audit::AuditKind;
using audit::AuditRecord;

// Authentication failure reasons are fixed texts (the longest is 79 bytes); the bound keeps a
// new one from growing records, and is above every text so a reason maps to its metric label
// the same whether it went through the trail or was only counted.
constexpr size_t kAuthFailureReasonSizeBytesMax = 128;

bool ValidRequestId(std::string_view id) {
  if (id.empty() || id.size() > kRequestIdBytesMax) return false;
  for (char c : id) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

// A random process prefix, so that generated ids of two server runs do not collide.
const std::string& ProcessPrefix() {
  static const std::string prefix = [] {
    uint8_t bytes[4] = {};
    (void)crypto::RandomPublicBytes(std::span<uint8_t>(bytes, sizeof bytes));
    char buf[16];
    std::snprintf(buf, sizeof buf, "c-%02x%02x%02x%02x-", bytes[0], bytes[1], bytes[2], bytes[3]);
    return std::string(buf);
  }();
  return prefix;
}

AuditRecord CallRecord(AuditKind kind, const CallIdentity& id) {
  AuditRecord r;
  r.kind = kind;
  r.request_id = id.request_id;
  r.principal = id.principal.id;
  r.auth_method = id.principal.method == AuthMethod::kNone ? ""
                                                           : AuthMethodName(id.principal.method);
  r.source_ip = id.peer_ip;
  return r;
}

// An access denial of `action` on `resource` by `rule`, as far as Denied and QuotaRefused share it.
AuditRecord DenialRecord(const CallIdentity& id, policy::Action action, std::string_view resource,
                         std::string_view rule) {
  AuditRecord r = CallRecord(AuditKind::kAccessDenied, id);
  r.action = std::string(policy::ActionName(action));
  r.resource = std::string(resource);
  r.decision = "deny";
  r.rule = std::string(rule);
  r.outcome = "failure";
  return r;
}

bool IsWrite(policy::Action action) {
  return action == policy::Action::kAppend || action == policy::Action::kDelete;
}

void SetOutcome(AuditRecord* r, const grpc::Status& status) {
  r->outcome = status.ok() ? "success" : "failure";
  r->error_code = std::string(GrpcCodeName(status.error_code()));
}

}  // namespace

std::string RequestIdOf(const grpc::ServerContextBase* context) {
  const auto& md = context->client_metadata();
  auto it = md.find("x-request-id");
  if (it != md.end()) {
    std::string_view value(it->second.data(), it->second.size());
    if (ValidRequestId(value)) return std::string(value);
  }
  static std::atomic<uint64_t> counter{0};
  return ProcessPrefix() + std::to_string(counter.fetch_add(1, std::memory_order_relaxed) + 1);
}

std::string_view GrpcCodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK: return "";
    case grpc::StatusCode::CANCELLED: return "CANCELLED";
    case grpc::StatusCode::UNKNOWN: return "UNKNOWN";
    case grpc::StatusCode::INVALID_ARGUMENT: return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED: return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND: return "NOT_FOUND";
    case grpc::StatusCode::ALREADY_EXISTS: return "ALREADY_EXISTS";
    case grpc::StatusCode::PERMISSION_DENIED: return "PERMISSION_DENIED";
    case grpc::StatusCode::RESOURCE_EXHAUSTED: return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::FAILED_PRECONDITION: return "FAILED_PRECONDITION";
    case grpc::StatusCode::ABORTED: return "ABORTED";
    case grpc::StatusCode::OUT_OF_RANGE: return "OUT_OF_RANGE";
    case grpc::StatusCode::UNIMPLEMENTED: return "UNIMPLEMENTED";
    case grpc::StatusCode::INTERNAL: return "INTERNAL";
    case grpc::StatusCode::UNAVAILABLE: return "UNAVAILABLE";
    case grpc::StatusCode::DATA_LOSS: return "DATA_LOSS";
    case grpc::StatusCode::UNAUTHENTICATED: return "UNAUTHENTICATED";
    default: break;
  }
  return "UNKNOWN";
}

CallAudit::CallAudit(audit::AuditTrail* trail, audit::MetricsRegistry* metrics)
    : trail_(trail), metrics_(metrics) {
  assert(trail_ != nullptr);
  if (metrics == nullptr) return;
  for (uint32_t i = 0; i < policy::kActionCount; ++i) {
    const auto action = static_cast<policy::Action>(i);
    allowed_[i] = metrics->GetCounter("cairn_calls_allowed_total",
                                      "Calls the policy allowed, by action.",
                                      {{"action", std::string(policy::ActionName(action))}});
    denied_[i] = audit::DenialCounter(metrics, policy::ActionName(action));
  }
  for (AuthMethod m : {AuthMethod::kJwt, AuthMethod::kApiKey, AuthMethod::kMtls}) {
    auth_successes_[static_cast<size_t>(m)] = metrics->GetCounter(
        "cairn_auth_successes_total", "Calls that authenticated, by method.",
        {{"method", AuthMethodName(m)}});
  }
  refused_ = metrics->GetCounter("cairn_refused_connections_total",
                                 "Connections refused at accept: the peer is outside allow_cidrs, or the connection "
                                 "limits were reached.");
}

namespace {

AuditRecord AuthFailureRecord(std::string_view method, std::string_view reason,
                              std::string_view source_ip) {
  AuditRecord r;
  r.kind = AuditKind::kAuthFailure;
  r.auth_method = std::string(method);
  r.source_ip = std::string(source_ip);
  r.action = "auth";
  r.outcome = "failure";
  r.error_code = "UNAUTHENTICATED";
  r.reason = std::string(reason.substr(0, kAuthFailureReasonSizeBytesMax));
  return r;
}

}  // namespace

void CallAudit::AuthFailure(std::string_view request_id, std::string_view method,
                            std::string_view reason, std::string_view source_ip) const {
  AuditRecord r = AuthFailureRecord(method, reason, source_ip);
  r.request_id = std::string(request_id);
  trail_->Submit(std::move(r));
}

void CallAudit::AuthFailureCounted(std::string_view method, std::string_view reason,
                                   std::string_view source_ip) const {
  if (metrics_ != nullptr) audit::AuthFailureCounter(metrics_, method, reason)->Increment();
  // For the alert rules only: never queued for the trail.
  if (alerts_ != nullptr && !source_ip.empty()) {
    alerts_->OnAuditRecord(AuthFailureRecord(method, reason, source_ip));
  }
}

void CallAudit::AuthSuccess(AuthMethod method) const {
  audit::Counter* c = auth_successes_[static_cast<size_t>(method) % auth_successes_.size()];
  if (c != nullptr) c->Increment();
}

void CallAudit::ConnectionRefused(std::string_view source_ip, std::string_view request_id,
                                  ConnectionRefusal why) const {
  AuditRecord r;
  r.kind = AuditKind::kConnectionRefused;
  r.request_id = std::string(request_id);
  // An IPv4 peer of a dual-stack listener comes as "::ffff:a.b.c.d": recorded as a.b.c.d.
  constexpr std::string_view kMapped = "::ffff:";
  if (source_ip.rfind(kMapped, 0) == 0 && source_ip.find('.') != std::string_view::npos) {
    source_ip.remove_prefix(kMapped.size());
  }
  const int64_t now_s = std::chrono::duration_cast<std::chrono::seconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
  refusals_.RecordFailure(source_ip, now_s);
  if (!refusals_.CheckLimited(source_ip, now_s).first_in_bucket) {
    if (refused_ != nullptr) refused_->Increment();  // recorded ones count through the trail
    return;
  }
  r.source_ip = std::string(source_ip);
  r.action = "connect";
  r.outcome = "failure";
  switch (why) {
    case ConnectionRefusal::kAddressNotAllowed:
      r.error_code = "PERMISSION_DENIED";
      r.reason = "address not in server.allow_cidrs";
      break;
    case ConnectionRefusal::kSourceLimit:
      r.error_code = "RESOURCE_EXHAUSTED";
      r.reason = "connection limit of the source reached (limits.connections_per_source_max)";
      break;
    case ConnectionRefusal::kTotalLimit:
      r.error_code = "RESOURCE_EXHAUSTED";
      r.reason = "connection limit reached (limits.connections_max)";
      break;
  }
  trail_->Submit(std::move(r));
}

void CallAudit::Denied(const CallIdentity& id, policy::Action action, std::string_view resource,
                       std::string_view event_type, std::string_view rule) const {
  AuditRecord r = DenialRecord(id, action, resource, rule);
  r.event_type = std::string(event_type);
  r.error_code = "PERMISSION_DENIED";
  r.reason = "denied by policy";
  const DenialThrottle::Verdict verdict = denials_.Admit(id.principal.id, SteadyNowMs());
  if (!verdict.record) {
    // Counted and told to the alert rules as a recorded one would be; not kept or logged.
    audit::Counter* c = denied_[static_cast<size_t>(action)];
    if (c != nullptr) c->Increment();
    if (alerts_ != nullptr) alerts_->OnAuditRecord(r);
    return;
  }
  if (verdict.unrecorded_before > 0) {
    r.details.emplace_back("unrecorded_denials_before", std::to_string(verdict.unrecorded_before));
  }
  trail_->Submit(std::move(r));
}

void CallAudit::QuotaRefused(const CallIdentity& id, std::string_view resource,
                             std::string_view rule, std::string_view limit,
                             uint64_t retry_after_ms) const {
  AuditRecord r = DenialRecord(id, policy::Action::kAppend, resource, rule);
  r.error_code = "RESOURCE_EXHAUSTED";
  r.reason = "append quota exceeded";
  r.details.emplace_back("limit", std::string(limit));
  r.details.emplace_back("retry_after_ms", std::to_string(retry_after_ms));
  trail_->Submit(std::move(r));
}

void CallAudit::CountAllowed(policy::Action action) const {
  audit::Counter* c = allowed_[static_cast<size_t>(action)];
  if (c != nullptr) c->Increment();
}

bool CallAudit::data_plane_wanted(bool is_write) const {
  const audit::DataPlaneAudit mode = trail_->data_plane();
  return mode == audit::DataPlaneAudit::kAll ||
         (mode == audit::DataPlaneAudit::kWrites && is_write);
}

void CallAudit::DataPlane(const CallIdentity& id, policy::Action action, std::string_view resource,
                          const grpc::Status& outcome,
                          std::vector<std::pair<std::string, std::string>> details) const {
  if (!data_plane_wanted(IsWrite(action))) return;
  AuditRecord r = DataPlaneRecord(id, action, resource);
  r.details = std::move(details);
  SubmitDataPlane(std::move(r), outcome);
}

AuditRecord CallAudit::DataPlaneRecord(const CallIdentity& id, policy::Action action,
                                       std::string_view resource) const {
  AuditRecord r = CallRecord(AuditKind::kDataPlane, id);
  r.action = std::string(policy::ActionName(action));
  r.resource = std::string(resource);
  r.decision = "allow";
  return r;
}

void CallAudit::SubmitDataPlane(AuditRecord record, const grpc::Status& outcome) const {
  const bool is_write = record.action == policy::ActionName(policy::Action::kAppend) ||
                        record.action == policy::ActionName(policy::Action::kDelete);
  SetOutcome(&record, outcome);
  trail_->SubmitDataPlane(std::move(record), is_write);
}

std::string SubjectResource(std::string_view subject_hash_hex) {
  return "subject-hash:" + std::string(subject_hash_hex);
}

grpc::Status Require(const CallIdentity& id, policy::Action action, std::string_view stream,
                     std::string_view event_type) {
  const policy::Decision decision = id.Decide(action, stream, event_type);
  if (decision.allowed) return grpc::Status::OK;
  if (id.audit != nullptr) id.audit->Denied(id, action, stream, event_type, decision.rule);
  return DeniedStatus(policy::ActionName(action), stream, event_type);
}

grpc::Status RequireOnWholeLog(const CallIdentity& id, policy::Action action) {
  if (id.policy->MayActSomewhere(id.resolved, action)) return grpc::Status::OK;
  if (id.audit != nullptr) id.audit->Denied(id, action, "$all", "", "no-grant-on-any-stream");
  return DeniedStatus(policy::ActionName(action), "$all", "");
}

grpc::Status AdminAct::Begin(const CallIdentity& id, std::string act, std::string resource,
                             AdminAct* out) {
  assert(out != nullptr && !out->begun_);
  if (id.audit != nullptr) {
    auto slot = id.audit->trail()->ReserveAdmin();
    if (!slot.ok()) {
      return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                          "the audit trail cannot take the record (queue full or writes failing): "
                          "the act was not done; retry later");
    }
    out->slot_ = std::move(slot).value();
    out->trail_ = id.audit->trail();
  }
  out->record_ = CallRecord(AuditKind::kAdmin, id);
  out->record_.action = std::move(act);
  out->record_.resource = std::move(resource);
  out->record_.decision = "allow";
  out->begun_ = true;
  out->has_slot_ = id.audit != nullptr;
  return grpc::Status::OK;
}

void AdminAct::AddDetail(std::string name, std::string value) {
  if (record_.details.size() < audit::kAuditDetailsMax) {
    record_.details.emplace_back(std::move(name), std::move(value));
  }
}

grpc::Status AdminAct::Finish(grpc::Status status) {
  assert(begun_);
  SetOutcome(&record_, status);
  if (has_slot_) slot_.Submit(std::move(record_));
  begun_ = false;
  has_slot_ = false;
  return status;
}

grpc::Status AdminAct::FinishDurable(grpc::Status status) {
  audit::AuditTrail* trail = trail_;
  status = Finish(std::move(status));
  if (trail != nullptr) trail->Flush();
  return status;
}

}  // namespace cairn::server
