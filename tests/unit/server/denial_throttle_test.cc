// DenialThrottle: a principal's share of the audit trail for its policy denials.
#include "server/denial_throttle.h"

#include <gtest/gtest.h>

#include <string>

namespace cairn::server {
namespace CAIRN_UNITY_ID {

using T = DenialThrottle;

TEST(DenialThrottle, AFloodIsRecordedUpToItsShareThenCountedAndReportedWithTheNextRecord) {
  DenialThrottle throttle;
  const int64_t t0 = 1'000'000;
  for (uint32_t i = 0; i < T::kRecordsPerWindowMax; ++i) {
    const auto v = throttle.Admit("jwt:flood", t0 + i);
    EXPECT_TRUE(v.record) << i;
    EXPECT_EQ(v.unrecorded_before, 0u);
  }
  for (int i = 0; i < 500; ++i) EXPECT_FALSE(throttle.Admit("jwt:flood", t0 + 100 + i).record);
  // Another principal keeps its own share meanwhile.
  EXPECT_TRUE(throttle.Admit("jwt:other", t0 + 700).record);
  // Within the window: still left out. The next window: recorded, with the count of the gap.
  EXPECT_FALSE(throttle.Admit("jwt:flood", t0 + T::kWindowMs - 1).record);
  const auto next = throttle.Admit("jwt:flood", t0 + T::kWindowMs);
  EXPECT_TRUE(next.record);
  EXPECT_EQ(next.unrecorded_before, 501u);
  const auto after = throttle.Admit("jwt:flood", t0 + T::kWindowMs + 1);
  EXPECT_TRUE(after.record);
  EXPECT_EQ(after.unrecorded_before, 0u) << "reported once";
}

TEST(DenialThrottle, TheTableIsBoundedAndAFullTableStillRecords) {
  DenialThrottle throttle;
  const int64_t t0 = 5'000'000;
  for (size_t i = 0; i < T::kPrincipalsMax; ++i) {
    ASSERT_TRUE(throttle.Admit("p" + std::to_string(i), t0).record);
  }
  EXPECT_EQ(throttle.tracked_principals(), T::kPrincipalsMax);
  // Every window still running: one more principal is recorded, not tracked.
  for (uint32_t i = 0; i < 2 * T::kRecordsPerWindowMax; ++i) {
    EXPECT_TRUE(throttle.Admit("newcomer", t0 + 1).record);
  }
  EXPECT_EQ(throttle.tracked_principals(), T::kPrincipalsMax);
  // Once the windows ended, they make room.
  EXPECT_TRUE(throttle.Admit("newcomer", t0 + T::kWindowMs).record);
  EXPECT_EQ(throttle.tracked_principals(), 1u);
}

}  // namespace CAIRN_UNITY_ID
}  // namespace cairn::server
