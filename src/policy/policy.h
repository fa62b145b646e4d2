// Policy: roles of grants and denies, bindings of principals to roles, and the decision
// Decide(principal, action, stream, event_type) → allow / deny + the deciding rule.
//
// Semantics (quotas, the [[quota]] tables: policy/quota.h):
//  - A principal's roles are the roles its credential carries (Principal::roles: a token claim or
//    an API key's configured roles) plus the roles of every binding whose pattern matches
//    Principal::id. Role names the policy does not define are ignored (a token may carry roles
//    meant for other services).
//  - Default deny: without a matching grant the answer is deny ("default-deny").
//  - Deny wins: a matching deny of any of the principal's roles beats every grant.
//  - A rule matches (action, stream, event_type) when the action is in its `actions`, some
//    stream pattern matches the stream (see pattern.h; a grant reaches '$' streams only through
//    '$' patterns, a deny on "*" reaches them too) and its event types match the event type.
//  - Actions that are not event-typed (action.h) are decided with an empty event_type whatever
//    the caller passes, so every API decides them alike; the parser refuses typed rules for them.
//  - An EMPTY event_type asks about the action on the stream as a whole (delete, forget, proof,
//    audit.read, admin, and the stream-level check before a read or subscription): it is allowed
//    when some grant matches (action, stream) whatever its event types, and no deny matches
//    (action, stream) with event_types = "*". A deny naming particular event types does not block
//    the stream as a whole; reads then filter those types out event by event.
//  - The empty policy (no policy file configured) has no roles and denies everything. `cairn
//    init` / `serve --dev` write a policy file granting the admin key its role.
//
//  - `$audit` (the audit trail) and `$alerts` (the alerts raised from it) are read only with
//    `audit.read`: read, subscribe and read.pii on them are decided as audit.read on the stream
//    as a whole, so a `read` grant on "$*" does not reach them.
//
// Decision::rule names the deciding rule for the AUDIT LOG only ("role:reader/grant[1]",
// "role:order-service/deny[0]", "default-deny"). The server must never send it to callers: it
// would tell an attacker which rule to work around.
//
// Cost: Resolve() allocates once per call (the role list); Decide() on a ResolvedPrincipal does
// not allocate — patterns are precompiled and rule labels are built when the policy is parsed —
// so a read may call it once per event type.
//
// Thread safety: a Policy is immutable once built; share it as std::shared_ptr<const Policy>
// (see PolicyHolder). A ResolvedPrincipal belongs to the Policy that made it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/principal.h"
#include "policy/action.h"
#include "policy/pattern.h"
#include "policy/quota.h"

namespace cairn::policy {

// One grant or deny of a role.
struct Rule {
  uint32_t action_mask = 0;             // ActionBit()s; never 0
  std::vector<StreamPattern> streams;   // 1..kRuleStreamsMax
  EventTypeSet event_types;
  std::string label;                    // "role:<name>/grant[i]" or "role:<name>/deny[i]"

  // `deny`: this rule is a deny (see StreamPattern::MatchesForDeny).
  bool MatchesStream(Action action, std::string_view stream, bool deny) const;
};

struct Role {
  std::string name;
  std::vector<Rule> grants;
  std::vector<Rule> denies;
};

struct Binding {
  PrincipalPattern principal;
  std::vector<uint32_t> role_indices;  // into Policy::roles(); sorted, unique
};

struct Decision {
  bool allowed = false;
  // The deciding rule, for the audit log only — never shown to callers. Points into the Policy
  // (or a static string); valid while the Policy that decided lives. Copy it to keep it longer.
  std::string_view rule;
};

inline constexpr std::string_view kDefaultDenyRule = "default-deny";
inline constexpr std::string_view kAuditStreamId = "$audit";
inline constexpr std::string_view kAlertsStreamId = "$alerts";
// The streams read with audit.read only: the audit trail and the alerts raised from it.
inline bool IsAuditReadStream(std::string_view stream) {
  return stream == kAuditStreamId || stream == kAlertsStreamId;
}

// The roles of one principal under one Policy; made by Policy::Resolve.
class ResolvedPrincipal {
 public:
  ResolvedPrincipal() = default;
  const std::vector<uint32_t>& role_indices() const { return role_indices_; }  // sorted, unique
  // Index into Policy::quotas() of the quota that applies, or -1 (not limited).
  int64_t quota_index() const { return quota_index_; }

 private:
  friend class Policy;
  const void* policy_ = nullptr;  // the Policy that resolved it (checked by Decide)
  std::vector<uint32_t> role_indices_;
  int64_t quota_index_ = -1;
};

class Policy {
 public:
  // The empty policy: no roles, no bindings; denies everything.
  Policy() = default;
  // `roles` names are unique; every binding's role indices are in range; every quota is Valid().
  // The parser (policy/parse.h) guarantees these; this constructor asserts them.
  Policy(std::vector<Role> roles, std::vector<Binding> bindings, std::string source,
         std::vector<Quota> quotas = {});

  Policy(const Policy&) = delete;
  Policy& operator=(const Policy&) = delete;

  ResolvedPrincipal Resolve(const Principal& principal) const;

  // `resolved` must come from this Policy's Resolve (asserted). Allocation-free.
  Decision Decide(const ResolvedPrincipal& resolved, Action action, std::string_view stream,
                  std::string_view event_type) const;

  // True when some grant of `action` reaches a stream that no deny of `action` with
  // event_types = "*" covers: the gate of a subscription to the whole log, whose events are then
  // judged one by one. A deny of everything ("*"), or denies covering every granted pattern, make
  // it false, so that such a subscription (or webhook) stops instead of skipping events for good.
  // Denies of particular event types are not counted here (Decide filters those events).
  bool MayActSomewhere(const ResolvedPrincipal& resolved, Action action) const;

  // Resolve + Decide, for one-off checks.
  Decision Decide(const Principal& principal, Action action, std::string_view stream,
                  std::string_view event_type) const;

  // Decide(resolved, kRead, stream, event_type).allowed: the per-event filter of a read.
  bool MayRead(const ResolvedPrincipal& resolved, std::string_view stream,
               std::string_view event_type) const {
    return Decide(resolved, Action::kRead, stream, event_type).allowed;
  }

  const std::vector<Role>& roles() const { return roles_; }
  const std::vector<Binding>& bindings() const { return bindings_; }
  const std::vector<Quota>& quotas() const { return quotas_; }
  // The quota of a resolved principal (policy/quota.h), or null when none applies. `resolved`
  // must come from this Policy's Resolve (asserted).
  const Quota* QuotaOf(const ResolvedPrincipal& resolved) const;
  // Index of the role named `name`, or -1.
  int64_t FindRole(std::string_view name) const;
  // Where the policy came from (a file path), or "" for the empty policy.
  const std::string& source() const { return source_; }
  // Lowercase hex SHA-256 of the text it was parsed from ("" for the empty policy): what a
  // reload's audit record names, so the trail shows which policy was in force.
  const std::string& text_sha256() const { return text_sha256_; }
  void set_text_sha256(std::string hex) { text_sha256_ = std::move(hex); }

 private:
  std::vector<Role> roles_;
  std::vector<Binding> bindings_;
  std::vector<Quota> quotas_;  // in file order: the first match applies
  std::vector<uint32_t> roles_by_name_;  // indices into roles_, sorted by name
  std::string source_;
  std::string text_sha256_;
};

}  // namespace cairn::policy
