#include "auth/failure_limiter.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace cairn::auth {
namespace CAIRN_UNITY_ID {

constexpr int64_t kNow = 1700000000;

TEST(FailureLimiterTest, LimitsAfterMaxFailuresPerAddress) {
  FailureLimiter l(3, 100);
  for (int i = 0; i < 3; ++i) {
    EXPECT_FALSE(l.IsLimited("10.0.0.1", kNow));
    l.RecordFailure("10.0.0.1", kNow);
  }
  EXPECT_TRUE(l.IsLimited("10.0.0.1", kNow));
  EXPECT_FALSE(l.IsLimited("10.0.0.2", kNow));
  // The failures age out of the 60 s window.
  EXPECT_TRUE(l.IsLimited("10.0.0.1", kNow + 49));
  EXPECT_FALSE(l.IsLimited("10.0.0.1", kNow + 61));
}

TEST(FailureLimiterTest, WindowSpansBuckets) {
  FailureLimiter l(3, 100);
  l.RecordFailure("a", kNow);
  l.RecordFailure("a", kNow + 20);
  EXPECT_FALSE(l.IsLimited("a", kNow + 40));
  l.RecordFailure("a", kNow + 40);
  EXPECT_TRUE(l.IsLimited("a", kNow + 40));
  // 70 s later the first has left the window.
  EXPECT_FALSE(l.IsLimited("a", kNow + 70));
  // A slot reused after a full rotation starts from zero.
  l.RecordFailure("a", kNow + 600);
  EXPECT_FALSE(l.IsLimited("a", kNow + 600));
}

TEST(FailureLimiterTest, BoundedNumberOfAddresses) {
  FailureLimiter l(2, 50);
  for (int i = 0; i < 500; ++i) {
    l.RecordFailure("10.1." + std::to_string(i / 256) + "." + std::to_string(i % 256), kNow);
    EXPECT_LE(l.tracked_sources(), 50u);
  }
  EXPECT_EQ(l.tracked_sources(), 50u);
  // The most recently seen addresses are the ones kept.
  l.RecordFailure("10.1.1.243", kNow);  // i = 499
  EXPECT_TRUE(l.IsLimited("10.1.1.243", kNow));
  // A very long address is truncated, not stored whole.
  l.RecordFailure(std::string(100000, 'x'), kNow);
  EXPECT_LE(l.tracked_sources(), 50u);
}

TEST(FailureLimiterTest, AnIpv6Slash64IsOneSourceAndAMappedIpv4AddressIsItsIpv4Address) {
  FailureLimiter l(3, 100);
  for (int i = 0; i < 3; ++i) l.RecordFailure("2001:db8:0:7::" + std::to_string(i + 1), kNow);
  EXPECT_TRUE(l.IsLimited("2001:db8:0:7::99", kNow)) << "same /64, another address";
  EXPECT_TRUE(l.IsLimited("2001:db8:0:7:ffff:1:2:3", kNow));
  EXPECT_FALSE(l.IsLimited("2001:db8:0:8::1", kNow)) << "the next /64";
  EXPECT_EQ(l.tracked_sources(), 1u);
  for (int i = 0; i < 3; ++i) l.RecordFailure("::ffff:10.0.0.9", kNow);
  EXPECT_TRUE(l.IsLimited("10.0.0.9", kNow));
  EXPECT_FALSE(l.IsLimited("10.0.0.10", kNow)) << "IPv4 addresses count one by one";
}

TEST(FailureLimiterTest, FailingFromManyFreshAddressesDoesNotFreeALimitedOne) {
  FailureLimiter l(3, 4);
  for (int i = 0; i < 3; ++i) l.RecordFailure("10.0.0.1", kNow);
  ASSERT_TRUE(l.IsLimited("10.0.0.1", kNow));
  for (int i = 0; i < 100; ++i) {
    l.RecordFailure("192.0.2." + std::to_string(i), kNow);
    ASSERT_LE(l.tracked_sources(), 4u);
  }
  EXPECT_TRUE(l.IsLimited("10.0.0.1", kNow)) << "evicting it would reset its budget";
  // Once its failures leave the window it is an ordinary entry again and may be evicted.
  for (int i = 0; i < 10; ++i) l.RecordFailure("198.51.100." + std::to_string(i), kNow + 70);
  EXPECT_FALSE(l.IsLimited("10.0.0.1", kNow + 70));
}

// Concurrent calls from a failing source: every check in flight counts against its budget, so
// they cannot all be checked before the first of them records its failure.
TEST(FailureLimiterTest, ChecksInFlightOfAFailingSourceCountAgainstItsBudget) {
  FailureLimiter l(3, 100);
  l.RecordFailure("10.0.0.1", kNow);
  EXPECT_FALSE(l.BeginCheck("10.0.0.1", kNow).limited);
  EXPECT_FALSE(l.BeginCheck("10.0.0.1", kNow).limited);
  // 1 failure + 2 checks in flight = 3: the next check waits for those to settle.
  EXPECT_TRUE(l.BeginCheck("10.0.0.1", kNow).limited);
  EXPECT_FALSE(l.BeginCheck("10.0.0.2", kNow).limited) << "other sources are not affected";
  l.EndCheck("10.0.0.2", kNow, /*failed=*/false);
  EXPECT_EQ(l.checks_in_flight(), 2u);
  // One succeeds: its slot is free again.
  l.EndCheck("10.0.0.1", kNow, /*failed=*/false);
  EXPECT_FALSE(l.BeginCheck("10.0.0.1", kNow).limited);
  // Both fail: 3 failures, limited whatever is in flight.
  l.EndCheck("10.0.0.1", kNow, /*failed=*/true);
  l.EndCheck("10.0.0.1", kNow, /*failed=*/true);
  EXPECT_EQ(l.checks_in_flight(), 0u);
  EXPECT_TRUE(l.IsLimited("10.0.0.1", kNow));
  EXPECT_TRUE(l.BeginCheck("10.0.0.1", kNow).limited);
  EXPECT_EQ(l.checks_in_flight(), 0u) << "a refused check is not in flight";
}

// A source without failures is not throttled by its own concurrency up to kChecksInFlightMax;
// beyond that a burst of guesses is refused before any of it is checked.
TEST(FailureLimiterTest, ACleanSourceMayHaveABoundedNumberOfChecksInFlight) {
  FailureLimiter l(3, 100);
  for (uint32_t i = 0; i < FailureLimiter::kChecksInFlightMax; ++i) {
    ASSERT_FALSE(l.BeginCheck("::1", kNow).limited) << i;
  }
  EXPECT_TRUE(l.BeginCheck("::1", kNow).limited);
  // The burst fails: only the admitted checks were made, and the source is limited now.
  for (uint32_t i = 0; i < FailureLimiter::kChecksInFlightMax; ++i) l.EndCheck("::1", kNow, true);
  EXPECT_TRUE(l.IsLimited("::1", kNow));
  EXPECT_EQ(l.checks_in_flight(), 0u);
}

// With a budget above kChecksInFlightMax (the configuration allows up to 10^6 failures a
// minute), a source that has failed once still never has more than kChecksInFlightMax checks in
// flight (this aborted on an assertion before).
TEST(FailureLimiterTest, ABigBudgetDoesNotLiftTheBoundOnChecksInFlight) {
  FailureLimiter l(1000, 10);
  l.RecordFailure("10.0.0.1", kNow);
  uint32_t admitted = 0;
  for (uint32_t i = 0; i < FailureLimiter::kChecksInFlightMax + 44; ++i) {
    if (!l.BeginCheck("10.0.0.1", kNow).limited) admitted += 1;
  }
  EXPECT_EQ(admitted, FailureLimiter::kChecksInFlightMax);
  EXPECT_EQ(l.checks_in_flight(), FailureLimiter::kChecksInFlightMax);
  for (uint32_t i = 0; i < admitted; ++i) l.EndCheck("10.0.0.1", kNow, false);
  EXPECT_EQ(l.checks_in_flight(), 0u);
  EXPECT_FALSE(l.BeginCheck("10.0.0.1", kNow).limited) << "the source is not limited by its past checks";
}

TEST(FailureLimiterTest, ChecksInFlightFromManyThreadsNeverPassTheBudget) {
  constexpr int kMax = 5;
  FailureLimiter l(kMax, 100);
  l.RecordFailure("10.0.0.9", kNow);  // a failing source: every check counts
  std::atomic<int> admitted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 200; ++i) {
        if (l.BeginCheck("10.0.0.9", kNow).limited) continue;
        admitted.fetch_add(1);
        l.EndCheck("10.0.0.9", kNow, /*failed=*/true);
      }
    });
  }
  for (auto& th : threads) th.join();
  // 1 failure before, then every admitted check failed: at most kMax - 1 more were admitted.
  EXPECT_EQ(admitted.load(), kMax - 1);
  EXPECT_EQ(l.checks_in_flight(), 0u);
}

TEST(FailureLimiterTest, ThreadSafe) {
  FailureLimiter l(1000000, 64);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&l, t] {
      for (int i = 0; i < 2000; ++i) {
        l.RecordFailure("addr-" + std::to_string((i + t) % 100), kNow + i / 100);
        (void)l.IsLimited("addr-" + std::to_string(i % 100), kNow);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_LE(l.tracked_sources(), 64u);
}

}  // namespace
}  // namespace cairn::auth
