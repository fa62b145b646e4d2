#include "protect/cipher_cache.h"

#include <cassert>
#include <utility>

namespace cairn::protect {

CipherCache::CipherCache(size_t entries_max) : entries_max_(entries_max) {
  assert(entries_max_ > 0);
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
  std::lock_guard<std::mutex> lock(mu_);
  *generation = generation_;
  auto it = index_.find(key.get());
  // The same live object, not a dead one that left its address to `key`.
  if (it != index_.end() && it->second->key.lock() == key && !it->second->idle.empty()) {
    gcm = std::move(it->second->idle.back());
    it->second->idle.pop_back();
    ++stats_.reuses;
  } else {
    ++stats_.creates;
  }
  return gcm;
}

void CipherCache::Return(const std::shared_ptr<const crypto::SecureBytes>& key,
                         std::unique_ptr<crypto::AesGcm> gcm, uint64_t generation) {
  std::vector<std::unique_ptr<crypto::AesGcm>> dropped;  // freed after the lock is released
  std::lock_guard<std::mutex> lock(mu_);
  // Borrowed before a Clear(), or nobody else holds the key any more (the key source dropped
  // it: evicted, expired or forgotten): not kept.
  if (generation != generation_ || key.use_count() <= 1) {
    dropped.push_back(std::move(gcm));
    return;
  }
  auto it = index_.find(key.get());
  if (it != index_.end() && it->second->key.lock() != key) {
    // A dead key's entry at a reused address.
    for (auto& g : it->second->idle) dropped.push_back(std::move(g));
    lru_.erase(it->second);
    index_.erase(it);
    it = index_.end();
  }
  if (it == index_.end()) {
    lru_.push_front(Entry{key.get(), key, {}});
    it = index_.emplace(key.get(), lru_.begin()).first;
  } else {
    lru_.splice(lru_.begin(), lru_, it->second);
  }
  Entry& entry = *it->second;
  if (entry.idle.size() < kIdlePerKeyMax) {
    entry.idle.push_back(std::move(gcm));
  } else {
    dropped.push_back(std::move(gcm));
  }
  // Over the bound, or a dead key at the cold end: drop from the back.
  while (!lru_.empty() && (lru_.size() > entries_max_ || lru_.back().key.expired())) {
    for (auto& g : lru_.back().idle) dropped.push_back(std::move(g));
    index_.erase(lru_.back().id);
    lru_.pop_back();
  }
}

void CipherCache::Clear() {
  List dropped;
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++generation_;
    index_.clear();
    dropped.swap(lru_);
  }
}

CipherCacheStats CipherCache::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

size_t CipherCache::entries() const {
  std::lock_guard<std::mutex> lock(mu_);
  return lru_.size();
}

}  // namespace cairn::protect
