#include "server/esdb/persistent_ack_ids.h"

#include <cassert>

namespace cairn::server::esdb {

void AckIdMap::Put(const std::string& event_id, uint64_t ack_id) {
  assert(entries_max_ > 0);
  if (auto it = by_id_.find(event_id); it != by_id_.end()) {
    by_seq_.erase(it->second.seq);
    by_id_.erase(it);
  }
  while (by_id_.size() >= entries_max_) {
    auto oldest = by_seq_.begin();
    by_id_.erase(oldest->second);
    by_seq_.erase(oldest);
  }
  const uint64_t seq = ++seq_last_;
  by_id_[event_id] = Entry{ack_id, seq};
  by_seq_[seq] = event_id;
  assert(by_id_.size() == by_seq_.size());
}

std::optional<uint64_t> AckIdMap::Take(const std::string& event_id) {
  auto it = by_id_.find(event_id);
  if (it == by_id_.end()) return std::nullopt;
  const uint64_t ack_id = it->second.ack_id;
  by_seq_.erase(it->second.seq);
  by_id_.erase(it);
  return ack_id;
}

}  // namespace cairn::server::esdb
