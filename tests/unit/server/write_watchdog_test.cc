// WriteWatchdog: a write blocked longer than the bound is cancelled, once; shorter ones never; a
// watch that ends while its cancel runs waits for it; a cancel may end its own watch; a
// RenewedWatch cancels a stalled run of operations and never a progressing one.
#include "server/write_watchdog.h"

#include <atomic>
#include <chrono>
#include <optional>
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
  // 20 ms writes against a 2 s bound: far apart, so that a stalled test thread does not count.
  WriteWatchdog watchdog(/*stall_ms_max=*/2000, /*poll_ms=*/10);
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

TEST(WriteWatchdog, AWatchEndingWhileItsCancelRunsWaitsForIt) {
  WriteWatchdog watchdog(/*stall_ms_max=*/20, /*poll_ms=*/5);
  std::atomic<bool> started{false}, finished{false};
  {
    WriteWatchdog::Watch watch(&watchdog, [&] {
      started = true;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      finished = true;
    });
    for (int i = 0; i < 400 && !started.load(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    ASSERT_TRUE(started.load());
  }  // ends here, while the cancel sleeps
  EXPECT_TRUE(finished.load()) << "the watch ended before its cancel returned";
}

TEST(WriteWatchdog, ACancelMayEndItsOwnWatch) {
  WriteWatchdog watchdog(/*stall_ms_max=*/20, /*poll_ms=*/5);
  std::atomic<bool> done{false};
  std::optional<WriteWatchdog::Watch> watch;
  watch.emplace(&watchdog, [&] {
    watch.reset();  // on the watchdog's thread, as a reactor ending its call would
    done = true;
  });
  for (int i = 0; i < 400 && !done.load(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_TRUE(done.load());
  EXPECT_EQ(watchdog.cancelled(), 1u);
}

TEST(RenewedWatch, ProgressKeepsASteadyRunAliveAndAStallIsCancelled) {
  // 60 ms steps against a 1 s bound, for a 1.2 s run: the bound is crossed only by progress.
  WriteWatchdog watchdog(/*stall_ms_max=*/1000, /*poll_ms=*/10);
  std::atomic<int> cancels{0};
  WriteWatchdog::RenewedWatch watch(&watchdog, [&] { ++cancels; });
  for (int i = 0; i < 20; ++i) {  // 1.2 s of operations, one every 60 ms
    watch.Begin();
    watch.Begin();  // a second Begin is the same watch
    std::this_thread::sleep_for(std::chrono::milliseconds(60));
    watch.Progress();
  }
  EXPECT_EQ(cancels.load(), 0) << "a progressing run was cancelled";
  watch.Begin();  // and now nothing completes
  for (int i = 0; i < 600 && cancels.load() == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(cancels.load(), 1);
  watch.End();
  EXPECT_EQ(watchdog.cancelled(), 1u);
}

TEST(RenewedWatch, EndStopsTheClockAndWithoutAWatchdogNothingHappens) {
  WriteWatchdog watchdog(/*stall_ms_max=*/100, /*poll_ms=*/10);
  std::atomic<int> cancels{0};
  WriteWatchdog::RenewedWatch watch(&watchdog, [&] { ++cancels; });
  watch.Begin();
  watch.End();  // e.g. the reactor waits on its own work, not on the client
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(cancels.load(), 0);
  WriteWatchdog::RenewedWatch unwatched(nullptr, [&] { ++cancels; });
  unwatched.Begin();
  unwatched.Progress();
  unwatched.End();
  EXPECT_EQ(cancels.load(), 0);
}

}  // namespace
}  // namespace cairn::server
