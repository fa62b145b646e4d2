// CipherCache: AES-256-GCM contexts kept per subject key, so that protecting or revealing an event
// does not set up a key schedule each time (only the IV changes per field).
//
// A context is found by the identity of the key object a SubjectKeySource returned
// (SubjectKey::key, a shared SecureBytes): the caller asks the key source for the key of every
// event as before (so `forget`, kNotFound and kUnavailable behave exactly as without the cache),
// then borrows a context built from that very object. The cache holds only a weak reference to
// the key bytes, never prolonging their life; an entry whose key object died is never used
// (another object at the same address does not match) and is dropped when it reaches the
// least-recently-used end, on DropDead() or on Clear().
//
// Key material: each context holds an expanded key schedule, wiped when the context is freed
// (EVP_CIPHER_CTX_free). Clear() frees every idle context and makes contexts borrowed before it
// be freed on return instead of kept: the owner calls it after `forget`. A context is not kept
// either when, on return, the borrower holds the only reference to the key (the key source has
// dropped it). What is left: a reader that fetched a key just before a `forget` and borrowed
// after the Clear() may return its context while still holding the key; that context can never
// match again (its key object dies) and is freed at the next DropDead() or Clear(), or when it
// reaches the cold end of the LRU list. Limits: at most entries_max keys and kIdlePerKeyMax idle contexts per key.
//
// Shards: a cache of at least kCipherCacheShardedEntriesMin keys is split by the key object's
// address into kCipherCacheShards shards, each with its own mutex, LRU list and an equal share of
// entries_max, so that concurrent readers of different subjects rarely wait for each other.
//
// Thread safety: all methods may be called concurrently (a mutex per shard, held for O(1) work
// and never while creating or freeing a context; Clear() takes them all). A borrowed context is
// used by one thread at a time.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "common/status.h"
#include "crypto/aes_gcm.h"
#include "crypto/secure.h"

namespace cairn::protect {

// 4,096 keys: with 16 shards of 256, a working set of a few thousand subjects fits without one
// shard churning (a context is ~2 KiB: ~8 MiB with one idle context per key).
inline constexpr size_t kCipherCacheEntriesMax = 4096;
inline constexpr size_t kIdlePerKeyMax = 4;
inline constexpr size_t kCipherCacheShards = 16;
inline constexpr size_t kCipherCacheShardedEntriesMin = 256;

struct CipherCacheStats {
  uint64_t reuses = 0;   // a borrowed context came from the cache
  uint64_t creates = 0;  // a context was set up
};

class CipherCache {
 public:
  explicit CipherCache(size_t entries_max = kCipherCacheEntriesMax);
  CipherCache(const CipherCache&) = delete;
  CipherCache& operator=(const CipherCache&) = delete;

  // A context exclusively borrowed for one key; returned to the cache when destroyed.
  class Lease {
   public:
    Lease(Lease&& other) noexcept = default;
    Lease& operator=(Lease&&) = delete;
    ~Lease();
    crypto::AesGcm& gcm() { return *gcm_; }

   private:
    friend class CipherCache;
    Lease(CipherCache* owner, std::shared_ptr<const crypto::SecureBytes> key,
          std::unique_ptr<crypto::AesGcm> gcm, uint64_t generation)
        : owner_(owner), key_(std::move(key)), gcm_(std::move(gcm)), generation_(generation) {}
    CipherCache* owner_;  // nullptr: not returned (no cache)
    std::shared_ptr<const crypto::SecureBytes> key_;
    std::unique_ptr<crypto::AesGcm> gcm_;
    uint64_t generation_;
  };

  // A context for `key` (32 bytes, asserted non-null). `cache` nullptr: a fresh context that is
  // freed with the lease. kInternal if OpenSSL cannot set one up.
  static Result<Lease> Borrow(CipherCache* cache, std::shared_ptr<const crypto::SecureBytes> key);

  // Frees every idle context; contexts borrowed now are freed when returned.
  void Clear();
  // Frees the idle contexts of every key object that died (dropped by the key source: expired,
  // evicted, forgotten) and forgets their entries; returns how many entries went. The owner calls
  // it after the key source drops expired keys, so that no key schedule outlives its key by more
  // than one such round. O(entries), one shard mutex at a time.
  size_t DropDead();
  CipherCacheStats stats() const;
  size_t entries() const;

 private:
  struct Entry {
    const crypto::SecureBytes* id;
    std::weak_ptr<const crypto::SecureBytes> key;
    std::vector<std::unique_ptr<crypto::AesGcm>> idle;
  };
  using List = std::list<Entry>;  // front: most recently returned
  struct Shard {
    size_t entries_max = 0;
    mutable std::mutex mu;
    List lru;                                                                 // guarded by mu
    std::unordered_map<const crypto::SecureBytes*, List::iterator> index;    // guarded by mu
    CipherCacheStats stats;                                                   // guarded by mu
  };

  Shard& ShardFor(const crypto::SecureBytes* key) const;
  // A context for `key` from the pool, or nullptr.
  std::unique_ptr<crypto::AesGcm> TakeIdle(const std::shared_ptr<const crypto::SecureBytes>& key,
                                           uint64_t* generation);
  void Return(const std::shared_ptr<const crypto::SecureBytes>& key,
              std::unique_ptr<crypto::AesGcm> gcm, uint64_t generation);

  const size_t shard_count_;
  const std::unique_ptr<Shard[]> shards_;
  // Changed only by Clear() with every shard mutex held; read under one.
  std::atomic<uint64_t> generation_{0};
};

}  // namespace cairn::protect
