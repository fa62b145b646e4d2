#include "engine/event_codec.h"

#include <simdjson.h>

#include <algorithm>
#include <optional>

#include "common/content_type.h"
#include "engine/id_window.h"
#include "integrity/entry.h"
#include "protect/json_document.h"

namespace cairn::engine {

Status DecodeRecordedEvent(RecordCipher& cipher, uint64_t position, std::string_view stored,
                           RecordedEvent* out) {
  thread_local OpenedRecord opened;  // its plaintext buffer is reused from record to record
  CAIRN_RETURN_IF_ERROR(cipher.Open(position, stored, &opened));
  Status s = integrity::DecodeEntry(opened.entry, &out->entry);
  if (!s.ok()) return Status::DataLoss("entry at position " + std::to_string(position) + ": " + s.message(), position);
  if (out->entry.position != position) {
    return Status::DataLoss("record at position " + std::to_string(position) + " names position " +
                                std::to_string(out->entry.position),
                            position);
  }
  out->data.assign(opened.data);
  out->metadata.assign(opened.metadata);
  out->leaf_hash = integrity::LeafHash(opened.entry);
  return Status::Ok();
}

namespace {

Status ValidateJson(std::string_view what, size_t index, std::string_view text) {
  thread_local simdjson::dom::parser parser;
  simdjson::dom::element doc;
  auto error = parser.parse(text.data(), text.size(), true).get(doc);
  if (error) {
    return Status::InvalidArgument("event " + std::to_string(index) + ": " + std::string(what) +
                                   " is not valid JSON (" + simdjson::error_message(error) + ")");
  }
  return Status::Ok();
}

// Whether `element` or anything inside it is an object with a member named "$enc".
bool HasEncMember(simdjson::dom::element element) {
  if (simdjson::dom::object object; element.get(object) == simdjson::SUCCESS) {
    for (simdjson::dom::key_value_pair member : object) {
      if (member.key == "$enc" || HasEncMember(member.value)) return true;
    }
  } else if (simdjson::dom::array array; element.get(array) == simdjson::SUCCESS) {
    for (simdjson::dom::element item : array) {
      if (HasEncMember(item)) return true;
    }
  }
  return false;
}

// The text may hold a "$enc" member name: it appears literally, or an escape could spell it.
bool MayHoldEncMember(std::string_view text) {
  return text.find("$enc\"") != std::string_view::npos || text.find("\\u") != std::string_view::npos;
}

Status ValidateContentType(size_t index, std::string_view ct) {
  bool ok = !ct.empty() && ct.size() <= integrity::kContentTypeSizeBytesMax &&
            std::all_of(ct.begin(), ct.end(), [](char c) { return c >= 0x20 && c < 0x7f; });
  if (ok) return Status::Ok();
  return Status::InvalidArgument("event " + std::to_string(index) +
                                 ": content type must be 1..256 printable ASCII characters");
}

// The first event whose id an earlier event of the append has, or nullopt. Sorts indexes by id
// instead of hashing copies of the ids: no allocation per event.
std::optional<size_t> FirstRepeatedId(const std::vector<ProposedEvent>& events) {
  std::vector<uint32_t> order(events.size());
  for (uint32_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
    const int c = events[a].event_id.compare(events[b].event_id);
    return c < 0 || (c == 0 && a < b);
  });
  std::optional<size_t> first;
  for (size_t k = 1; k < order.size(); ++k) {
    if (events[order[k]].event_id == events[order[k - 1]].event_id) {
      // order[k] has an earlier twin (indexes ascend among equal ids).
      if (!first || order[k] < *first) first = order[k];
    }
  }
  return first;
}

Status ValidateEvent(size_t i, const ProposedEvent& e, const Limits& limits, AppendOrigin origin,
                     bool check_json) {
  if (!e.event_id.empty() && e.event_id.size() != integrity::kEventIdSizeBytes) {
    return Status::InvalidArgument("event " + std::to_string(i) + ": event id must be a UUID (16 bytes)");
  }
  CAIRN_RETURN_IF_ERROR(ValidateEventType(e.event_type).Annotate("event " + std::to_string(i)));
  if (e.event_type[0] == '$' && origin != AppendOrigin::kSystem) {
    return Status::InvalidArgument("event " + std::to_string(i) +
                                   ": event types starting with '$' are reserved for cairn");
  }
  CAIRN_RETURN_IF_ERROR(ValidateContentType(i, e.content_type));
  const size_t size = e.data.size() + e.metadata.size();
  if (size > limits.event_size_bytes_max) {
    return Status::ResourceExhausted("event " + std::to_string(i) + " is " + std::to_string(size) +
                                     " bytes; the limit is " +
                                     std::to_string(limits.event_size_bytes_max));
  }
  if (check_json && IsJsonContentType(e.content_type)) {
    CAIRN_RETURN_IF_ERROR(ValidateJson("data", i, e.data));
    if (!e.metadata.empty()) CAIRN_RETURN_IF_ERROR(ValidateJson("metadata", i, e.metadata));
  }
  return Status::Ok();
}

// Everything PrepareAppend checks; gives events without an id a fresh one.
Status ValidateAppend(std::string_view stream_id, std::vector<ProposedEvent>& events,
                      const Limits& limits, AppendOrigin origin, bool check_json) {
  CAIRN_RETURN_IF_ERROR(origin == AppendOrigin::kSystem ? ValidateStreamId(stream_id)
                                                       : ValidateClientStreamId(stream_id));
  if (stream_id[0] != '$' && origin == AppendOrigin::kSystem) {
    return Status::InvalidArgument("a system append must name a '$' stream");
  }
  if (events.empty()) return Status::InvalidArgument("an append needs at least one event");
  if (events.size() > limits.batch_events_max) {
    return Status::ResourceExhausted("an append of " + std::to_string(events.size()) +
                                     " events exceeds the limit of " +
                                     std::to_string(limits.batch_events_max));
  }
  for (ProposedEvent& e : events) {
    if (e.event_id.empty()) e.event_id = NewUuidV4();
  }
  const std::optional<size_t> repeated = FirstRepeatedId(events);
  size_t total = 0;
  for (size_t i = 0; i < events.size(); ++i) {
    const ProposedEvent& e = events[i];
    CAIRN_RETURN_IF_ERROR(ValidateEvent(i, e, limits, origin, check_json));
    total += e.data.size() + e.metadata.size();
    if (total > limits.batch_size_bytes_max) {
      return Status::ResourceExhausted("the append exceeds the batch limit of " +
                                       std::to_string(limits.batch_size_bytes_max) + " bytes");
    }
    if (repeated == i) {
      return Status::InvalidArgument("event " + std::to_string(i) + ": event id " +
                                     FormatUuid(e.event_id) + " appears twice in the append");
    }
  }
  return Status::Ok();
}

}  // namespace

Status CheckNoEncMembers(const std::vector<ProposedEvent>& events,
                         const std::function<bool(std::string_view event_type)>& is_protected) {
  thread_local simdjson::dom::parser parser;
  for (size_t i = 0; i < events.size(); ++i) {
    const ProposedEvent& e = events[i];
    const bool protected_type = is_protected(e.event_type);
    if (protected_type && !IsJsonContentType(e.content_type)) {  // rules name JSON fields
      return Status::InvalidArgument("event " + std::to_string(i) + ": type '" + e.event_type +
                                     "' has protected fields, so its content type must be JSON "
                                     "(application/json or */*+json)");
    }
    // Any content type: data that parses as JSON is what a reader's check of the stored form
    // parses, whatever the event says it is.
    if (protected_type || !MayHoldEncMember(e.data)) continue;
    simdjson::dom::element doc;
    bool has_enc = false;
    if (parser.parse(e.data.data(), e.data.size(), true).get(doc) == simdjson::SUCCESS) {
      has_enc = HasEncMember(doc);
    } else {
      // simdjson refuses some text that the read path's parser accepts (integers beyond 64 bits,
      // a byte-order mark): a reader's check of the stored form is what decides, so ask it.
      Result<protect::ParsedDocument> parsed = protect::ParseDocument(e.data);
      has_enc = parsed.ok() && parsed->enc_objects > 0;
    }
    if (has_enc) {
      return Status::InvalidArgument("event " + std::to_string(i) +
                                     ": data contains a \"$enc\" member; protected-field objects "
                                     "are made by the server only");
    }
  }
  return Status::Ok();
}

Status PrecheckAppend(std::string_view stream_id, std::vector<ProposedEvent>* events,
                      const Limits& limits) {
  return ValidateAppend(stream_id, *events, limits, AppendOrigin::kClient, /*check_json=*/false);
}

Result<PreparedAppend> PrepareAppend(std::string_view stream_id, ExpectedVersion expected,
                                     std::vector<ProposedEvent> events, const Limits& limits,
                                     AppendOrigin origin) {
  CAIRN_RETURN_IF_ERROR(ValidateAppend(stream_id, events, limits, origin, /*check_json=*/true));
  PreparedAppend out;
  out.stream_id.assign(stream_id);
  out.expected = expected;
  out.events.reserve(events.size());
  for (ProposedEvent& e : events) {
    PreparedEvent p;
    p.data_hash = crypto::Sha256(e.data);
    p.metadata_hash = crypto::Sha256(e.metadata);  // of empty metadata: a cached constant
    p.content_tag = ContentTag(e.event_type, e.content_type, p.metadata_hash.data(),
                               p.data_hash.data(), e.data);
    p.event_id = std::move(e.event_id);
    p.event_type = std::move(e.event_type);
    p.content_type = std::move(e.content_type);
    p.data = std::move(e.data);
    p.metadata = std::move(e.metadata);
    out.events.push_back(std::move(p));
  }
  return out;
}

}  // namespace cairn::engine
