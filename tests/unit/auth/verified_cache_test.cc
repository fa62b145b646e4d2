#include "auth/verified_cache.h"

#include <gtest/gtest.h>

namespace cairn::auth {
namespace CAIRN_UNITY_ID {

Principal Alice(int64_t expires) {
  Principal p;
  p.id = "jwt:alice";
  p.method = AuthMethod::kJwt;
  p.expires_unix_s = expires;
  return p;
}

TEST(VerifiedCache, FindsOnlyTheExactCredentialOfTheSameKind) {
  VerifiedCache cache(10, 60);
  cache.Insert("jwt", "token-a", Alice(2000), 1000, 7);
  EXPECT_TRUE(cache.Find("jwt", "token-a", 1001, 7).has_value());
  EXPECT_FALSE(cache.Find("jwt", "token-b", 1001, 7).has_value());
  EXPECT_FALSE(cache.Find("mtls", "token-a", 1001, 7).has_value());
  EXPECT_FALSE(cache.Find("jwt", "token-a ", 1001, 7).has_value());
}

TEST(VerifiedCache, EntriesEndAtTheCredentialsExpiryOrTheMaximumAge) {
  VerifiedCache cache(10, 60);
  cache.Insert("jwt", "short", Alice(1010), 1000, 7);  // expires before the maximum age
  cache.Insert("jwt", "long", Alice(5000), 1000, 7);   // the maximum age ends it first
  EXPECT_TRUE(cache.Find("jwt", "short", 1009, 7).has_value());
  EXPECT_FALSE(cache.Find("jwt", "short", 1010, 7).has_value());
  EXPECT_TRUE(cache.Find("jwt", "long", 1059, 7).has_value());
  EXPECT_FALSE(cache.Find("jwt", "long", 1060, 7).has_value());
  cache.Insert("jwt", "expired", Alice(999), 1000, 7);  // never stored
  EXPECT_FALSE(cache.Find("jwt", "expired", 1000, 7).has_value());
}

TEST(VerifiedCache, AClockSetBackVerifiesAgain) {
  VerifiedCache cache(10, 60);
  cache.Insert("jwt", "token", Alice(5000), 1000, 7);
  EXPECT_FALSE(cache.Find("jwt", "token", 999, 7).has_value());
  EXPECT_TRUE(cache.Find("jwt", "token", 1000, 7).has_value());
}

TEST(VerifiedCache, IsBoundedAndEvictsTheOldest) {
  VerifiedCache cache(3, 60);
  for (int i = 0; i < 10; ++i) cache.Insert("jwt", "t" + std::to_string(i), Alice(0), 1000, 7);
  EXPECT_EQ(cache.size(), 3u);
  EXPECT_FALSE(cache.Find("jwt", "t0", 1001, 7).has_value());
  EXPECT_TRUE(cache.Find("jwt", "t9", 1001, 7).has_value());
}

// An entry is found only under the key generation that verified it: a reloaded JWKS (which may
// have withdrawn the key) makes every earlier verification stale.
TEST(VerifiedCache, AnotherKeyGenerationMisses) {
  VerifiedCache cache(10, 60);
  cache.Insert("jwt", "token", Alice(5000), 1000, 7);
  EXPECT_TRUE(cache.Find("jwt", "token", 1001, 7).has_value());
  EXPECT_FALSE(cache.Find("jwt", "token", 1001, 8).has_value());
  cache.Insert("jwt", "token", Alice(5000), 1001, 8);  // verified again under the new keys
  EXPECT_TRUE(cache.Find("jwt", "token", 1002, 8).has_value());
  EXPECT_EQ(cache.size(), 1u);
}

}  // namespace
}  // namespace cairn::auth
