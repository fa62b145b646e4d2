// /readyz: 200 while the store can take writes, 503 naming why not; the store is asked on the
// route's own thread, at most once per interval, and a slow check never holds a probe.
#include "server/readiness_route.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <mutex>
#include <thread>

namespace cairn::server {
namespace CAIRN_UNITY_ID {

struct FakeStore {
  std::mutex mu;
  Status answer;
  std::atomic<int> asked{0};
  std::atomic<bool> blocked{false};
  Status Health() {
    while (blocked.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    std::lock_guard<std::mutex> lock(mu);
    ++asked;
    return answer;
  }
  void Answer(Status s) {
    std::lock_guard<std::mutex> lock(mu);
    answer = std::move(s);
  }
};

bool WaitFor(const std::function<bool()>& done) {
  for (int i = 0; i < 2000 && !done(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return done();
}

TEST(ReadinessRoute, ReadyWhileTheStoreTakesWritesAndSaysWhyNotOtherwise) {
  FakeStore store;
  std::atomic<int64_t> now_ms{1000};
  ReadinessRoute route([&] { return store.Health(); }, [&] { return now_ms.load(); }, 1000);
  EXPECT_EQ(store.asked.load(), 1);  // at construction
  HttpResponse r = route.Probe();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "ready\n");

  store.Answer(Status::ResourceExhausted("the disk is full (no space left on device)"));
  now_ms += 1000;
  route.Probe();  // starts a check
  ASSERT_TRUE(WaitFor([&] { return route.Probe().status == 503; }));
  r = route.Probe();
  EXPECT_EQ(r.body, "not ready: RESOURCE_EXHAUSTED: the disk is full (no space left on device)\n");

  store.Answer(Status::Ok());  // space freed; the store resumed when asked
  now_ms += 1000;
  route.Probe();
  EXPECT_TRUE(WaitFor([&] { return route.Probe().status == 200; }));
}

TEST(ReadinessRoute, AsksTheStoreAtMostOncePerInterval) {
  FakeStore store;
  std::atomic<int64_t> now_ms{5000};
  ReadinessRoute route([&] { return store.Health(); }, [&] { return now_ms.load(); }, 1000);
  for (int i = 0; i < 100; ++i) route.Probe();
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(store.asked.load(), 1);
  now_ms += 999;
  route.Probe();
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(store.asked.load(), 1);
  now_ms += 1;
  for (int i = 0; i < 100; ++i) route.Probe();
  EXPECT_TRUE(WaitFor([&] { return store.asked.load() == 2; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(store.asked.load(), 2);
}

// A check that takes long (a resume flushing a large memtable) does not hold the admin
// listener's thread: probes answer the last result meanwhile.
TEST(ReadinessRoute, AProbeNeverWaitsForACheck) {
  FakeStore store;
  std::atomic<int64_t> now_ms{0};
  ReadinessRoute route([&] { return store.Health(); }, [&] { return now_ms.load(); }, 1000);
  store.blocked = true;
  now_ms += 1000;
  route.Probe();  // the route's thread is now stuck in the check
  auto probe = std::async(std::launch::async, [&] { return route.Probe().status; });
  ASSERT_EQ(probe.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  EXPECT_EQ(probe.get(), 200);
  store.blocked = false;  // lets the destructor join
}

}  // namespace CAIRN_UNITY_ID
}  // namespace cairn::server
