#include "subscribe/group_settings.h"

#include <nlohmann/json.hpp>

#include "engine/types.h"
#include "policy/pattern.h"

namespace cairn::subscribe {
namespace {

constexpr size_t kGroupNameSizeBytesMax = 64;

bool NameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

Status CheckRange(std::string_view field, uint64_t value, uint64_t min, uint64_t max) {
  if (value < min || value > max) {
    return Status::InvalidArgument(std::string(field) + " must be " + std::to_string(min) + ".." +
                                   std::to_string(max));
  }
  return Status::Ok();
}

Status CheckFilter(const GroupLimits& limits, const GroupSettings& s) {
  if (s.stream_prefixes.size() + s.event_types.size() + s.event_type_prefixes.size() >
      limits.filter_entries_max) {
    return Status::InvalidArgument("filter: at most " + std::to_string(limits.filter_entries_max) +
                                   " stream prefixes and event types");
  }
  for (const std::string& prefix : s.stream_prefixes) {
    if (prefix.empty()) return Status::InvalidArgument("filter: empty stream prefix");
    CAIRN_RETURN_IF_ERROR(engine::ValidateStreamId(prefix).Annotate("filter stream prefix"));
  }
  for (const std::string& type : s.event_types) {
    CAIRN_RETURN_IF_ERROR(engine::ValidateEventType(type).Annotate("filter event type"));
  }
  for (const std::string& prefix : s.event_type_prefixes) {
    CAIRN_RETURN_IF_ERROR(engine::ValidateEventType(prefix).Annotate("filter event type prefix"));
  }
  return Status::Ok();
}

}  // namespace

bool GroupSettings::Passes(std::string_view stream_id, std::string_view event_type) const {
  if (stream_id.empty() || stream_id[0] == '$') return false;  // system streams: never
  if (source != kGroupAllStreams && stream_id != source) return false;
  bool prefix_ok = stream_prefixes.empty();
  for (const std::string& prefix : stream_prefixes) {
    if (stream_id.substr(0, prefix.size()) == prefix) prefix_ok = true;
  }
  if (!prefix_ok) return false;
  if (event_types.empty() && event_type_prefixes.empty()) return true;
  for (const std::string& type : event_types) {
    if (type == event_type) return true;
  }
  for (const std::string& prefix : event_type_prefixes) {
    if (event_type.substr(0, prefix.size()) == prefix) return true;
  }
  return false;
}

Status ValidateGroupName(std::string_view name) {
  if (name.empty() || name.size() > kGroupNameSizeBytesMax) {
    return Status::InvalidArgument("group name must be 1..64 characters [A-Za-z0-9._-]");
  }
  for (char c : name) {
    if (!NameChar(c)) return Status::InvalidArgument("group name must be 1..64 characters [A-Za-z0-9._-]");
  }
  // `$parked-webhook-<name>` belongs to webhooks.
  if (name.substr(0, 8) == "webhook-") {
    return Status::InvalidArgument("group names may not start with 'webhook-'");
  }
  return Status::Ok();
}

namespace {

Status CheckConsumers(const GroupSettings& s) {
  if (s.consumers.size() > kGroupConsumersMax) {
    return Status::InvalidArgument("consumers: at most " + std::to_string(kGroupConsumersMax) +
                                   " principal patterns");
  }
  for (const std::string& pattern : s.consumers) {
    CAIRN_RETURN_IF_ERROR(policy::PrincipalPattern::Compile(pattern).status().Annotate("consumers"));
  }
  return Status::Ok();
}

}  // namespace

ConsumerPatterns::ConsumerPatterns(const std::vector<std::string>& consumers)
    : any_(consumers.empty()) {
  for (const std::string& text : consumers) {
    Result<policy::PrincipalPattern> pattern = policy::PrincipalPattern::Compile(text);
    if (pattern.ok()) patterns_.push_back(std::move(pattern).value());  // validated when stored
  }
}

bool ConsumerPatterns::Admits(std::string_view principal_id) const {
  if (any_) return true;
  for (const policy::PrincipalPattern& pattern : patterns_) {
    if (pattern.Matches(principal_id)) return true;
  }
  return false;
}

bool GroupSettings::Admits(std::string_view principal_id) const {
  return ConsumerPatterns(consumers).Admits(principal_id);
}

Status NormalizeGroupSettings(const GroupLimits& limits, GroupSettings* s) {
  CAIRN_RETURN_IF_ERROR(ValidateGroupName(s->name));
  if (s->source != kGroupAllStreams) {
    CAIRN_RETURN_IF_ERROR(engine::ValidateStreamId(s->source).Annotate("source"));
    if (s->source[0] == '$') {
      return Status::InvalidArgument("source: a group reads a user stream or \"$all\"");
    }
  }
  CAIRN_RETURN_IF_ERROR(CheckFilter(limits, *s));
  CAIRN_RETURN_IF_ERROR(CheckConsumers(*s));
  if (s->max_in_flight == 0) s->max_in_flight = kDefaultMaxInFlight;
  if (s->retry_limit == 0) s->retry_limit = kDefaultRetryLimit;
  if (s->ack_timeout_ms == 0) s->ack_timeout_ms = kDefaultAckTimeoutMs;
  CAIRN_RETURN_IF_ERROR(CheckRange("max_in_flight", s->max_in_flight, 1, limits.in_flight_max));
  CAIRN_RETURN_IF_ERROR(CheckRange("retry_limit", s->retry_limit, 1, limits.retry_limit_max));
  return CheckRange("ack_timeout_ms", s->ack_timeout_ms, limits.ack_timeout_ms_min,
                    limits.ack_timeout_ms_max);
}

Status CheckGroupUpdate(const GroupSettings& current, const GroupSettings& wanted) {
  if (current.source != wanted.source || current.stream_prefixes != wanted.stream_prefixes ||
      current.event_types != wanted.event_types ||
      current.event_type_prefixes != wanted.event_type_prefixes ||
      current.start_position != wanted.start_position) {
    return Status::InvalidArgument(
        "only max_in_flight, retry_limit, ack_timeout_ms and consumers can change; delete and "
        "re-create the group to change its source, filter or start position");
  }
  return Status::Ok();
}

std::string EncodeGroupSettings(const GroupSettings& s) {
  nlohmann::json j{{"v", 1},
                   {"name", s.name},
                   {"source", s.source},
                   {"stream_prefixes", s.stream_prefixes},
                   {"event_types", s.event_types},
                   {"event_type_prefixes", s.event_type_prefixes},
                   {"start_position", s.start_position},
                   {"max_in_flight", s.max_in_flight},
                   {"retry_limit", s.retry_limit},
                   {"ack_timeout_ms", s.ack_timeout_ms}};
  if (!s.consumers.empty()) {
    // Version 2: a build that does not know the list refuses the group (kDataLoss) instead of
    // reading it without the list, which would let anyone with subscribe join.
    j["v"] = 2;
    j["consumers"] = s.consumers;
  }
  return j.dump();
}

Result<GroupSettings> DecodeGroupSettings(std::string_view text) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  // A "v" of another JSON type is unreadable too, not a type_error escaping to the caller.
  if (!j.is_object() || !j.contains("v") || (j["v"] != 1 && j["v"] != 2)) {
    return Status::DataLoss("stored group settings are not readable");
  }
  try {
    GroupSettings s;
    s.name = j.at("name").get<std::string>();
    s.source = j.at("source").get<std::string>();
    s.stream_prefixes = j.at("stream_prefixes").get<std::vector<std::string>>();
    s.event_types = j.at("event_types").get<std::vector<std::string>>();
    // Absent in settings stored before event-type prefixes existed.
    s.event_type_prefixes =
        j.value("event_type_prefixes", std::vector<std::string>());
    s.start_position = j.at("start_position").get<uint64_t>();
    s.max_in_flight = j.at("max_in_flight").get<uint32_t>();
    s.retry_limit = j.at("retry_limit").get<uint32_t>();
    s.ack_timeout_ms = j.at("ack_timeout_ms").get<uint32_t>();
    // Absent in settings stored before consumers existed, and when any consumer may join.
    s.consumers = j.value("consumers", std::vector<std::string>());
    return s;
  } catch (const nlohmann::json::exception&) {
    return Status::DataLoss("stored group settings are not readable");
  }
}

}  // namespace cairn::subscribe
