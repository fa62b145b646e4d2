// CipherCache: contexts are reused only for the very key object they were made from, never kept
// for keys the key source dropped, and dropped by Clear() (after forget).
#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "crypto/secure.h"
#include "protect/cipher_cache.h"

namespace cairn::protect {
namespace CAIRN_UNITY_ID {

std::shared_ptr<const crypto::SecureBytes> NewKey() {
  return std::make_shared<const crypto::SecureBytes>(crypto::RandomSecret(32));
}

// Seals with the lease and checks that a fresh context for `key` opens it.
void ExpectWorks(CipherCache::Lease& lease, const std::shared_ptr<const crypto::SecureBytes>& key) {
  std::string sealed, plain;
  ASSERT_TRUE(lease.gcm().Seal("aad", "hello", &sealed).ok());
  auto fresh = crypto::AesGcm::Create(key->view());
  ASSERT_TRUE(fresh.ok());
  ASSERT_TRUE(fresh->Open("aad", sealed, &plain).ok());
  EXPECT_EQ(plain, "hello");
}

TEST(CipherCache, ReusesTheContextOfTheSameKeyObject) {
  CipherCache cache;
  auto holder = NewKey();  // the key source's reference (as its cache holds one)
  for (int i = 0; i < 3; ++i) {
    auto lease = CipherCache::Borrow(&cache, holder);
    ASSERT_TRUE(lease.ok());
    ExpectWorks(*lease, holder);
  }
  EXPECT_EQ(cache.stats().creates, 1u);
  EXPECT_EQ(cache.stats().reuses, 2u);
  EXPECT_EQ(cache.entries(), 1u);
  // The same bytes in another object: another key as far as the cache knows.
  auto copy = std::make_shared<const crypto::SecureBytes>(holder->Clone());
  { auto lease = CipherCache::Borrow(&cache, copy); ASSERT_TRUE(lease.ok()); }
  EXPECT_EQ(cache.stats().creates, 2u);
}

TEST(CipherCache, ConcurrentBorrowersGetTheirOwnContexts) {
  CipherCache cache;
  auto key = NewKey();
  auto a = CipherCache::Borrow(&cache, key);
  auto b = CipherCache::Borrow(&cache, key);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(&a->gcm(), &b->gcm());
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 200; ++i) {
        auto lease = CipherCache::Borrow(&cache, key);
        ASSERT_TRUE(lease.ok());
        ExpectWorks(*lease, key);
      }
    });
  }
  for (auto& t : threads) t.join();
}

TEST(CipherCache, NotKeptWhenTheKeySourceDroppedTheKey) {
  CipherCache cache;
  {
    auto only_ours = NewKey();  // nobody else holds it: evicted, expired or forgotten
    auto lease = CipherCache::Borrow(&cache, std::move(only_ours));
    ASSERT_TRUE(lease.ok());
  }
  EXPECT_EQ(cache.entries(), 0u);
}

TEST(CipherCache, ClearDropsIdleAndLaterReturnedContexts) {
  CipherCache cache;
  auto key = NewKey();
  { auto lease = CipherCache::Borrow(&cache, key); ASSERT_TRUE(lease.ok()); }
  EXPECT_EQ(cache.entries(), 1u);
  auto borrowed = CipherCache::Borrow(&cache, key);  // taken before the forget
  ASSERT_TRUE(borrowed.ok());
  cache.Clear();
  EXPECT_EQ(cache.entries(), 0u);
  { CipherCache::Lease gone = std::move(*borrowed); }  // returned after it: freed, not kept
  EXPECT_EQ(cache.entries(), 0u);
  { auto lease = CipherCache::Borrow(&cache, key); ASSERT_TRUE(lease.ok()); }
  EXPECT_EQ(cache.entries(), 1u);  // later borrowers are cached again
}

TEST(CipherCache, DeadKeysAreNeverMatchedAndBoundsHold) {
  CipherCache cache(/*entries_max=*/8);
  std::vector<std::shared_ptr<const crypto::SecureBytes>> live;
  for (int i = 0; i < 20; ++i) {
    live.push_back(NewKey());
    auto lease = CipherCache::Borrow(&cache, live.back());
    ASSERT_TRUE(lease.ok());
  }
  EXPECT_EQ(cache.entries(), 8u);
  // A key object dies; new objects (possibly at its address) never get its context.
  live.clear();
  const uint64_t creates = cache.stats().creates;
  for (int i = 0; i < 20; ++i) {
    auto key = NewKey();
    auto keep = key;
    auto lease = CipherCache::Borrow(&cache, key);
    ASSERT_TRUE(lease.ok());
    ExpectWorks(*lease, key);
  }
  EXPECT_EQ(cache.stats().creates, creates + 20);
  EXPECT_LE(cache.entries(), 8u);
  // Idle contexts per key are bounded.
  auto key = NewKey();
  std::vector<CipherCache::Lease> leases;
  for (size_t i = 0; i < kIdlePerKeyMax + 3; ++i) {
    auto lease = CipherCache::Borrow(&cache, key);
    ASSERT_TRUE(lease.ok());
    leases.push_back(std::move(*lease));
  }
  leases.clear();
  const uint64_t reuses = cache.stats().reuses;
  for (size_t i = 0; i < kIdlePerKeyMax + 3; ++i) {
    auto lease = CipherCache::Borrow(&cache, key);
    ASSERT_TRUE(lease.ok());
    leases.push_back(std::move(*lease));
  }
  EXPECT_EQ(cache.stats().reuses - reuses, kIdlePerKeyMax);
}

TEST(CipherCache, AShardedCacheStaysWithinItsBoundAndReusesPerKey) {
  // 16 shards of 16 or 17 keys.
  constexpr size_t kMax = kCipherCacheShardedEntriesMin + 3;
  CipherCache cache(kMax);
  std::vector<std::shared_ptr<const crypto::SecureBytes>> keys;
  for (int i = 0; i < 1000; ++i) {
    keys.push_back(NewKey());
    auto lease = CipherCache::Borrow(&cache, keys.back());
    ASSERT_TRUE(lease.ok());
  }
  EXPECT_LE(cache.entries(), kMax);
  EXPECT_GT(cache.entries(), kMax / 2);  // the keys spread over the shards
  EXPECT_EQ(cache.stats().creates, 1000u);
  // The most recent key of each shard is kept: the last key borrowed is reused, and works.
  {
    auto lease = CipherCache::Borrow(&cache, keys.back());
    ASSERT_TRUE(lease.ok());
    ExpectWorks(*lease, keys.back());
  }
  EXPECT_EQ(cache.stats().reuses, 1u);
  cache.Clear();
  EXPECT_EQ(cache.entries(), 0u);
  { auto lease = CipherCache::Borrow(&cache, keys.back()); ASSERT_TRUE(lease.ok()); }
  EXPECT_EQ(cache.stats().creates, 1001u);
}

TEST(CipherCache, DropDeadFreesTheContextsOfKeysTheSourceDropped) {
  // A key the source drops later (its TTL ran out) leaves a dead entry until the periodic round
  // calls DropDead(); without it the expanded key stayed until LRU pressure or a forget.
  CipherCache cache;
  auto kept = NewKey();
  auto expiring = NewKey();
  for (auto* key : {&kept, &expiring}) {
    auto lease = CipherCache::Borrow(&cache, *key);
    ASSERT_TRUE(lease.ok());
  }
  EXPECT_EQ(cache.entries(), 2u);
  EXPECT_EQ(cache.DropDead(), 0u);
  expiring.reset();  // the key source drops it
  EXPECT_EQ(cache.entries(), 2u);
  EXPECT_EQ(cache.DropDead(), 1u);
  EXPECT_EQ(cache.entries(), 1u);
  { auto lease = CipherCache::Borrow(&cache, kept); ASSERT_TRUE(lease.ok()); }
  EXPECT_EQ(cache.stats().reuses, 1u) << "the live key's context stays";
  // Sharded too.
  CipherCache big(kCipherCacheShardedEntriesMin);
  std::vector<std::shared_ptr<const crypto::SecureBytes>> keys;
  for (int i = 0; i < 64; ++i) {
    keys.push_back(NewKey());
    auto lease = CipherCache::Borrow(&big, keys.back());
    ASSERT_TRUE(lease.ok());
  }
  for (size_t i = 0; i < keys.size(); i += 2) keys[i].reset();
  EXPECT_EQ(big.DropDead(), 32u);
  EXPECT_EQ(big.entries(), 32u);
}

TEST(CipherCache, WithoutACacheEachLeaseIsFresh) {
  auto key = NewKey();
  auto lease = CipherCache::Borrow(nullptr, key);
  ASSERT_TRUE(lease.ok());
  ExpectWorks(*lease, key);
}

}  // namespace
}  // namespace cairn::protect
