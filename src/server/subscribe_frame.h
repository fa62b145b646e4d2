// The wire bytes of cairn.v1.SubscribeResponse messages for the live hub's batches.
//
// Every $all subscriber is sent the same events, so an event that every reader sees the same way
// (no protection rule) is encoded once, by the hub's reader (LiveHubOptions::wire_encoder =
// EncodeRecordedEvent), into LiveEvent::wire; a frame for one subscriber's batch is then those
// bytes behind a length prefix each, copied into one slice — instead of building and serializing
// a message per event and subscriber. Events without shared bytes (catch-up reads from storage,
// masked or revealed views) are encoded here, for this frame only. A frame parses as the
// SubscribeResponse that ToWire (wire_convert.h) builds: one event as `event`, several as
// `events`, markers as `checkpoint` and `caught_up` (tested).
//
// Thread safety: EncodeRecordedEvent may be called from any thread; a SubscribeFrameEncoder by
// one thread at a time (it keeps scratch buffers between frames).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <grpcpp/support/byte_buffer.h>

#include "cairn/v1/streams.pb.h"
#include "engine/types.h"
#include "subscribe/live_cursor.h"

namespace cairn::server {

// The serialized v1.RecordedEvent of `event` (as ToWire builds it).
std::string EncodeRecordedEvent(const engine::RecordedEvent& event);

class SubscribeFrameEncoder {
 public:
  // Replaces *out with the frame of `batch` (kind is not kNone, asserted).
  void Encode(const subscribe::LiveBatch& batch, grpc::ByteBuffer* out);

 private:
  void EncodeEvents(const subscribe::LiveBatch& batch, grpc::ByteBuffer* out);

  v1::RecordedEvent scratch_event_;          // reused: keeps its string buffers
  std::vector<std::string> scratch_bytes_;   // encodings of events without shared bytes
  std::vector<std::string_view> parts_;      // each event's bytes, in batch order
};

}  // namespace cairn::server
