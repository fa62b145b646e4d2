// RunQueues: live subscriptions are served ahead of catching-up ones, and neither starves.
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
  EXPECT_EQ(q.Pop(), "live") << "not behind the 20 catch-up turns";
  for (int i = 0; i < 20; ++i) EXPECT_EQ(q.Pop(), "catch-up-" + std::to_string(i)) << "FIFO";
  EXPECT_TRUE(q.empty());
}

TEST(RunQueues, CatchUpsGetATurnInEveryFewWhileLiveOnesKeepComing) {
  Queues q;
  q.Push("c0", false);
  q.Push("c1", false);
  std::vector<std::string> order;
  int live = 0;
  for (int turn = 0; turn < 12; ++turn) {
    q.Push("l" + std::to_string(live++), true);  // live work is always waiting
    std::string next = q.Pop();
    if (next[0] == 'c') q.Push(next, false);  // a catch-up not done yet is queued again
    order.push_back(next);
  }
  // Four live turns, then a catch-up one, and so on.
  const std::vector<std::string> want = {"l0", "l1", "l2", "l3", "c0", "l4",
                                         "l5", "l6", "l7", "c1", "l8", "l9"};
  EXPECT_EQ(order, want);
  static_assert(Queues::kLiveTurnsPerCatchUpTurn == 4);
}

TEST(RunQueues, ClearForgetsEverything) {
  Queues q;
  q.Push("a", true);
  q.Push("b", false);
  q.Clear();
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.size(), 0u);
}

}  // namespace CAIRN_UNITY_ID
}  // namespace cairn::subscribe
