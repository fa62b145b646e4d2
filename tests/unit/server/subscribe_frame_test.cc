// SubscribeFrameEncoder: frames built from shared wire forms parse as the typed response.
#include "server/subscribe_frame.h"

#include <gtest/gtest.h>

#include <google/protobuf/util/message_differencer.h>

#include "cairn/v1/subscriptions.pb.h"
#include "crypto/sha256.h"
#include "server/wire_convert.h"

namespace cairn::server {
namespace CAIRN_UNITY_ID {

using subscribe::LiveBatch;
using subscribe::LiveEvent;
using subscribe::SharedEvent;

engine::RecordedEvent Event(uint64_t position, std::string data) {
  engine::RecordedEvent e;
  e.entry.position = position;
  e.entry.stream_id = "order-" + std::to_string(position % 3);
  e.entry.stream_version = position / 3;
  e.entry.event_id = std::string(16, static_cast<char>('a' + position % 26));
  e.entry.event_type = "OrderPlaced";
  e.entry.content_type = "application/json";
  e.entry.recorded_at_ns = 1700000000000000000 + static_cast<int64_t>(position);
  e.entry.data_hash = crypto::Sha256(data);
  e.leaf_hash = crypto::Sha256("leaf" + std::to_string(position));
  e.data = std::move(data);
  return e;
}

// With its wire form (as the hub's reader makes it), or without (a reader's own view).
SharedEvent Shared(engine::RecordedEvent e, bool with_wire) {
  std::string wire = with_wire ? EncodeRecordedEvent(e) : std::string();
  return std::make_shared<const LiveEvent>(std::move(e), std::move(wire));
}

v1::SubscribeResponse Parse(const grpc::ByteBuffer& frame) {
  std::vector<grpc::Slice> slices;
  EXPECT_TRUE(frame.Dump(&slices).ok());
  std::string bytes;
  for (const auto& s : slices) bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  v1::SubscribeResponse out;
  EXPECT_TRUE(out.ParseFromString(bytes));
  return out;
}

bool Same(const google::protobuf::Message& a, const google::protobuf::Message& b) {
  return google::protobuf::util::MessageDifferencer::Equals(a, b);
}

TEST(SubscribeFrame, ASingleEventIsSentAsEventWithEveryField) {
  for (bool with_wire : {true, false}) {
    LiveBatch batch;
    batch.kind = LiveBatch::Kind::kEvents;
    engine::RecordedEvent e = Event(7, R"({"total":12})");
    e.masked = {"/email"};  // a reader's masked view carries its pointers
    v1::SubscribeResponse want;
    ToWire(e, want.mutable_event());
    batch.events.push_back(Shared(std::move(e), with_wire));
    SubscribeFrameEncoder encoder;
    grpc::ByteBuffer frame;
    encoder.Encode(batch, &frame);
    const v1::SubscribeResponse got = Parse(frame);
    ASSERT_TRUE(got.has_event()) << "with_wire " << with_wire;
    EXPECT_TRUE(Same(got, want)) << got.DebugString();
  }
}

TEST(SubscribeFrame, ABatchMixingSharedAndOwnEncodingsKeepsItsOrder) {
  SubscribeFrameEncoder encoder;  // reused across frames, as a subscription does
  grpc::ByteBuffer frame;
  for (int round = 0; round < 3; ++round) {
    LiveBatch batch;
    batch.kind = LiveBatch::Kind::kEvents;
    v1::SubscribeResponse want;
    for (uint64_t p = 100; p < 140; ++p) {
      engine::RecordedEvent e = Event(p + round * 1000, std::string(10 + p * 7 % 300, 'x'));
      ToWire(e, want.mutable_events()->add_events());
      batch.events.push_back(Shared(std::move(e), (p + round) % 3 != 0));
    }
    encoder.Encode(batch, &frame);
    const v1::SubscribeResponse got = Parse(frame);
    ASSERT_TRUE(got.has_events());
    ASSERT_EQ(got.events().events_size(), 40);
    EXPECT_TRUE(Same(got, want)) << "round " << round;
  }
}

TEST(SubscribeFrame, AnEventLargerThanAOneByteLengthIsFramedWhole) {
  LiveBatch batch;
  batch.kind = LiveBatch::Kind::kEvents;
  v1::SubscribeResponse want;
  for (uint64_t p = 0; p < 2; ++p) {
    engine::RecordedEvent e = Event(p, std::string(200000, 'y'));  // 3-byte length prefixes
    ToWire(e, want.mutable_events()->add_events());
    batch.events.push_back(Shared(std::move(e), true));
  }
  SubscribeFrameEncoder encoder;
  grpc::ByteBuffer frame;
  encoder.Encode(batch, &frame);
  EXPECT_TRUE(Same(Parse(frame), want));
}

TEST(SubscribeFrame, MarkersCarryTheirPosition) {
  SubscribeFrameEncoder encoder;
  grpc::ByteBuffer frame;
  LiveBatch checkpoint;
  checkpoint.kind = LiveBatch::Kind::kCheckpoint;
  checkpoint.next_position = 5000000000;
  encoder.Encode(checkpoint, &frame);
  v1::SubscribeResponse got = Parse(frame);
  ASSERT_TRUE(got.has_checkpoint());
  EXPECT_EQ(got.checkpoint().next_position(), 5000000000u);

  LiveBatch caught_up;
  caught_up.kind = LiveBatch::Kind::kCaughtUp;
  caught_up.next_position = 12;
  encoder.Encode(caught_up, &frame);
  got = Parse(frame);
  ASSERT_TRUE(got.has_caught_up());
  EXPECT_EQ(got.caught_up().next_position(), 12u);
}

}  // namespace
}  // namespace cairn::server
