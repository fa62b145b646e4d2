// Two additions for the EventStoreDB persistent subscriptions (issue 9): event-type prefix
// filters on a group, and a bounded replay of parked events (ESDB's replay "stop at").
#include <gtest/gtest.h>

#include <set>
#include <thread>

#include "group_test_util.h"
#include "subscribe/group_parked.h"

namespace cairn::subscribe {
namespace CAIRN_UNITY_ID {

TEST(GroupTypePrefixes, PassOnlyMatchingTypesBesideExactOnesAndRoundTrip) {
  GroupSettings s;
  s.name = "g";
  s.event_type_prefixes = {"Order"};
  EXPECT_TRUE(s.Passes("order-1", "OrderCreated"));
  EXPECT_FALSE(s.Passes("order-1", "InvoiceSent"));
  EXPECT_FALSE(s.Passes("order-1", "Orde"));
  s.event_types = {"InvoiceSent"};
  EXPECT_TRUE(s.Passes("order-1", "InvoiceSent"));
  EXPECT_TRUE(s.Passes("order-1", "OrderShipped"));
  EXPECT_FALSE(s.Passes("order-1", "InvoicePaid"));

  auto back = DecodeGroupSettings(EncodeGroupSettings(s));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, s);
  // Settings stored before the prefixes existed still load, with none.
  auto old = DecodeGroupSettings(
      R"({"v":1,"name":"g","source":"$all","stream_prefixes":[],"event_types":[],)"
      R"("start_position":0,"max_in_flight":16,"retry_limit":5,"ack_timeout_ms":30000})");
  ASSERT_TRUE(old.ok()) << old.status().ToString();
  EXPECT_TRUE(old->event_type_prefixes.empty());
}

TEST(GroupTypePrefixes, CountTowardsTheFilterLimitAndCannotChangeByUpdate) {
  GroupLimits limits;
  limits.filter_entries_max = 2;
  GroupSettings s;
  s.name = "g";
  s.stream_prefixes = {"order-"};
  s.event_type_prefixes = {"Order", "Invoice"};
  EXPECT_EQ(NormalizeGroupSettings(limits, &s).code(), StatusCode::kInvalidArgument);
  s.event_type_prefixes = {""};
  EXPECT_EQ(NormalizeGroupSettings(limits, &s).code(), StatusCode::kInvalidArgument);
  s.event_type_prefixes = {"Order"};
  ASSERT_TRUE(NormalizeGroupSettings(limits, &s).ok());
  GroupSettings wanted = s;
  wanted.event_type_prefixes = {"Invoice"};
  EXPECT_EQ(CheckGroupUpdate(s, wanted).code(), StatusCode::kInvalidArgument);
}

TEST_F(GroupTest, AnEventTypePrefixFilterSelectsEvents) {
  GroupSettings s = Settings("g");
  s.event_type_prefixes = {"Wan"};
  ASSERT_TRUE(groups_->Create(s).ok());
  AppendN("order-1", 1, "Other");
  AppendN("order-1", 1, "Wanted");
  auto consumer = std::make_shared<FakeConsumer>();
  auto member = JoinOrDie("g", consumer);
  auto got = consumer->Take(1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].event.entry.event_type, "Wanted");
  EXPECT_EQ(consumer->Take(1, 200).size(), 0u);
}

TEST_F(GroupTest, ReplayParkedWithACountReplaysOnlyThatMany) {
  ASSERT_TRUE(groups_->Create(Settings("g")).ok());
  AppendN("order-1", 3);
  auto consumer = std::make_shared<FakeConsumer>();
  auto member = JoinOrDie("g", consumer);
  auto all = consumer->Take(3);
  ASSERT_EQ(all.size(), 3u);
  member->Nack(AckIds(all), NackAction::kPark, "later");
  for (int i = 0; i < 300 && groups_->List()[0].counters.parked < 3; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(groups_->List()[0].counters.parked, 3u);

  auto pending = groups_->ReplayParked("g", 2);
  ASSERT_TRUE(pending.ok()) << pending.status().ToString();
  EXPECT_EQ(*pending, 2u);
  auto replayed = consumer->Take(2);
  ASSERT_EQ(replayed.size(), 2u);
  EXPECT_TRUE(replayed[0].replay && replayed[1].replay);
  EXPECT_EQ(consumer->Take(1, 300).size(), 0u) << "replayed beyond the count";
  member->Ack(AckIds(replayed));

  auto rest = groups_->ReplayParked("g");  // no count: the remaining one
  ASSERT_TRUE(rest.ok());
  auto last = consumer->Take(1);
  ASSERT_EQ(last.size(), 1u);
  std::set<uint64_t> seen{replayed[0].event.entry.position, replayed[1].event.entry.position,
                          last[0].event.entry.position};
  std::set<uint64_t> parked;
  for (const auto& d : all) parked.insert(d.event.entry.position);
  EXPECT_EQ(seen, parked) << "each parked event is replayed exactly once";
  EXPECT_EQ(groups_->List()[0].counters.replay_next, 2u) << "the last replay is not acked yet";
  member->Ack(AckIds(last));
  for (int i = 0; i < 300 && groups_->List()[0].counters.replay_next < 3; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(groups_->List()[0].counters.replay_next, 3u) << "every parked reference replayed";
}

// Parked events loaded for replay are bounded in bytes as well as in count: with room for about
// two of these events, the third comes only after one of the first two is done.
TEST_F(GroupTest, ReplayLoadsParkedEventsWithinItsByteBound) {
  CloseAll();
  limits_.replay_buffer_bytes_max = 1000;
  OpenAll();
  ASSERT_TRUE(groups_->Create(Settings("g")).ok());
  const std::string pad(600, 'x');
  for (int i = 0; i < 4; ++i) {
    engine::ProposedEvent e;
    e.event_type = "Happened";
    e.data = "{\"pad\":\"" + pad + "\"}";
    std::vector<engine::ProposedEvent> batch;
    batch.push_back(std::move(e));
    ASSERT_TRUE(store_->Append("order-1", engine::ExpectedVersion::Any(), std::move(batch)).ok());
  }
  auto consumer = std::make_shared<FakeConsumer>();
  auto member = JoinOrDie("g", consumer);
  auto all = consumer->Take(4);
  ASSERT_EQ(all.size(), 4u);
  member->Nack(AckIds(all), NackAction::kPark, "later");
  for (int i = 0; i < 300 && groups_->List()[0].counters.parked < 4; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(groups_->List()[0].counters.parked, 4u);
  ASSERT_TRUE(groups_->ReplayParked("g").ok());
  auto first = consumer->Take(4, 500);
  ASSERT_EQ(first.size(), 2u) << "the event that reaches 1000 bytes is the last loaded";
  member->Ack(AckIds(first));
  auto rest = consumer->Take(2);
  ASSERT_EQ(rest.size(), 2u);
  EXPECT_TRUE(rest[0].replay && rest[1].replay);
  member->Ack(AckIds(rest));
  for (int i = 0; i < 300 && groups_->List()[0].counters.replay_next < 4; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(groups_->List()[0].counters.replay_next, 4u) << "every parked reference replayed";
}

}  // namespace
}  // namespace cairn::subscribe
