// The monotonic clock in the units cairn counts in: milliseconds for timeouts, deadlines and
// rate limits; nanoseconds for durations that are measured. Monotonic: never goes back when the
// wall clock is set, so it never measures a negative interval; its epoch is arbitrary (compare
// readings of this process only, never store them).
//
// Thread safety: any thread.
#pragma once

#include <chrono>
#include <cstdint>

namespace cairn {

inline int64_t SteadyNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

inline int64_t SteadyNowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace cairn
