// AuditLogListener: writes one structured log line (common/log.h) per audit record it sees, so
// each audited security act is logged exactly once, where it is audited: warn for failures and
// denials (auth failures, denials, refused connections, integrity violations, failed admin
// acts), info for the rest. The line carries the record's identifiers and fixed texts only
// (action, outcome, source address, principal, request id, resource, reason, error code, rule);
// records never hold secrets (audit/record.h), so neither do the lines.
//
// Thread safety: OnAuditRecord is thread-safe (the logger is).
#pragma once

#include "audit/record.h"
#include "common/log.h"

namespace cairn::audit {

class AuditLogListener final : public AuditListener {
 public:
  void OnAuditRecord(const AuditRecord& record) override;
};

// The level and message a record is logged with.
log::Level AuditLogLevel(const AuditRecord& record);
std::string_view AuditLogMessage(const AuditRecord& record);

}  // namespace cairn::audit
