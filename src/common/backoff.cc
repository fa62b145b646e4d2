#include "common/backoff.h"

#include <algorithm>
#include <cassert>
#include <random>

namespace cairn {

namespace {

// min(max_ms, initial_ms * 2^(attempt - 1)), without overflow.
int64_t CeilingMs(uint32_t attempt, int64_t initial_ms, int64_t max_ms) {
  assert(attempt >= 1);
  assert(initial_ms >= 0 && max_ms >= 0);
  initial_ms = std::min(initial_ms, max_ms);
  const uint32_t doublings = std::min<uint32_t>(attempt - 1, 30);
  // initial_ms << 30 overflows only beyond ~2^33 ms (a quarter of a year): clamp first.
  return initial_ms > (max_ms >> doublings) ? max_ms : std::min(max_ms, initial_ms << doublings);
}

int64_t Uniform(int64_t lo, int64_t hi) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
}

}  // namespace

int64_t FullJitterBackoffMs(uint32_t attempt, int64_t initial_ms, int64_t max_ms) {
  return Uniform(0, CeilingMs(attempt, initial_ms, max_ms));
}

int64_t EqualJitterBackoffMs(uint32_t attempt, int64_t initial_ms, int64_t max_ms) {
  const int64_t ceiling = CeilingMs(attempt, initial_ms, max_ms);
  return Uniform(ceiling / 2, ceiling);
}

}  // namespace cairn
