// PrincipalTally: how much of a shared resource each principal holds (reads in progress, bytes of
// unfinished appends, long scans), for the per-principal shares that keep one caller from taking
// a resource every caller needs (server/read_slots.h, esdb/streams_append.h,
// esdb/streams_read.h).
//
// Only principals holding something have an entry, so it is as large as the number of holders,
// which the owner's own limit bounds. Thread safety: none; the owner's lock guards it.
#pragma once

#include <cassert>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>

#include "common/string_hash.h"

namespace cairn::server {

class PrincipalTally {
 public:
  uint64_t Of(std::string_view principal_id) const {
    auto it = held_.find(principal_id);
    return it == held_.end() ? 0 : it->second;
  }
  void Add(std::string_view principal_id, uint64_t amount) {
    auto it = held_.find(principal_id);
    if (it == held_.end()) it = held_.emplace(std::string(principal_id), 0).first;
    it->second += amount;
  }
  // Requires that the principal holds at least `amount`; its entry goes at zero.
  void Subtract(std::string_view principal_id, uint64_t amount) {
    auto it = held_.find(principal_id);
    assert(it != held_.end() && it->second >= amount);
    if ((it->second -= amount) == 0) held_.erase(it);
  }
  bool empty() const { return held_.empty(); }
  size_t principals() const { return held_.size(); }

 private:
  std::unordered_map<std::string, uint64_t, StringHash, std::equal_to<>> held_;  // values > 0
};

}  // namespace cairn::server
