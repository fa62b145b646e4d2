// LiveHub end to end over a real EventStore: catch-up then live without loss, duplication or
// reordering under concurrent appends; stream subscriptions; filters; per-event policy and
// reloads; masking; slow subscribers; limits; shutdown.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <thread>

#include "live_test_util.h"

namespace cairn::subscribe {
namespace CAIRN_UNITY_ID {

// Positions of `events` must be exactly from, from+1, ..., from+n-1.
void ExpectContiguous(const std::vector<engine::RecordedEvent>& events, uint64_t from, uint64_t n) {
  ASSERT_EQ(events.size(), n);
  for (uint64_t i = 0; i < n; ++i) {
    ASSERT_EQ(events[i].entry.position, from + i) << "at index " << i;
  }
}

// Appends `per_thread` batches of `batch` events from `threads` threads, each to its own stream.
void AppendConcurrently(engine::EventStore* store, int threads, int per_thread, int batch) {
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([=] {
      for (int i = 0; i < per_thread; ++i) {
        std::vector<engine::ProposedEvent> events(batch);
        for (auto& e : events) {
          e.event_type = "Tick";
          e.data = R"({"t":)" + std::to_string(t) + "}";
        }
        auto r = store->Append("load-" + std::to_string(t), engine::ExpectedVersion::Any(),
                               std::move(events));
        ASSERT_TRUE(r.ok()) << r.status().ToString();
      }
    });
  }
  for (auto& w : workers) w.join();
}

class LiveHubTest : public LiveTest {};

// A wire encoder that counts its calls and encodes an event as "wire:<position>".
std::function<std::string(const engine::RecordedEvent&)> CountingWireEncoder(
    std::atomic<int>* calls) {
  return [calls](const engine::RecordedEvent& e) {
    ++*calls;
    return "wire:" + std::to_string(e.entry.position);
  };
}

constexpr char kCustomerEmailRule[] = R"(
[[rule]]
event_type = "CustomerRegistered"
subject = "/customerId"
fields = ["/email"]
)";

TEST_F(LiveHubTest, CatchUpThenLiveLosesAndRepeatsNothingUnderConcurrentAppends) {
  OpenStore();
  for (int i = 0; i < 30; ++i) Append("before", "Tick", 100);  // 3000 events to catch up on
  LiveHubOptions options;
  options.cursor.read_events_max = 64;  // many small catch-up reads: more hand-over chances
  options.cursor.batch_events_max = 64;
  StartHub(options);
  FakeSink& sink = NewSink();
  ASSERT_TRUE(Subscribe(AllFrom(0), "reader", &sink).ok());
  AppendConcurrently(store_.get(), 4, 50, 20);  // 4000 more while catching up
  const uint64_t total = store_->tree_size();
  ASSERT_EQ(total, 7000u);
  ASSERT_TRUE(sink.WaitEvents(total));
  ExpectContiguous(sink.events(), 0, total);
  EXPECT_TRUE(sink.caught_up().has_value());
  EXPECT_FALSE(sink.ended().has_value()) << sink.ended()->ToString();
}

TEST_F(LiveHubTest, LiveOrderEqualsLogOrderForEverySubscriber) {
  StartHub();
  std::vector<FakeSink*> sinks;
  for (int i = 0; i < 4; ++i) {
    sinks.push_back(&NewSink());
    LiveRequest r;
    r.stream = "$all";
    r.start = LiveRequest::Start::kEnd;
    ASSERT_TRUE(Subscribe(r, "reader", sinks.back()).ok());
  }
  for (auto& s : sinks) ASSERT_TRUE(s->WaitFor([](const FakeSink& f) { return f.caught_up_.has_value(); }));
  AppendConcurrently(store_.get(), 6, 40, 10);
  const uint64_t total = store_->tree_size();
  for (auto& s : sinks) {
    ASSERT_TRUE(s->WaitEvents(total));
    ExpectContiguous(s->events(), 0, total);
    // Log order also means each stream's versions arrive in order.
    std::map<std::string, uint64_t> next_version;
    for (const auto& e : s->events()) {
      EXPECT_EQ(e.entry.stream_version, next_version[e.entry.stream_id]++);
    }
  }
}

TEST_F(LiveHubTest, StreamSubscriptionFromAVersionGetsExactlyThatStreamInOrder) {
  OpenStore();
  for (int i = 0; i < 10; ++i) {
    Append("order-1", "Placed", 5);
    Append("other", "Tick", 5);
  }
  StartHub();
  FakeSink& sink = NewSink();
  LiveRequest r;
  r.stream = "order-1";
  r.start = LiveRequest::Start::kVersion;
  r.from = 7;
  ASSERT_TRUE(Subscribe(r, "reader", &sink).ok());
  std::thread writer([&] {
    for (int i = 0; i < 20; ++i) {
      Append("order-1", "Placed", 3);
      Append("other", "Tick", 3);
    }
  });
  writer.join();
  const uint64_t expected = 50 - 7 + 60;
  ASSERT_TRUE(sink.WaitEvents(expected));
  auto events = sink.events();
  ASSERT_EQ(events.size(), expected);
  for (size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(events[i].entry.stream_id, "order-1");
    EXPECT_EQ(events[i].entry.stream_version, 7 + i);
  }
}

TEST_F(LiveHubTest, StreamSubscriptionToAStreamThatDoesNotExistYet) {
  StartHub();
  Append("other", "Tick", 3);
  FakeSink& sink = NewSink();
  LiveRequest r;
  r.stream = "order-9";
  r.start = LiveRequest::Start::kVersion;
  ASSERT_TRUE(Subscribe(r, "reader", &sink).ok());
  ASSERT_TRUE(sink.WaitFor([](const FakeSink& f) { return f.caught_up_.has_value(); }));
  Append("order-9", "Placed", 2);
  ASSERT_TRUE(sink.WaitEvents(2));
  EXPECT_EQ(sink.events()[1].entry.stream_version, 1u);
}

TEST_F(LiveHubTest, FromEndDeliversOnlyNewEvents) {
  OpenStore();
  Append("a", "Tick", 10);
  StartHub();
  FakeSink& sink = NewSink();
  LiveRequest r;
  r.stream = "$all";
  r.start = LiveRequest::Start::kEnd;
  ASSERT_TRUE(Subscribe(r, "reader", &sink).ok());
  ASSERT_TRUE(sink.WaitFor([](const FakeSink& f) { return f.caught_up_.has_value(); }));
  EXPECT_EQ(*sink.caught_up(), 10u);
  Append("a", "Tick", 2);
  ASSERT_TRUE(sink.WaitEvents(2));
  ExpectContiguous(sink.events(), 10, 2);
}

TEST_F(LiveHubTest, FiltersByPrefixAndTypeAndCheckpointsCoverTheSkippedEvents) {
  StartHub();
  FakeSink& sink = NewSink();
  LiveRequest r = AllFrom(0);
  r.stream_prefixes = {"order-"};
  r.event_types = {"Paid"};
  r.checkpoint_interval_ms = kCheckpointIntervalMsMin;
  ASSERT_TRUE(Subscribe(r, "reader", &sink).ok());
  Append("order-1", "Placed");
  Append("order-1", "Paid");
  Append("invoice-1", "Paid");
  Append("order-2", "Paid");
  for (int i = 0; i < 5; ++i) Append("noise", "Tick");
  ASSERT_TRUE(sink.WaitEvents(2));
  auto events = sink.events();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].entry.position, 1u);
  EXPECT_EQ(events[1].entry.position, 3u);
  // The skipped tail is covered by a checkpoint: a consumer can resume after it.
  ASSERT_TRUE(sink.WaitFor([](const FakeSink& f) {
    return !f.checkpoints_.empty() && f.checkpoints_.back() == 9;
  }));
  EXPECT_EQ(sink.events().size(), 2u);
}

TEST_F(LiveHubTest, TypesWithoutSubscribeAreSkippedAndAStreamWithoutItIsRefused) {
  StartHub();
  FakeSink& sink = NewSink();
  ASSERT_TRUE(Subscribe(AllFrom(0), "reader", &sink).ok());
  Append("x", "Public");
  Append("x", "Secret");
  Append("x", "Public");
  ASSERT_TRUE(sink.WaitEvents(2));
  auto events = sink.events();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].entry.event_type, "Public");
  EXPECT_EQ(events[1].entry.position, 2u);

  FakeSink& refused = NewSink();
  LiveRequest r;
  r.stream = "invoice-1";
  EXPECT_EQ(Subscribe(r, "orders", &refused).code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(Subscribe(AllFrom(0), "none", &refused).code(), StatusCode::kPermissionDenied);
}

TEST_F(LiveHubTest, APolicyReloadStopsDeliveryOfTheRevokedTypeAtOnce) {
  StartHub();
  FakeSink& sink = NewSink();
  ASSERT_TRUE(Subscribe(AllFrom(0), "masked", &sink).ok());
  Append("x", "A");
  ASSERT_TRUE(sink.WaitEvents(1));
  InstallPolicy(R"(
[[role]]
name = "masked"
grants = [ { actions = ["subscribe"], streams = ["*"], event_types = ["B"] } ]
)");
  const uint64_t revoked_from = store_->tree_size();
  Append("x", "A", 3);
  Append("x", "B");
  ASSERT_TRUE(sink.WaitEvents(2));
  for (const auto& e : sink.events()) {
    if (e.entry.position >= revoked_from) {
      EXPECT_EQ(e.entry.event_type, "B");
    }
  }
  // Removing every subscribe grant ends the subscription.
  InstallPolicy(R"(
[[role]]
name = "masked"
grants = [ { actions = ["read"], streams = ["*"], event_types = ["*"] } ]
)");
  ASSERT_TRUE(sink.WaitEnded(3000)) << "the idle tick re-checks the policy";
  EXPECT_EQ(sink.ended()->code(), StatusCode::kPermissionDenied);
}

TEST_F(LiveHubTest, ADenyOfEverythingEndsAWholeLogSubscription) {
  // A kill switch (deny subscribe on "*") must end a $all subscription as it ends one on a
  // stream: it used to pass the whole-log gate (some grant exists) and skip every event.
  StartHub();
  FakeSink& sink = NewSink();
  ASSERT_TRUE(Subscribe(AllFrom(0), "masked", &sink).ok());
  Append("x", "B");
  ASSERT_TRUE(sink.WaitEvents(1));
  InstallPolicy(R"(
[[role]]
name = "masked"
grants = [ { actions = ["subscribe"], streams = ["*"], event_types = ["*"] } ]
denies = [ { actions = ["subscribe"], streams = ["*"], event_types = ["*"] } ]
)");
  ASSERT_TRUE(sink.WaitEnded(3000)) << "the idle tick re-checks the policy";
  EXPECT_EQ(sink.ended()->code(), StatusCode::kPermissionDenied);
  FakeSink& refused = NewSink();
  EXPECT_EQ(Subscribe(AllFrom(0), "masked", &refused).code(), StatusCode::kPermissionDenied);
}

TEST_F(LiveHubTest, ReadersWithoutReadPiiGetTheMask) {
  OpenStore(kCustomerEmailRule);
  StartHub();
  FakeSink& plain = NewSink();
  FakeSink& masked = NewSink();
  ASSERT_TRUE(Subscribe(AllFrom(0), "reader", &plain).ok());
  ASSERT_TRUE(Subscribe(AllFrom(0), "masked", &masked).ok());
  Append("c-1", "CustomerRegistered", 1, R"({"customerId":"alice","email":"alice@example.com"})");
  ASSERT_TRUE(plain.WaitEvents(1));
  ASSERT_TRUE(masked.WaitEvents(1));
  EXPECT_NE(plain.events()[0].data.find("alice@example.com"), std::string::npos);
  EXPECT_TRUE(plain.events()[0].masked.empty());
  EXPECT_EQ(masked.events()[0].data.find("alice@example.com"), std::string::npos);
  EXPECT_EQ(masked.events()[0].masked, std::vector<std::string>{"/email"});
}

TEST_F(LiveHubTest, TheWireFormIsMadeOnceForLiveEventsThatEveryReaderSeesTheSame) {
  OpenStore(kCustomerEmailRule);
  Append("old", "Tick", 3);  // read from storage by the catch-up: no shared wire form
  LiveHubOptions options;
  std::atomic<int> encoded{0};
  options.wire_encoder = CountingWireEncoder(&encoded);
  StartHub(options);
  FakeSink& a = NewSink();
  FakeSink& b = NewSink();
  LiveRequest request = AllFrom(0);
  request.wire_form = true;
  ASSERT_TRUE(Subscribe(request, "reader", &a).ok());
  ASSERT_TRUE(Subscribe(request, "masked", &b).ok());
  for (FakeSink* s : {&a, &b}) {
    ASSERT_TRUE(s->WaitFor([](const FakeSink& f) { return f.caught_up_.has_value(); }));
  }
  Append("c-1", "CustomerRegistered", 1, R"({"customerId":"alice","email":"alice@example.com"})");
  Append("t", "Tick", 2);
  ASSERT_TRUE(a.WaitEvents(6));
  ASSERT_TRUE(b.WaitEvents(6));
  for (FakeSink* s : {&a, &b}) {
    const auto wires = s->wires();
    ASSERT_EQ(wires.size(), 6u);
    for (size_t i = 0; i < 3; ++i) EXPECT_EQ(wires[i], "") << "catch-up event " << i;
    EXPECT_EQ(wires[3], "") << "a protected event is shown per reader, never a shared form";
    EXPECT_EQ(wires[4], "wire:4");
    EXPECT_EQ(wires[5], "wire:5");
  }
  EXPECT_EQ(encoded.load(), 2) << "once per event, not per subscriber";
}

TEST_F(LiveHubTest, TheWireFormIsMadeOnlyWhileASubscriberThatSendsItIsOpen) {
  OpenStore();
  LiveHubOptions options;
  std::atomic<int> encoded{0};
  options.wire_encoder = CountingWireEncoder(&encoded);
  StartHub(options);
  FakeSink& plain = NewSink();  // an EventStoreDB-protocol subscriber: no wire form
  ASSERT_TRUE(Subscribe(AllFrom(0), "reader", &plain).ok());
  ASSERT_TRUE(plain.WaitFor([](const FakeSink& f) { return f.caught_up_.has_value(); }));
  Append("t", "Tick", 2);
  ASSERT_TRUE(plain.WaitEvents(2));
  EXPECT_EQ(encoded.load(), 0) << "nobody sends the wire form: it is not made";

  FakeSink& framed = NewSink();
  LiveRequest request = AllFrom(2);
  request.wire_form = true;
  ASSERT_TRUE(Subscribe(request, "reader", &framed).ok());
  ASSERT_TRUE(framed.WaitFor([](const FakeSink& f) { return f.caught_up_.has_value(); }));
  Append("t", "Tick", 2);
  ASSERT_TRUE(framed.WaitEvents(2));
  ASSERT_TRUE(plain.WaitEvents(4));
  EXPECT_EQ(encoded.load(), 2);
  EXPECT_EQ(framed.wires(), (std::vector<std::string>{"wire:2", "wire:3"}));
  EXPECT_EQ(plain.wires()[2], "wire:2") << "shared events carry it for every subscriber";

  subs_.back()->Close();  // the framed subscriber leaves
  Append("t", "Tick", 2);
  ASSERT_TRUE(plain.WaitEvents(6));
  EXPECT_EQ(encoded.load(), 2) << "encoding stops with the last subscriber that sends it";
  EXPECT_EQ(plain.wires()[4], "");
}

TEST_F(LiveHubTest, ASlowSubscriberIsEndedWithItsResumePositionAndResumingLosesNothing) {
  LiveHubOptions options;
  options.lag_events_max = 50;
  options.cursor.batch_events_max = 10;
  StartHub(options);
  FakeSink& slow = NewSink(/*auto_ack=*/false);
  LiveRequest r;
  r.stream = "$all";
  r.start = LiveRequest::Start::kEnd;
  ASSERT_TRUE(Subscribe(r, "reader", &slow).ok());
  ASSERT_TRUE(slow.WaitFor([](const FakeSink& f) { return f.caught_up_.has_value(); }));
  slow.Ack();
  Append("x", "Tick", 5);
  ASSERT_TRUE(slow.WaitEvents(5));  // one write in flight, not acknowledged
  for (int i = 0; i < 10; ++i) Append("x", "Tick", 10);
  ASSERT_TRUE(slow.WaitEnded());
  const Status end = *slow.ended();
  EXPECT_EQ(end.code(), StatusCode::kResourceExhausted) << end.ToString();
  ASSERT_TRUE(end.detail().has_value());
  const uint64_t resume = static_cast<uint64_t>(*end.detail());
  EXPECT_EQ(resume, slow.events().back().entry.position + 1) << "the position after the last write";
  // The message names the same position, once.
  const std::string named = "resume from position " + std::to_string(resume);
  EXPECT_NE(end.message().find(named), std::string::npos) << end.message();
  EXPECT_EQ(end.message().find("resume from"), end.message().rfind("resume from")) << end.message();

  FakeSink& again = NewSink();
  ASSERT_TRUE(Subscribe(AllFrom(resume), "reader", &again).ok());
  ASSERT_TRUE(again.WaitEvents(store_->tree_size() - resume));
  std::vector<engine::RecordedEvent> all = slow.events();
  for (const auto& e : again.events()) all.push_back(e);
  ExpectContiguous(all, 0, store_->tree_size());
}

// A client that stops reading (its write never completes) is ended after write_stall_ms_max,
// catching up or live, with no appends to wake the hub: it cannot hold its slot forever.
TEST_F(LiveHubTest, ASubscriberThatStopsReadingIsEndedAndFreesItsSlot) {
  OpenStore();
  Append("x", "Tick", 3);
  LiveHubOptions options;
  options.write_stall_ms_max = 200;
  options.tick_ms = 20;
  options.subscribers_max = 1;
  StartHub(options);
  FakeSink& stalled = NewSink(/*auto_ack=*/false);
  ASSERT_TRUE(Subscribe(AllFrom(0), "reader", &stalled).ok());
  ASSERT_TRUE(stalled.WaitEvents(1));  // a catch-up write, never completed
  FakeSink& refused = NewSink();
  EXPECT_EQ(Subscribe(AllFrom(0), "reader", &refused).code(), StatusCode::kResourceExhausted);
  ASSERT_TRUE(stalled.WaitEnded(5000));
  EXPECT_EQ(stalled.ended()->code(), StatusCode::kResourceExhausted);
  EXPECT_NE(stalled.ended()->message().find("has not read"), std::string::npos);
  stalled.Ack();  // the transport reports the write's end (the call was finished or cancelled)
  stalled.CloseSubscription();
  FakeSink& next = NewSink();
  EXPECT_TRUE(Subscribe(AllFrom(0), "reader", &next).ok()) << "the slot is free again";
}

TEST_F(LiveHubTest, ACatchUpSubscriberOlderThanTheRingReadsFromStorage) {
  LiveHubOptions options;
  options.ring_events_max = 16;
  options.lag_events_max = 16;
  StartHub(options);
  for (int i = 0; i < 20; ++i) Append("x", "Tick", 10);
  // The hub's reader fills the ring after the commit wake-ups: wait (bounded) until it holds
  // the last 16 of the 200 events.
  for (int i = 0; i < 500 && hub_->ring().end() < 200; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(hub_->ring().end(), 200u);
  ASSERT_GT(hub_->ring().begin(), 0u);
  FakeSink& sink = NewSink();
  ASSERT_TRUE(Subscribe(AllFrom(0), "reader", &sink).ok());
  ASSERT_TRUE(sink.WaitEvents(200));
  ExpectContiguous(sink.events(), 0, 200);
  EXPECT_FALSE(sink.ended().has_value());
}

TEST_F(LiveHubTest, WithoutSubscribersTheHubReadsNothingAndLaterSubscribersLoseNothing) {
  StartHub(LiveHubOptions{});
  for (int i = 0; i < 20; ++i) Append("x", "Tick", 10);
  // The reader follows the commits without reading them: the ring restarts, empty, at the end.
  for (int i = 0; i < 500 && hub_->ring().begin() < 200; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(hub_->ring().begin(), 200u);
  EXPECT_EQ(hub_->ring().end(), 200u);
  EXPECT_EQ(hub_->ring().size_bytes(), 0u);
  // A subscriber from the start catches up from storage; appends meanwhile arrive live.
  FakeSink& sink = NewSink();
  ASSERT_TRUE(Subscribe(AllFrom(0), "reader", &sink).ok());
  AppendConcurrently(store_.get(), 2, 20, 10);  // 400 more
  ASSERT_TRUE(sink.WaitEvents(600));
  ExpectContiguous(sink.events(), 0, 600);
  EXPECT_FALSE(sink.ended().has_value());
  // With a subscriber, the reader fills the ring again.
  Append("x", "Tick", 10);
  ASSERT_TRUE(sink.WaitEvents(610));
  EXPECT_EQ(hub_->ring().end(), 610u);
  EXPECT_GT(hub_->ring().size_bytes(), 0u);
}

// Commits do not wake the reader while nobody subscribes (it would only restart its ring); the
// first subscriber restarts the ring at the log's end itself, so it is not fed stale positions.
TEST_F(LiveHubTest, WithoutSubscribersCommitsWakeNobodyAndTheFirstSubscriberRestartsTheRing) {
  LiveHubOptions options;
  options.tick_ms = 600'000;  // the reader's idle tick never comes during this test
  StartHub(options);
  for (int i = 0; i < 20; ++i) Append("x", "Tick", 10);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(hub_->ring().end(), 0u) << "a commit woke the reader with nobody subscribed";
  FakeSink& sink = NewSink();
  LiveRequest r;
  r.stream = "$all";
  r.start = LiveRequest::Start::kEnd;
  ASSERT_TRUE(Subscribe(r, "reader", &sink).ok());
  EXPECT_EQ(hub_->ring().begin(), 200u);
  EXPECT_EQ(hub_->ring().end(), 200u);
  Append("x", "Tick", 10);
  ASSERT_TRUE(sink.WaitEvents(10));
  ExpectContiguous(sink.events(), 200, 10);
  EXPECT_EQ(hub_->ring().end(), 210u);
}

TEST_F(LiveHubTest, SubscribersBeyondTheLimitAreRefused) {
  LiveHubOptions options;
  options.subscribers_max = 2;
  StartHub(options);
  FakeSink& a = NewSink();
  FakeSink& b = NewSink();
  FakeSink& c = NewSink();
  ASSERT_TRUE(Subscribe(AllFrom(0), "reader", &a).ok());
  ASSERT_TRUE(Subscribe(AllFrom(0), "reader", &b).ok());
  EXPECT_EQ(Subscribe(AllFrom(0), "reader", &c).code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(hub_->subscriber_count(), 2u);
}

// One principal cannot take every slot: its share is subscribers_per_principal_max; another
// principal still subscribes, and a closed subscription frees its share.
TEST_F(LiveHubTest, OnePrincipalIsHeldToItsShareOfTheSlots) {
  LiveHubOptions options;
  options.subscribers_max = 10;
  options.subscribers_per_principal_max = 2;
  StartHub(options);
  FakeSink& a1 = NewSink();
  FakeSink& a2 = NewSink();
  FakeSink& a3 = NewSink();
  FakeSink& b1 = NewSink();
  ASSERT_TRUE(Subscribe(AllFrom(0), "reader", &a1).ok());
  ASSERT_TRUE(Subscribe(AllFrom(0), "reader", &a2).ok());
  const Status refused = Subscribe(AllFrom(0), "reader", &a3);
  EXPECT_EQ(refused.code(), StatusCode::kResourceExhausted);
  EXPECT_NE(refused.message().find("subscribers_per_principal_max"), std::string::npos);
  EXPECT_TRUE(Subscribe(AllFrom(0), "orders", &b1).ok()) << "another principal";
  a1.CloseSubscription();
  FakeSink& a4 = NewSink();
  EXPECT_TRUE(Subscribe(AllFrom(0), "reader", &a4).ok()) << "its share is free again";
  EXPECT_EQ(hub_->subscriber_count(), 3u);
}

TEST_F(LiveHubTest, ShutdownEndsEverySubscriptionWithItsResumePosition) {
  StartHub();
  FakeSink& a = NewSink();
  FakeSink& stuck = NewSink(/*auto_ack=*/false);
  ASSERT_TRUE(Subscribe(AllFrom(0), "reader", &a).ok());
  ASSERT_TRUE(Subscribe(AllFrom(0), "reader", &stuck).ok());
  Append("x", "Tick", 3);
  ASSERT_TRUE(a.WaitEvents(3));
  hub_->Shutdown();
  ASSERT_TRUE(a.WaitEnded(1000));
  ASSERT_TRUE(stuck.WaitEnded(1000)) << "also with a write in flight";
  EXPECT_EQ(a.ended()->code(), StatusCode::kUnavailable);
  EXPECT_EQ(a.ended()->detail(), std::optional<int64_t>(3));
  FakeSink& late = NewSink();
  EXPECT_EQ(Subscribe(AllFrom(0), "reader", &late).code(), StatusCode::kUnavailable);
}

}  // namespace
}  // namespace cairn::subscribe
