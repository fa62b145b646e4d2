#include "common/backoff.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <set>

namespace cairn {
namespace {

TEST(FullJitterBackoff, StaysWithinTheDoublingCeiling) {
  for (uint32_t attempt = 1; attempt <= 40; ++attempt) {
    const int64_t ceiling = attempt >= 8 ? 5000 : std::min<int64_t>(5000, 40LL << (attempt - 1));
    for (int i = 0; i < 200; ++i) {
      const int64_t d = FullJitterBackoffMs(attempt, 40, 5000);
      ASSERT_GE(d, 0);
      ASSERT_LE(d, ceiling) << "attempt " << attempt;
    }
  }
}

TEST(FullJitterBackoff, IsSpreadNotFixed) {
  // Retries in step are what jitter prevents: 200 draws under a ceiling of 5000 take many values.
  std::set<int64_t> seen;
  int64_t above_half = 0;
  for (int i = 0; i < 200; ++i) {
    const int64_t d = FullJitterBackoffMs(20, 40, 5000);
    seen.insert(d);
    if (d > 2500) ++above_half;
  }
  EXPECT_GT(seen.size(), 150u);
  EXPECT_GT(above_half, 40);   // uniform: about 100 of 200
  EXPECT_LT(above_half, 160);
}

TEST(EqualJitterBackoff, StaysInTheUpperHalfOfTheCeiling) {
  for (uint32_t attempt = 1; attempt <= 12; ++attempt) {
    const int64_t ceiling = std::min<int64_t>(30000, 500LL << (attempt - 1));
    std::set<int64_t> seen;
    for (int i = 0; i < 200; ++i) {
      const int64_t d = EqualJitterBackoffMs(attempt, 500, 30000);
      ASSERT_GE(d, ceiling / 2) << "attempt " << attempt;
      ASSERT_LE(d, ceiling) << "attempt " << attempt;
      seen.insert(d);
    }
    EXPECT_GT(seen.size(), 50u);  // still jittered
  }
}

TEST(FullJitterBackoff, LargeInitialDoesNotOverflow) {
  const int64_t max_ms = int64_t{1} << 40;
  for (uint32_t attempt : {1u, 2u, 31u, 1000u}) {
    const int64_t d = FullJitterBackoffMs(attempt, int64_t{1} << 35, max_ms);
    EXPECT_GE(d, 0);
    EXPECT_LE(d, max_ms);
  }
  EXPECT_EQ(FullJitterBackoffMs(3, 0, 0), 0);
}

}  // namespace
}  // namespace cairn
