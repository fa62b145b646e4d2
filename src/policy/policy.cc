#include "policy/policy.h"

#include <algorithm>
#include <cassert>

#include "policy/limits.h"

namespace cairn::policy {

bool Rule::MatchesStream(Action action, std::string_view stream, bool deny) const {
  if ((action_mask & ActionBit(action)) == 0) return false;
  for (const StreamPattern& pattern : streams) {
    if (deny ? pattern.MatchesForDeny(stream) : pattern.Matches(stream)) return true;
  }
  return false;
}

Policy::Policy(std::vector<Role> roles, std::vector<Binding> bindings, std::string source,
               std::vector<Quota> quotas)
    : roles_(std::move(roles)),
      bindings_(std::move(bindings)),
      quotas_(std::move(quotas)),
      source_(std::move(source)) {
  assert(roles_.size() <= kRolesMax);
  assert(bindings_.size() <= kBindingsMax);
  assert(quotas_.size() <= kQuotasMax);
  for (const Quota& quota : quotas_) {
    assert(quota.Valid());
    (void)quota;
  }
  roles_by_name_.reserve(roles_.size());
  for (uint32_t i = 0; i < roles_.size(); ++i) {
    assert(roles_[i].grants.size() <= kRoleGrantsMax);
    assert(roles_[i].denies.size() <= kRoleDeniesMax);
    roles_by_name_.push_back(i);
  }
  std::sort(roles_by_name_.begin(), roles_by_name_.end(),
            [this](uint32_t a, uint32_t b) { return roles_[a].name < roles_[b].name; });
  for (size_t i = 1; i < roles_by_name_.size(); ++i) {
    assert(roles_[roles_by_name_[i - 1]].name != roles_[roles_by_name_[i]].name &&
           "duplicate role name");
  }
  for (const Binding& binding : bindings_) {
    assert(!binding.role_indices.empty());
    for (uint32_t index : binding.role_indices) {
      assert(index < roles_.size());
      (void)index;
    }
  }
}

int64_t Policy::FindRole(std::string_view name) const {
  auto it = std::lower_bound(roles_by_name_.begin(), roles_by_name_.end(), name,
                             [this](uint32_t index, std::string_view n) {
                               return std::string_view(roles_[index].name) < n;
                             });
  if (it == roles_by_name_.end() || roles_[*it].name != name) return -1;
  return *it;
}

ResolvedPrincipal Policy::Resolve(const Principal& principal) const {
  ResolvedPrincipal resolved;
  resolved.policy_ = this;
  for (size_t i = 0; i < quotas_.size(); ++i) {
    if (quotas_[i].principal.Matches(principal.id)) {
      resolved.quota_index_ = static_cast<int64_t>(i);
      break;
    }
  }
  if (roles_.empty()) return resolved;
  const size_t carried = std::min(principal.roles.size(), kPrincipalRolesMax);
  for (size_t i = 0; i < carried; ++i) {
    const int64_t index = FindRole(principal.roles[i]);
    if (index >= 0) resolved.role_indices_.push_back(static_cast<uint32_t>(index));
  }
  for (const Binding& binding : bindings_) {
    if (!binding.principal.Matches(principal.id)) continue;
    resolved.role_indices_.insert(resolved.role_indices_.end(), binding.role_indices.begin(),
                                  binding.role_indices.end());
  }
  auto& indices = resolved.role_indices_;
  std::sort(indices.begin(), indices.end());
  indices.erase(std::unique(indices.begin(), indices.end()), indices.end());
  assert(indices.size() <= roles_.size());
  return resolved;
}

const Quota* Policy::QuotaOf(const ResolvedPrincipal& resolved) const {
  assert(resolved.policy_ == this && "ResolvedPrincipal of another Policy");
  if (resolved.quota_index_ < 0) return nullptr;
  assert(static_cast<size_t>(resolved.quota_index_) < quotas_.size());
  return &quotas_[static_cast<size_t>(resolved.quota_index_)];
}

Decision Policy::Decide(const ResolvedPrincipal& resolved, Action action,
                        std::string_view stream, std::string_view event_type) const {
  assert(resolved.policy_ == this && "ResolvedPrincipal of another Policy");
  assert(static_cast<uint32_t>(action) < kActionCount);
  if (IsAuditReadStream(stream) &&
      (action == Action::kRead || action == Action::kSubscribe || action == Action::kReadPii)) {
    action = Action::kAuditRead;  // the trail is read with audit.read only, as a whole
    event_type = {};
  }
  if (!IsEventTyped(action)) event_type = {};  // acts on the stream as a whole, on every API
  const bool whole_stream = event_type.empty();
  const Rule* allow = nullptr;
  // Roles in file order, rules in file order: the first matching deny decides, so the label
  // logged for the same request is stable across calls.
  for (uint32_t index : resolved.role_indices_) {
    assert(index < roles_.size());
    const Role& role = roles_[index];
    for (const Rule& deny : role.denies) {
      if (!deny.MatchesStream(action, stream, /*deny=*/true)) continue;
      const bool types = whole_stream ? deny.event_types.is_any()
                                      : deny.event_types.Matches(event_type);
      if (types) return Decision{false, deny.label};
    }
    if (allow != nullptr) continue;
    for (const Rule& grant : role.grants) {
      if (!grant.MatchesStream(action, stream, /*deny=*/false)) continue;
      if (whole_stream || grant.event_types.Matches(event_type)) {
        allow = &grant;
        break;
      }
    }
  }
  if (allow == nullptr) return Decision{false, kDefaultDenyRule};
  return Decision{true, allow->label};
}

bool Policy::MayActSomewhere(const ResolvedPrincipal& resolved, Action action) const {
  assert(resolved.policy_ == this && "ResolvedPrincipal of another Policy");
  const uint32_t bit = ActionBit(action);
  const auto covered = [&](const StreamPattern& granted) {
    for (uint32_t index : resolved.role_indices_) {
      for (const Rule& deny : roles_[index].denies) {
        if ((deny.action_mask & bit) == 0 || !deny.event_types.is_any()) continue;
        for (const StreamPattern& pattern : deny.streams) {
          if (pattern.CoversForDeny(granted)) return true;
        }
      }
    }
    return false;
  };
  for (uint32_t index : resolved.role_indices_) {
    for (const Rule& grant : roles_[index].grants) {
      if ((grant.action_mask & bit) == 0) continue;
      for (const StreamPattern& pattern : grant.streams) {
        if (!covered(pattern)) return true;
      }
    }
  }
  return false;
}

Decision Policy::Decide(const Principal& principal, Action action, std::string_view stream,
                        std::string_view event_type) const {
  return Decide(Resolve(principal), action, stream, event_type);
}

}  // namespace cairn::policy
