// Limits of a policy. Every list a policy file can grow is bounded, so a bad or hostile file is
// rejected when parsed instead of slowing every decision down.
#pragma once

#include <cstddef>
#include <cstdint>

namespace cairn::policy {

inline constexpr size_t kPolicyFileSizeBytesMax = size_t{1} << 20;  // 1 MiB
inline constexpr size_t kRolesMax = 256;
inline constexpr size_t kBindingsMax = 4096;
inline constexpr size_t kQuotasMax = 256;          // [[quota]] tables (policy/quota.h)
inline constexpr size_t kRoleGrantsMax = 64;      // grants of one role (denies likewise)
inline constexpr size_t kRoleDeniesMax = 64;
inline constexpr size_t kRuleActionsMax = 16;     // entries of one rule's `actions`
inline constexpr size_t kRuleStreamsMax = 64;     // stream patterns of one rule
inline constexpr size_t kRuleEventTypesMax = 256; // event type names of one rule
inline constexpr size_t kBindingRolesMax = 64;    // roles named by one binding
inline constexpr size_t kRoleNameSizeBytesMax = 128;
inline constexpr size_t kStreamPatternSizeBytesMax = 512;  // = the engine's stream id limit
inline constexpr size_t kEventTypeSizeBytesMax = 256;      // = the engine's event type limit
inline constexpr size_t kPrincipalPatternSizeBytesMax = 512;
// Roles a credential may carry into a decision (token claim, API key config). Roles past this
// count are ignored, which can only deny more.
inline constexpr size_t kPrincipalRolesMax = 256;

}  // namespace cairn::policy
