#include "audit/log_listener.h"

namespace cairn::audit {

log::Level AuditLogLevel(const AuditRecord& record) {
  switch (record.kind) {
    case AuditKind::kAuthFailure:
    case AuditKind::kAccessDenied:
    case AuditKind::kConnectionRefused:
    case AuditKind::kIntegrityViolation:
      return log::Level::kWarn;
    case AuditKind::kAdmin:
      return record.outcome == "success" ? log::Level::kInfo : log::Level::kWarn;
    case AuditKind::kServerStart:
      return record.outcome == "failure" ? log::Level::kError : log::Level::kInfo;
    case AuditKind::kServerStop:
      return log::Level::kInfo;
    case AuditKind::kDataPlane:
      return log::Level::kDebug;
    case AuditKind::kAuditGap:
      return log::Level::kError;
  }
  return log::Level::kInfo;
}

std::string_view AuditLogMessage(const AuditRecord& record) {
  switch (record.kind) {
    case AuditKind::kAuthFailure: return "authentication failed";
    case AuditKind::kAccessDenied: return "access denied";
    case AuditKind::kConnectionRefused: return "connection refused";
    case AuditKind::kAdmin: return "admin act";
    case AuditKind::kIntegrityViolation: return "integrity violation";
    case AuditKind::kServerStart:
      return record.outcome == "failure" ? "server start refused (cairn.reason says where)"
                                         : "server started";
    case AuditKind::kServerStop: return "server stopping";
    case AuditKind::kDataPlane: return "data-plane call";
    case AuditKind::kAuditGap: return "audit records dropped (cairn.reason says why)";
  }
  return "audit record";
}

void AuditLogListener::OnAuditRecord(const AuditRecord& r) {
  const log::Level level = AuditLogLevel(r);
  if (!log::Enabled(level)) return;
  log::Fields f;
  f.action = r.action;
  f.outcome = r.outcome.empty() ? std::string_view("unknown") : std::string_view(r.outcome);
  f.source_ip = r.source_ip;
  f.user_id = r.principal;
  f.trace_id = r.request_id;
  auto add = [&](std::string_view name, const std::string& value) {
    if (!value.empty()) f.extra.emplace_back(name, value);
  };
  add("cairn.audit.type", std::string(AuditEventType(r.kind)));
  add("cairn.auth_method", r.auth_method);
  add("cairn.resource", r.resource);
  add("cairn.event_type", r.event_type);
  add("cairn.rule", r.rule);
  add("cairn.reason", r.reason);
  add("error.code", r.error_code);
  log::Write(level, AuditLogMessage(r), f);
}

}  // namespace cairn::audit
