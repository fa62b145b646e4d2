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
// Shards: a cache of at least kKeyCacheShardedEntriesMin entries is split by the name's hash into
// kKeyCacheShards shards, each with its own mutex, LRU list and an equal share of entries_max, so
// that concurrent readers of different subjects rarely wait for each other; the least recently
// used entry of the shard that grows is the one evicted. A smaller cache is one shard (exact LRU).
//
// Thread safety: every method is safe for concurrent use (a mutex per shard, held for O(1) work;
// Clear() takes them all).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "common/string_hash.h"
#include "keys/subject_key_source.h"

namespace cairn::keys {

inline constexpr size_t kKeyCacheShards = 16;
inline constexpr size_t kKeyCacheShardedEntriesMin = 1024;

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
  // Drops `name` unless it holds the key `kid`, without bumping the generation (a removal cannot
  // bring back a key an Erase removed, so concurrent inserts need not be refused for it).
  void DropUnlessKid(std::string_view name, std::string_view kid);
  void Clear();
  // Drops every entry whose TTL has passed (Get drops one only when it is looked up), so that an
  // unwrapped key leaves memory within one call of its expiry even when nobody asks for it
  // (SubjectKeys' owner calls it periodically). O(entries). Returns how many were dropped.
  size_t DropExpired();

  KeyCacheStats stats() const;
  size_t size() const;

 private:
  struct Node {
    std::string name;
    SubjectKey value;
    int64_t expires_at_ms;
  };
  using List = std::list<Node>;  // front: most recently used
  struct Shard {
    size_t entries_max = 0;
    mutable std::mutex mu;
    List lru;  // guarded by mu
    std::unordered_map<std::string, List::iterator, StringHash, std::equal_to<>> index;  // guarded by mu
    KeyCacheStats stats;  // guarded by mu
  };

  int64_t Now() const;
  bool Enabled() const { return options_.entries_max > 0 && options_.ttl_ms > 0; }
  Shard& ShardFor(std::string_view name) const;
  void InsertLocked(Shard& shard, std::string_view name, SubjectKey value);  // shard.mu held

  const KeyCacheOptions options_;
  const size_t shard_count_;
  const std::unique_ptr<Shard[]> shards_;
  // Changed only with the name's shard mutex held (Erase) or all of them (Clear); read under the
  // shard mutex by InsertIfGeneration, so an insert and an erase of one name are ordered.
  std::atomic<uint64_t> generation_{0};
};

}  // namespace cairn::keys
