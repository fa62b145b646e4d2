// KeyCache: the bounded in-memory cache of unwrapped subject keys (DESIGN.md, Keys and data
// protection: "Unwrapped keys live in a bounded in-memory cache, are zeroed on eviction").
//
// Maps a name (a kid, or SubjectKeys' per-subject "current version" name) to a SubjectKey: the
// kid and a shared pointer to the 32 key bytes. At most `entries_max` entries; the least recently
// used one is evicted to make room. An entry expires `ttl_ms` after it was inserted (hits do not
// extend it), so a key destroyed elsewhere (`forget` on another node) stops being served from
// this cache within ttl_ms. entries_max == 0 or ttl_ms <= 0 disables caching.
//
// Zeroing: the cache only drops its reference. The key bytes are SecureBytes, wiped by their
// destructor when the last holder (the cache or a caller still encrypting with it) drops them.
//
// Forget races: a reader that missed the cache, unwrapped a key and then inserts it could put back
// a key that Erase() removed meanwhile. Readers therefore take generation() before they read the
// store and insert with InsertIfGeneration(): every Erase/Clear bumps the generation, and an
// insert under an older one is dropped.
//
// Thread safety: every method is safe for concurrent use (one mutex; operations are O(1)).
#pragma once

#include <cstdint>
#include <functional>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "keys/subject_key_source.h"

namespace cairn::keys {

struct KeyCacheOptions {
  size_t entries_max = 10000;
  int64_t ttl_ms = 300000;
  // Milliseconds on a monotonic clock; steady_clock when empty (tests inject a fake clock).
  std::function<int64_t()> now_ms;
};

struct KeyCacheStats {
  uint64_t hits = 0;
  uint64_t misses = 0;       // includes lookups that found an expired entry
  uint64_t evictions = 0;    // entries dropped to stay within entries_max
  uint64_t expirations = 0;  // entries dropped because their TTL passed
  size_t entries = 0;        // current size
  double hit_rate() const {
    return hits + misses == 0 ? 0.0 : static_cast<double>(hits) / static_cast<double>(hits + misses);
  }
};

class KeyCache {
 public:
  explicit KeyCache(KeyCacheOptions options = {});
  KeyCache(const KeyCache&) = delete;
  KeyCache& operator=(const KeyCache&) = delete;

  // The live entry for `name` (and marks it most recently used); nullopt on a miss. Counts a hit
  // or a miss; an expired entry is dropped and counts as a miss.
  std::optional<SubjectKey> Get(std::string_view name);
  // Inserts or replaces `name` as the most recently used entry with a fresh TTL; evicts the least
  // recently used entries beyond entries_max. A null key is ignored.
  void Insert(std::string_view name, SubjectKey value);
  // Insert(), unless Erase() or Clear() ran since `generation` was read; returns whether it
  // inserted.
  bool InsertIfGeneration(std::string_view name, SubjectKey value, uint64_t generation);
  uint64_t generation() const;
  // Drops `name` (no-op when absent) and bumps the generation.
  void Erase(std::string_view name);
  void Clear();

  KeyCacheStats stats() const;
  size_t size() const;

 private:
  struct Node {
    std::string name;
    SubjectKey value;
    int64_t expires_at_ms;
  };
  using List = std::list<Node>;  // front: most recently used
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
  };

  int64_t Now() const;
  void InsertLocked(std::string_view name, SubjectKey value);  // mu_ held

  const KeyCacheOptions options_;
  mutable std::mutex mu_;
  List lru_;
  std::unordered_map<std::string, List::iterator, Hash, std::equal_to<>> index_;
  uint64_t generation_ = 0;
  KeyCacheStats stats_;
};

}  // namespace cairn::keys
