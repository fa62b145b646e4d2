#include "cli/offline_audit.h"

#include <pwd.h>
#include <unistd.h>

#include <chrono>

#include "audit/record.h"
#include "cli/data_dir.h"
#include "server/call_audit.h"
#include "server/status_map.h"

namespace cairn::cli {
namespace {

// "local:<login name>", or "local:uid:<n>" for an account without a passwd entry.
std::string LocalPrincipal() {
  const uid_t uid = ::getuid();
  passwd entry{};
  passwd* found = nullptr;
  char buffer[4096];
  if (::getpwuid_r(uid, &entry, buffer, sizeof buffer, &found) == 0 && found != nullptr &&
      found->pw_name != nullptr && found->pw_name[0] != '\0') {
    return std::string("local:") + found->pw_name;
  }
  return "local:uid:" + std::to_string(uid);
}

}  // namespace

std::string OfflineSubjectResource(const engine::EventStore& store, std::string_view subject) {
  return "subject-hash:" + store.SubjectHashHex(subject);
}

Status AuditOfflineAct(engine::EventStore* store, const std::string& data_dir, OfflineAct act) {
  CAIRN_ASSIGN_OR_RETURN(server::Config config, DirOrFileConfig(data_dir, ""));
  return AuditOfflineActWith(store, config, std::move(act));
}

Status AuditOfflineActWith(engine::EventStore* store, const server::Config& config, OfflineAct act) {
  if (!config.audit.enabled) return Status::Ok();
  audit::AuditRecord r;
  r.kind = audit::AuditKind::kAdmin;
  r.time_unix_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  r.principal = LocalPrincipal();
  r.auth_method = "local";
  r.action = std::move(act.action);
  r.resource = std::move(act.resource);
  r.decision = "allow";
  r.outcome = act.outcome.ok() ? "success" : "failure";
  r.error_code = std::string(server::GrpcCodeName(server::ToGrpcStatus(act.outcome).error_code()));
  r.details = std::move(act.details);
  r.details.emplace_back("trigger", "offline");
  audit::CutAuditRecordFields(&r);
  engine::ProposedEvent event;
  event.event_type = std::string(audit::AuditEventType(r.kind));
  event.data = audit::EncodeAuditRecordJson(r);
  auto appended = store->AppendSystem(audit::kAuditStream, engine::ExpectedVersion::Any(), {std::move(event)});
  return appended.ok() ? Status::Ok() : appended.status();
}

}  // namespace cairn::cli
