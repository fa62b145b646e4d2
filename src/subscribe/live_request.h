// LiveRequest: what a live subscription asks for — a stream or the whole log ("$all"), where to
// start, and filters — validated before anything is read, and the filter applied to each event.
//
// Start points: kPosition (inclusive log position; for a stream: its events at positions >=
// from), kVersion (streams only: stream versions >= from), kEnd (only events committed after the
// subscription started).
//
// Filters: stream id prefixes and exact event types, at most kLiveFilterEntriesMax of each; an
// empty list does not filter. A stream subscription delivers only that stream's events (and,
// with kVersion, only versions >= from).
//
// Thread safety: plain values and pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "engine/types.h"

namespace cairn::subscribe {

inline constexpr size_t kLiveFilterEntriesMax = 64;
inline constexpr int64_t kCheckpointIntervalMsMin = 100;
inline constexpr int64_t kCheckpointIntervalMsMax = 60000;
inline constexpr int64_t kCheckpointIntervalMsDefault = 1000;
inline constexpr uint64_t kCheckpointEveryEventsMax = uint64_t{1} << 32;

// A transport's own filter (EventStoreDB's prefixes and regular expressions): true keeps the
// event. Called from the hub's delivery threads, concurrently for different subscriptions: it
// must be thread-safe and must not block.
using LiveEventFilter = std::function<bool(std::string_view stream_id, std::string_view event_type)>;

struct LiveRequest {
  enum class Start : uint8_t { kPosition, kVersion, kEnd };

  std::string stream;  // a stream id, or "$all"
  Start start = Start::kPosition;
  uint64_t from = 0;   // kPosition: a log position; kVersion: a stream version
  std::vector<std::string> stream_prefixes;
  std::vector<std::string> event_types;
  int64_t checkpoint_interval_ms = kCheckpointIntervalMsDefault;
  // Optional. Applied after the filters above and the policy, before an event of a protected
  // type is revealed: an event it drops is never decrypted, so an event the subscriber does not
  // want cannot end its subscription (a field that fails to decrypt, the KMS unavailable).
  std::shared_ptr<const LiveEventFilter> filter;
  // When > 0 (at most kCheckpointEveryEventsMax): a checkpoint at the latest after this many
  // events considered (passing the filters and the policy, kept or dropped by `filter`) since
  // the last one, besides the timed ones: LiveBatch::checkpoints among an event batch's events,
  // a kCheckpoint batch when the filter kept none of them.
  uint64_t checkpoint_every_events = 0;
  // The transport sends LiveEvent::wire (cairn.v1): the hub's reader encodes each shared event's
  // wire form while at least one such subscription is open. Others (the EventStoreDB protocol)
  // leave it false, so that their fan-out does not pay for an encoding nobody sends.
  bool wire_form = false;
  // Keep each shown event's stored form beside its view when protected fields are masked,
  // erased or revealed (engine::RecordedEvent::stored_data).
  bool include_stored_data = false;

  bool all() const;
};

// kInvalidArgument naming the field: a bad stream id, kVersion on "$all", too many or empty
// filter entries, a checkpoint interval outside kCheckpointIntervalMsMin..Max, a
// checkpoint_every_events above kCheckpointEveryEventsMax.
Status ValidateLiveRequest(const LiveRequest& request);

// True when `event` passes the request's stream, version, prefix and type filters (not the
// policy: see LiveAccess; not `filter`, which the cursor applies after the policy).
bool MatchesRequest(const LiveRequest& request, const engine::RecordedEvent& event);

}  // namespace cairn::subscribe
