// Action: what a principal asks to do. The set is closed; a policy naming any other action is
// rejected when it is parsed, so a typo never silently grants or denies nothing.
//
// Event-typed actions (append, read, subscribe, read.pii) are judged per event type; the others
// act on a stream (or the whole store) as a whole and are decided with an empty event type
// (see Policy::Decide).
//
// Thread safety: pure functions over constant tables.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace cairn::policy {

enum class Action : uint8_t {
  kAppend = 0,
  kRead,
  kSubscribe,
  kReadPii,    // "read.pii": see protected fields in clear instead of masked
  kDelete,     // tombstone a stream
  kForget,     // crypto-shred a data subject's key
  kProof,      // inclusion / consistency proofs and checkpoints
  kAuditRead,  // "audit.read": read the $audit stream
  kAdmin,      // policy reload, key rotation, operational calls
};

inline constexpr uint32_t kActionCount = 9;

// The canonical name as written in policy files ("append", "read.pii", "audit.read", ...).
std::string_view ActionName(Action action);

// Exact, case-sensitive match on the canonical names; nullopt for anything else (no wildcard).
std::optional<Action> ParseAction(std::string_view name);

// True for append, read, subscribe and read.pii.
bool IsEventTyped(Action action);

inline constexpr uint32_t ActionBit(Action action) {
  return uint32_t{1} << static_cast<uint32_t>(action);
}

// The actions for which IsEventTyped is false, as a mask of ActionBit values.
inline constexpr uint32_t kWholeStreamActionMask =
    ActionBit(Action::kDelete) | ActionBit(Action::kForget) | ActionBit(Action::kProof) |
    ActionBit(Action::kAuditRead) | ActionBit(Action::kAdmin);

}  // namespace cairn::policy
