#include "policy/action.h"

#include <array>
#include <cassert>

namespace cairn::policy {
namespace {

constexpr std::array<std::string_view, kActionCount> kNames = {
    "append", "read", "subscribe", "read.pii", "delete", "forget", "proof", "audit.read", "admin",
};

}  // namespace

std::string_view ActionName(Action action) {
  const auto index = static_cast<uint32_t>(action);
  assert(index < kActionCount);
  return kNames[index];
}

std::optional<Action> ParseAction(std::string_view name) {
  for (uint32_t i = 0; i < kActionCount; ++i) {
    if (kNames[i] == name) return static_cast<Action>(i);
  }
  return std::nullopt;
}

bool IsEventTyped(Action action) {
  switch (action) {
    case Action::kAppend:
    case Action::kRead:
    case Action::kSubscribe:
    case Action::kReadPii:
      return true;
    case Action::kDelete:
    case Action::kForget:
    case Action::kProof:
    case Action::kAuditRead:
    case Action::kAdmin:
      return false;
  }
  assert(false && "unknown action");
  return false;
}

}  // namespace cairn::policy
