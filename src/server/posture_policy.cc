// Posture checks of the access policy: CAIRN-POL-*.
#include <sys/stat.h>

#include <string>

#include "policy/parse.h"
#include "policy/policy.h"
#include "server/posture_internal.h"

namespace cairn::server::posture {
namespace {

uint32_t Bit(policy::Action action) { return uint32_t{1} << static_cast<uint32_t>(action); }

bool HoldsAdmin(const policy::Role& role) {
  for (const policy::Rule& rule : role.grants) {
    if ((rule.action_mask & Bit(policy::Action::kAdmin)) != 0) return true;
  }
  return false;
}

bool IsWildcardPrincipal(const std::string& pattern) {
  return !pattern.empty() && pattern.back() == '*';
}

void CheckWildcardAdmin(const policy::Policy& p, const std::string& file, Findings* out) {
  for (const policy::Binding& binding : p.bindings()) {
    const std::string& who = binding.principal.text();
    if (!IsWildcardPrincipal(who)) continue;
    for (uint32_t index : binding.role_indices) {
      const policy::Role& role = p.roles()[index];
      if (!HoldsAdmin(role)) continue;
      out->Add("CAIRN-POL-001", who == "*" ? Severity::kCritical : Severity::kHigh,
               "policy.file " + file + ": the binding of \"" + who + "\" gives role \"" +
                   role.name + "\", which grants admin, to " +
                   (who == "*" ? "every authenticated principal" : "every matching principal"),
               "bind the admin role to exact principal ids (e.g. \"apikey:ops\")");
    }
  }
}

void CheckRules(const policy::Policy& p, const std::string& file, Findings* out) {
  for (const policy::Role& role : p.roles()) {
    const bool admin = HoldsAdmin(role);
    for (const policy::Rule& rule : role.grants) {
      bool system = false;
      bool every_stream = false;
      for (const policy::StreamPattern& s : rule.streams) {
        system = system || (!s.text().empty() && s.text()[0] == '$');
        every_stream = every_stream || s.is_any();
      }
      const bool only_audit_read = rule.action_mask == Bit(policy::Action::kAuditRead);
      if (system && !admin && !only_audit_read) {
        out->Add("CAIRN-POL-002", Severity::kMedium,
                 "policy.file " + file + ": " + rule.label +
                     " reaches system ($) streams ($audit, $alerts, $parked-*) without admin",
                 "grant $ streams only to admin roles (audit.read on $audit for auditors)");
      }
      if (every_stream && rule.event_types.is_any() &&
          (rule.action_mask & Bit(policy::Action::kAppend)) != 0) {
        out->Add("CAIRN-POL-003", admin ? Severity::kLow : Severity::kMedium,
                 "policy.file " + file + ": " + rule.label +
                     " allows append on every stream (\"*\") with every event type",
                 "grant append on the stream prefixes and event types the role writes");
      }
    }
  }
}

}  // namespace

void CheckPolicy(const Config& config, Findings* out) {
  if (config.policy.file.empty()) return;  // the empty policy denies everything
  const std::optional<mode_t> mode = FileMode(config.policy.file);
  if (mode && (*mode & S_IWOTH) != 0) return;  // refused by policy/; CAIRN-FILE-003 says why
  auto loaded = policy::LoadPolicyFile(config.policy.file);
  if (!loaded.ok()) {
    out->Add("CAIRN-POL-004", Severity::kHigh,
             "policy.file " + config.policy.file + " cannot be loaded: " + loaded.status().message(),
             "fix the policy file (the server refuses to start with it)");
    return;
  }
  CheckWildcardAdmin(**loaded, config.policy.file, out);
  CheckRules(**loaded, config.policy.file, out);
}

}  // namespace cairn::server::posture
