#include "engine/group_summary.h"

#include <cassert>
#include <cstring>

#include "common/bytes.h"
#include "integrity/entry.h"

namespace cairn::engine {
namespace {

constexpr size_t kEventIdSizeBytes = 16;

std::string SummaryAad(uint64_t from, uint64_t to) {
  std::string aad = "cairn-grp-v1";
  PutU64(&aad, from);
  PutU64(&aad, to);
  return aad;
}

}  // namespace

void GroupSummaryBuilder::AddRun(std::string_view stream_id, uint64_t first_version,
                                 const std::vector<std::string_view>& event_ids,
                                 const std::vector<uint64_t>& content_tags) {
  assert(!event_ids.empty());
  assert(content_tags.size() == event_ids.size());
  PutLengthPrefixed(&runs_, stream_id);
  PutU64(&runs_, first_version);
  PutU32(&runs_, static_cast<uint32_t>(event_ids.size()));
  for (size_t i = 0; i < event_ids.size(); ++i) {
    assert(event_ids[i].size() == kEventIdSizeBytes);
    runs_.append(event_ids[i]);
    PutU64(&runs_, content_tags[i]);
  }
  ++run_count_;
  events_ += event_ids.size();
}

void GroupSummaryBuilder::Clear() {
  runs_.clear();
  run_count_ = 0;
  events_ = 0;
}

Status GroupSummaryBuilder::Seal(RecordCipher& cipher, uint32_t epoch, uint64_t from,
                                 int64_t recorded_at_ns, std::string* out) const {
  if (events_ == 0 || events_ > kGroupSummaryEventsMax) {
    return Status::InvalidArgument("a group summary describes 1.." +
                                   std::to_string(kGroupSummaryEventsMax) + " events");
  }
  std::string plain;
  plain.reserve(12 + runs_.size());
  PutU64(&plain, static_cast<uint64_t>(recorded_at_ns));
  PutU32(&plain, run_count_);
  plain.append(runs_);
  return cipher.SealValue(kGroupSummaryFormatV2, epoch, SummaryAad(from, from + events_), plain, out);
}

Status OpenGroupSummary(RecordCipher& cipher, uint64_t from, uint64_t to, std::string_view stored,
                        std::vector<RemoteEntry>* out) {
  const std::string what = "group summary of positions [" + std::to_string(from) + ", " +
                           std::to_string(to) + ")";
  if (to <= from || to - from > kGroupSummaryEventsMax) {
    return Status::DataLoss(what + " has an impossible range");
  }
  // Format 2 (no content tags) is still read: a node of the previous release may have written it.
  const bool tagged = stored.empty() || static_cast<uint8_t>(stored[0]) != kGroupSummaryFormatV1;
  const size_t event_size_bytes = kEventIdSizeBytes + (tagged ? 8 : 0);
  std::string plain;
  CAIRN_RETURN_IF_ERROR(cipher.OpenValue(tagged ? kGroupSummaryFormatV2 : kGroupSummaryFormatV1,
                                         SummaryAad(from, to), stored, what, &plain));
  ByteReader r(plain);
  uint64_t recorded_at_ns = 0;
  uint32_t runs = 0;
  if (!r.GetU64(&recorded_at_ns) || !r.GetU32(&runs)) return Status::DataLoss(what + " is malformed");
  uint64_t position = from;
  for (uint32_t i = 0; i < runs; ++i) {
    std::string_view stream_id, ids;
    uint64_t first_version = 0;
    uint32_t count = 0;
    if (!r.GetLengthPrefixed(&stream_id, integrity::kStreamIdSizeBytesMax) || stream_id.empty() ||
        !r.GetU64(&first_version) || !r.GetU32(&count) || count == 0 || count > to - position ||
        !r.GetBytes(size_t{count} * event_size_bytes, &ids)) {
      return Status::DataLoss(what + " is malformed");
    }
    const uint64_t tag = StreamTag(stream_id);
    for (uint32_t k = 0; k < count; ++k) {
      RemoteEntry& e = out->emplace_back();
      e.position = position++;
      const std::string_view event = ids.substr(size_t{k} * event_size_bytes, event_size_bytes);
      e.id = EventIdKey::From(event.substr(0, kEventIdSizeBytes));
      e.content_tag = tagged ? DecodeU64(event.data() + kEventIdSizeBytes) : 0;
      e.stream_tag = tag;
      e.stream_version = first_version + k;
      e.stream_id = std::string(stream_id);
      e.recorded_at_ns = static_cast<int64_t>(recorded_at_ns);
    }
  }
  if (position != to || r.remaining() != 0) return Status::DataLoss(what + " does not describe the range");
  return Status::Ok();
}

}  // namespace cairn::engine
