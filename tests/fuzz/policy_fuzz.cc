// ParsePolicy over hostile TOML: never crashes; an error is kInvalidArgument (or
// kResourceExhausted past the size bound) naming the source; on whatever parses, a fixed set of
// requests is decided and the decisions keep the promises of policy.h:
//  - an allow names a grant of one of the principal's roles, a deny names a deny or default-deny;
//  - a grant that lets a '$' (system) stream through has a '$' pattern matching it;
//  - `$audit` / `$alerts` are read, subscribed and read.pii'd only as audit.read on the stream;
//  - an allowed event type implies the stream as a whole is allowed (a deny on "*" types would
//    block both), and deciding by Principal equals deciding by its ResolvedPrincipal;
//  - roles the policy does not define change nothing; the empty policy denies everything.
#include <algorithm>
#include <string>
#include <vector>

#include "fuzz_util.h"
#include "policy/parse.h"
#include "policy/policy.h"

namespace {

using cairn::Principal;
using cairn::policy::Action;
using cairn::policy::Decision;
using cairn::policy::Policy;
using cairn::policy::ResolvedPrincipal;

constexpr size_t kRolePrincipalsMax = 6;   // principals carrying one of the policy's roles
constexpr size_t kPatternStreamsMax = 6;   // streams taken from the policy's own patterns

std::vector<Principal> FixedPrincipals(const Policy& policy) {
  std::vector<Principal> out = {
      {"apikey:ci-bot", {}, cairn::AuthMethod::kApiKey, 0},
      {"jwt:alice", {"reader", "admin"}, cairn::AuthMethod::kJwt, 0},
      {"mtls:spiffe://acme/billing", {}, cairn::AuthMethod::kMtls, 0},
  };
  for (size_t i = 0; i < policy.roles().size() && i < kRolePrincipalsMax; ++i) {
    out.push_back({"jwt:role-" + std::to_string(i), {policy.roles()[i].name},
                   cairn::AuthMethod::kJwt, 0});
  }
  for (size_t i = 0; i < policy.bindings().size() && i < kRolePrincipalsMax; ++i) {
    std::string id = policy.bindings()[i].principal.text();
    if (!id.empty() && id.back() == '*') id.back() = 'x';
    out.push_back({id, {}, cairn::AuthMethod::kApiKey, 0});
  }
  return out;
}

std::vector<std::string> FixedStreams(const Policy& policy) {
  std::vector<std::string> out = {"order-1", "order-archive-1", "$audit", "$alerts",
                                  "$parked-g", "x", ""};
  for (const auto& role : policy.roles()) {
    for (const auto* rules : {&role.grants, &role.denies}) {
      for (const auto& rule : *rules) {
        if (out.size() >= 7 + kPatternStreamsMax) return out;
        std::string s = rule.streams.front().text();
        if (!s.empty() && s.back() == '*') s.back() = '7';
        out.push_back(std::move(s));
      }
    }
  }
  return out;
}

// The rule a label names ("role:<name>/grant[i]" or ".../deny[i]"), or nullptr.
const cairn::policy::Rule* RuleOfLabel(const Policy& policy, std::string_view label,
                                       std::string_view kind, uint32_t* role_index) {
  if (!label.starts_with("role:")) return nullptr;
  const size_t at = label.rfind("/" + std::string(kind) + "[");
  if (at == std::string_view::npos || label.back() != ']') return nullptr;
  const int64_t role = policy.FindRole(label.substr(5, at - 5));
  if (role < 0) return nullptr;
  const std::string digits(label.substr(at + kind.size() + 2, label.size() - at - kind.size() - 3));
  if (digits.empty() || digits.size() > 3 ||
      !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return nullptr;
  }
  const auto& r = policy.roles()[role];
  const auto& rules = kind == "grant" ? r.grants : r.denies;
  const size_t index = std::stoul(digits);
  if (index >= rules.size()) return nullptr;
  *role_index = static_cast<uint32_t>(role);
  return &rules[index];
}

bool HasRole(const ResolvedPrincipal& resolved, uint32_t role) {
  return std::binary_search(resolved.role_indices().begin(), resolved.role_indices().end(), role);
}

void CheckDecision(const Policy& policy, const ResolvedPrincipal& resolved, const Decision& d,
                   Action action, std::string_view stream) {
  uint32_t role = 0;
  if (d.allowed) {
    const cairn::policy::Rule* grant = RuleOfLabel(policy, d.rule, "grant", &role);
    FUZZ_CHECK(grant != nullptr && HasRole(resolved, role));
    FUZZ_CHECK(grant->MatchesStream(action, stream, /*deny=*/false) ||
               (cairn::policy::IsAuditReadStream(stream) &&
                grant->MatchesStream(Action::kAuditRead, stream, /*deny=*/false)));
    if (stream.starts_with("$")) {
      FUZZ_CHECK(std::any_of(grant->streams.begin(), grant->streams.end(), [&](const auto& p) {
        return p.text().starts_with("$") && p.Matches(stream);
      }));
    }
    return;
  }
  if (d.rule == cairn::policy::kDefaultDenyRule) return;
  FUZZ_CHECK(RuleOfLabel(policy, d.rule, "deny", &role) != nullptr && HasRole(resolved, role));
}

void CheckRequests(const Policy& policy) {
  const std::vector<std::string> streams = FixedStreams(policy);
  const std::string_view types[] = {"", "OrderCreated", "*", "x"};
  for (Principal& principal : FixedPrincipals(policy)) {
    const ResolvedPrincipal resolved = policy.Resolve(principal);
    Principal extra = principal;
    extra.roles.push_back("no-such-role-in-fuzz-policy");
    const bool extra_undefined = policy.FindRole(extra.roles.back()) < 0;
    for (uint32_t a = 0; a < cairn::policy::kActionCount; ++a) {
      const Action action = static_cast<Action>(a);
      for (const std::string& stream : streams) {
        const Decision whole = policy.Decide(resolved, action, stream, "");
        for (std::string_view type : types) {
          if (!type.empty() && !cairn::policy::IsEventTyped(action)) continue;
          const Decision d = policy.Decide(resolved, action, stream, type);
          CheckDecision(policy, resolved, d, action, stream);
          FUZZ_CHECK(!d.allowed || whole.allowed);
          FUZZ_CHECK(policy.Decide(principal, action, stream, type).allowed == d.allowed);
          if (extra_undefined) {
            FUZZ_CHECK(policy.Decide(extra, action, stream, type).allowed == d.allowed);
          }
          if (cairn::policy::IsAuditReadStream(stream) &&
              (action == Action::kRead || action == Action::kSubscribe ||
               action == Action::kReadPii)) {
            FUZZ_CHECK(d.allowed ==
                       policy.Decide(resolved, Action::kAuditRead, stream, "").allowed);
          }
          if (policy.roles().empty()) FUZZ_CHECK(!d.allowed);
        }
      }
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto policy = cairn::policy::ParsePolicy(cairn::fuzz::AsView(data, size), "fuzz-policy.toml");
  if (!policy.ok()) {
    FUZZ_CHECK(policy.status().code() == cairn::StatusCode::kInvalidArgument ||
               policy.status().code() == cairn::StatusCode::kResourceExhausted);
    FUZZ_CHECK(policy.status().message().starts_with("fuzz-policy.toml"));
    return 0;
  }
  FUZZ_CHECK((*policy)->source() == "fuzz-policy.toml");
  CheckRequests(**policy);
  return 0;
}
