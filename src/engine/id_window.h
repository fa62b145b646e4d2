// IdWindow: the event ids of the most recent appends, for idempotent re-sends.
//
// A bounded map from event id to where the event landed, with FIFO eviction (a ring of the
// capacity's size). It is an open-addressing table (linear probing, backward-shift deletion) of
// at least twice the capacity, so a lookup usually touches one cache line: the window is probed
// for every appended event. The slot hash is keyed with a per-process random seed, because
// clients choose event ids and must not be able to make probe sequences long. Streams are
// identified by a 64-bit tag (SHA-256 of a per-process seed and the stream id), so entries hold
// no strings and the window allocates nothing once warm.
//
// Thread safety: not thread-safe; owned by the sequencer thread.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

namespace cairn::engine {

struct EventIdKey {
  uint64_t hi = 0, lo = 0;
  static EventIdKey From(std::string_view id16);
  bool operator==(const EventIdKey&) const = default;
};

struct IdRecord {
  uint64_t stream_tag = 0;
  uint64_t version = 0;
  uint64_t position = 0;
};

// The tag of a stream id in this process.
uint64_t StreamTag(std::string_view stream_id);

class IdWindow {
 public:
  explicit IdWindow(size_t capacity);

  const IdRecord* Find(const EventIdKey& key) const;
  // Records `key`; when the window is full the oldest id is forgotten.
  void Insert(const EventIdKey& key, const IdRecord& record);
  void Clear();
  size_t size() const { return size_; }
  size_t capacity() const { return capacity_; }

 private:
  struct Slot {
    EventIdKey key;
    IdRecord record;
    bool used = false;
  };
  size_t Home(const EventIdKey& key) const;
  size_t SlotOf(const EventIdKey& key) const;  // the slot holding key, or an empty slot
  void Erase(const EventIdKey& key);

  const size_t capacity_;
  std::vector<Slot> slots_;       // power-of-two size >= 2 * capacity_ (empty when capacity_ 0)
  size_t mask_ = 0;
  size_t size_ = 0;
  std::vector<EventIdKey> ring_;  // insertion order; grows to capacity_, then wraps
  size_t next_ = 0;               // ring slot of the next insertion once full
};

}  // namespace cairn::engine
