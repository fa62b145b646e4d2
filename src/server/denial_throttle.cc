#include "server/denial_throttle.h"

#include <cassert>

namespace cairn::server {

DenialThrottle::Verdict DenialThrottle::Admit(std::string_view principal_id, int64_t now_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = by_principal_.find(principal_id);
  if (it == by_principal_.end()) {
    if (by_principal_.size() >= kPrincipalsMax) DropEndedLocked(now_ms);
    if (by_principal_.size() >= kPrincipalsMax) return Verdict{true, 0};  // untracked, recorded
    it = by_principal_.emplace(std::string(principal_id), Entry{now_ms, 0, 0}).first;
  }
  Entry& e = it->second;
  if (now_ms - e.window_start_ms >= kWindowMs) {
    e.window_start_ms = now_ms;
    e.recorded_in_window = 0;
  }
  assert(e.recorded_in_window <= kRecordsPerWindowMax);
  if (e.recorded_in_window == kRecordsPerWindowMax) {
    ++e.unrecorded;
    return Verdict{false, 0};
  }
  ++e.recorded_in_window;
  const Verdict verdict{true, e.unrecorded};
  e.unrecorded = 0;
  assert(by_principal_.size() <= kPrincipalsMax);
  return verdict;
}

void DenialThrottle::DropEndedLocked(int64_t now_ms) {
  std::erase_if(by_principal_, [now_ms](const auto& entry) {
    return now_ms - entry.second.window_start_ms >= kWindowMs;
  });
}

size_t DenialThrottle::tracked_principals() const {
  std::lock_guard<std::mutex> lock(mu_);
  return by_principal_.size();
}

}  // namespace cairn::server
