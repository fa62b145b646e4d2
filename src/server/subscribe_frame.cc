#include "server/subscribe_frame.h"

#include <cassert>
#include <cstdint>
#include <cstring>
#include <limits>

#include <google/protobuf/io/coded_stream.h>
#include <grpc/slice.h>
#include <grpcpp/support/slice.h>

#include "cairn/v1/subscriptions.pb.h"
#include "server/wire_convert.h"

namespace cairn::server {
namespace {

using google::protobuf::io::CodedOutputStream;

// Tags of the length-delimited fields a frame is made of (field number << 3 | wire type 2).
constexpr uint8_t kTagResponseEvent = (1 << 3) | 2;   // SubscribeResponse.event
constexpr uint8_t kTagResponseEvents = (4 << 3) | 2;  // SubscribeResponse.events
constexpr uint8_t kTagBatchEvent = (1 << 3) | 2;      // EventBatch.events

// A frame is bounded by the hub's batch limits, far below 2 GiB (protobuf's own bound).
constexpr size_t kFrameBytesMax = std::numeric_limits<int32_t>::max();

size_t FieldSize(size_t payload_bytes) {
  return 1 + CodedOutputStream::VarintSize32(static_cast<uint32_t>(payload_bytes)) + payload_bytes;
}

uint8_t* WriteField(uint8_t tag, size_t payload_bytes, uint8_t* at) {
  *at++ = tag;
  return CodedOutputStream::WriteVarint32ToArray(static_cast<uint32_t>(payload_bytes), at);
}

void SetSingleSlice(grpc_slice slice, grpc::ByteBuffer* out) {
  grpc::Slice owned(slice, grpc::Slice::STEAL_REF);
  grpc::ByteBuffer frame(&owned, 1);
  out->Swap(&frame);
}

}  // namespace

std::string EncodeRecordedEvent(const engine::RecordedEvent& event) {
  v1::RecordedEvent wire;
  ToWire(event, &wire);
  return wire.SerializeAsString();
}

void SubscribeFrameEncoder::Encode(const subscribe::LiveBatch& batch, grpc::ByteBuffer* out) {
  using Kind = subscribe::LiveBatch::Kind;
  assert(batch.kind != Kind::kNone);
  if (batch.kind == Kind::kEvents) return EncodeEvents(batch, out);
  v1::SubscribeResponse marker;
  if (batch.kind == Kind::kCheckpoint) {
    marker.mutable_checkpoint()->set_next_position(batch.next_position);
  } else {
    marker.mutable_caught_up()->set_next_position(batch.next_position);
  }
  const size_t size = marker.ByteSizeLong();
  grpc_slice slice = grpc_slice_malloc(size);
  marker.SerializeWithCachedSizesToArray(GRPC_SLICE_START_PTR(slice));
  SetSingleSlice(slice, out);
}

void SubscribeFrameEncoder::EncodeEvents(const subscribe::LiveBatch& batch, grpc::ByteBuffer* out) {
  assert(!batch.events.empty());
  size_t local = 0;
  for (const auto& event : batch.events) local += event->wire.empty() ? 1 : 0;
  if (scratch_bytes_.size() < local) scratch_bytes_.resize(local);  // before views are taken
  parts_.clear();
  size_t next_local = 0;
  size_t inner_bytes = 0;
  for (const auto& event : batch.events) {
    if (event->wire.empty()) {
      scratch_event_.Clear();
      ToWire(*event, &scratch_event_);
      std::string& bytes = scratch_bytes_[next_local++];
      scratch_event_.SerializeToString(&bytes);
      parts_.push_back(bytes);
    } else {
      parts_.push_back(event->wire);
    }
    inner_bytes += FieldSize(parts_.back().size());
  }
  assert(next_local == local);
  const bool single = parts_.size() == 1;
  const size_t frame_bytes = single ? inner_bytes : FieldSize(inner_bytes);
  assert(frame_bytes <= kFrameBytesMax);
  grpc_slice slice = grpc_slice_malloc(frame_bytes);
  uint8_t* at = GRPC_SLICE_START_PTR(slice);
  if (!single) at = WriteField(kTagResponseEvents, inner_bytes, at);
  for (std::string_view part : parts_) {
    at = WriteField(single ? kTagResponseEvent : kTagBatchEvent, part.size(), at);
    std::memcpy(at, part.data(), part.size());
    at += part.size();
  }
  assert(at == GRPC_SLICE_START_PTR(slice) + frame_bytes);
  SetSingleSlice(slice, out);
}

}  // namespace cairn::server
