#include "server/esdb/persistent_ack_ids.h"

#include <algorithm>
#include <cassert>

namespace cairn::server::esdb {

void AckIdMap::EraseAt(std::unordered_map<std::string, std::vector<Entry>>::iterator it,
                       size_t index) {
  std::vector<Entry>& entries = it->second;
  assert(index < entries.size());
  by_seq_.erase(entries[index].seq);
  entries.erase(entries.begin() + static_cast<std::ptrdiff_t>(index));
  if (entries.empty()) by_id_.erase(it);
}

void AckIdMap::Put(const std::string& event_id, const std::string& stream_id, uint64_t ack_id) {
  assert(entries_max_ > 0);
  if (auto it = by_id_.find(event_id); it != by_id_.end()) {
    const std::vector<Entry>& entries = it->second;
    const auto same = std::find_if(entries.begin(), entries.end(),
                                   [&](const Entry& e) { return e.stream_id == stream_id; });
    if (same != entries.end()) EraseAt(it, static_cast<size_t>(same - entries.begin()));  // a retry
  }
  while (by_seq_.size() >= entries_max_) {
    const auto oldest = by_seq_.begin();
    const auto it = by_id_.find(oldest->second);
    assert(it != by_id_.end() && !it->second.empty() && it->second.front().seq == oldest->first);
    EraseAt(it, 0);
  }
  const uint64_t seq = ++seq_last_;
  by_id_[event_id].push_back(Entry{stream_id, ack_id, seq});
  by_seq_[seq] = event_id;
}

std::optional<uint64_t> AckIdMap::Take(const std::string& event_id) {
  const auto it = by_id_.find(event_id);
  if (it == by_id_.end()) return std::nullopt;
  const uint64_t ack_id = it->second.front().ack_id;
  EraseAt(it, 0);
  return ack_id;
}

bool AckIdMap::Withdraw(const std::string& event_id, uint64_t ack_id) {
  const auto it = by_id_.find(event_id);
  if (it == by_id_.end()) return false;
  const std::vector<Entry>& entries = it->second;
  const auto match = std::find_if(entries.begin(), entries.end(),
                                  [&](const Entry& e) { return e.ack_id == ack_id; });
  if (match == entries.end()) return false;
  EraseAt(it, static_cast<size_t>(match - entries.begin()));
  return true;
}

}  // namespace cairn::server::esdb
