#include "server/readiness_route.h"

#include <cassert>

#include "common/thread_name.h"

namespace cairn::server {

ReadinessRoute::ReadinessRoute(std::function<Status()> health, std::function<int64_t()> now_ms,
                               int64_t interval_ms)
    : health_(std::move(health)), now_ms_(std::move(now_ms)), interval_ms_(interval_ms) {
  assert(health_ && now_ms_ && interval_ms_ >= 0);
  checked_at_ms_ = now_ms_();
  last_ = health_();
  thread_ = std::thread([this] {
    SetCurrentThreadName("cairn-readiness");
    Run();
  });
}

ReadinessRoute::~ReadinessRoute() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void ReadinessRoute::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    cv_.wait(lock, [this] { return stop_ || wanted_; });
    if (stop_) return;
    wanted_ = false;
    checked_at_ms_ = now_ms_();
    lock.unlock();
    Status status = health_();  // may do I/O: without the lock, so probes still answer
    lock.lock();
    last_ = std::move(status);
  }
}

HttpResponse ReadinessRoute::Probe() {
  Status status;
  {
    std::lock_guard<std::mutex> lock(mu_);
    const int64_t now_ms = now_ms_();
    if (now_ms - checked_at_ms_ >= interval_ms_ || now_ms < checked_at_ms_) {
      wanted_ = true;
      cv_.notify_one();
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
