#include "server/esdb/persistent_settings.h"

#include <limits>

#include "server/esdb/esdb_convert.h"

namespace cairn::server::esdb {
namespace {

constexpr uint64_t kRevisionEnd = std::numeric_limits<uint64_t>::max();
constexpr int64_t kTicksPerMs = 10000;
// ESDB's "exclude system events" filter, as the .NET client ("^[^\\$].*") and the Node.js client
// ("^[^$].*": the same class, '$' needs no escape inside brackets) spell it: cairn groups never
// deliver system streams' events, and clients cannot give a user event a '$' type, so it changes
// nothing.
constexpr std::string_view kExcludeSystemEventsRegexes[] = {"^[^\\$].*", "^[^$].*"};

bool IsExcludeSystemEvents(std::string_view regex) {
  for (std::string_view known : kExcludeSystemEventsRegexes) {
    if (regex == known) return true;
  }
  return false;
}

Result<std::string> StreamOf(const event_store::client::StreamIdentifier& id) {
  const std::string& stream = StreamName(id);
  if (stream.empty()) return Status::InvalidArgument("a stream name is required");
  if (stream == kEsdbAllStream) return Status::InvalidArgument("use the $all option for $all");
  return stream;
}

template <class Options>
Result<EsdbGroupId> IdWith(const Options& options, bool all,
                           const event_store::client::StreamIdentifier& stream_id) {
  CAIRN_RETURN_IF_ERROR(ValidateEsdbGroupName(options.group_name()));
  EsdbGroupId id;
  id.group = options.group_name();
  if (all) {
    id.stream = std::string(kEsdbAllStream);
  } else {
    CAIRN_ASSIGN_OR_RETURN(id.stream, StreamOf(stream_id));
  }
  return id;
}

// Create and Update name the stream in StreamOptions (current clients) or in the deprecated
// top-level stream_identifier (Node.js 6.x).
template <class Options>
const event_store::client::StreamIdentifier& CreateOrUpdateStream(const Options& options) {
  return options.has_stream() ? options.stream().stream_identifier() : options.stream_identifier();
}

Status NonNegative(std::string_view field, int64_t value) {
  if (value < 0) return Status::InvalidArgument(std::string(field) + " must not be negative");
  return Status::Ok();
}

Result<std::string> StrategyName(const ps::CreateReq::Settings& s) {
  if (!s.consumer_strategy().empty()) {
    for (std::string_view known : {"RoundRobin", "DispatchToSingle", "Pinned",
                                   "PinnedByCorrelation"}) {
      if (s.consumer_strategy() == known) return s.consumer_strategy();
    }
    return Status::InvalidArgument("unknown consumer strategy");
  }
  switch (s.named_consumer_strategy()) {
    case ps::CreateReq::RoundRobin: return std::string("RoundRobin");
    case ps::CreateReq::Pinned: return std::string("Pinned");
    default: return std::string("DispatchToSingle");
  }
}

Result<std::string> StrategyName(const ps::UpdateReq::Settings& s) {
  switch (s.named_consumer_strategy()) {
    case ps::UpdateReq::RoundRobin: return std::string("RoundRobin");
    case ps::UpdateReq::Pinned: return std::string("Pinned");
    default: return std::string("DispatchToSingle");
  }
}

// The settings both requests carry, into the record and the cairn settings.
template <class Settings>
Status ApplySettings(const Settings& s, EsdbGroupRecord* record, subscribe::GroupSettings* group) {
  for (auto [field, value] :
       {std::pair<std::string_view, int64_t>{"max_retry_count", s.max_retry_count()},
        {"min_checkpoint_count", s.min_checkpoint_count()},
        {"max_checkpoint_count", s.max_checkpoint_count()},
        {"max_subscriber_count", s.max_subscriber_count()},
        {"live_buffer_size", s.live_buffer_size()},
        {"read_batch_size", s.read_batch_size()},
        {"history_buffer_size", s.history_buffer_size()},
        {"message_timeout", s.message_timeout_ms()},
        {"message_timeout", s.message_timeout_ticks()},
        {"checkpoint_after", s.checkpoint_after_ms()},
        {"checkpoint_after", s.checkpoint_after_ticks()}}) {
    CAIRN_RETURN_IF_ERROR(NonNegative(field, value));
  }
  CAIRN_ASSIGN_OR_RETURN(record->consumer_strategy, StrategyName(s));
  record->resolve_links = s.resolve_links();
  record->extra_statistics = s.extra_statistics();
  record->max_retry_count = s.max_retry_count();
  record->min_checkpoint_count = s.min_checkpoint_count();
  record->max_checkpoint_count = s.max_checkpoint_count();
  record->max_subscriber_count = s.max_subscriber_count();
  record->live_buffer_size = s.live_buffer_size();
  record->read_batch_size = s.read_batch_size();
  record->history_buffer_size = s.history_buffer_size();
  const int64_t timeout_ms = s.message_timeout_case() == Settings::kMessageTimeoutTicks
                                 ? s.message_timeout_ticks() / kTicksPerMs
                                 : s.message_timeout_ms();
  const int64_t checkpoint_ms = s.checkpoint_after_case() == Settings::kCheckpointAfterTicks
                                    ? s.checkpoint_after_ticks() / kTicksPerMs
                                    : s.checkpoint_after_ms();
  if (timeout_ms > std::numeric_limits<int32_t>::max() ||
      checkpoint_ms > std::numeric_limits<int32_t>::max()) {
    return Status::InvalidArgument("message_timeout and checkpoint_after must fit 32 bits (ms)");
  }
  record->message_timeout_ms = static_cast<int32_t>(timeout_ms);
  record->checkpoint_after_ms = static_cast<int32_t>(checkpoint_ms);
  // max_retry_count retries after the first delivery; 0 ms timeout: cairn's default.
  group->retry_limit = static_cast<uint32_t>(s.max_retry_count()) + 1;
  group->ack_timeout_ms = static_cast<uint32_t>(timeout_ms);
  return Status::Ok();
}

// The log position a stream group starts at: its event at `revision`, else the log's end.
Result<uint64_t> PositionOfRevision(engine::EventStore* store, const std::string& stream,
                                    uint64_t revision) {
  if (revision == kRevisionEnd) return store->tree_size();
  auto read = store->ReadStream(stream, revision, engine::Direction::kForwards, 1);
  if (!read.ok()) {
    const StatusCode code = read.status().code();
    if (code == StatusCode::kNotFound || code == StatusCode::kStreamDeleted) {
      return store->tree_size();
    }
    return read.status();
  }
  if (read->events.empty()) return store->tree_size();
  return read->events.front().entry.position;
}

struct Start {
  uint64_t position = 0;
  std::string reported;
};

Result<Start> StreamStart(engine::EventStore* store, const ps::CreateReq::Options& options,
                          const std::string& stream) {
  uint64_t revision = options.settings().revision();  // the deprecated field (Node.js 6.x)
  if (options.has_stream()) {
    const auto& so = options.stream();
    revision = so.has_end() ? kRevisionEnd : so.has_start() ? 0 : so.revision();
  }
  Start start;
  CAIRN_ASSIGN_OR_RETURN(start.position, PositionOfRevision(store, stream, revision));
  start.reported = revision == kRevisionEnd ? "-1" : std::to_string(revision);
  return start;
}

std::string PositionText(uint64_t position) {
  return "C:" + std::to_string(position) + "/P:" + std::to_string(position);
}

template <class AllOptions>
Start AllStart(engine::EventStore* store, const AllOptions& all) {
  Start start;
  if (all.has_position()) {
    start.position = all.position().commit_position();
    start.reported = PositionText(start.position);
  } else if (all.has_start()) {
    start.reported = "C:0/P:0";
  } else {  // end, and unset
    start.position = store == nullptr ? 0 : store->tree_size();
    start.reported = "C:-1/P:-1";
  }
  return start;
}

Status ApplyFilter(const ps::CreateReq::AllOptions& all, subscribe::GroupSettings* group) {
  if (!all.has_filter()) return Status::Ok();
  const auto& filter = all.filter();
  const bool on_stream = filter.has_stream_identifier();
  const auto& expression = on_stream ? filter.stream_identifier() : filter.event_type();
  if (!filter.has_stream_identifier() && !filter.has_event_type()) return Status::Ok();
  if (!expression.regex().empty()) {
    if (!on_stream && IsExcludeSystemEvents(expression.regex())) return Status::Ok();
    return Status::InvalidArgument(
        "regular-expression filters are not supported on persistent subscriptions; use prefixes");
  }
  auto& target = on_stream ? group->stream_prefixes : group->event_type_prefixes;
  target.assign(expression.prefix().begin(), expression.prefix().end());
  return Status::Ok();
}

std::string PositionBefore(uint64_t position) {
  return position == 0 ? std::string() : PositionText(position - 1);
}

}  // namespace

Result<EsdbGroupId> IdOf(const ps::CreateReq::Options& o) {
  return IdWith(o, o.has_all(), CreateOrUpdateStream(o));
}
Result<EsdbGroupId> IdOf(const ps::UpdateReq::Options& o) {
  return IdWith(o, o.has_all(), CreateOrUpdateStream(o));
}
Result<EsdbGroupId> IdOf(const ps::DeleteReq::Options& o) {
  return IdWith(o, o.has_all(), o.stream_identifier());
}
Result<EsdbGroupId> IdOf(const ps::GetInfoReq::Options& o) {
  return IdWith(o, o.has_all(), o.stream_identifier());
}
Result<EsdbGroupId> IdOf(const ps::ReplayParkedReq::Options& o) {
  return IdWith(o, o.has_all(), o.stream_identifier());
}
Result<EsdbGroupId> IdOf(const ps::ReadReq::Options& o) {
  return IdWith(o, o.has_all(), o.stream_identifier());
}

Result<EsdbGroupPlan> PlanCreate(engine::EventStore* store, const ps::CreateReq::Options& options) {
  CAIRN_ASSIGN_OR_RETURN(EsdbGroupId id, IdOf(options));
  EsdbGroupPlan plan;
  plan.record.stream = id.stream;
  plan.record.group = id.group;
  plan.settings.name = id.cairn_name();
  plan.settings.source = id.stream;
  CAIRN_RETURN_IF_ERROR(ApplySettings(options.settings(), &plan.record, &plan.settings));
  Start start;
  if (options.has_all()) {
    start = AllStart(store, options.all());
    CAIRN_RETURN_IF_ERROR(ApplyFilter(options.all(), &plan.settings));
  } else {
    CAIRN_ASSIGN_OR_RETURN(start, StreamStart(store, options, id.stream));
  }
  plan.settings.start_position = start.position;
  plan.record.start_from = std::move(start.reported);
  return plan;
}

Result<EsdbGroupPlan> PlanUpdate(const ps::UpdateReq::Options& options,
                                 const subscribe::GroupSettings& current,
                                 const EsdbGroupRecord& current_record) {
  EsdbGroupPlan plan{current, current_record};
  CAIRN_RETURN_IF_ERROR(ApplySettings(options.settings(), &plan.record, &plan.settings));
  // The start is not moved: the group goes on from its position. The record keeps reporting the
  // start the group was made with (reporting a new one would show a start the group never used).
  plan.record.start_from = current_record.start_from;
  plan.settings.start_position = current.start_position;
  return plan;
}

void ToSubscriptionInfo(const subscribe::GroupInfo& info, const EsdbGroupRecord& record,
                        uint64_t parked_stream_events, ps::SubscriptionInfo* out) {
  const subscribe::GroupSettings& s = info.settings;
  const subscribe::GroupCounters& c = info.counters;
  out->set_event_source(record.stream);
  out->set_group_name(record.group);
  out->set_status("Live");
  out->set_total_items(static_cast<int64_t>(c.acked + c.skipped + c.parked));
  if (record.stream == kEsdbAllStream) {
    out->set_last_checkpointed_event_position(PositionBefore(c.done_below));
    out->set_last_known_event_position(PositionBefore(c.read_position));
  }
  out->set_resolve_link_tos(record.resolve_links);
  out->set_start_from(record.start_from);
  out->set_message_timeout_milliseconds(static_cast<int32_t>(s.ack_timeout_ms));
  out->set_extra_statistics(record.extra_statistics);
  out->set_max_retry_count(static_cast<int32_t>(s.retry_limit) - 1);
  out->set_live_buffer_size(record.live_buffer_size);
  out->set_buffer_size(record.history_buffer_size);
  out->set_read_batch_size(record.read_batch_size);
  out->set_check_point_after_milliseconds(record.checkpoint_after_ms);
  out->set_min_check_point_count(record.min_checkpoint_count);
  out->set_max_check_point_count(record.max_checkpoint_count);
  out->set_retry_buffer_count(static_cast<int32_t>(c.replay_pending));
  out->set_total_in_flight_messages(static_cast<int32_t>(c.in_flight));
  out->set_outstanding_messages_count(static_cast<int32_t>(c.in_flight));
  out->set_named_consumer_strategy(record.consumer_strategy);
  out->set_max_subscriber_count(record.max_subscriber_count);
  const uint64_t parked =
      parked_stream_events > c.replay_next ? parked_stream_events - c.replay_next : 0;
  out->set_parked_message_count(static_cast<int64_t>(parked));
}

std::optional<uint64_t> RevisionBefore(engine::EventStore* store, const std::string& stream,
                                       uint64_t position) {
  auto info = store->GetStreamInfo(stream);
  if (!info.ok() || !info->exists || position == 0) return std::nullopt;
  if (info->last_position < position) return info->last_version;
  // Pages: a read may end early by size (engine::Limits::read_size_bytes_max).
  uint64_t from = info->last_version;
  uint64_t examined = 0;
  while (examined < kRevisionLookBackEvents) {
    auto page = store->ReadStream(stream, from, engine::Direction::kBackwards,
                                  kRevisionLookBackEvents - examined);
    if (!page.ok() || page->events.empty()) return std::nullopt;
    for (const engine::RecordedEvent& e : page->events) {
      if (e.entry.position < position) return e.entry.stream_version;
    }
    examined += page->events.size();
    const uint64_t last = page->events.back().entry.stream_version;
    if (page->end_of_stream || last == 0) return std::nullopt;
    from = last - 1;
  }
  return std::nullopt;
}

}  // namespace cairn::server::esdb
