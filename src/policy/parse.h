// Parsing policy files (TOML).
//
//   [[role]]
//   name = "order-service"
//   grants = [
//     { actions = ["append"], streams = ["order-*"], event_types = ["OrderCreated"] },
//     { actions = ["read", "subscribe"], streams = ["order-*"], event_types = ["*"] },
//   ]
//   denies = [ { actions = ["append"], streams = ["order-archive-*"], event_types = ["*"] } ]
//
//   [[binding]]
//   principal = "apikey:ci-bot"      # exact id, prefix ending in '*', or "*" (see pattern.h)
//   roles = ["order-service"]
//
//   [[quota]]                        # at most kQuotasMax; see quota.h
//   principal = "jwt:svc-*"
//   append_events_per_s = 2000
//
// Validation (every failure is kInvalidArgument "<source>:<line>:<column>: <what>", naming the
// key or value):
//  - unknown keys anywhere (top level, role, grant/deny, binding) are errors, so a misspelt key
//    never silently drops a restriction;
//  - a role needs `name` (unique, 1..kRoleNameSizeBytesMax bytes of [A-Za-z0-9._:@/-]) and at
//    least one of `grants` / `denies`;
//  - every rule needs `actions` (canonical action names, see action.h; no wildcard), `streams` and
//    `event_types` — all three required and non-empty; a rule naming any action that is not
//    event-typed must have event_types = ["*"];
//  - a binding needs `principal` and a non-empty `roles` list of roles defined in the file;
//  - a quota needs `principal` and at least one of `append_events_per_s` (1..kQuotaEventsPerSMax)
//    and `append_bytes_per_s` (1..kQuotaBytesPerSMax); `burst_s` is 1..kQuotaBurstSMax;
//  - empty lists are errors; every count and length is bounded (limits.h); a file larger than
//    kPolicyFileSizeBytesMax is kResourceExhausted;
//  - a file writable by others (mode & 002) is refused (kFailedPrecondition): whoever can write
//    it could grant themselves anything.
// A file with no roles and no bindings is valid and denies everything.
//
// Thread safety: pure functions.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"
#include "policy/policy.h"

namespace cairn::policy {

// 1..kRoleNameSizeBytesMax bytes of [A-Za-z0-9._:@/-]: a role name a policy file accepts.
bool IsValidRoleName(std::string_view name);

// `source` names the text in errors and becomes Policy::source().
Result<std::shared_ptr<const Policy>> ParsePolicy(std::string_view toml_text,
                                                  const std::string& source);

// Reads (at most kPolicyFileSizeBytesMax bytes) and parses `path`. kNotFound / kIOError when the
// file cannot be read.
Result<std::shared_ptr<const Policy>> LoadPolicyFile(const std::string& path);

}  // namespace cairn::policy
