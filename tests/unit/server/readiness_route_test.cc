// /readyz: 200 while the store can take writes, 503 naming why not; the store is asked at most
// once per interval, whatever the number of probes.
#include "server/readiness_route.h"

#include <gtest/gtest.h>

#include <atomic>

namespace cairn::server {
namespace CAIRN_UNITY_ID {

struct FakeStore {
  std::atomic<int> asked{0};
  Status answer;
  Status Health() {
    ++asked;
    return answer;
  }
};

TEST(ReadinessRoute, ReadyWhileTheStoreTakesWritesAndSaysWhyNotOtherwise) {
  FakeStore store;
  int64_t now_ms = 1000;
  ReadinessRoute route([&] { return store.Health(); }, [&] { return now_ms; }, 1000);
  HttpResponse r = route.Probe();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "ready\n");

  store.answer = Status::ResourceExhausted("the disk is full (no space left on device)");
  now_ms += 1000;
  r = route.Probe();
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.body, "not ready: RESOURCE_EXHAUSTED: the disk is full (no space left on device)\n");

  store.answer = Status::Ok();  // space freed; the store resumed when asked
  now_ms += 1000;
  EXPECT_EQ(route.Probe().status, 200);
}

TEST(ReadinessRoute, AsksTheStoreAtMostOncePerInterval) {
  FakeStore store;
  int64_t now_ms = 5000;
  ReadinessRoute route([&] { return store.Health(); }, [&] { return now_ms; }, 1000);
  for (int i = 0; i < 100; ++i) route.Probe();
  EXPECT_EQ(store.asked.load(), 1);
  store.answer = Status::Unavailable("restart the server");
  now_ms += 999;
  EXPECT_EQ(route.Probe().status, 200);  // the last answer, within the interval
  EXPECT_EQ(store.asked.load(), 1);
  now_ms += 1;
  EXPECT_EQ(route.Probe().status, 503);
  EXPECT_EQ(store.asked.load(), 2);
  now_ms -= 10000;  // a clock that went back asks again rather than wait
  route.Probe();
  EXPECT_EQ(store.asked.load(), 3);
}

}  // namespace CAIRN_UNITY_ID
}  // namespace cairn::server
