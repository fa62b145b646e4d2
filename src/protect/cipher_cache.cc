#include "protect/cipher_cache.h"

#include <cassert>
#include <cstdint>
#include <iterator>
#include <utility>

#include "common/shards.h"

namespace cairn::protect {

CipherCache::CipherCache(size_t entries_max)
    : shard_count_(entries_max >= kCipherCacheShardedEntriesMin ? kCipherCacheShards : 1),
      shards_(std::make_unique<Shard[]>(shard_count_)) {
  assert(entries_max > 0);
  for (size_t i = 0; i < shard_count_; ++i) {
    shards_[i].entries_max = ShardShare(entries_max, shard_count_, i);
  }
}

CipherCache::Shard& CipherCache::ShardFor(const crypto::SecureBytes* key) const {
  if (shard_count_ == 1) return shards_[0];
  // Fibonacci hashing of the address: allocations of one size class sit at a fixed stride, so
  // the low bits alone would use few shards.
  const uint64_t mixed = reinterpret_cast<uintptr_t>(key) * uint64_t{0x9E3779B97F4A7C15};
  return shards_[(mixed >> 32) % shard_count_];
}

CipherCache::Lease::~Lease() {
  if (owner_ != nullptr && gcm_ != nullptr) owner_->Return(key_, std::move(gcm_), generation_);
}

Result<CipherCache::Lease> CipherCache::Borrow(CipherCache* cache,
                                               std::shared_ptr<const crypto::SecureBytes> key) {
  assert(key != nullptr);
  uint64_t generation = 0;
  std::unique_ptr<crypto::AesGcm> gcm;
  if (cache != nullptr) gcm = cache->TakeIdle(key, &generation);
  if (gcm == nullptr) {
    CAIRN_ASSIGN_OR_RETURN(crypto::AesGcm made, crypto::AesGcm::Create(key->view()));
    gcm = std::make_unique<crypto::AesGcm>(std::move(made));
  }
  return Lease(cache, std::move(key), std::move(gcm), generation);
}

std::unique_ptr<crypto::AesGcm> CipherCache::TakeIdle(
    const std::shared_ptr<const crypto::SecureBytes>& key, uint64_t* generation) {
  std::unique_ptr<crypto::AesGcm> gcm;
  Shard& shard = ShardFor(key.get());
  std::lock_guard<std::mutex> lock(shard.mu);
  *generation = generation_.load(std::memory_order_acquire);
  auto it = shard.index.find(key.get());
  // The same live object, not a dead one that left its address to `key`.
  if (it != shard.index.end() && it->second->key.lock() == key && !it->second->idle.empty()) {
    gcm = std::move(it->second->idle.back());
    it->second->idle.pop_back();
    ++shard.stats.reuses;
  } else {
    ++shard.stats.creates;
  }
  return gcm;
}

void CipherCache::Return(const std::shared_ptr<const crypto::SecureBytes>& key,
                         std::unique_ptr<crypto::AesGcm> gcm, uint64_t generation) {
  std::vector<std::unique_ptr<crypto::AesGcm>> dropped;  // freed after the lock is released
  Shard& shard = ShardFor(key.get());
  std::lock_guard<std::mutex> lock(shard.mu);
  // Borrowed before a Clear(), or nobody else holds the key any more (the key source has dropped
  // it: evicted, expired or forgotten): not kept.
  if (generation != generation_.load(std::memory_order_acquire) || key.use_count() <= 1) {
    dropped.push_back(std::move(gcm));
    return;
  }
  auto it = shard.index.find(key.get());
  if (it != shard.index.end() && it->second->key.lock() != key) {
    // A dead key's entry at a reused address.
    for (auto& g : it->second->idle) dropped.push_back(std::move(g));
    shard.lru.erase(it->second);
    shard.index.erase(it);
    it = shard.index.end();
  }
  if (it == shard.index.end()) {
    shard.lru.push_front(Entry{key.get(), key, {}});
    it = shard.index.emplace(key.get(), shard.lru.begin()).first;
  } else {
    shard.lru.splice(shard.lru.begin(), shard.lru, it->second);
  }
  Entry& entry = *it->second;
  if (entry.idle.size() < kIdlePerKeyMax) {
    entry.idle.push_back(std::move(gcm));
  } else {
    dropped.push_back(std::move(gcm));
  }
  // Over the bound, or a dead key at the cold end: drop from the back.
  while (!shard.lru.empty() &&
         (shard.lru.size() > shard.entries_max || shard.lru.back().key.expired())) {
    for (auto& g : shard.lru.back().idle) dropped.push_back(std::move(g));
    shard.index.erase(shard.lru.back().id);
    shard.lru.pop_back();
  }
  assert(shard.lru.size() == shard.index.size() && shard.lru.size() <= shard.entries_max);
}

size_t CipherCache::DropDead() {
  size_t dropped_entries = 0;
  for (size_t i = 0; i < shard_count_; ++i) {
    Shard& shard = shards_[i];
    List dead;  // freed after the lock is released (freeing a context wipes its key schedule)
    {
      std::lock_guard<std::mutex> lock(shard.mu);
      for (auto it = shard.lru.begin(); it != shard.lru.end();) {
        auto next = std::next(it);
        if (it->key.expired()) {
          shard.index.erase(it->id);
          dead.splice(dead.end(), shard.lru, it);
        }
        it = next;
      }
      assert(shard.lru.size() == shard.index.size());
    }
    dropped_entries += dead.size();
  }
  return dropped_entries;
}

void CipherCache::Clear() { ClearAllShards(shards_.get(), shard_count_, &generation_); }

CipherCacheStats CipherCache::stats() const {
  CipherCacheStats sum;
  for (size_t i = 0; i < shard_count_; ++i) {
    std::lock_guard<std::mutex> lock(shards_[i].mu);
    sum.reuses += shards_[i].stats.reuses;
    sum.creates += shards_[i].stats.creates;
  }
  return sum;
}

size_t CipherCache::entries() const {
  size_t sum = 0;
  for (size_t i = 0; i < shard_count_; ++i) {
    std::lock_guard<std::mutex> lock(shards_[i].mu);
    sum += shards_[i].lru.size();
  }
  return sum;
}

}  // namespace cairn::protect
