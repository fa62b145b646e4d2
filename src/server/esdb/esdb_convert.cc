#include "server/esdb/esdb_convert.h"

#include <cassert>

namespace cairn::server::esdb {
namespace {

constexpr size_t kUuidSizeBytes = 16;
constexpr int64_t kNanosPerTick = 100;

uint64_t ReadBigEndian64(std::string_view bytes) {
  assert(bytes.size() == 8);
  uint64_t value = 0;
  for (const unsigned char c : bytes) value = (value << 8) | c;
  return value;
}

void WriteBigEndian64(uint64_t value, std::string* out) {
  for (int shift = 56; shift >= 0; shift -= 8) {
    out->push_back(static_cast<char>((value >> shift) & 0xff));
  }
}

}  // namespace

std::optional<std::string> UuidBytes(const event_store::client::UUID& uuid) {
  using event_store::client::UUID;
  switch (uuid.value_case()) {
    case UUID::kStructured: {
      std::string bytes;
      bytes.reserve(kUuidSizeBytes);
      WriteBigEndian64(static_cast<uint64_t>(uuid.structured().most_significant_bits()), &bytes);
      WriteBigEndian64(static_cast<uint64_t>(uuid.structured().least_significant_bits()), &bytes);
      return bytes;
    }
    case UUID::kString: return engine::ParseUuid(uuid.string());
    default: return std::nullopt;
  }
}

void ToWireUuid(std::string_view bytes16, bool structured, event_store::client::UUID* out) {
  assert(bytes16.size() == kUuidSizeBytes);
  if (!structured) {
    out->set_string(engine::FormatUuid(bytes16));
    return;
  }
  auto* halves = out->mutable_structured();
  halves->set_most_significant_bits(static_cast<int64_t>(ReadBigEndian64(bytes16.substr(0, 8))));
  halves->set_least_significant_bits(static_cast<int64_t>(ReadBigEndian64(bytes16.substr(8, 8))));
}

const std::string& StreamName(const event_store::client::StreamIdentifier& id) {
  return id.stream_name();
}

void ToWireStream(std::string_view stream, event_store::client::StreamIdentifier* out) {
  out->set_stream_name(std::string(stream));
}

int64_t CreatedTicks(int64_t recorded_at_ns) { return recorded_at_ns / kNanosPerTick; }

Result<engine::ProposedEvent> ProposedFromWire(
    const event_store::client::UUID& id,
    const google::protobuf::Map<std::string, std::string>& metadata,
    const std::string& custom_metadata, const std::string& data) {
  engine::ProposedEvent event;
  if (id.value_case() != event_store::client::UUID::VALUE_NOT_SET) {
    std::optional<std::string> bytes = UuidBytes(id);
    if (!bytes) return Status::InvalidArgument("event id is not a UUID");
    event.event_id = std::move(*bytes);
  }
  const auto type = metadata.find(std::string(kMetadataType));
  if (type == metadata.end() || type->second.empty()) {
    return Status::InvalidArgument("required metadata property missing: type");
  }
  const auto content_type = metadata.find(std::string(kMetadataContentType));
  if (content_type == metadata.end() || content_type->second.empty()) {
    return Status::InvalidArgument("required metadata property missing: content-type");
  }
  // Bounded here, before the event is buffered: the engine's checks come only at the append.
  CAIRN_RETURN_IF_ERROR(engine::ValidateEventType(type->second));
  if (content_type->second.size() > integrity::kContentTypeSizeBytesMax) {
    return Status::InvalidArgument("content-type longer than " +
                                   std::to_string(integrity::kContentTypeSizeBytesMax) + " bytes");
  }
  event.event_type = type->second;
  event.content_type = content_type->second;
  event.metadata = custom_metadata;
  event.data = data;
  return event;
}

}  // namespace cairn::server::esdb
