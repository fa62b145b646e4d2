// Conversions between cairn's engine types and the EventStoreDB/KurrentDB wire messages
// (proto/event_store/client/, docs/eventstoredb-clients.md, "What maps to what").
//
// - Event ids: a cairn id is 16 bytes in RFC 4122 order; on the wire a UUID is either its
//   8-4-4-4-12 text or two big-endian 64-bit halves (structured).
// - Stream revisions are cairn's 0-based stream versions. A `$all` position is cairn's log
//   position (the Merkle leaf index), sent as both commit and prepare position.
// - Event metadata map: "type", "content-type" ("application/json" or
//   "application/octet-stream") and, on read, "created" = recorded_at in 100-ns ticks since the
//   Unix epoch. custom_metadata is cairn's event metadata, passed through.
//
// Thread safety: pure functions.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <google/protobuf/map.h>

#include "common/status.h"
#include "engine/types.h"
#include "event_store/client/shared.pb.h"

namespace cairn::server::esdb {

inline constexpr std::string_view kMetadataType = "type";
inline constexpr std::string_view kMetadataContentType = "content-type";
inline constexpr std::string_view kMetadataCreated = "created";
inline constexpr std::string_view kContentTypeJson = "application/json";
inline constexpr std::string_view kContentTypeBinary = "application/octet-stream";
inline constexpr std::string_view kAllStream = "$all";

// 16 bytes of `uuid`, or nullopt when it is neither a structured UUID nor 8-4-4-4-12 hex text.
std::optional<std::string> UuidBytes(const event_store::client::UUID& uuid);
// `bytes16` (16 bytes) as a wire UUID: structured halves or lower-case text.
void ToWireUuid(std::string_view bytes16, bool structured, event_store::client::UUID* out);

const std::string& StreamName(const event_store::client::StreamIdentifier& id);
void ToWireStream(std::string_view stream, event_store::client::StreamIdentifier* out);

// recorded_at (ns since the Unix epoch) as 100-ns ticks since the Unix epoch.
int64_t CreatedTicks(int64_t recorded_at_ns);

// An event proposed on the wire (AppendReq/BatchAppendReq ProposedMessage) as the engine's
// ProposedEvent. kInvalidArgument when the id is malformed or "type" / "content-type" is
// missing; content types other than JSON and octet-stream are kept as given (the engine validates
// JSON for application/json).
Result<engine::ProposedEvent> ProposedFromWire(
    const event_store::client::UUID& id,
    const google::protobuf::Map<std::string, std::string>& metadata,
    const std::string& custom_metadata, const std::string& data);

// Fills a wire RecordedEvent (streams or persistent subscriptions ReadResp; they have the same
// fields) from a cairn event in the reader's view (after Reveal).
template <class WireRecordedEvent>
void ToWireRecorded(const engine::RecordedEvent& event, bool structured_uuid,
                    WireRecordedEvent* out) {
  const integrity::Entry& entry = event.entry;
  ToWireUuid(entry.event_id, structured_uuid, out->mutable_id());
  ToWireStream(entry.stream_id, out->mutable_stream_identifier());
  out->set_stream_revision(entry.stream_version);
  out->set_prepare_position(entry.position);
  out->set_commit_position(entry.position);
  auto& metadata = *out->mutable_metadata();
  metadata[std::string(kMetadataType)] = entry.event_type;
  metadata[std::string(kMetadataContentType)] =
      entry.content_type.empty() ? std::string(kContentTypeBinary) : entry.content_type;
  metadata[std::string(kMetadataCreated)] = std::to_string(CreatedTicks(entry.recorded_at_ns));
  out->set_custom_metadata(event.metadata);
  out->set_data(event.data);
}

// The expected state of an append, delete or tombstone from its Options' oneof
// expected_stream_revision (revision, no_stream, any, stream_exists); unset means any.
template <class Options>
engine::ExpectedVersion ExpectedFromOptions(const Options& options) {
  switch (options.expected_stream_revision_case()) {
    case Options::kRevision: return engine::ExpectedVersion::Exact(options.revision());
    case Options::kNoStream: return engine::ExpectedVersion::NoStream();
    case Options::kStreamExists: return engine::ExpectedVersion::StreamExists();
    default: return engine::ExpectedVersion::Any();
  }
}

}  // namespace cairn::server::esdb
