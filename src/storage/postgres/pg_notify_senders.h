// NotifySenders: which PostgreSQL backends (by pid) that sent a notification are sessions of the
// role this node connects as, remembered for a while so that a burst of notifications costs one
// lookup per sender. Bounded (kSendersMax entries, each kept kTtlMs); a full table is cleared.
//
// Thread safety: not thread-safe (used on PgLogStore's listener thread only).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <unordered_map>

#include "common/steady_clock.h"

namespace cairn::storage::pg {

class NotifySenders {
 public:
  static constexpr size_t kSendersMax = 1024;
  static constexpr int64_t kTtlMs = 60'000;  // a pid can be reused by another session later

  // `lookup(pid)` asks the database (nullopt when it could not tell: not remembered, false now);
  // an answer is remembered, both ways.
  bool IsOwnRole(int pid, const std::function<std::optional<bool>(int)>& lookup) {
    const int64_t now_ms = NowMs();
    auto it = known_.find(pid);
    if (it != known_.end() && now_ms - it->second.checked_ms < kTtlMs) return it->second.own;
    if (known_.size() >= kSendersMax) known_.clear();
    const std::optional<bool> own = lookup(pid);
    if (!own) return false;
    known_[pid] = Entry{*own, now_ms};
    return *own;
  }

 private:
  struct Entry {
    bool own = false;
    int64_t checked_ms = 0;
  };
  static int64_t NowMs() { return SteadyNowMs(); }

  std::unordered_map<int, Entry> known_;
};

}  // namespace cairn::storage::pg
