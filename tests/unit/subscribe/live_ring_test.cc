// LiveRing bounds and reads; LiveRequest validation and filters; LiveAccess policy checks.
#include <gtest/gtest.h>

#include "live_test_util.h"
#include "subscribe/live_access.h"
#include "subscribe/live_request.h"
#include "subscribe/live_ring.h"

namespace cairn::subscribe {
namespace CAIRN_UNITY_ID {

SharedEvent At(uint64_t position, size_t data_bytes = 10, std::string stream = "s",
               std::string type = "T") {
  auto e = std::make_shared<LiveEvent>();
  e->entry.position = position;
  e->entry.stream_id = std::move(stream);
  e->entry.event_type = std::move(type);
  e->data.assign(data_bytes, 'x');
  return e;
}

std::vector<SharedEvent> Range(uint64_t from, uint64_t to, size_t data_bytes = 10) {
  std::vector<SharedEvent> v;
  for (uint64_t p = from; p < to; ++p) v.push_back(At(p, data_bytes));
  return v;
}

TEST(LiveRingTest, ReadsWhatItHoldsAndSaysWhenAPositionWasEvicted) {
  LiveRing ring(100, 10, 1 << 20);
  EXPECT_EQ(ring.begin(), 100u);
  EXPECT_EQ(ring.end(), 100u);
  std::vector<SharedEvent> out;
  EXPECT_TRUE(ring.Read(100, 5, &out));
  EXPECT_TRUE(out.empty());
  ring.Append(Range(100, 115));  // 15 events, 10 kept
  EXPECT_EQ(ring.begin(), 105u);
  EXPECT_EQ(ring.end(), 115u);
  EXPECT_FALSE(ring.Read(104, 5, &out)) << "evicted";
  EXPECT_TRUE(out.empty());
  ASSERT_TRUE(ring.Read(108, 5, &out));
  ASSERT_EQ(out.size(), 5u);
  for (size_t i = 0; i < out.size(); ++i) EXPECT_EQ(out[i]->entry.position, 108 + i);
  out.clear();
  ASSERT_TRUE(ring.Read(113, 100, &out));
  EXPECT_EQ(out.size(), 2u) << "only up to the end";
  out.clear();
  EXPECT_TRUE(ring.Read(200, 5, &out));
  EXPECT_TRUE(out.empty()) << "beyond the end: nothing yet";
}

TEST(LiveRingTest, RestartDropsEverythingAndContinuesFromTheNewPosition) {
  LiveRing ring(0, 100, 1 << 20);
  ring.Append(Range(0, 10));
  ring.Restart(25);
  EXPECT_EQ(ring.begin(), 25u);
  EXPECT_EQ(ring.end(), 25u);
  EXPECT_EQ(ring.size_bytes(), 0u);
  std::vector<SharedEvent> out;
  EXPECT_FALSE(ring.Read(5, 5, &out)) << "before the restart: from storage";
  ring.Append(Range(25, 30));
  ASSERT_TRUE(ring.Read(25, 10, &out));
  ASSERT_EQ(out.size(), 5u);
  EXPECT_EQ(out.front()->entry.position, 25u);
}

TEST(LiveRingTest, EvictsByBytesButKeepsTheNewestEvent) {
  const size_t cost = EventCostBytes(*At(0, 1000));
  LiveRing ring(0, 1000, 3 * cost);
  ring.Append(Range(0, 10, 1000));
  EXPECT_EQ(ring.end() - ring.begin(), 3u);
  EXPECT_LE(ring.size_bytes(), 3 * cost);
  ring.Append({At(10, 100000)});  // larger than the whole budget
  EXPECT_EQ(ring.begin(), 10u);
  EXPECT_EQ(ring.end(), 11u);
}

TEST(LiveRingTest, EventsStayValidForHoldersAfterEviction) {
  LiveRing ring(0, 2, 1 << 20);
  ring.Append(Range(0, 2));
  std::vector<SharedEvent> held;
  ASSERT_TRUE(ring.Read(0, 2, &held));
  ring.Append(Range(2, 6));
  EXPECT_EQ(held[0]->entry.position, 0u);
  EXPECT_EQ(held[1]->data, std::string(10, 'x'));
}

TEST(LiveRequestTest, ValidationRejectsWhatCannotBeServed) {
  LiveRequest r;
  r.stream = "$all";
  EXPECT_TRUE(ValidateLiveRequest(r).ok());
  r.start = LiveRequest::Start::kVersion;
  EXPECT_EQ(ValidateLiveRequest(r).code(), StatusCode::kInvalidArgument);
  r.stream = "orders-1";
  EXPECT_TRUE(ValidateLiveRequest(r).ok());
  r.stream = "";
  EXPECT_EQ(ValidateLiveRequest(r).code(), StatusCode::kInvalidArgument);
  r.stream = "orders-1";
  r.event_types.assign(kLiveFilterEntriesMax + 1, "T");
  EXPECT_EQ(ValidateLiveRequest(r).code(), StatusCode::kInvalidArgument);
  r.event_types = {""};
  EXPECT_EQ(ValidateLiveRequest(r).code(), StatusCode::kInvalidArgument);
  r.event_types.clear();
  r.checkpoint_interval_ms = kCheckpointIntervalMsMin - 1;
  EXPECT_EQ(ValidateLiveRequest(r).code(), StatusCode::kInvalidArgument);
}

TEST(LiveRequestTest, FiltersByStreamVersionPrefixAndType) {
  LiveRequest all;
  all.stream = "$all";
  EXPECT_TRUE(MatchesRequest(all, *At(0, 1, "a-1", "X")));
  all.stream_prefixes = {"order-", "invoice-"};
  EXPECT_TRUE(MatchesRequest(all, *At(0, 1, "order-7", "X")));
  EXPECT_TRUE(MatchesRequest(all, *At(0, 1, "invoice-7", "X")));
  EXPECT_FALSE(MatchesRequest(all, *At(0, 1, "orde", "X")));
  all.event_types = {"Paid"};
  EXPECT_FALSE(MatchesRequest(all, *At(0, 1, "order-7", "X")));
  EXPECT_TRUE(MatchesRequest(all, *At(0, 1, "order-7", "Paid")));

  LiveRequest one;
  one.stream = "order-7";
  one.start = LiveRequest::Start::kVersion;
  one.from = 3;
  auto e = At(0, 1, "order-7", "X");
  std::const_pointer_cast<LiveEvent>(e)->entry.stream_version = 2;
  EXPECT_FALSE(MatchesRequest(one, *e)) << "below from_version";
  std::const_pointer_cast<LiveEvent>(e)->entry.stream_version = 3;
  EXPECT_TRUE(MatchesRequest(one, *e));
  EXPECT_FALSE(MatchesRequest(one, *At(0, 1, "order-70", "X"))) << "another stream";
}

class LiveAccessTest : public LiveTest {};

TEST_F(LiveAccessTest, StreamLevelGrantTypesAndExpiry) {
  LiveAccess all(&policies_, PrincipalWith("reader"), "$all");
  ASSERT_TRUE(all.Refresh(1000).ok());
  EXPECT_TRUE(all.MaySubscribe("x", "A"));
  EXPECT_FALSE(all.MaySubscribe("x", "Secret")) << "deny wins";
  EXPECT_TRUE(all.MayReadPii("x", "A"));

  LiveAccess masked(&policies_, PrincipalWith("masked"), "$all");
  ASSERT_TRUE(masked.Refresh(1000).ok());
  EXPECT_FALSE(masked.MayReadPii("x", "A"));

  LiveAccess none(&policies_, PrincipalWith("none"), "$all");
  EXPECT_EQ(none.Refresh(1000).code(), StatusCode::kPermissionDenied) << "no subscribe grant";
  LiveAccess stream(&policies_, PrincipalWith("orders"), "invoice-1");
  EXPECT_EQ(stream.Refresh(1000).code(), StatusCode::kPermissionDenied);
  LiveAccess order(&policies_, PrincipalWith("orders"), "order-1");
  EXPECT_TRUE(order.Refresh(1000).ok());

  Principal expiring = PrincipalWith("reader");
  expiring.expires_unix_s = 2000;
  LiveAccess timed(&policies_, expiring, "$all");
  EXPECT_TRUE(timed.Refresh(1999).ok());
  EXPECT_EQ(timed.Refresh(2000).code(), StatusCode::kUnauthenticated);
}

TEST_F(LiveAccessTest, RefreshTakesAReloadedPolicy) {
  LiveAccess access(&policies_, PrincipalWith("masked"), "$all");
  ASSERT_TRUE(access.Refresh(1).ok());
  EXPECT_TRUE(access.MaySubscribe("x", "A"));
  InstallPolicy(R"(
[[role]]
name = "masked"
grants = [ { actions = ["subscribe"], streams = ["*"], event_types = ["B"] } ]
)");
  EXPECT_TRUE(access.MaySubscribe("x", "A")) << "the snapshot holds until the next Refresh";
  ASSERT_TRUE(access.Refresh(1).ok());
  EXPECT_FALSE(access.MaySubscribe("x", "A"));
  EXPECT_TRUE(access.MaySubscribe("x", "B"));
  InstallPolicy(R"(
[[role]]
name = "masked"
grants = [ { actions = ["read"], streams = ["*"], event_types = ["*"] } ]
)");
  EXPECT_EQ(access.Refresh(1).code(), StatusCode::kPermissionDenied);
}

}  // namespace
}  // namespace cairn::subscribe
