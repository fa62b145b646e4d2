// CipherCache: AES-256-GCM contexts kept per subject key, so that protecting or revealing an event
// does not set up a key schedule each time (only the IV changes per field).
//
// A context is found by the identity of the key object a SubjectKeySource returned
// (SubjectKey::key, a shared SecureBytes): the caller asks the key source for the key of every
// event as before (so `forget`, kNotFound and kUnavailable behave exactly as without the cache),
// then borrows a context built from that very object. The cache holds only a weak reference to
// the key bytes, never prolonging their life; an entry whose key object died is never used
// (another object at the same address does not match) and is dropped when it reaches the
// least-recently-used end or on Clear().
//
// Key material: each context holds an expanded key schedule, wiped when the context is freed
// (EVP_CIPHER_CTX_free). Clear() frees every idle context and makes contexts borrowed before it
// be freed on return instead of kept: the owner calls it after `forget`. A context is not kept
// either when, on return, the borrower holds the only reference to the key (the key source has
// dropped it). What is left: a reader that fetched a key just before a `forget` and borrowed
// after the Clear() may return its context while still holding the key; that context can never
// match again (its key object dies) and is freed when it reaches the cold end of the LRU list or
// at the next Clear(). Limits: at most entries_max keys and kIdlePerKeyMax idle contexts per key.
//
// Thread safety: all methods may be called concurrently (one mutex, held for O(1) work and never
// while creating or freeing a context). A borrowed context is used by one thread at a time.
#pragma once

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

inline constexpr size_t kCipherCacheEntriesMax = 1024;
inline constexpr size_t kIdlePerKeyMax = 4;

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
  CipherCacheStats stats() const;
  size_t entries() const;

 private:
  struct Entry {
    const crypto::SecureBytes* id;
    std::weak_ptr<const crypto::SecureBytes> key;
    std::vector<std::unique_ptr<crypto::AesGcm>> idle;
  };
  using List = std::list<Entry>;  // front: most recently returned

  // A context for `key` from the pool, or nullptr.
  std::unique_ptr<crypto::AesGcm> TakeIdle(const std::shared_ptr<const crypto::SecureBytes>& key,
                                           uint64_t* generation);
  void Return(const std::shared_ptr<const crypto::SecureBytes>& key,
              std::unique_ptr<crypto::AesGcm> gcm, uint64_t generation);

  const size_t entries_max_;
  mutable std::mutex mu_;
  List lru_;
  std::unordered_map<const crypto::SecureBytes*, List::iterator> index_;
  uint64_t generation_ = 0;
  CipherCacheStats stats_;
};

}  // namespace cairn::protect
