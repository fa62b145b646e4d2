// The group engine against a real EventStore: at-least-once delivery, the durable position,
// retry → park → replay, load sharing, in-flight limits, ack timeouts, authorization.
#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <map>
#include <set>
#include <thread>

#include "group_test_util.h"
#include "unit/engine/faulty_store.h"
#include "subscribe/group_parked.h"

namespace cairn::subscribe {
namespace CAIRN_UNITY_ID {

std::set<uint64_t> Positions(const std::vector<GroupDelivery>& deliveries) {
  std::set<uint64_t> out;
  for (const auto& d : deliveries) out.insert(d.event.entry.position);
  return out;
}

TEST_F(GroupTest, AckedEventsAreNotRedeliveredAfterARestartAndUnackedOnesAre) {
  ASSERT_TRUE(groups_->Create(Settings("g")).ok());
  AppendN("order-1", 10);
  auto consumer = std::make_shared<FakeConsumer>();
  auto member = JoinOrDie("g", consumer);
  auto first = consumer->Take(10);
  ASSERT_EQ(first.size(), 10u);
  // Ack 0..3 and 6: the saved position is 4 plus {6}.
  std::vector<GroupDelivery> acked(first.begin(), first.begin() + 4);
  acked.push_back(first[6]);
  member->Ack(AckIds(acked));
  member.reset();
  CloseAll();

  OpenAll();
  auto again = std::make_shared<FakeConsumer>();
  auto member2 = JoinOrDie("g", again);
  auto rest = again->Take(5);
  EXPECT_EQ(Positions(rest), (std::set<uint64_t>{4, 5, 7, 8, 9}));
  EXPECT_EQ(again->Take(1, 300).size(), 0u) << "acked events came back";
}

// Acks above an unacked event can pass done_above_max (they arrive after reading stopped); saved
// so, the group must still read and deliver the unacked one after a restart, not stall.
TEST_F(GroupTest, AFullDoneAboveSavedBeforeARestartDoesNotStallTheGroup) {
  CloseAll();
  limits_.done_above_max = 4;
  OpenAll();
  ASSERT_TRUE(groups_->Create(Settings("g")).ok());
  AppendN("order-1", 10);
  auto consumer = std::make_shared<FakeConsumer>();
  auto member = JoinOrDie("g", consumer);
  auto all = consumer->Take(10);
  ASSERT_EQ(all.size(), 10u);
  member->Ack(AckIds(std::vector<GroupDelivery>(all.begin() + 1, all.end())));  // all but 0
  member.reset();
  CloseAll();

  OpenAll();
  AppendN("order-1", 1);
  auto again = std::make_shared<FakeConsumer>();
  auto member2 = JoinOrDie("g", again);
  auto first = again->Take(1);
  ASSERT_EQ(first.size(), 1u) << "the group stalled";
  EXPECT_EQ(first[0].event.entry.position, 0u);
  member2->Ack({first[0].ack_id});
  auto next = again->Take(1);
  ASSERT_EQ(next.size(), 1u);
  EXPECT_EQ(next[0].event.entry.position, 10u) << "acked events came back";
}

TEST_F(GroupTest, NackRetryUpToTheLimitParksAReferenceAndReplayDeliversItAgain) {
  GroupSettings s = Settings("g");
  s.retry_limit = 2;
  ASSERT_TRUE(groups_->Create(s).ok());
  AppendN("order-1", 2);
  auto consumer = std::make_shared<FakeConsumer>();
  auto member = JoinOrDie("g", consumer);
  auto both = consumer->Take(2);
  ASSERT_EQ(both.size(), 2u);
  member->Ack({both[1].ack_id});
  member->Nack({both[0].ack_id}, NackAction::kRetry, "try again");
  auto second = consumer->Take(1);
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second[0].event.entry.position, both[0].event.entry.position);
  EXPECT_EQ(second[0].attempt, 2u);
  member->Nack({second[0].ack_id}, NackAction::kRetry, "handler failed: timeout");
  EXPECT_EQ(consumer->Take(1, 300).size(), 0u) << "delivered beyond the retry limit";

  auto parked = store_->ReadStream(ParkedStreamId("g"), 0, engine::Direction::kForwards, 10);
  ASSERT_TRUE(parked.ok()) << parked.status().ToString();
  ASSERT_EQ(parked->events.size(), 1u);
  auto ref = DecodeParkedRef(parked->events[0]);
  ASSERT_TRUE(ref.ok());
  EXPECT_EQ(ref->position, both[0].event.entry.position);
  EXPECT_EQ(ref->stream, "order-1");
  EXPECT_EQ(ref->event_id, both[0].event.entry.event_id);
  EXPECT_EQ(ref->attempts, 2u);
  EXPECT_EQ(ref->reason, "retry limit reached");
  EXPECT_EQ(parked->events[0].data.find("\"i\""), std::string::npos) << "payload copied";

  auto pending = groups_->ReplayParked("g");
  ASSERT_TRUE(pending.ok());
  EXPECT_EQ(*pending, 1u);
  auto replayed = consumer->Take(1);
  ASSERT_EQ(replayed.size(), 1u);
  EXPECT_TRUE(replayed[0].replay);
  EXPECT_EQ(replayed[0].event.entry.position, both[0].event.entry.position);
  EXPECT_EQ(replayed[0].event.data, both[0].event.data);
  member->Ack({replayed[0].ack_id});
  for (int i = 0; i < 200 && groups_->List()[0].counters.replay_pending != 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(groups_->List()[0].counters.replay_pending, 0u);
  EXPECT_EQ(groups_->List()[0].counters.parked, 1u);
}

TEST_F(GroupTest, NackParkParksAtOnceAndSkipCountsAsDone) {
  ASSERT_TRUE(groups_->Create(Settings("g")).ok());
  AppendN("order-1", 2);
  auto consumer = std::make_shared<FakeConsumer>();
  auto member = JoinOrDie("g", consumer);
  auto both = consumer->Take(2);
  ASSERT_EQ(both.size(), 2u);
  member->Nack({both[0].ack_id}, NackAction::kPark, "poison\nmessage\x01");
  member->Nack({both[1].ack_id}, NackAction::kSkip, "");
  for (int i = 0; i < 300 && groups_->List()[0].counters.done_below < 2; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  auto info = groups_->List()[0].counters;
  EXPECT_GE(info.done_below, 2u);  // 3 once it has stepped over its own parked reference
  EXPECT_EQ(info.parked, 1u);
  EXPECT_EQ(info.skipped, 1u);
  auto parked = store_->ReadStream(ParkedStreamId("g"), 0, engine::Direction::kForwards, 10);
  ASSERT_TRUE(parked.ok());
  ASSERT_EQ(parked->events.size(), 1u);
  EXPECT_EQ(DecodeParkedRef(parked->events[0])->reason, "poison?message?");
}

// $parked-<name> outlives a deleted group: a group created again under the name replays only
// what it parks itself, not its predecessor's references (events of another source or filter).
TEST_F(GroupTest, ARecreatedGroupDoesNotReplayWhatItsPredecessorParked) {
  ASSERT_TRUE(groups_->Create(Settings("g")).ok());
  AppendN("order-1", 1);
  {
    auto consumer = std::make_shared<FakeConsumer>();
    auto member = JoinOrDie("g", consumer);
    auto got = consumer->Take(1);
    ASSERT_EQ(got.size(), 1u);
    member->Nack(AckIds(got), NackAction::kPark, "poison");
    for (int i = 0; i < 300 && groups_->List()[0].counters.parked < 1; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ASSERT_EQ(groups_->List()[0].counters.parked, 1u);
  }
  ASSERT_TRUE(groups_->Delete("g").ok());
  GroupSettings again = Settings("g");
  again.start_position = store_->tree_size();
  ASSERT_TRUE(groups_->Create(again).ok());
  auto pending = groups_->ReplayParked("g");
  ASSERT_TRUE(pending.ok()) << pending.status().ToString();
  EXPECT_EQ(*pending, 0u);
  auto consumer = std::make_shared<FakeConsumer>();
  auto member = JoinOrDie("g", consumer);
  EXPECT_TRUE(consumer->Take(1, 300).empty()) << "the old group's parked event was replayed";
}

// A parked reference the group cannot replay — to an event outside its filter (a predecessor of
// the name with another filter), or naming another event than the one at its position — is
// passed over; the references after it are still replayed.
TEST_F(GroupTest, ReplayPassesOverReferencesOutsideTheFilterOrToAnotherEvent) {
  GroupSettings s = Settings("g");
  s.event_types = {"Wanted"};
  ASSERT_TRUE(groups_->Create(s).ok());
  AppendN("order-1", 1, "Other");   // position 0: outside the filter
  AppendN("order-1", 2, "Wanted");  // positions 1, 2
  auto at = [&](uint64_t position) {
    auto e = store_->ReadAt(position);
    EXPECT_TRUE(e.ok());
    return e.ok() ? *e : engine::RecordedEvent{};
  };
  const engine::RecordedEvent other = at(0), last = at(2);
  std::vector<engine::ProposedEvent> refs;
  refs.push_back(EncodeParkedRef({0, "order-1", other.entry.event_id, "old filter", 1}));
  refs.push_back(EncodeParkedRef({1, "order-1", last.entry.event_id, "wrong id", 1}));
  refs.push_back(EncodeParkedRef({2, "order-1", last.entry.event_id, "good", 1}));
  ASSERT_TRUE(store_->AppendSystem(ParkedStreamId("g"), engine::ExpectedVersion::Any(),
                                   std::move(refs)).ok());
  auto consumer = std::make_shared<FakeConsumer>();
  auto member = JoinOrDie("g", consumer);
  auto live = consumer->Take(2);
  ASSERT_EQ(live.size(), 2u);
  member->Ack(AckIds(live));
  auto pending = groups_->ReplayParked("g");
  ASSERT_TRUE(pending.ok()) << pending.status().ToString();
  EXPECT_EQ(*pending, 3u);
  auto replayed = consumer->Take(3, 500);
  ASSERT_EQ(replayed.size(), 1u) << "only the good reference is replayed";
  EXPECT_TRUE(replayed[0].replay);
  EXPECT_EQ(replayed[0].event.entry.position, 2u);
  EXPECT_EQ(replayed[0].event.entry.event_id, last.entry.event_id);
}

TEST_F(GroupTest, TwoConsumersShareTheLoadAndNoEventIsHeldByBothAtOnce) {
  GroupSettings s = Settings("g");
  s.max_in_flight = 3;
  ASSERT_TRUE(groups_->Create(s).ok());
  auto a = std::make_shared<FakeConsumer>();
  auto b = std::make_shared<FakeConsumer>();
  auto ma = JoinOrDie("g", a);
  auto mb = JoinOrDie("g", b);
  AppendN("order-1", 30);
  std::set<uint64_t> seen_a, seen_b;
  for (int round = 0; round < 100 && seen_a.size() + seen_b.size() < 30; ++round) {
    auto got_a = a->Take(3, 50);
    auto got_b = b->Take(3, 50);
    // What each holds now never overlaps: one event to one consumer at a time.
    for (uint64_t p : Positions(got_a)) EXPECT_EQ(Positions(got_b).count(p), 0u);
    for (auto& d : got_a) EXPECT_TRUE(seen_a.insert(d.event.entry.position).second);
    for (auto& d : got_b) EXPECT_TRUE(seen_b.insert(d.event.entry.position).second);
    ma->Ack(AckIds(got_a));
    mb->Ack(AckIds(got_b));
  }
  EXPECT_GT(seen_a.size(), 0u);
  EXPECT_GT(seen_b.size(), 0u);
  std::set<uint64_t> all = seen_a;
  all.insert(seen_b.begin(), seen_b.end());
  EXPECT_EQ(all.size(), 30u);
  EXPECT_EQ(seen_a.size() + seen_b.size(), 30u) << "an acked event went to both";
}

// Ack ids are guessable (a main event's id is its position): a consumer can settle only what
// was delivered to it. B, which may receive none of these events, acks, skips and parks every
// id; A still receives all ten, and nothing was parked.
TEST_F(GroupTest, AConsumerCannotSettleEventsDeliveredToAnotherOrNotYetDelivered) {
  GroupSettings s = Settings("g");
  s.max_in_flight = 2;
  ASSERT_TRUE(groups_->Create(s).ok());
  auto a = std::make_shared<FakeConsumer>();
  auto ma = JoinOrDie("g", a);
  AppendN("order-1", 10);
  auto first = a->Take(2);
  ASSERT_EQ(first.size(), 2u);
  auto b = std::make_shared<FakeConsumer>();
  b->denied_types = {"Happened"};
  auto mb = JoinOrDie("g", b);
  std::vector<uint64_t> every_id;
  for (uint64_t id = 0; id < 10; ++id) every_id.push_back(id);
  mb->Ack(every_id);
  mb->Nack(every_id, NackAction::kSkip, "");
  mb->Nack(every_id, NackAction::kPark, "by b");
  std::set<uint64_t> seen = Positions(first);
  ma->Ack(AckIds(first));
  for (int round = 0; round < 50 && seen.size() < 10; ++round) {
    auto got = a->Take(2, 100);
    for (const auto& d : got) EXPECT_TRUE(seen.insert(d.event.entry.position).second);
    ma->Ack(AckIds(got));
  }
  EXPECT_EQ(seen.size(), 10u) << "events settled by a consumer they were never delivered to";
  EXPECT_EQ(b->queued(), 0u);
  EXPECT_FALSE(store_->GetStreamInfo(ParkedStreamId("g"))->exists);
}

// A delivery the consumer's transport refused (its queue full) was never handed over: it is
// not an attempt, and the event is not parked for retries it never had.
TEST_F(GroupTest, DeliveriesTheConsumerRefusedAreNotAttemptsAndParkNothing) {
  GroupSettings s = Settings("g");
  s.retry_limit = 2;
  ASSERT_TRUE(groups_->Create(s).ok());
  auto a = std::make_shared<FakeConsumer>();
  a->refuse_next = 10;
  auto ma = JoinOrDie("g", a);
  AppendN("order-1", 1);
  auto got = a->Take(1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(a->refuse_next.load(), 0);
  EXPECT_EQ(got[0].attempt, 1u);
  ma->Ack(AckIds(got));
  EXPECT_FALSE(store_->GetStreamInfo(ParkedStreamId("g"))->exists);
}

// The read-ahead stops at the byte bound within a read, not only before it: 20 events of
// ~400 bytes against a 1,024-byte bound are read a few at a time (one read of the group's 256
// took all 20, up to 256 x 4 MiB in the worst case).
TEST_F(GroupTest, TheReadAheadStopsAtTheByteBoundWithinARead) {
  CloseAll();
  limits_.buffer_bytes_max = 1024;
  OpenAll();
  ASSERT_TRUE(groups_->Create(Settings("g")).ok());
  const std::string big = "{\"pad\":\"" + std::string(400, 'x') + "\"}";
  for (int i = 0; i < 20; ++i) {
    std::vector<engine::ProposedEvent> batch(1);
    batch[0].event_type = "Happened";
    batch[0].data = big;
    ASSERT_TRUE(store_->Append("order-1", engine::ExpectedVersion::Any(), std::move(batch)).ok());
  }
  auto consumer = std::make_shared<FakeConsumer>();
  auto member = JoinOrDie("g", consumer, /*max_in_flight=*/1);
  ASSERT_EQ(consumer->Take(1).size(), 1u);  // held, not acked
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_LE(groups_->List()[0].counters.read_position, 4u);
}

TEST_F(GroupTest, MaxInFlightPerConsumerIsRespected) {
  GroupSettings s = Settings("g");
  s.max_in_flight = 4;
  ASSERT_TRUE(groups_->Create(s).ok());
  AppendN("order-1", 10);
  auto consumer = std::make_shared<FakeConsumer>();
  auto member = JoinOrDie("g", consumer, /*max_in_flight=*/2);
  ASSERT_EQ(member->max_in_flight(), 2u);
  auto first = consumer->Take(2);
  ASSERT_EQ(first.size(), 2u);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(consumer->queued(), 0u) << "more than max in-flight delivered";
  member->Ack({first[0].ack_id});
  EXPECT_EQ(consumer->Take(1).size(), 1u);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(consumer->queued(), 0u);
}

TEST_F(GroupTest, AnUnackedDeliveryIsRedeliveredAfterTheAckTimeout) {
  GroupSettings s = Settings("g");
  s.ack_timeout_ms = 150;
  ASSERT_TRUE(groups_->Create(s).ok());
  AppendN("order-1", 1);
  auto consumer = std::make_shared<FakeConsumer>();
  auto member = JoinOrDie("g", consumer);
  auto first = consumer->Take(1);
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0].attempt, 1u);
  auto again = consumer->Take(1, 3000);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].event.entry.position, first[0].event.entry.position);
  EXPECT_EQ(again[0].attempt, 2u);
}

TEST_F(GroupTest, AConsumerThatLeavesHandsItsDeliveriesToTheOthers) {
  ASSERT_TRUE(groups_->Create(Settings("g")).ok());
  AppendN("order-1", 3);
  auto a = std::make_shared<FakeConsumer>();
  auto ma = JoinOrDie("g", a);
  ASSERT_EQ(a->Take(3).size(), 3u);
  auto b = std::make_shared<FakeConsumer>();
  auto mb = JoinOrDie("g", b);
  EXPECT_EQ(b->Take(1, 200).size(), 0u) << "delivered while held by a";
  ma->Leave();
  EXPECT_EQ(Positions(b->Take(3)), (std::set<uint64_t>{0, 1, 2}));
}

TEST_F(GroupTest, AConsumerThatLosesAccessIsEndedAndItsDeliveriesGoToOthers) {
  ASSERT_TRUE(groups_->Create(Settings("g")).ok());
  AppendN("order-1", 2);
  auto a = std::make_shared<FakeConsumer>();
  auto ma = JoinOrDie("g", a);
  ASSERT_EQ(a->Take(2).size(), 2u);
  a->lose_access = true;  // the next round re-takes the policy and finds the grant gone
  AppendN("order-1", 1);
  for (int i = 0; i < 300 && !a->closed().has_value(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_TRUE(a->closed().has_value());
  EXPECT_EQ(a->closed()->code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(a->Take(1, 100).size(), 0u) << "delivered after losing access";
  auto b = std::make_shared<FakeConsumer>();
  auto mb = JoinOrDie("g", b);
  EXPECT_EQ(Positions(b->Take(3)), (std::set<uint64_t>{0, 1, 2}));
}

// A group that names its consumers admits only those principals; an update that removes one
// ends its membership at the next round, and its deliveries go to the others. The list survives
// a restart of the engine (stored with the settings).
TEST_F(GroupTest, OnlyTheNamedConsumersMayJoinAndAnUpdateEndsTheOthers) {
  GroupSettings s = Settings("g");
  s.consumers = {"apikey:billing", "jwt:billing-*"};
  ASSERT_TRUE(groups_->Create(s).ok());
  AppendN("order-1", 2);
  auto stranger = std::make_shared<FakeConsumer>();
  stranger->principal = "apikey:reports";
  auto refused = groups_->Join("g", stranger, 0);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(stranger->Take(1, 100).size(), 0u);
  auto billing = std::make_shared<FakeConsumer>();
  billing->principal = "apikey:billing";
  auto mb = JoinOrDie("g", billing);
  ASSERT_EQ(billing->Take(2).size(), 2u);
  auto jwt = std::make_shared<FakeConsumer>();
  jwt->principal = "jwt:billing-eu";
  auto mj = JoinOrDie("g", jwt);

  s.consumers = {"jwt:billing-*"};
  ASSERT_TRUE(groups_->Update(s).ok());
  AppendN("order-1", 1);
  for (int i = 0; i < 300 && !billing->closed().has_value(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_TRUE(billing->closed().has_value());
  EXPECT_EQ(billing->closed()->code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(Positions(jwt->Take(3)), (std::set<uint64_t>{0, 1, 2}));
  auto listed = groups_->List();
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].settings.consumers, std::vector<std::string>{"jwt:billing-*"});

  GroupSettings bad = Settings("h");
  bad.consumers = {"billing"};  // not a principal pattern (no method)
  EXPECT_EQ(groups_->Create(bad).code(), StatusCode::kInvalidArgument);
}

TEST_F(GroupTest, QueuedDeliveriesOfARevokedTypeAreWithdrawnAndGoToOthersWithoutAnAttempt) {
  ASSERT_TRUE(groups_->Create(Settings("g")).ok());  // ack timeout 60 s: no redelivery by time
  AppendN("order-1", 3, "Secret");
  AppendN("order-1", 1, "Public");
  auto a = std::make_shared<FakeConsumer>();
  auto ma = JoinOrDie("g", a);
  for (int i = 0; i < 300 && a->queued() < 4; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(a->queued(), 4u) << "handed over, not yet taken (sent)";
  auto b = std::make_shared<FakeConsumer>();
  auto mb = JoinOrDie("g", b);
  for (int i = 0; i < 300 && b->rounds.load() == 0; ++i) {  // b is ready before a loses the type
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  a->Revoke("Secret");
  auto to_b = b->Take(3);
  ASSERT_EQ(Positions(to_b), (std::set<uint64_t>{0, 1, 2})) << "withdrawn from a, given to b";
  for (const GroupDelivery& d : to_b) EXPECT_EQ(d.attempt, 1u) << "a never had it";
  EXPECT_EQ(a->withdrawn(), 3u);
  auto kept = a->Take(4, 200);
  ASSERT_EQ(kept.size(), 1u) << "only the type a still may receive stays with it";
  EXPECT_EQ(kept[0].event.entry.event_type, "Public");
  EXPECT_EQ(groups_->List()[0].counters.withdrawn, 3u);
  EXPECT_EQ(groups_->List()[0].counters.parked, 0u);
  ma->Ack(AckIds(to_b));  // a cannot settle what was withdrawn from it
  EXPECT_EQ(groups_->List()[0].counters.acked, 0u);
  mb->Ack(AckIds(to_b));
  ma->Ack(AckIds(kept));
  EXPECT_EQ(groups_->List()[0].counters.acked, 4u);
}

// A withdrawn delivery whose ack timeout passed before it was taken back was never sent either:
// its attempt is given back. (Here no consumer may then receive it: it waits, and the consumer
// that may, joining later, gets it as a first attempt.)
TEST_F(GroupTest, AWithdrawnDeliveryThatExpiredFirstIsNotCountedAsAnAttempt) {
  GroupSettings s = Settings("g");
  s.ack_timeout_ms = 500;
  ASSERT_TRUE(groups_->Create(s).ok());
  AppendN("order-1", 1, "Secret");
  auto a = std::make_shared<FakeConsumer>();
  auto ma = JoinOrDie("g", a);
  for (int i = 0; i < 300 && a->queued() < 1; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(a->queued(), 1u);
  a->refuse_next = 1000000;  // a's transport is full: the redeliveries after the timeout fail
  std::this_thread::sleep_for(std::chrono::milliseconds(800));  // its ack timeout passes
  ASSERT_EQ(a->queued(), 1u) << "a redelivery reached a";
  a->Revoke("Secret");
  for (int i = 0; i < 300 && groups_->List()[0].counters.unauthorized_waiting == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(groups_->List()[0].counters.withdrawn, 1u);
  EXPECT_EQ(groups_->List()[0].counters.unauthorized_waiting, 1u);
  auto b = std::make_shared<FakeConsumer>();
  auto mb = JoinOrDie("g", b);
  auto got = b->Take(1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].attempt, 1u) << "the withdrawn copy counted";
  EXPECT_EQ(groups_->List()[0].counters.parked, 0u);
}

// A consumer that leaves while the group hands it an event (its call ended; the transport refuses
// the delivery): the event never reached it, so the attempt is given back. Before, the attempt
// stayed counted whenever Leave() came first, and consumers that kept reconnecting got an event
// parked for "retry limit reached" that was never sent.
TEST_F(GroupTest, ADeliveryRefusedByAConsumerThatLeftMeanwhileIsNotAnAttempt) {
  GroupSettings s = Settings("g");
  s.retry_limit = 2;
  ASSERT_TRUE(groups_->Create(s).ok());
  AppendN("order-1", 1);
  for (int churn = 0; churn < 4; ++churn) {
    auto c = std::make_shared<FakeConsumer>();
    std::atomic<GroupMembership*> member{nullptr};
    std::atomic<bool> left{false};
    c->before_next_deliver = [&] {
      for (int i = 0; i < 500 && member.load() == nullptr; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
      if (member.load() != nullptr) member.load()->Leave();
      left = true;
    };
    c->refuse_next = 1;
    auto m = JoinOrDie("g", c);
    member = m.get();
    for (int i = 0; i < 500 && !left.load(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ASSERT_TRUE(left.load()) << "churn " << churn;
  }
  EXPECT_EQ(groups_->List()[0].counters.parked, 0u) << "parked for attempts it never had";
  auto c = std::make_shared<FakeConsumer>();
  auto m = JoinOrDie("g", c);
  auto got = c->Take(1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].attempt, 1u);
}

// A consumer whose transport has not taken a message for max(write_stall_ms_max, ack timeout)
// is dropped: Closed with kResourceExhausted, its deliveries go to the others.
TEST_F(GroupTest, AConsumerThatStopsReadingIsDroppedAndItsDeliveriesGoToOthers) {
  ASSERT_TRUE(groups_->Create(Settings("g")).ok());  // ack timeout 60 s > write_stall_ms_max
  AppendN("order-1", 2);
  auto a = std::make_shared<FakeConsumer>();
  auto ma = JoinOrDie("g", a);
  ASSERT_EQ(a->Take(2).size(), 2u);
  a->stalled = true;
  for (int i = 0; i < 300 && !a->closed().has_value(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_TRUE(a->closed().has_value());
  EXPECT_EQ(a->closed()->code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(a->stall_ms_max_seen, 60000) << "the larger of the stall bound and the ack timeout";
  EXPECT_EQ(groups_->List()[0].counters.stalled, 1u);
  EXPECT_EQ(groups_->List()[0].counters.consumers, 0u);
  auto b = std::make_shared<FakeConsumer>();
  auto mb = JoinOrDie("g", b);
  EXPECT_EQ(Positions(b->Take(2)), (std::set<uint64_t>{0, 1}));
}

// An event the consumer cannot be shown (a protected field that does not open) is parked at
// once, not handed back as "not taken" forever: it held the group's position for good.
TEST_F(GroupTest, AnEventThatCannotBeShownIsParkedAndTheGroupMovesOn) {
  ASSERT_TRUE(groups_->Create(Settings("g")).ok());
  AppendN("order-1", 2);
  auto consumer = std::make_shared<FakeConsumer>();
  consumer->unreadable_positions = {0};
  auto member = JoinOrDie("g", consumer);
  auto got = consumer->Take(1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].event.entry.position, 1u);
  member->Ack(AckIds(got));
  for (int i = 0; i < 300 && groups_->List()[0].counters.done_below < 2; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  const auto counters = groups_->List()[0].counters;
  EXPECT_GE(counters.done_below, 2u) << "the unreadable event held the group";
  EXPECT_EQ(counters.parked, 1u);
  EXPECT_EQ(consumer->unreadable_calls(), 1u) << "tried once, not every round";
  auto parked = store_->ReadStream(ParkedStreamId("g"), 0, engine::Direction::kForwards, 10);
  ASSERT_TRUE(parked.ok());
  ASSERT_EQ(parked->events.size(), 1u);
  auto ref = DecodeParkedRef(parked->events[0]);
  ASSERT_TRUE(ref.ok());
  EXPECT_EQ(ref->position, 0u);
  EXPECT_EQ(ref->reason, "unreadable: DATA_LOSS");
  EXPECT_EQ(ref->attempts, 0u) << "never sent";
}

// While the KMS is away (UNAVAILABLE) the event is not parked: the group waits and delivers it
// once it can be shown.
TEST_F(GroupTest, AnEventThatCannotBeShownForNowIsWaitedFor) {
  ASSERT_TRUE(groups_->Create(Settings("g")).ok());
  AppendN("order-1", 1);
  auto consumer = std::make_shared<FakeConsumer>();
  consumer->unreadable_positions = {0};
  consumer->unreadable_code = StatusCode::kUnavailable;
  auto member = JoinOrDie("g", consumer);
  for (int i = 0; i < 300 && consumer->unreadable_calls() < 3; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_GE(consumer->unreadable_calls(), 3u) << "tried again round after round";
  EXPECT_EQ(groups_->List()[0].counters.parked, 0u);
  consumer->ClearUnreadable();  // the KMS is back
  auto got = consumer->Take(1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].event.entry.position, 0u);
  EXPECT_EQ(got[0].attempt, 1u) << "the rounds it could not be shown were not attempts";
}

// A consumer that may not receive some of the group's events (a narrower grant; joined while
// the group's own consumers are away) gets what it may, and the rest waits for a consumer that
// may: nothing is parked or skipped, and the group's position stays before the first waiting
// event. (Before, such events were parked as "unauthorized" and the group moved past them, so a
// consumer with almost no grant could push a group's whole backlog out of it.)
TEST_F(GroupTest, EventsNoConnectedConsumerMayReceiveWaitForOneThatMay) {
  ASSERT_TRUE(groups_->Create(Settings("g")).ok());
  AppendN("order-1", 2, "Secret");
  AppendN("order-1", 1, "Public");
  auto narrow = std::make_shared<FakeConsumer>();
  narrow->denied_types = {"Secret"};
  auto narrow_member = JoinOrDie("g", narrow);
  auto got = narrow->Take(1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].event.entry.event_type, "Public");
  narrow_member->Ack(AckIds(got));
  for (int i = 0; i < 300 && groups_->List()[0].counters.unauthorized_waiting < 2; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(narrow->Take(1, 300).size(), 0u);
  auto counters = groups_->List()[0].counters;
  EXPECT_EQ(counters.unauthorized_waiting, 2u);
  EXPECT_EQ(counters.parked, 0u);
  EXPECT_EQ(counters.done_below, 0u) << "the group moved past events nobody received";
  auto parked = store_->ReadStream(ParkedStreamId("g"), 0, engine::Direction::kForwards, 10);
  EXPECT_TRUE(!parked.ok() || parked->events.empty());

  auto entitled = std::make_shared<FakeConsumer>();
  auto entitled_member = JoinOrDie("g", entitled);
  auto waited = entitled->Take(2);
  ASSERT_EQ(Positions(waited), (std::set<uint64_t>{0, 1}));
  for (const GroupDelivery& d : waited) EXPECT_EQ(d.attempt, 1u);
  entitled_member->Ack(AckIds(waited));
  for (int i = 0; i < 300 && groups_->List()[0].counters.done_below < 3; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  counters = groups_->List()[0].counters;
  EXPECT_EQ(counters.done_below, 3u);
  EXPECT_EQ(counters.unauthorized_waiting, 0u);
}

// Creating (or deleting) a group writes its state durably; every commit wakes the groups. The
// writes must not hold the lock the wake takes: an append made while a group's state is being
// written completes (here: within 5 s, while the write waits for it). Before, every append of
// the store waited for the group's fsyncs (PostgreSQL: round trips).
TEST(GroupEngineLockTest, AppendsCompleteWhileAGroupIsBeingCreatedOrDeleted) {
  testing::TempDir tmp;
  const std::string dir = tmp.Sub("data");
  ASSERT_TRUE(engine::EventStore::Init({dir, "test.example/log", {}, std::nullopt}).ok());
  engine::FaultPlan plan;
  engine::Options options = engine::WithFaults(&plan);
  options.data_dir = dir;
  auto store = engine::EventStore::Open(options);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  GroupLimits limits;
  limits.tick_ms = 10;
  GroupEngine groups(store->get(), limits);
  ASSERT_TRUE(groups.Start().ok());
  std::atomic<int> appends_done{0};
  std::atomic<int> appends_late{0};
  std::atomic<bool> armed{false};
  std::vector<std::future<bool>> late;  // finished only after the operation (not in the hook)
  plan.after_put_meta = [&](std::string_view name) {
    if (!armed.load() || name.find("group") == std::string_view::npos) return;
    armed = false;  // once per operation
    auto append = std::async(std::launch::async, [&] {
      std::vector<engine::ProposedEvent> batch(1);
      batch[0].event_type = "Happened";
      batch[0].data = "{}";
      return (*store)->Append("s", engine::ExpectedVersion::Any(), std::move(batch)).ok();
    });
    if (append.wait_for(std::chrono::seconds(5)) == std::future_status::ready && append.get()) {
      appends_done++;
    } else {
      appends_late++;
      late.push_back(std::move(append));
    }
  };
  GroupSettings s;
  s.name = "g";
  s.source = "$all";
  armed = true;
  ASSERT_TRUE(groups.Create(s).ok());
  armed = true;
  ASSERT_TRUE(groups.Delete("g").ok());
  for (auto& f : late) f.wait();
  EXPECT_EQ(appends_late.load(), 0) << "an append waited for a group's durable write";
  EXPECT_EQ(appends_done.load(), 2);
  groups.Stop();
}

TEST_F(GroupTest, FiltersAndSourceSelectEventsAndSystemStreamsNeverPass) {
  GroupSettings s = Settings("g");
  s.source = "order-1";
  s.event_types = {"Wanted"};
  ASSERT_TRUE(groups_->Create(s).ok());
  AppendN("order-2", 1, "Wanted");
  AppendN("order-1", 1, "Other");
  AppendN("order-1", 1, "Wanted");
  auto consumer = std::make_shared<FakeConsumer>();
  auto member = JoinOrDie("g", consumer);
  auto got = consumer->Take(1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].event.entry.position, 2u);
  EXPECT_EQ(consumer->Take(1, 200).size(), 0u);
  EXPECT_FALSE(Settings("x").Passes("$parked-g", "$parked"));
}

TEST_F(GroupTest, SettingsAreValidatedAndLimitedAndUpdateKeepsTheSource) {
  GroupSettings bad = Settings("no spaces");
  EXPECT_EQ(groups_->Create(bad).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(groups_->Create(Settings("webhook-x")).code(), StatusCode::kInvalidArgument);
  GroupSettings system = Settings("g");
  system.source = "$audit";
  EXPECT_EQ(groups_->Create(system).code(), StatusCode::kInvalidArgument);
  GroupSettings huge = Settings("g");
  huge.max_in_flight = 1000000;
  EXPECT_EQ(groups_->Create(huge).code(), StatusCode::kInvalidArgument);
  ASSERT_TRUE(groups_->Create(Settings("g")).ok());
  EXPECT_EQ(groups_->Create(Settings("g")).code(), StatusCode::kAlreadyExists);
  GroupSettings moved = Settings("g");
  moved.source = "order-1";
  EXPECT_EQ(groups_->Update(moved).code(), StatusCode::kInvalidArgument);
  GroupSettings tuned = Settings("g");
  tuned.retry_limit = 9;
  ASSERT_TRUE(groups_->Update(tuned).ok());
  EXPECT_EQ(groups_->Get("g")->retry_limit, 9u);
  EXPECT_EQ(groups_->Update(Settings("nope")).code(), StatusCode::kNotFound);
}

TEST_F(GroupTest, GroupsAndConsumersAreBounded) {
  CloseAll();
  limits_.groups_max = 2;
  limits_.consumers_per_group_max = 1;
  OpenAll();
  ASSERT_TRUE(groups_->Create(Settings("a")).ok());
  ASSERT_TRUE(groups_->Create(Settings("b")).ok());
  EXPECT_EQ(groups_->Create(Settings("c")).code(), StatusCode::kResourceExhausted);
  auto first = JoinOrDie("a", std::make_shared<FakeConsumer>());
  auto second = groups_->Join("a", std::make_shared<FakeConsumer>(), 0);
  EXPECT_EQ(second.status().code(), StatusCode::kResourceExhausted);
}

TEST_F(GroupTest, DeleteEndsConsumersAndForgetsTheGroupAcrossARestart) {
  ASSERT_TRUE(groups_->Create(Settings("g")).ok());
  ASSERT_TRUE(groups_->Create(Settings("h")).ok());
  auto consumer = std::make_shared<FakeConsumer>();
  auto member = JoinOrDie("g", consumer);
  ASSERT_TRUE(groups_->Delete("g").ok());
  ASSERT_TRUE(consumer->closed().has_value());
  EXPECT_EQ(consumer->closed()->code(), StatusCode::kAborted);
  EXPECT_EQ(groups_->Delete("g").code(), StatusCode::kNotFound);
  member.reset();
  CloseAll();
  OpenAll();
  auto list = groups_->List();
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].settings.name, "h");
  EXPECT_EQ(groups_->Join("g", std::make_shared<FakeConsumer>(), 0).status().code(),
            StatusCode::kNotFound);
}

// A Create of a name whose Delete is still removing its stored state must not succeed before
// that removal: the removal would blank the new group's settings, and it would be gone (or fail
// to load) after a restart. Each round races one Delete against Creates of the same name.
TEST_F(GroupTest, ACreateRacingTheDeleteOfItsNameSurvivesARestart) {
  for (uint32_t round = 1; round <= 20; ++round) {
    GroupSettings old_settings = Settings("g");
    old_settings.retry_limit = 1;
    ASSERT_TRUE(groups_->Create(old_settings).ok());
    GroupSettings new_settings = Settings("g");
    new_settings.retry_limit = 2 + round % 5;
    Status deleted;
    Status created = Status::Unavailable("not tried");
    std::thread deleter([&] { deleted = groups_->Delete("g"); });
    std::thread creator([&] {
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
      while (std::chrono::steady_clock::now() < deadline) {
        created = groups_->Create(new_settings);
        if (created.ok()) return;
        // Before the Delete: the old group still exists; during it: "being deleted; retry".
        if (created.code() != StatusCode::kAlreadyExists &&
            created.code() != StatusCode::kUnavailable) {
          return;
        }
        std::this_thread::yield();
      }
    });
    deleter.join();
    creator.join();
    ASSERT_TRUE(deleted.ok()) << deleted.ToString();
    ASSERT_TRUE(created.ok()) << "round " << round << ": " << created.ToString();
    CloseAll();
    OpenAll();
    auto list = groups_->List();
    ASSERT_EQ(list.size(), 1u) << "round " << round;
    EXPECT_EQ(list[0].settings.retry_limit, new_settings.retry_limit) << "round " << round;
    ASSERT_TRUE(groups_->Delete("g").ok());
  }
}

TEST_F(GroupTest, ComponentStateNamesNeedAComponentPrefix) {
  EXPECT_EQ(store_->PutComponentState("origin", "x").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->PutComponentState("/x", "x").code(), StatusCode::kInvalidArgument);
  ASSERT_TRUE(store_->PutComponentState("test/x", "value").ok());
  EXPECT_EQ(store_->ReadComponentState("test/x")->value_or(""), "value");
  EXPECT_EQ(store_->origin(), "test.example/log") << "engine metadata untouched";
}

}  // namespace
}  // namespace cairn::subscribe
