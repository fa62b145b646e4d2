#include "subscribe/live_request.h"

#include <algorithm>

#include "subscribe/live_access.h"

namespace cairn::subscribe {
namespace {

Status CheckList(const std::vector<std::string>& list, const char* name) {
  if (list.size() > kLiveFilterEntriesMax) {
    return Status::InvalidArgument(std::string(name) + ": at most " +
                                   std::to_string(kLiveFilterEntriesMax) + " entries");
  }
  for (const std::string& entry : list) {
    if (entry.empty()) return Status::InvalidArgument(std::string(name) + ": empty entry");
    if (entry.size() > 512) return Status::InvalidArgument(std::string(name) + ": entry too long");
  }
  return Status::Ok();
}

bool HasPrefix(std::string_view text, std::string_view prefix) {
  return text.size() >= prefix.size() && text.compare(0, prefix.size(), prefix) == 0;
}

}  // namespace

bool LiveRequest::all() const { return stream == kAllStreams; }

Status ValidateLiveRequest(const LiveRequest& request) {
  if (!request.all()) {
    if (Status s = engine::ValidateStreamId(request.stream); !s.ok()) return s.Annotate("stream");
  }
  if (request.all() && request.start == LiveRequest::Start::kVersion) {
    return Status::InvalidArgument("from_version needs a stream, not $all (use from_position)");
  }
  CAIRN_RETURN_IF_ERROR(CheckList(request.stream_prefixes, "filter.stream_prefixes"));
  CAIRN_RETURN_IF_ERROR(CheckList(request.event_types, "filter.event_types"));
  if (request.checkpoint_interval_ms < kCheckpointIntervalMsMin ||
      request.checkpoint_interval_ms > kCheckpointIntervalMsMax) {
    return Status::InvalidArgument("checkpoint_interval_ms must be between " +
                                   std::to_string(kCheckpointIntervalMsMin) + " and " +
                                   std::to_string(kCheckpointIntervalMsMax));
  }
  if (request.checkpoint_every_events > kCheckpointEveryEventsMax) {
    return Status::InvalidArgument("checkpoint_every_events must be at most " +
                                   std::to_string(kCheckpointEveryEventsMax));
  }
  if (request.filter != nullptr && !*request.filter) {
    return Status::InvalidArgument("filter is set but empty");
  }
  return Status::Ok();
}

bool MatchesRequest(const LiveRequest& request, const engine::RecordedEvent& event) {
  const integrity::Entry& entry = event.entry;
  if (!request.all()) {
    if (entry.stream_id != request.stream) return false;
    if (request.start == LiveRequest::Start::kVersion && entry.stream_version < request.from) {
      return false;
    }
  }
  if (!request.stream_prefixes.empty() &&
      std::none_of(request.stream_prefixes.begin(), request.stream_prefixes.end(),
                   [&](const std::string& p) { return HasPrefix(entry.stream_id, p); })) {
    return false;
  }
  if (!request.event_types.empty() &&
      std::find(request.event_types.begin(), request.event_types.end(), entry.event_type) ==
          request.event_types.end()) {
    return false;
  }
  return true;
}

}  // namespace cairn::subscribe
