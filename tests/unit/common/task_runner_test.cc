// TaskRunner: tasks run in posting order on its threads, the queue is bounded (Post refuses,
// never blocks), and destruction runs what was queued.
#include "common/task_runner.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <vector>

namespace cairn {
namespace CAIRN_UNITY_ID {

TEST(TaskRunnerTest, RunsTasksInOrderRefusesBeyondTheQueueAndDrainsOnDestruction) {
  std::vector<int> ran;
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  {
    TaskRunner runner(1, 3, "test-runner");
    std::promise<void> started;
    ASSERT_TRUE(runner.Post([&] {
      started.set_value();
      released.wait();  // holds the only thread: the next posts queue up
    }));
    started.get_future().wait();
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(runner.Post([&ran, i] { ran.push_back(i); }));
    EXPECT_EQ(runner.queued(), 3u);
    EXPECT_FALSE(runner.Post([&ran] { ran.push_back(99); })) << "beyond queue_max";
    release.set_value();
  }  // the destructor runs the three queued tasks, then joins
  EXPECT_EQ(ran, (std::vector<int>{0, 1, 2}));
}

TEST(TaskRunnerTest, ATaskMayPostTheNextTurnOfItsWork) {
  std::atomic<int> turns{0};
  std::promise<void> done;
  TaskRunner runner(2, 4, "test-runner");
  std::function<void()> turn = [&] {
    if (++turns == 10) {
      done.set_value();
      return;
    }
    ASSERT_TRUE(runner.Post(turn));
  };
  ASSERT_TRUE(runner.Post(turn));
  done.get_future().wait();
  EXPECT_EQ(turns.load(), 10);
}

}  // namespace
}  // namespace cairn
