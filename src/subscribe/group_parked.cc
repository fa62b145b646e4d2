#include "subscribe/group_parked.h"

#include <nlohmann/json.hpp>

#include "subscribe/group_settings.h"

namespace cairn::subscribe {

std::string ParkedStreamId(std::string_view group) { return "$parked-" + std::string(group); }

std::string CleanParkReason(std::string_view reason) {
  std::string out;
  for (char c : reason.substr(0, kParkReasonSizeBytesMax)) {
    out.push_back(c >= 0x20 && c < 0x7f ? c : '?');
  }
  return out;
}

engine::ProposedEvent EncodeParkedRef(const ParkedRef& ref) {
  engine::ProposedEvent event;
  event.event_type = std::string(kParkedEventType);
  nlohmann::json j{{"position", ref.position},
                   {"stream", ref.stream},
                   {"event_id", engine::FormatUuid(ref.event_id)},
                   {"reason", CleanParkReason(ref.reason)},
                   {"attempts", ref.attempts}};
  event.data = j.dump();
  return event;
}

Result<ParkedRef> DecodeParkedRef(const engine::RecordedEvent& event) {
  if (event.entry.event_type != kParkedEventType) {
    return Status::DataLoss("not a parked reference", static_cast<int64_t>(event.entry.position));
  }
  nlohmann::json j = nlohmann::json::parse(event.data, nullptr, /*allow_exceptions=*/false);
  try {
    ParkedRef ref;
    ref.position = j.at("position").get<uint64_t>();
    ref.stream = j.at("stream").get<std::string>();
    auto id = engine::ParseUuid(j.at("event_id").get<std::string>());
    if (!id) throw nlohmann::json::other_error::create(501, "event id", nullptr);
    ref.event_id = *id;
    ref.reason = j.at("reason").get<std::string>();
    ref.attempts = j.at("attempts").get<uint32_t>();
    return ref;
  } catch (const nlohmann::json::exception&) {
    return Status::DataLoss("unreadable parked reference",
                            static_cast<int64_t>(event.entry.position));
  }
}

}  // namespace cairn::subscribe
