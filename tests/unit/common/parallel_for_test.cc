#include "common/parallel_for.h"

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

namespace cairn {
namespace CAIRN_UNITY_ID {

TEST(ParallelFor, RunsEveryIndexExactlyOnceOnAtMostTwoThreads) {
  constexpr size_t kCount = 10000;
  std::vector<std::atomic<int>> runs(kCount);
  std::mutex mu;
  std::set<std::thread::id> threads;
  ASSERT_TRUE(ParallelFor(kCount, 1, [&](size_t i) {
                runs[i].fetch_add(1);
                std::lock_guard<std::mutex> lock(mu);
                threads.insert(std::this_thread::get_id());
                return Status::Ok();
              }).ok());
  for (size_t i = 0; i < kCount; ++i) ASSERT_EQ(runs[i].load(), 1) << i;
  EXPECT_GE(threads.size(), 1u);
  EXPECT_LE(threads.size(), 2u);
}

TEST(ParallelFor, EachWorkerIndexIsOneThreadRunningOneItemAtATime) {
  constexpr size_t kCount = 20000;
  const std::thread::id caller = std::this_thread::get_id();
  std::vector<std::atomic<int>> runs(kCount);
  std::atomic<int> busy[kParallelWorkersMax] = {};
  std::atomic<bool> overlapped{false};
  std::mutex mu;
  std::vector<std::set<std::thread::id>> threads(kParallelWorkersMax);
  ASSERT_TRUE(ParallelForWorkers(kCount, 1, [&](size_t worker, size_t i) {
                if (worker >= kParallelWorkersMax) return Status::Internal("worker out of range");
                if (busy[worker].fetch_add(1) != 0) overlapped = true;
                runs[i].fetch_add(1);
                {
                  std::lock_guard<std::mutex> lock(mu);
                  threads[worker].insert(std::this_thread::get_id());
                }
                busy[worker].fetch_sub(1);
                return Status::Ok();
              }).ok());
  for (size_t i = 0; i < kCount; ++i) ASSERT_EQ(runs[i].load(), 1) << i;
  EXPECT_FALSE(overlapped.load());
  // Either worker may have claimed every item (a descheduled caller finds none left), but each
  // index that ran anything ran on one thread, and worker 0 is the calling thread.
  ASSERT_FALSE(threads[0].empty() && threads[1].empty());
  EXPECT_LE(threads[0].size(), 1u);
  if (!threads[0].empty()) {
    EXPECT_EQ(*threads[0].begin(), caller);
  }
  EXPECT_LE(threads[1].size(), 1u);
  if (!threads[1].empty()) {
    EXPECT_NE(*threads[1].begin(), caller);
  }
}

TEST(ParallelFor, ShortRunsStayOnTheCallingThread) {
  const std::thread::id caller = std::this_thread::get_id();
  bool elsewhere = false;
  ASSERT_TRUE(ParallelFor(100, 1000, [&](size_t) {
                elsewhere |= std::this_thread::get_id() != caller;
                return Status::Ok();
              }).ok());
  EXPECT_FALSE(elsewhere);
  EXPECT_TRUE(ParallelFor(0, 1, [](size_t) { return Status::Internal("never called"); }).ok());
}

TEST(ParallelFor, ReturnsTheErrorOfTheLowestFailingIndex) {
  for (int round = 0; round < 20; ++round) {
    Status s = ParallelFor(5000, 1, [](size_t i) {
      if (i == 4321 || i == 1234 || i == 4999) return Status::DataLoss("bad " + std::to_string(i));
      return Status::Ok();
    });
    ASSERT_EQ(s.code(), StatusCode::kDataLoss);
    EXPECT_EQ(s.message(), "bad 1234");
  }
}

}  // namespace
}  // namespace cairn
