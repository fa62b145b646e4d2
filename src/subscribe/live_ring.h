// LiveRing: the most recently committed events of the log, shared by every live subscriber.
//
// The ring holds a contiguous range of positions [begin(), end()) of decoded events (the stored
// form, as the engine reads them). Append() adds the next events in log order and evicts the
// oldest while the ring holds more than `events_max` events or more than `bytes_max` bytes (it
// always keeps the newest event, even a larger one). Events are shared, immutable, and stay
// valid for whoever holds them after eviction.
//
// Thread safety: every method may be called concurrently; one writer (the hub) appends, any
// number of subscribers read.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <shared_mutex>
#include <string>
#include <utility>
#include <vector>

#include "engine/types.h"

namespace cairn::subscribe {

// An event as subscribers are handed it: the decoded event and, when the hub was given a wire
// encoder (LiveHubOptions::wire_encoder) and the event is shown the same to every reader (no
// protection rule), its encoded wire form, made once for all subscribers. `wire` is empty for
// events read for one subscriber (catch-up from storage, a revealed or masked view).
struct LiveEvent : engine::RecordedEvent {
  LiveEvent() = default;
  explicit LiveEvent(engine::RecordedEvent event, std::string wire_bytes = {})
      : engine::RecordedEvent(std::move(event)), wire(std::move(wire_bytes)) {}
  std::string wire;
};
using SharedEvent = std::shared_ptr<const LiveEvent>;

// What an event costs in the ring (its bytes, its wire form and a fixed overhead for the entry
// fields).
size_t EventCostBytes(const LiveEvent& event);

class LiveRing {
 public:
  // The ring starts empty at `start_position` (the log's size when the hub starts).
  LiveRing(uint64_t start_position, size_t events_max, size_t bytes_max);
  LiveRing(const LiveRing&) = delete;
  LiveRing& operator=(const LiveRing&) = delete;

  // Appends events whose positions continue end() exactly (asserted).
  void Append(std::vector<SharedEvent> events);
  // Drops every event and restarts the ring empty at `position` (>= end(), asserted): the hub
  // does this instead of reading events that no subscriber is there to be sent. Readers of
  // earlier positions then read from storage, as for any position before begin().
  void Restart(uint64_t position);

  // Copies out up to `count_max` events from `from` on. False (and nothing) when `from` is no
  // longer in the ring (from < begin()); true with no events when from >= end().
  bool Read(uint64_t from, size_t count_max, std::vector<SharedEvent>* out) const;

  uint64_t begin() const;
  uint64_t end() const;
  size_t size_bytes() const;

 private:
  const size_t events_max_;
  const size_t bytes_max_;
  mutable std::shared_mutex mu_;
  std::deque<SharedEvent> events_;  // positions begin_ .. begin_ + size - 1
  uint64_t begin_;
  size_t bytes_ = 0;
};

}  // namespace cairn::subscribe
