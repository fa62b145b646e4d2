// LongScans slots: at most kLongScansActiveMax in all and kLongScansPerPrincipalMax per principal,
// so that one caller's reads that scan far without an event to send cannot take every slot.
#include <gtest/gtest.h>

#include "server/esdb/streams_read.h"

namespace cairn::server::esdb {
namespace {

TEST(EsdbLongScans, OnePrincipalCannotTakeEverySlot) {
  LongScans scans;
  for (size_t i = 0; i < kLongScansPerPrincipalMax; ++i) ASSERT_TRUE(scans.Acquire("apikey:greedy"));
  EXPECT_FALSE(scans.Acquire("apikey:greedy")) << "one principal held more than its share";
  EXPECT_TRUE(scans.Acquire("apikey:other"));
  scans.Release("apikey:greedy");
  EXPECT_TRUE(scans.Acquire("apikey:greedy")) << "a released slot is free again";
  EXPECT_EQ(scans.active.load(), kLongScansPerPrincipalMax + 1);

  // The total bound holds across principals.
  size_t others = 0;
  while (scans.active.load() < kLongScansActiveMax) {
    ASSERT_TRUE(scans.Acquire("apikey:p" + std::to_string(others / kLongScansPerPrincipalMax)));
    ++others;
  }
  EXPECT_FALSE(scans.Acquire("apikey:newcomer"));
  scans.Release("apikey:other");
  EXPECT_TRUE(scans.Acquire("apikey:newcomer"));
  EXPECT_EQ(scans.active.load(), kLongScansActiveMax);
  // Leave every slot released (the runner's threads stop with it).
  scans.Release("apikey:newcomer");
  for (size_t i = 0; i < kLongScansPerPrincipalMax; ++i) scans.Release("apikey:greedy");
  for (size_t i = 0; i < others; ++i) scans.Release("apikey:p" + std::to_string(i / kLongScansPerPrincipalMax));
  EXPECT_EQ(scans.active.load(), 0u);
}

}  // namespace
}  // namespace cairn::server::esdb
