// KeyCache: bounded LRU with a TTL, erasure that wins over racing inserts, counters.
#include "keys/key_cache.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace cairn::keys {
namespace CAIRN_UNITY_ID {

KeyCacheOptions Options(size_t entries_max, int64_t ttl_ms,
                        std::function<int64_t()> now_ms = {}) {
  KeyCacheOptions o;
  o.entries_max = entries_max;
  o.ttl_ms = ttl_ms;
  o.now_ms = std::move(now_ms);
  return o;
}

SubjectKey MakeKey(const std::string& kid, char fill = 'k') {
  return SubjectKey{kid, std::make_shared<const crypto::SecureBytes>(std::string(32, fill))};
}

struct FakeClock {
  std::atomic<int64_t> now{1000};
  std::function<int64_t()> fn() {
    return [this] { return now.load(); };
  }
};

TEST(KeyCache, HitsAndMissesAreCountedAndValuesShared) {
  KeyCache cache;
  EXPECT_FALSE(cache.Get("a").has_value());
  SubjectKey a = MakeKey("a");
  cache.Insert("a", a);
  auto hit = cache.Get("a");
  ASSERT_TRUE(hit.has_value());
  EXPECT_EQ(hit->kid, "a");
  EXPECT_EQ(hit->key.get(), a.key.get());  // the same bytes, not a copy
  cache.Get("a");
  cache.Get("b");
  KeyCacheStats s = cache.stats();
  EXPECT_EQ(s.hits, 2u);
  EXPECT_EQ(s.misses, 2u);
  EXPECT_EQ(s.entries, 1u);
  EXPECT_DOUBLE_EQ(s.hit_rate(), 0.5);
}

TEST(KeyCache, EntriesExpireAfterTheTtlFromInsertionNotFromLastUse) {
  FakeClock clock;
  KeyCache cache(Options(10, 100, clock.fn()));
  cache.Insert("a", MakeKey("a"));
  clock.now += 60;
  EXPECT_TRUE(cache.Get("a").has_value());  // a hit does not extend the TTL
  clock.now += 39;
  EXPECT_TRUE(cache.Get("a").has_value());
  clock.now += 1;
  EXPECT_FALSE(cache.Get("a").has_value());
  EXPECT_EQ(cache.size(), 0u);
  EXPECT_EQ(cache.stats().expirations, 1u);
  // Re-inserting gives a fresh TTL.
  cache.Insert("a", MakeKey("a"));
  clock.now += 99;
  EXPECT_TRUE(cache.Get("a").has_value());
}

TEST(KeyCache, EvictsTheLeastRecentlyUsedAndStaysBounded) {
  KeyCache cache(Options(2, 100000));
  cache.Insert("a", MakeKey("a"));
  cache.Insert("b", MakeKey("b"));
  EXPECT_TRUE(cache.Get("a").has_value());  // b is now the least recently used
  cache.Insert("c", MakeKey("c"));
  EXPECT_FALSE(cache.Get("b").has_value());
  EXPECT_TRUE(cache.Get("a").has_value());
  EXPECT_TRUE(cache.Get("c").has_value());
  EXPECT_EQ(cache.stats().evictions, 1u);

  KeyCache big(Options(10, 100000));
  for (int i = 0; i < 100; ++i) big.Insert("k" + std::to_string(i), MakeKey("k"));
  EXPECT_EQ(big.size(), 10u);
  EXPECT_EQ(big.stats().evictions, 90u);
  for (int i = 90; i < 100; ++i) EXPECT_TRUE(big.Get("k" + std::to_string(i)).has_value());
  // Replacing an entry does not grow the cache.
  big.Insert("k95", MakeKey("k95", 'z'));
  EXPECT_EQ(big.size(), 10u);
  EXPECT_EQ(big.Get("k95")->key->view(), std::string(32, 'z'));
}

TEST(KeyCache, AShardedCacheStaysWithinItsBoundAndEveryNameIsItsOwn) {
  // 1,030 entries: 16 shards of 64 or 65 (the remainder goes to the first six).
  constexpr size_t kMax = kKeyCacheShardedEntriesMin + 6;
  KeyCache cache(Options(kMax, 100000));
  for (int i = 0; i < 5000; ++i) {
    cache.Insert("s" + std::to_string(i), MakeKey("s" + std::to_string(i), static_cast<char>(i)));
  }
  const KeyCacheStats s = cache.stats();
  EXPECT_LE(s.entries, kMax);
  EXPECT_GT(s.entries, kMax - kKeyCacheShards);  // every shard filled to its share
  EXPECT_EQ(s.entries + s.evictions, 5000u);
  // The most recent names of every shard survive; a hit returns that name's own key.
  for (int i = 4990; i < 5000; ++i) {
    auto hit = cache.Get("s" + std::to_string(i));
    ASSERT_TRUE(hit.has_value()) << i;
    EXPECT_EQ(hit->key->view(), std::string(32, static_cast<char>(i)));
  }
  EXPECT_FALSE(cache.Get("s0").has_value());
  // Erase and Clear still order against a racing insert, whatever the shard.
  const uint64_t before = cache.generation();
  cache.Erase("s4999");
  EXPECT_FALSE(cache.Get("s4999").has_value());
  EXPECT_FALSE(cache.InsertIfGeneration("s4998", MakeKey("s4998"), before));
  cache.Clear();
  EXPECT_EQ(cache.size(), 0u);
  EXPECT_EQ(cache.generation(), before + 2);
  EXPECT_FALSE(cache.Get("s4990").has_value());
}

TEST(KeyCache, EvictionExpiryAndEraseDropTheCachesReference) {
  FakeClock clock;
  KeyCache cache(Options(1, 100, clock.fn()));
  std::shared_ptr<const crypto::SecureBytes> key = MakeKey("a").key;
  cache.Insert("a", SubjectKey{"a", key});
  EXPECT_EQ(key.use_count(), 2);
  cache.Insert("b", MakeKey("b"));  // evicts a
  EXPECT_EQ(key.use_count(), 1);    // the last holder's drop will wipe the bytes

  cache.Insert("a", SubjectKey{"a", key});
  EXPECT_EQ(key.use_count(), 2);
  cache.Erase("a");
  EXPECT_EQ(key.use_count(), 1);

  cache.Insert("a", SubjectKey{"a", key});
  clock.now += 100;
  EXPECT_FALSE(cache.Get("a").has_value());
  EXPECT_EQ(key.use_count(), 1);

  cache.Insert("a", SubjectKey{"a", key});
  cache.Clear();
  EXPECT_EQ(key.use_count(), 1);
  EXPECT_EQ(cache.size(), 0u);
}

// Nobody looks the keys up again: DropExpired still takes the expired ones out of memory (on
// every shard), and leaves the live ones.
TEST(KeyCache, DropExpiredTakesOutKeysNobodyAsksForAgain) {
  FakeClock clock;
  KeyCache cache(Options(kKeyCacheShardedEntriesMin, 100, clock.fn()));  // sharded
  std::vector<std::shared_ptr<const crypto::SecureBytes>> old_keys;
  for (int i = 0; i < 50; ++i) {
    SubjectKey k = MakeKey("old" + std::to_string(i));
    old_keys.push_back(k.key);
    cache.Insert(k.kid, k);
  }
  clock.now += 60;
  for (int i = 0; i < 20; ++i) cache.Insert("new" + std::to_string(i), MakeKey("new"));
  EXPECT_EQ(cache.DropExpired(), 0u);
  clock.now += 40;  // the old ones' TTL has passed, the new ones' not
  EXPECT_EQ(cache.DropExpired(), 50u);
  for (const auto& key : old_keys) EXPECT_EQ(key.use_count(), 1) << "still held by the cache";
  EXPECT_EQ(cache.size(), 20u);
  EXPECT_EQ(cache.stats().expirations, 50u);
  EXPECT_TRUE(cache.Get("new7").has_value());
  EXPECT_EQ(cache.DropExpired(), 0u);
}

TEST(KeyCache, EraseWinsOverAnInsertThatStartedBeforeIt) {
  KeyCache cache;
  const uint64_t before = cache.generation();
  cache.Erase("a");  // a forget runs while a reader is loading "a" from the store
  EXPECT_FALSE(cache.InsertIfGeneration("a", MakeKey("a"), before));
  EXPECT_FALSE(cache.Get("a").has_value());
  EXPECT_TRUE(cache.InsertIfGeneration("a", MakeKey("a"), cache.generation()));
  EXPECT_TRUE(cache.Get("a").has_value());
  cache.Erase("missing");  // no-op, but still a generation
  EXPECT_EQ(cache.generation(), before + 2);
}

TEST(KeyCache, ZeroSizeOrTtlDisablesCaching) {
  KeyCache none(Options(0, 1000));
  none.Insert("a", MakeKey("a"));
  EXPECT_FALSE(none.Get("a").has_value());
  KeyCache no_ttl(Options(10, 0));
  no_ttl.Insert("a", MakeKey("a"));
  EXPECT_FALSE(no_ttl.Get("a").has_value());
  KeyCache cache;
  cache.Insert("a", SubjectKey{"a", nullptr});  // a null key is never cached
  EXPECT_FALSE(cache.Get("a").has_value());
}

TEST(KeyCache, ConcurrentUseStaysConsistent) {
  // One shard (64 entries) and 16 shards (1,024): 200 names, 8 threads.
  for (size_t entries_max : {size_t{64}, kKeyCacheShardedEntriesMin}) {
    KeyCache cache(Options(entries_max, 100000));
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) {
      threads.emplace_back([&cache, t] {
        for (int i = 0; i < 5000; ++i) {
          const std::string name = "k" + std::to_string((i * 7 + t) % 200);
          if (auto hit = cache.Get(name)) {
            EXPECT_EQ(hit->kid, name);
            EXPECT_EQ(hit->key->size(), 32u);
          } else {
            cache.Insert(name, MakeKey(name));
          }
          if (i % 97 == 0) cache.Erase(name);
        }
      });
    }
    for (std::thread& t : threads) t.join();
    EXPECT_LE(cache.size(), entries_max);
    const KeyCacheStats s = cache.stats();
    EXPECT_EQ(s.hits + s.misses, 8u * 5000u);
    if (entries_max > 200) {
      EXPECT_GT(s.hits, 0u);
    }
  }
}

}  // namespace
}  // namespace cairn::keys
