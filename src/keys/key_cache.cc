#include "keys/key_cache.h"

#include <chrono>

namespace cairn::keys {

KeyCache::KeyCache(KeyCacheOptions options) : options_(std::move(options)) {}

int64_t KeyCache::Now() const {
  if (options_.now_ms) return options_.now_ms();
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::optional<SubjectKey> KeyCache::Get(std::string_view name) {
  const int64_t now = Now();
  std::lock_guard<std::mutex> lock(mu_);
  auto it = index_.find(name);
  if (it == index_.end()) {
    ++stats_.misses;
    return std::nullopt;
  }
  if (now >= it->second->expires_at_ms) {
    lru_.erase(it->second);
    index_.erase(it);
    ++stats_.expirations;
    ++stats_.misses;
    return std::nullopt;
  }
  lru_.splice(lru_.begin(), lru_, it->second);  // iterators stay valid
  ++stats_.hits;
  return it->second->value;
}

void KeyCache::InsertLocked(std::string_view name, SubjectKey value) {
  const int64_t expires = Now() + options_.ttl_ms;
  auto it = index_.find(name);
  if (it != index_.end()) {
    it->second->value = std::move(value);
    it->second->expires_at_ms = expires;
    lru_.splice(lru_.begin(), lru_, it->second);
    return;
  }
  lru_.push_front(Node{std::string(name), std::move(value), expires});
  index_.emplace(lru_.front().name, lru_.begin());
  while (lru_.size() > options_.entries_max) {
    Node& last = lru_.back();
    index_.erase(last.name);
    // Prefer counting an already expired victim as an expiration, not an eviction.
    if (Now() >= last.expires_at_ms) {
      ++stats_.expirations;
    } else {
      ++stats_.evictions;
    }
    lru_.pop_back();  // drops the cache's reference to the key
  }
}

void KeyCache::Insert(std::string_view name, SubjectKey value) {
  if (options_.entries_max == 0 || options_.ttl_ms <= 0 || value.key == nullptr) return;
  std::lock_guard<std::mutex> lock(mu_);
  InsertLocked(name, std::move(value));
}

bool KeyCache::InsertIfGeneration(std::string_view name, SubjectKey value, uint64_t generation) {
  if (options_.entries_max == 0 || options_.ttl_ms <= 0 || value.key == nullptr) return false;
  std::lock_guard<std::mutex> lock(mu_);
  if (generation != generation_) return false;
  InsertLocked(name, std::move(value));
  return true;
}

uint64_t KeyCache::generation() const {
  std::lock_guard<std::mutex> lock(mu_);
  return generation_;
}

void KeyCache::Erase(std::string_view name) {
  std::lock_guard<std::mutex> lock(mu_);
  ++generation_;
  auto it = index_.find(name);
  if (it == index_.end()) return;
  lru_.erase(it->second);
  index_.erase(it);
}

void KeyCache::Clear() {
  std::lock_guard<std::mutex> lock(mu_);
  ++generation_;
  index_.clear();
  lru_.clear();
}

KeyCacheStats KeyCache::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  KeyCacheStats s = stats_;
  s.entries = lru_.size();
  return s;
}

size_t KeyCache::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return lru_.size();
}

}  // namespace cairn::keys
