#include "server/write_watchdog.h"

#include <cassert>
#include <chrono>
#include <utility>
#include <vector>

#include "common/steady_clock.h"
#include "common/thread_name.h"

namespace cairn::server {
WriteWatchdog::WriteWatchdog(int64_t stall_ms_max, int64_t poll_ms,
                             audit::Counter* cancelled_metric)
    : stall_ms_max_(stall_ms_max), poll_ms_(poll_ms), cancelled_metric_(cancelled_metric) {
  assert(stall_ms_max_ > 0 && poll_ms_ > 0);
  thread_ = std::thread([this] {
    SetCurrentThreadName("cairn-wwatch");
    Run();
  });
}

WriteWatchdog::~WriteWatchdog() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  stop_cv_.notify_all();
  thread_.join();
  assert(watched_.empty());  // every Watch ended before its watchdog
}

WriteWatchdog::Watch::Watch(WriteWatchdog* watchdog, std::function<void()> cancel)
    : watchdog_(watchdog) {
  if (watchdog_ == nullptr) return;
  assert(cancel);
  std::lock_guard<std::mutex> lock(watchdog_->mu_);
  id_ = watchdog_->next_id_++;
  watchdog_->watched_.emplace(id_, Entry{std::move(cancel), SteadyNowMs(), false});
}

WriteWatchdog::Watch::~Watch() {
  if (watchdog_ == nullptr) return;
  std::unique_lock<std::mutex> lock(watchdog_->mu_);
  if (std::this_thread::get_id() != watchdog_->thread_.get_id()) {
    watchdog_->cancels_done_cv_.wait(lock, [this] { return !watchdog_->cancelling_; });
  }
  const size_t erased = watchdog_->watched_.erase(id_);
  assert(erased == 1);
  (void)erased;
}

void WriteWatchdog::RenewedWatch::Begin() {
  if (watchdog_ == nullptr || watch_) return;
  watch_.emplace(watchdog_, cancel_);
  started_ms_ = SteadyNowMs();
}

void WriteWatchdog::RenewedWatch::Progress() {
  if (watch_ && SteadyNowMs() - started_ms_ >= kRenewMs) watch_.reset();
}

void WriteWatchdog::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    stop_cv_.wait_for(lock, std::chrono::milliseconds(poll_ms_), [&] { return stop_; });
    const int64_t now_ms = SteadyNowMs();
    std::vector<std::function<void()>> due;
    for (auto& [id, entry] : watched_) {
      if (entry.cancelled || now_ms - entry.started_ms <= stall_ms_max_) continue;
      entry.cancelled = true;  // once: the write ends soon after
      due.push_back(entry.cancel);
    }
    if (due.empty()) continue;
    // Run without the lock (a cancel may make gRPC end a call, and the call's reactor end its
    // watch); the watches of these cancels wait in ~Watch until they have returned.
    cancelling_ = true;
    lock.unlock();
    for (const auto& cancel : due) cancel();
    lock.lock();
    cancelling_ = false;
    cancels_done_cv_.notify_all();
    cancelled_.fetch_add(due.size(), std::memory_order_relaxed);
    if (cancelled_metric_ != nullptr) cancelled_metric_->Increment(due.size());
  }
}

}  // namespace cairn::server
