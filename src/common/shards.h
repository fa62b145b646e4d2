// Helpers for caches split into shards, each guarded by its own mutex (keys::KeyCache,
// protect::CipherCache): the bound of each shard, and clearing them all at once.
//
// Thread safety: stateless functions; ClearAllShards blocks until it holds every shard's mutex.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <vector>

namespace cairn {

// Shard i's share of `total` entries over `shards` shards: equal shares, the first shards taking
// the remainder, so that the shares sum to `total`.
inline size_t ShardShare(size_t total, size_t shards, size_t i) {
  return total / shards + (i < total % shards ? 1 : 0);
}

// Empties every shard (its `index` and its `lru` list) and bumps *generation while holding every
// shard's `mu`, taken in index order: to a reader that holds one shard's mutex, the clear and the
// new generation happen at once. An operation that holds one shard's mutex never takes another's,
// so this order cannot deadlock. The dropped entries are destroyed after the mutexes are released.
template <typename Shard>
void ClearAllShards(Shard* shards, size_t count, std::atomic<uint64_t>* generation) {
  std::vector<decltype(shards->lru)> dropped(count);
  std::vector<std::unique_lock<std::mutex>> locks;
  locks.reserve(count);
  for (size_t i = 0; i < count; ++i) locks.emplace_back(shards[i].mu);
  generation->fetch_add(1, std::memory_order_acq_rel);
  for (size_t i = 0; i < count; ++i) {
    shards[i].index.clear();
    dropped[i].swap(shards[i].lru);
  }
  locks.clear();  // before `dropped` goes
}

}  // namespace cairn
