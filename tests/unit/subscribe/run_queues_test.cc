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
    q.Served(next, took);
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

// Time spent while one queue alone had work is not held against the other later: a replay that
// starts after a long live-only spell does not get a long run of catch-up turns, nor the reverse.
TEST(RunQueues, TimeSpentAloneIsNotSpentLater) {
  Queues q;
  for (int i = 0; i < 100; ++i) {  // live only, 5 ms a turn: half a second of live time
    q.Push("l", true);
    auto t = q.Pop();
    q.Served(t, 5'000'000);
  }
  q.Push("c", false);
  q.Push("l1", true);
  q.Push("l2", true);
  auto first = q.Pop();
  EXPECT_TRUE(first.live) << "a new contention starts with a live turn, not a run of catch-up";
  q.Served(first, 100'000);
  auto second = q.Pop();  // catch-up's share is behind now: its turn
  EXPECT_FALSE(second.live);
  q.Served(second, 2'000'000);
  q.Push("c", false);
  q.Push("l3", true);
  EXPECT_TRUE(q.Pop().live) << "one catch-up turn, then live ones again";
}

// While live work waits, at most one thread runs a catching-up turn.
TEST(RunQueues, OneCatchUpTurnAtATimeWhileLiveWorkWaits) {
  Queues q;
  q.Push("l1", true);
  q.Push("c1", false);
  q.Push("c2", false);
  auto a = q.Pop();
  q.Served(a, 1'000'000);  // live time builds up: catch-up is owed a turn
  q.Push("l2", true);
  q.Push("l3", true);
  auto b = q.Pop();
  EXPECT_FALSE(b.live);  // one thread takes a catch-up turn ...
  auto c = q.Pop();
  EXPECT_TRUE(c.live) << "... the next thread serves live work meanwhile";
  q.Served(c, 100'000);
  q.Served(b, 2'000'000);
}

}  // namespace CAIRN_UNITY_ID
}  // namespace cairn::subscribe
