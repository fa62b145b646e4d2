#include "server/readiness_route.h"

#include <cassert>

namespace cairn::server {

ReadinessRoute::ReadinessRoute(std::function<Status()> health, std::function<int64_t()> now_ms,
                               int64_t interval_ms)
    : health_(std::move(health)), now_ms_(std::move(now_ms)), interval_ms_(interval_ms) {
  assert(health_ && now_ms_ && interval_ms_ >= 0);
}

HttpResponse ReadinessRoute::Probe() {
  Status status;
  {
    // The check runs under the lock: concurrent probes wait for one check instead of each
    // starting their own.
    std::lock_guard<std::mutex> lock(mu_);
    const int64_t now_ms = now_ms_();
    if (!checked_ || now_ms - checked_at_ms_ >= interval_ms_ || now_ms < checked_at_ms_) {
      last_ = health_();
      checked_ = true;
      checked_at_ms_ = now_ms;
    }
    status = last_;
  }
  if (status.ok()) return HttpResponse{200, "text/plain; charset=utf-8", "ready\n"};
  // The store's messages are fixed texts (no paths, keys or data): safe for an open route.
  return HttpResponse{503, "text/plain; charset=utf-8",
                      "not ready: " + std::string(StatusCodeName(status.code())) + ": " +
                          status.message() + "\n"};
}

}  // namespace cairn::server
