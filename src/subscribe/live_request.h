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
#include <string>
#include <vector>

#include "common/status.h"
#include "engine/types.h"

namespace cairn::subscribe {

inline constexpr size_t kLiveFilterEntriesMax = 64;
inline constexpr int64_t kCheckpointIntervalMsMin = 100;
inline constexpr int64_t kCheckpointIntervalMsMax = 60000;
inline constexpr int64_t kCheckpointIntervalMsDefault = 1000;

struct LiveRequest {
  enum class Start : uint8_t { kPosition, kVersion, kEnd };

  std::string stream;  // a stream id, or "$all"
  Start start = Start::kPosition;
  uint64_t from = 0;   // kPosition: a log position; kVersion: a stream version
  std::vector<std::string> stream_prefixes;
  std::vector<std::string> event_types;
  int64_t checkpoint_interval_ms = kCheckpointIntervalMsDefault;
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
// filter entries, a checkpoint interval outside kCheckpointIntervalMsMin..Max.
Status ValidateLiveRequest(const LiveRequest& request);

// True when `event` passes the request's stream, version, prefix and type filters (not the
// policy: see LiveAccess).
bool MatchesRequest(const LiveRequest& request, const engine::RecordedEvent& event);

}  // namespace cairn::subscribe
