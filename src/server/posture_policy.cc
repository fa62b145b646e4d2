// Posture checks of the access policy: CAIRN-POL-*.
#include <sys/stat.h>

#include <optional>
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

// The irreversible action a role grants to a wildcard principal is worst: admin, else forget
// (crypto-shredding), else delete; nullopt when it grants none of them.
std::optional<policy::Action> PowerfulAction(const policy::Role& role) {
  uint32_t mask = 0;
  for (const policy::Rule& rule : role.grants) mask |= rule.action_mask;
  for (policy::Action a : {policy::Action::kAdmin, policy::Action::kForget, policy::Action::kDelete}) {
    if ((mask & Bit(a)) != 0) return a;
  }
  return std::nullopt;
}

bool IsWildcardPrincipal(const std::string& pattern) {
  return !pattern.empty() && pattern.back() == '*';
}

// "*", or every principal of one method ("jwt:*", "apikey:*", "mtls:*"): anyone who can get a
// credential of that kind.
bool IsEveryoneOfAMethod(const std::string& pattern) {
  return pattern == "*" ||
         (pattern.size() >= 3 && pattern.ends_with(":*") && pattern.find(':') == pattern.size() - 2);
}

void CheckWildcardAdmin(const policy::Policy& p, const std::string& file, Findings* out) {
  for (const policy::Binding& binding : p.bindings()) {
    const std::string& who = binding.principal.text();
    if (!IsWildcardPrincipal(who)) continue;
    for (uint32_t index : binding.role_indices) {
      const policy::Role& role = p.roles()[index];
      const std::optional<policy::Action> action = PowerfulAction(role);
      if (!action) continue;
      const bool everyone = IsEveryoneOfAMethod(who);
      out->Add("CAIRN-POL-001", everyone ? Severity::kCritical : Severity::kHigh,
               "policy.file " + file + ": the binding of \"" + who + "\" gives role \"" +
                   role.name + "\", which grants " + std::string(policy::ActionName(*action)) +
                   ", to " + (who == "*" ? "every authenticated principal" : "every matching principal"),
               "bind roles that grant admin, forget or delete to exact principal ids (e.g. "
               "\"apikey:ops\")");
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

// A prefix binding such as "jwt:ops*" is usually meant for subjects of the unnamed issuer
// (jwt:<sub>), but it also matches every principal of a named issuer whose namespace it is a
// proper prefix of (jwt:ops-vendor:<sub>): tokens of another identity provider get the roles.
void CheckBindingsAcrossIssuers(const policy::Policy& p, const Config& config,
                                const std::string& file, Findings* out) {
  constexpr std::string_view kJwt = "jwt:";
  for (const policy::Binding& binding : p.bindings()) {
    const std::string& who = binding.principal.text();
    if (!IsWildcardPrincipal(who) || !who.starts_with(kJwt)) continue;
    const std::string_view prefix = std::string_view(who).substr(0, who.size() - 1);
    if (prefix.size() <= kJwt.size()) continue;  // "jwt:*": every issuer, as written
    for (const auth::JwtIssuerConfig& issuer : config.auth.jwt) {
      if (issuer.name.empty()) continue;
      const std::string space = std::string(kJwt) + issuer.name + ":";
      if (prefix.size() >= space.size() || !space.starts_with(prefix)) continue;
      out->Add("CAIRN-POL-005", Severity::kMedium,
               "policy.file " + file + ": the binding of \"" + who +
                   "\" also matches every principal of the JWT issuer named \"" + issuer.name +
                   "\" (" + space + "<sub>)",
               "bind that issuer's principals with \"" + space + "...\" patterns, and the unnamed "
               "issuer's with patterns that cannot reach another issuer's name");
    }
  }
}

// Appends that no [[quota]] limits: the log cannot be shrunk, so whoever holds a writer's
// credential could fill the disk at the store's full speed. Reported when the policy grants
// append and has no quota at all (with quotas, who is left unlimited was a choice).
void CheckQuotas(const policy::Policy& p, const std::string& file, Findings* out) {
  if (!p.quotas().empty()) return;
  for (const policy::Role& role : p.roles()) {
    for (const policy::Rule& rule : role.grants) {
      if ((rule.action_mask & Bit(policy::Action::kAppend)) == 0) continue;
      out->Add("CAIRN-POL-006", Severity::kLow,
               "policy.file " + file + ": " + rule.label +
                   " grants append, and no [[quota]] limits how fast a principal appends: a "
                   "leaked writer credential can grow the log, which cannot be shrunk, at full "
                   "speed",
               "add [[quota]] tables with rates near what each writer needs, and a \"*\" "
               "default last");
      return;  // one finding says it
    }
  }
}

}  // namespace

void CheckLoadedPolicy(const policy::Policy& policy, const Config& config, Findings* out) {
  CheckWildcardAdmin(policy, config.policy.file, out);
  CheckRules(policy, config.policy.file, out);
  CheckBindingsAcrossIssuers(policy, config, config.policy.file, out);
  CheckQuotas(policy, config.policy.file, out);
}

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
  CheckLoadedPolicy(**loaded, config, out);
}

}  // namespace cairn::server::posture

namespace cairn::server {

std::optional<Finding> UnacceptedCriticalOfPolicy(const policy::Policy& policy, const Config& config,
                                                  const std::vector<std::string>& accepted) {
  posture::Findings findings;
  posture::CheckLoadedPolicy(policy, config, &findings);
  return FirstUnacceptedCritical(findings.Take(), accepted);
}

}  // namespace cairn::server
