// GroupStore: the durable part of consumer groups, in the event store's component state
// (EventStore::PutComponentState) under "group/": the list of group names ("group/index"), each
// group's settings ("group/def/<name>") and its position ("group/state/<name>").
//
// The position of a group is `done_below` (every event below it is done) plus the positions of
// the events above it that are done too (`done_above`, bounded by GroupLimits::done_above_max),
// so that after a restart nothing acked is delivered again beyond what happened since the last
// save, and nothing unacked is lost. The replay of parked events stores how far it got in the
// `$parked-<group>` stream: versions below `replay_next` are done, up to `replay_end`.
// Nothing stored here is personal data: names, positions and settings only.
//
// Thread safety: safe for concurrent use (each call is one store operation); the engine keeps
// the index consistent by serialising Create and Delete.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "engine/event_store.h"
#include "subscribe/group_settings.h"

namespace cairn::subscribe {

struct GroupPosition {
  uint64_t done_below = 0;
  std::vector<uint64_t> done_above;  // ascending, each > done_below
  uint64_t replay_next = 0;          // parked stream versions below it are replayed
  uint64_t replay_end = 0;           // replay runs up to (excluding) this version
  bool operator==(const GroupPosition&) const = default;
};

std::string EncodeGroupPosition(const GroupPosition& position);
Result<GroupPosition> DecodeGroupPosition(std::string_view text);

class GroupStore {
 public:
  explicit GroupStore(engine::EventStore* store) : store_(store) {}

  Result<std::vector<std::string>> LoadNames();
  Status SaveNames(const std::vector<std::string>& names);
  // kNotFound when the group has no stored settings.
  Result<GroupSettings> LoadSettings(const std::string& name);
  Status SaveSettings(const GroupSettings& settings);
  // nullopt when nothing was saved yet (a new group).
  Result<std::optional<GroupPosition>> LoadPosition(const std::string& name);
  Status SavePosition(const std::string& name, const GroupPosition& position);
  // Blanks the group's settings and position (the store has no delete for metadata).
  Status Remove(const std::string& name);

 private:
  engine::EventStore* store_;
};

}  // namespace cairn::subscribe
