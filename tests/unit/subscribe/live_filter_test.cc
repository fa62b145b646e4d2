// LiveRequest::filter, a transport's own filter (EventStoreDB's regular expressions): applied
// after the policy and before Reveal, so that an event it drops is never decrypted and cannot end
// the subscription; events it drops still count towards checkpoint_every_events, so that a
// consumer of a sparse filter can resume after them.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <thread>

#include "live_test_util.h"
#include "unit/engine/customer_rules.h"
#include "unit/keys/softhsm_token.h"

namespace cairn::subscribe {
namespace CAIRN_UNITY_ID {

std::shared_ptr<const LiveEventFilter> DropType(std::string type) {
  return std::make_shared<const LiveEventFilter>(
      [type = std::move(type)](std::string_view, std::string_view event_type) {
        return event_type != type;
      });
}

class LiveFilterTest : public LiveTest {};

TEST_F(LiveFilterTest, ValidationRefusesAnEmptyFilterAndAnUnboundedCheckpointCount) {
  LiveRequest r = AllFrom(0);
  r.filter = std::make_shared<const LiveEventFilter>();
  EXPECT_EQ(ValidateLiveRequest(r).code(), StatusCode::kInvalidArgument);
  r.filter = DropType("X");
  EXPECT_TRUE(ValidateLiveRequest(r).ok());
  r.checkpoint_every_events = kCheckpointEveryEventsMax + 1;
  EXPECT_EQ(ValidateLiveRequest(r).code(), StatusCode::kInvalidArgument);
  r.checkpoint_every_events = kCheckpointEveryEventsMax;
  EXPECT_TRUE(ValidateLiveRequest(r).ok());
}

TEST_F(LiveFilterTest, DroppedEventsAreNotDeliveredButCountTowardsCheckpoints) {
  StartHub();
  Append("s", "Keep");
  Append("s", "Drop", 7);  // positions 1..7
  Append("secret", "Secret");  // position 8: "reader" may not subscribe to it, never counted
  FakeSink& sink = NewSink();
  LiveRequest r = AllFrom(0);
  r.filter = DropType("Drop");
  r.checkpoint_every_events = 3;
  r.checkpoint_interval_ms = kCheckpointIntervalMsMax;  // no timed checkpoint in this test
  ASSERT_TRUE(Subscribe(r, "reader", &sink).ok());
  ASSERT_TRUE(sink.WaitFor([](const FakeSink& f) { return f.caught_up_.has_value(); }));
  auto events = sink.events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].entry.position, 0u);
  // Considered: 0 (kept), 1, 2 -> a checkpoint at 3; 3, 4, 5 -> one at 6, with no event between:
  // the two collapse into the latest. One batch scans on past them (a checkpoint does not end it).
  EXPECT_EQ(sink.checkpoints(), (std::vector<uint64_t>{6}));
  EXPECT_EQ(*sink.caught_up(), 9u);

  // Live: the count goes on from what the catch-up left (6, 7 counted): one more makes three.
  Append("s", "Drop");  // position 9
  ASSERT_TRUE(sink.WaitFor([](const FakeSink& f) { return f.checkpoints_.size() == 2; }));
  EXPECT_EQ(sink.checkpoints().back(), 10u);
  Append("s", "Keep");  // position 10
  ASSERT_TRUE(sink.WaitEvents(2));
  EXPECT_EQ(sink.events()[1].entry.position, 10u);
  EXPECT_FALSE(sink.ended().has_value());
}

// A checkpoint by count sits among the batch's events; it does not end the batch. (When it did,
// the rest of each 512-event read was thrown away and read again: a window of 1 read the log
// hundreds of times over, one batch per event.)
TEST_F(LiveFilterTest, CheckpointsByCountTravelInsideTheBatch) {
  StartHub();
  for (int i = 0; i < 50; ++i) {
    Append("s", "Keep");
    Append("s", "Drop");
  }
  FakeSink& sink = NewSink();
  LiveRequest r = AllFrom(0);
  r.filter = DropType("Drop");
  r.checkpoint_every_events = 1;
  r.checkpoint_interval_ms = kCheckpointIntervalMsMax;
  ASSERT_TRUE(Subscribe(r, "reader", &sink).ok());
  ASSERT_TRUE(sink.WaitFor([](const FakeSink& f) { return f.caught_up_.has_value(); }));
  EXPECT_EQ(sink.events().size(), 50u);
  const std::vector<uint64_t> checkpoints = sink.checkpoints();
  EXPECT_EQ(checkpoints.size(), 50u) << "one after each kept event's dropped successor";
  ASSERT_FALSE(checkpoints.empty());
  EXPECT_EQ(checkpoints.back(), 100u);
  EXPECT_TRUE(std::is_sorted(checkpoints.begin(), checkpoints.end()));
  EXPECT_LE(sink.deliveries(), 2u) << "the events and caught-up, not a batch per checkpoint";
}

TEST_F(LiveFilterTest, WithoutACountOnlyTheTimedCheckpointsCoverDroppedEvents) {
  StartHub();
  Append("s", "Drop", 5);
  FakeSink& sink = NewSink();
  LiveRequest r = AllFrom(0);
  r.filter = DropType("Drop");
  r.checkpoint_interval_ms = kCheckpointIntervalMsMax;
  ASSERT_TRUE(Subscribe(r, "reader", &sink).ok());
  ASSERT_TRUE(sink.WaitFor([](const FakeSink& f) { return f.caught_up_.has_value(); }));
  EXPECT_EQ(*sink.caught_up(), 5u);
  EXPECT_TRUE(sink.checkpoints().empty());
  EXPECT_TRUE(sink.events().empty());
}

// With the KMS gone, revealing a protected event fails and ends the subscription (fail closed).
// An event that the request's filter drops is never revealed, so it cannot: before this, an
// EventStoreDB subscription filtered to other types ended on the same event at every resume.
class LiveFilterKmsTest : public LiveTest {
 protected:
  void SetUp() override {
    LiveTest::SetUp();
    if (!testing::SoftHsmInstalled()) GTEST_SKIP() << "SoftHSM is not installed";
    token_ = std::make_unique<testing::SoftHsmToken>(tmp_.Sub("hsm"));
    ASSERT_TRUE(token_->ok());
    dir_ = tmp_.Sub("hsm-data");
    engine::InitOptions init;
    init.data_dir = dir_;
    init.kms = token_->Config();
    ASSERT_TRUE(engine::EventStore::Init(init).ok());
    testing::WriteFile(tmp_.Sub("protect.toml"), engine::kCustomerRules);
    engine::Options o;
    o.data_dir = dir_;
    o.kms = token_->Config();
    o.kms.reopen_interval_ms = 0;
    o.kms_health_interval_ms = 0;
    o.subject_key_cache_ttl_ms = 1;  // every reveal after a moment asks the KMS
    o.protect_rules_file = tmp_.Sub("protect.toml");
    auto store = engine::EventStore::Open(o);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(store).value();
  }
  void TearDown() override {
    if (hidden_) token_->Show();
    LiveTest::TearDown();
  }
  void Hide() {
    ASSERT_TRUE(token_->Hide());
    hidden_ = true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // past the cache TTL
  }

  std::unique_ptr<testing::SoftHsmToken> token_;
  bool hidden_ = false;
};

TEST_F(LiveFilterKmsTest, AProtectedEventTheFilterDropsIsNeverRevealed) {
  StartHub();
  Append("cust-1", "CustomerRegistered", 1, engine::Customer("alice"));  // position 0
  Append("order-1", "OrderPlaced");                                      // position 1
  Hide();

  FakeSink& filtered = NewSink();
  LiveRequest r = AllFrom(0);
  r.filter = DropType("CustomerRegistered");
  r.checkpoint_every_events = 1;
  ASSERT_TRUE(Subscribe(r, "reader", &filtered).ok());
  ASSERT_TRUE(filtered.WaitFor([](const FakeSink& f) { return f.caught_up_ || f.ended_; }));
  EXPECT_FALSE(filtered.ended().has_value()) << filtered.ended()->ToString();
  auto events = filtered.events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].entry.event_type, "OrderPlaced");
  ASSERT_FALSE(filtered.checkpoints().empty());
  EXPECT_EQ(filtered.checkpoints().front(), 1u);  // the dropped event is behind the consumer

  // The same subscription without the filter wants the event and fails closed on it.
  FakeSink& unfiltered = NewSink();
  ASSERT_TRUE(Subscribe(AllFrom(0), "reader", &unfiltered).ok());
  ASSERT_TRUE(unfiltered.WaitEnded());
  EXPECT_EQ(unfiltered.ended()->code(), StatusCode::kUnavailable) << unfiltered.ended()->ToString();
  EXPECT_TRUE(unfiltered.events().empty());
}

}  // namespace
}  // namespace cairn::subscribe
