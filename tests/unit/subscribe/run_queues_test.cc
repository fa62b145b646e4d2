// RunQueues: live subscriptions are served ahead of catching-up ones, which get a bounded share
// of the delivery time, and neither starves.
#include "subscribe/run_queues.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace cairn::subscribe {
namespace CAIRN_UNITY_ID {

using Queues = RunQueues<std::string>;

TEST(RunQueues, ALiveSubscriptionIsServedBeforeTheCatchUpsQueuedAheadOfIt) {
  Queues q;
  for (int i = 0; i < 20; ++i) q.Push("catch-up-" + std::to_string(i), /*live=*/false);
  q.Push("live", /*live=*/true);
  EXPECT_EQ(q.size(), 21u);
  auto first = q.Pop();
  EXPECT_EQ(first.item, "live") << "not behind the 20 catch-up turns";
  EXPECT_TRUE(first.live);
  for (int i = 0; i < 20; ++i) {
    auto next = q.Pop();
    EXPECT_EQ(next.item, "catch-up-" + std::to_string(i)) << "FIFO";
    EXPECT_FALSE(next.live);
  }
  EXPECT_TRUE(q.empty());
}

// Catching-up turns are long (a scan), live ones short: the catching-up ones get about a fifth of
// the time while live work waits, not a fifth of the turns.
TEST(RunQueues, CatchUpsGetAFifthOfTheTimeWhileLiveOnesKeepComing) {
  Queues q;
  q.Push("c", false);
  constexpr int64_t kLiveTurnNs = 100'000;      // 0.1 ms
  constexpr int64_t kCatchUpTurnNs = 2'000'000;  // 2 ms
  int64_t live_ns = 0, catch_up_ns = 0;
  int catch_up_turns = 0;
  for (int turn = 0; turn < 5000; ++turn) {
    q.Push("l", true);  // live work is always waiting
    auto next = q.Pop();
    const int64_t took = next.live ? kLiveTurnNs : kCatchUpTurnNs;
    q.Served(next.live, took);
    (next.live ? live_ns : catch_up_ns) += took;
    if (!next.live) {
      ++catch_up_turns;
      q.Push("c", false);  // not done yet: queued again
    }
  }
  EXPECT_GT(catch_up_turns, 0) << "the catching-up subscription starved";
  const double share = static_cast<double>(catch_up_ns) / static_cast<double>(live_ns + catch_up_ns);
  EXPECT_GT(share, 0.15);
  EXPECT_LT(share, 0.25) << "catch-up turns took " << share << " of the time";
  static_assert(Queues::kLiveTimePerCatchUpTime == 4);
}

TEST(RunQueues, OneQueueAloneIsServedWhateverItsTime) {
  Queues q;
  q.Served(/*live=*/false, Queues::kWindowNs / 2);  // much catch-up time already
  q.Push("c1", false);
  q.Push("c2", false);
  EXPECT_EQ(q.Pop().item, "c1");
  EXPECT_EQ(q.Pop().item, "c2");
  q.Push("l", true);
  EXPECT_EQ(q.Pop().item, "l");
  q.Clear();
  EXPECT_TRUE(q.empty());
}

}  // namespace CAIRN_UNITY_ID
}  // namespace cairn::subscribe
