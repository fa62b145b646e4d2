#include "common/parallel_for.h"

#include <algorithm>
#include <cassert>
#include <limits>
#include <mutex>
#include <thread>

#include "common/thread_name.h"

namespace cairn {
namespace {

constexpr size_t kClaimItems = 16;  // items per claim: few atomics, fair split


struct Run {
  Run(size_t n, const std::function<Status(size_t, size_t)>& f) : count(n), fn(f) {}
  const size_t count;
  const std::function<Status(size_t, size_t)>& fn;
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  std::mutex mu;
  size_t error_index = std::numeric_limits<size_t>::max();  // guarded by mu
  Status error;                                               // guarded by mu

  void Work(size_t worker) {
    while (!failed.load(std::memory_order_relaxed)) {
      const size_t begin = next.fetch_add(kClaimItems, std::memory_order_relaxed);
      if (begin >= count) return;
      const size_t end = std::min(count, begin + kClaimItems);
      for (size_t i = begin; i < end; ++i) {
        Status s = fn(worker, i);
        if (s.ok()) continue;
        std::lock_guard<std::mutex> lock(mu);
        if (i < error_index) {
          error_index = i;
          error = std::move(s);
        }
        failed.store(true, std::memory_order_relaxed);
        return;
      }
    }
  }
};

std::atomic<size_t> g_helpers_running{0};

}  // namespace

bool TryAcquireParallelHelper() {
  size_t n = g_helpers_running.load(std::memory_order_relaxed);
  while (n < kParallelHelpersMax) {
    if (g_helpers_running.compare_exchange_weak(n, n + 1, std::memory_order_acq_rel)) return true;
  }
  return false;
}

void ReleaseParallelHelper() {
  [[maybe_unused]] const size_t before = g_helpers_running.fetch_sub(1, std::memory_order_acq_rel);
  assert(before > 0);
}

Status ParallelFor(size_t count, size_t parallel_min, const std::function<Status(size_t)>& fn) {
  return ParallelForWorkers(count, parallel_min, [&fn](size_t, size_t i) { return fn(i); });
}

Status ParallelForWorkers(size_t count, size_t parallel_min,
                          const std::function<Status(size_t, size_t)>& fn) {
  assert(parallel_min > 0);
  Run run(count, fn);
  std::thread helper;
  if (count >= parallel_min && count > kClaimItems && TryAcquireParallelHelper()) {
    helper = std::thread([&run] {
      SetCurrentThreadName("cairn-worker");
      run.Work(1);
      ReleaseParallelHelper();
    });
  }
  run.Work(0);
  if (helper.joinable()) helper.join();
  std::lock_guard<std::mutex> lock(run.mu);
  return run.error;
}

}  // namespace cairn
