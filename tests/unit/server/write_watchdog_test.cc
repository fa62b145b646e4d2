// WriteWatchdog: a write blocked longer than the bound is cancelled, once; shorter ones never.
#include "server/write_watchdog.h"

#include <atomic>
#include <chrono>
#include <thread>

#include <gtest/gtest.h>

namespace cairn::server {
namespace CAIRN_UNITY_ID {

TEST(WriteWatchdog, ABlockedWriteIsCancelledOnceAfterTheBound) {
  WriteWatchdog watchdog(/*stall_ms_max=*/50, /*poll_ms=*/10);
  std::atomic<int> cancels{0};
  {
    WriteWatchdog::Watch watch(&watchdog, [&] { ++cancels; });
    for (int i = 0; i < 200 && cancels.load() == 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ASSERT_EQ(cancels.load(), 1);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // still blocked
    EXPECT_EQ(cancels.load(), 1) << "cancelled once";
  }
  EXPECT_EQ(watchdog.cancelled(), 1u);
}

TEST(WriteWatchdog, WritesThatEndWithinTheBoundAreLeftAlone) {
  WriteWatchdog watchdog(/*stall_ms_max=*/300, /*poll_ms=*/10);
  std::atomic<int> cancels{0};
  for (int i = 0; i < 20; ++i) {
    WriteWatchdog::Watch watch(&watchdog, [&] { ++cancels; });
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(cancels.load(), 0);
  EXPECT_EQ(watchdog.cancelled(), 0u);
  WriteWatchdog::Watch unwatched(nullptr, [&] { ++cancels; });  // no watchdog: nothing happens
}

}  // namespace
}  // namespace cairn::server
