#include "keys/key_cache.h"

#include <cassert>

#include "common/shards.h"
#include "common/steady_clock.h"

namespace cairn::keys {
namespace {

size_t ShardCount(size_t entries_max) {
  return entries_max >= kKeyCacheShardedEntriesMin ? kKeyCacheShards : 1;
}

}  // namespace

KeyCache::KeyCache(KeyCacheOptions options)
    : options_(std::move(options)),
      shard_count_(ShardCount(options_.entries_max)),
      shards_(std::make_unique<Shard[]>(shard_count_)) {
  for (size_t i = 0; i < shard_count_; ++i) {
    shards_[i].entries_max = ShardShare(options_.entries_max, shard_count_, i);
  }
}

int64_t KeyCache::Now() const {
  if (options_.now_ms) return options_.now_ms();
  return SteadyNowMs();
}

KeyCache::Shard& KeyCache::ShardFor(std::string_view name) const {
  if (shard_count_ == 1) return shards_[0];
  // The high bits: the index's buckets use the low ones of the same hash.
  return shards_[(StringHash()(name) >> 32) % shard_count_];
}

std::optional<SubjectKey> KeyCache::Get(std::string_view name) {
  const int64_t now = Now();
  Shard& shard = ShardFor(name);
  std::lock_guard<std::mutex> lock(shard.mu);
  auto it = shard.index.find(name);
  if (it == shard.index.end()) {
    ++shard.stats.misses;
    return std::nullopt;
  }
  if (now >= it->second->expires_at_ms) {
    shard.lru.erase(it->second);
    shard.index.erase(it);
    ++shard.stats.expirations;
    ++shard.stats.misses;
    return std::nullopt;
  }
  shard.lru.splice(shard.lru.begin(), shard.lru, it->second);  // iterators stay valid
  ++shard.stats.hits;
  return it->second->value;
}

void KeyCache::InsertLocked(Shard& shard, std::string_view name, SubjectKey value) {
  const int64_t expires = Now() + options_.ttl_ms;
  auto it = shard.index.find(name);
  if (it != shard.index.end()) {
    it->second->value = std::move(value);
    it->second->expires_at_ms = expires;
    shard.lru.splice(shard.lru.begin(), shard.lru, it->second);
    return;
  }
  shard.lru.push_front(Node{std::string(name), std::move(value), expires});
  shard.index.emplace(shard.lru.front().name, shard.lru.begin());
  while (shard.lru.size() > shard.entries_max) {
    Node& last = shard.lru.back();
    shard.index.erase(last.name);
    // Prefer counting an already expired victim as an expiration, not an eviction.
    if (Now() >= last.expires_at_ms) {
      ++shard.stats.expirations;
    } else {
      ++shard.stats.evictions;
    }
    shard.lru.pop_back();  // drops the cache's reference to the key
  }
  assert(shard.lru.size() == shard.index.size() && shard.lru.size() <= shard.entries_max);
}

void KeyCache::Insert(std::string_view name, SubjectKey value) {
  if (!Enabled() || value.key == nullptr) return;
  Shard& shard = ShardFor(name);
  std::lock_guard<std::mutex> lock(shard.mu);
  InsertLocked(shard, name, std::move(value));
}

bool KeyCache::InsertIfGeneration(std::string_view name, SubjectKey value, uint64_t generation) {
  if (!Enabled() || value.key == nullptr) return false;
  Shard& shard = ShardFor(name);
  std::lock_guard<std::mutex> lock(shard.mu);
  if (generation != generation_.load(std::memory_order_acquire)) return false;
  InsertLocked(shard, name, std::move(value));
  return true;
}

uint64_t KeyCache::generation() const { return generation_.load(std::memory_order_acquire); }

void KeyCache::Erase(std::string_view name) {
  Shard& shard = ShardFor(name);
  std::lock_guard<std::mutex> lock(shard.mu);
  generation_.fetch_add(1, std::memory_order_acq_rel);
  auto it = shard.index.find(name);
  if (it == shard.index.end()) return;
  shard.lru.erase(it->second);
  shard.index.erase(it);
}

void KeyCache::DropUnlessKid(std::string_view name, std::string_view kid) {
  Shard& shard = ShardFor(name);
  std::lock_guard<std::mutex> lock(shard.mu);
  auto it = shard.index.find(name);
  if (it == shard.index.end() || it->second->value.kid == kid) return;
  shard.lru.erase(it->second);
  shard.index.erase(it);
}

void KeyCache::Clear() { ClearAllShards(shards_.get(), shard_count_, &generation_); }

size_t KeyCache::DropExpired() {
  const int64_t now = Now();
  size_t dropped = 0;
  for (size_t i = 0; i < shard_count_; ++i) {
    Shard& shard = shards_[i];
    std::lock_guard<std::mutex> lock(shard.mu);
    for (auto it = shard.lru.begin(); it != shard.lru.end();) {
      if (now < it->expires_at_ms) {
        ++it;
        continue;
      }
      shard.index.erase(it->name);
      it = shard.lru.erase(it);  // drops the cache's reference to the key
      ++shard.stats.expirations;
      ++dropped;
    }
    assert(shard.lru.size() == shard.index.size());
  }
  return dropped;
}

KeyCacheStats KeyCache::stats() const {
  KeyCacheStats sum;
  for (size_t i = 0; i < shard_count_; ++i) {
    std::lock_guard<std::mutex> lock(shards_[i].mu);
    const KeyCacheStats& s = shards_[i].stats;
    sum.hits += s.hits;
    sum.misses += s.misses;
    sum.evictions += s.evictions;
    sum.expirations += s.expirations;
    sum.entries += shards_[i].lru.size();
  }
  return sum;
}

size_t KeyCache::size() const { return stats().entries; }

}  // namespace cairn::keys
