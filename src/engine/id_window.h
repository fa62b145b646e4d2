// IdWindow: the event ids of the most recent appends, for idempotent re-sends.
//
// A bounded map from event id to where the event landed, with FIFO eviction: the entries are a
// ring of the capacity's size, indexed by an open-addressing table (linear probing,
// backward-shift deletion) of at least twice the capacity whose 8-byte slots hold 32 bits of the
// id's hash (its home slot and a fingerprint) and the entry's index. The window is probed for
// every appended event and, on a shared store, for every event another node commits, mostly
// under the commit lock: the slot table of the default window (100,000 ids) is 2 MiB, so a
// probe mostly stays in the CPU's caches and touches an entry only when the fingerprint matches;
// an eviction finds the oldest entry's slot by its index. The hash is keyed with a per-process
// random seed, because clients choose event ids and must not be able to make probe sequences
// long. Streams are identified by a 64-bit tag (SHA-256 of a per-process seed and the stream
// id), so entries hold no strings and the window allocates nothing once warm.
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
  uint64_t content_tag = 0;  // ContentTag of the event: a re-send must carry the same content
};

// The tag of a stream id in this process.
uint64_t StreamTag(std::string_view stream_id);

// The tag of an event's content, from what its stored entry holds: the first 8 bytes (never 0)
// of SHA-256 over the type, the content type, the metadata hash and the hash of the stored data,
// except when that data has protected fields (their ciphertext is fresh on every send, so a
// re-send never has the same hash). The same in every process (group summaries carry it between
// nodes), computed the same way from an append and from a stored record. 0 = not known (a
// summary of an older format): it matches any content.
uint64_t ContentTag(std::string_view event_type, std::string_view content_type,
                    const unsigned char* metadata_hash32, const unsigned char* data_hash32,
                    std::string_view stored_data);
// Whether two content tags may be the same event's (equal, or one not known).
inline bool ContentTagsMatch(uint64_t a, uint64_t b) { return a == 0 || b == 0 || a == b; }

class IdWindow {
 public:
  // capacity: at most kCapacityMax ids.
  static constexpr size_t kCapacityMax = size_t{1} << 30;
  explicit IdWindow(size_t capacity);

  const IdRecord* Find(const EventIdKey& key) const;
  // Records `key`; when the window is full the oldest id is forgotten.
  void Insert(const EventIdKey& key, const IdRecord& record);
  void Clear();
  size_t size() const { return entries_.size(); }
  size_t capacity() const { return capacity_; }

 private:
  struct Entry {
    EventIdKey key;
    IdRecord record;
  };
  struct Slot {
    uint32_t hash = 0;   // the low 32 bits of Hash(key): the home slot and a fingerprint
    uint32_t entry = 0;  // 1 + the index of the entry in entries_; 0: the slot is empty
  };
  uint32_t Hash(const EventIdKey& key) const;
  // The slot that holds `key`, or the empty slot that ends its probe sequence.
  size_t FindSlot(const EventIdKey& key, uint32_t hash) const;
  // The slot that holds entries_[index] (which is in the table).
  size_t SlotOfEntry(size_t index, uint32_t hash) const;
  void EraseSlot(size_t slot);

  const size_t capacity_;
  std::vector<Slot> slots_;     // power-of-two size >= 2 * capacity_ (empty when capacity_ 0)
  size_t mask_ = 0;
  std::vector<Entry> entries_;  // insertion order; grows to capacity_, then a ring
  size_t next_ = 0;             // the oldest entry (the next to be replaced) once full
};

}  // namespace cairn::engine
