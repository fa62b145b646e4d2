// IdWindow: the event ids of the most recent appends, for idempotent re-sends.
//
// A bounded map from event id to where the event landed, with FIFO eviction (a ring of the
// capacity's size). Keys are the 16 id bytes; the bucket hash is keyed with a per-process random
// seed, because clients choose event ids and must not be able to flood one bucket. Streams are
// identified by a 64-bit tag (SHA-256 of a per-process seed and the stream id), so entries hold no
// strings and the window allocates nothing per event once warm.
//
// Thread safety: not thread-safe; owned by the sequencer thread.
#pragma once

#include <cstdint>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace cairn::engine {

struct EventIdKey {
  uint64_t hi = 0, lo = 0;
  static EventIdKey From(std::string_view id16);
  bool operator==(const EventIdKey&) const = default;
};

struct EventIdKeyHash {
  size_t operator()(const EventIdKey& k) const;
};

struct IdRecord {
  uint64_t stream_tag = 0;
  uint64_t version = 0;
  uint64_t position = 0;
};

using IdMap = std::unordered_map<EventIdKey, IdRecord, EventIdKeyHash>;

// The tag of a stream id in this process.
uint64_t StreamTag(std::string_view stream_id);

class IdWindow {
 public:
  explicit IdWindow(size_t capacity) : capacity_(capacity) {}

  const IdRecord* Find(const EventIdKey& key) const {
    auto it = map_.find(key);
    return it == map_.end() ? nullptr : &it->second;
  }
  // Records `key`; when the window is full the oldest id is forgotten.
  void Insert(const EventIdKey& key, const IdRecord& record);
  void Clear();
  size_t size() const { return map_.size(); }
  size_t capacity() const { return capacity_; }

 private:
  const size_t capacity_;
  IdMap map_;
  std::vector<EventIdKey> ring_;  // insertion order; grows to capacity_, then wraps
  size_t next_ = 0;               // ring slot of the next insertion once full
};

}  // namespace cairn::engine
