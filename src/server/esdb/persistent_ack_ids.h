// AckIdMap: one ESDB consumer's deliveries by event id. ESDB clients ack and nack by event id
// (UUID); cairn's group engine by ack id. The map holds the deliveries not yet acked or nacked,
// at most `entries_max`: when full, the oldest delivery is forgotten (its ack is then ignored, so
// the group times it out and delivers it again — at least once still holds).
//
// An event delivered again to the same consumer (a retry) replaces its earlier entry: the client
// acks the event id, and the newest delivery is the one the group waits for.
//
// Thread safety: none; the connection guards it with its own mutex.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>

namespace cairn::server::esdb {

class AckIdMap {
 public:
  explicit AckIdMap(size_t entries_max) : entries_max_(entries_max) {}

  void Put(const std::string& event_id, uint64_t ack_id);
  // The ack id of the event's delivery, removed; nullopt for an unknown (or forgotten) id.
  std::optional<uint64_t> Take(const std::string& event_id);
  size_t size() const { return by_id_.size(); }

 private:
  struct Entry {
    uint64_t ack_id = 0;
    uint64_t seq = 0;
  };
  const size_t entries_max_;
  uint64_t seq_last_ = 0;
  std::unordered_map<std::string, Entry> by_id_;
  std::map<uint64_t, std::string> by_seq_;  // oldest first
};

}  // namespace cairn::server::esdb
