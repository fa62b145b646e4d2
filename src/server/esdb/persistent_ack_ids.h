// AckIdMap: one ESDB consumer's deliveries by event id. ESDB clients ack and nack by event id
// (UUID); cairn's group engine by ack id. The map holds the deliveries not yet acked or nacked,
// at most `entries_max`: when full, the oldest delivery is forgotten (its ack is then ignored, so
// the group times it out and delivers it again — at least once still holds).
//
// An event delivered again to the same consumer (a retry: the same id in the same stream)
// replaces its earlier entry: the client acks the event id, and the newest delivery is the one
// the group waits for. Two different events may share an id (ids are unique only within the
// engine's idempotency window; a $all group delivers many streams): both are kept, and an ack of
// the id takes the older delivery first.
//
// Thread safety: none; the connection guards it with its own mutex.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace cairn::server::esdb {

class AckIdMap {
 public:
  explicit AckIdMap(size_t entries_max) : entries_max_(entries_max) {}

  void Put(const std::string& event_id, const std::string& stream_id, uint64_t ack_id);
  // The ack id of the event id's oldest delivery, removed; nullopt for an unknown (or
  // forgotten) id.
  std::optional<uint64_t> Take(const std::string& event_id);
  // Removes the delivery with this ack id only (a delivery withdrawn before it was sent);
  // false when it is not held (replaced by a newer delivery, or forgotten).
  bool Withdraw(const std::string& event_id, uint64_t ack_id);
  size_t size() const { return by_seq_.size(); }

 private:
  struct Entry {
    std::string stream_id;
    uint64_t ack_id = 0;
    uint64_t seq = 0;
  };
  // Removes entries[index] of `event_id` (and the id once it has none).
  void EraseAt(std::unordered_map<std::string, std::vector<Entry>>::iterator it, size_t index);

  const size_t entries_max_;
  uint64_t seq_last_ = 0;
  std::unordered_map<std::string, std::vector<Entry>> by_id_;  // each vector oldest first
  std::map<uint64_t, std::string> by_seq_;                      // oldest first
};

}  // namespace cairn::server::esdb
