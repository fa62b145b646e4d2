#include "auth/failure_limiter.h"

#include <gtest/gtest.h>

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
