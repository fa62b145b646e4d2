// AckIdMap: the ESDB consumer's deliveries by event id. A retry of one event replaces its entry;
// different events that share an id (reused past the idempotency window, in another stream) are
// both kept and acked oldest first; withdrawing a delivery removes that delivery only; the map
// is bounded, forgetting the oldest.
#include "server/esdb/persistent_ack_ids.h"

#include <gtest/gtest.h>

namespace cairn::server::esdb {
namespace {

const std::string kId(16, '\x01');

TEST(AckIdMap, ARetryReplacesTheEarlierDeliveryOfTheSameEvent) {
  AckIdMap map(8);
  map.Put(kId, "orders-1", 10);
  map.Put(kId, "orders-1", 11);  // delivered again: the group waits for this one
  EXPECT_EQ(map.size(), 1u);
  EXPECT_EQ(map.Take(kId), 11u);
  EXPECT_EQ(map.Take(kId), std::nullopt);
}

TEST(AckIdMap, DifferentEventsSharingAnIdAreAckedOldestFirst) {
  AckIdMap map(8);
  map.Put(kId, "orders-1", 10);
  map.Put(kId, "users-7", 20);  // another event, same id
  EXPECT_EQ(map.size(), 2u);
  EXPECT_EQ(map.Take(kId), 10u);
  EXPECT_EQ(map.Take(kId), 20u);
  EXPECT_EQ(map.size(), 0u);
}

TEST(AckIdMap, WithdrawingOneDeliveryLeavesAnotherEventsWithTheSameId) {
  AckIdMap map(8);
  map.Put(kId, "orders-1", 10);
  map.Put(kId, "users-7", 20);
  EXPECT_TRUE(map.Withdraw(kId, 20));
  EXPECT_FALSE(map.Withdraw(kId, 20));
  EXPECT_FALSE(map.Withdraw(kId, 99));
  EXPECT_EQ(map.Take(kId), 10u);  // the allowed delivery can still be acked
}

TEST(AckIdMap, IsBoundedForgettingTheOldestDelivery) {
  AckIdMap map(3);
  for (uint64_t i = 0; i < 5; ++i) map.Put(std::string(16, static_cast<char>('a' + i)), "s", i);
  EXPECT_EQ(map.size(), 3u);
  EXPECT_EQ(map.Take(std::string(16, 'a')), std::nullopt);
  EXPECT_EQ(map.Take(std::string(16, 'b')), std::nullopt);
  EXPECT_EQ(map.Take(std::string(16, 'c')), 2u);
  map.Put(kId, "x", 7);
  map.Put(kId, "y", 8);  // full: 'd' goes
  EXPECT_EQ(map.Take(std::string(16, 'd')), std::nullopt);
  EXPECT_EQ(map.Take(std::string(16, 'e')), 4u);
  EXPECT_EQ(map.Take(kId), 7u);
}

}  // namespace
}  // namespace cairn::server::esdb
