// ReadSlots: the bound on Read/ReadAll calls in progress, in all and per principal.
#include "server/read_slots.h"

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "audit/metrics.h"

namespace cairn::server {
namespace CAIRN_UNITY_ID {

TEST(ReadSlots, APrincipalHoldsAtMostItsShareAndOthersStillRead) {
  ReadSlots slots(/*total_max=*/5, /*per_principal_max=*/2);
  ReadSlots::Slot a1, a2, a3, b1;
  ASSERT_TRUE(slots.Acquire("jwt:a", &a1).ok());
  ASSERT_TRUE(slots.Acquire("jwt:a", &a2).ok());
  const grpc::Status refused = slots.Acquire("jwt:a", &a3);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_NE(refused.error_message().find("limits.reads_per_principal_max = 2"), std::string::npos)
      << refused.error_message();
  EXPECT_EQ(refused.error_message().find("jwt:a"), std::string::npos);  // no principal in errors
  EXPECT_FALSE(a3.held());
  EXPECT_TRUE(slots.Acquire("jwt:b", &b1).ok());
  EXPECT_EQ(slots.in_progress(), 3u);
  EXPECT_EQ(slots.in_progress("jwt:a"), 2u);
  // One of a's reads ends: a may read again.
  a1 = ReadSlots::Slot();
  EXPECT_EQ(slots.in_progress("jwt:a"), 1u);
  EXPECT_TRUE(slots.Acquire("jwt:a", &a3).ok());
}

TEST(ReadSlots, TheTotalBoundsAllPrincipalsTogether) {
  audit::MetricsRegistry metrics;
  ReadSlots slots(/*total_max=*/3, /*per_principal_max=*/2, &metrics);
  std::vector<ReadSlots::Slot> held(3);
  ASSERT_TRUE(slots.Acquire("apikey:x", &held[0]).ok());
  ASSERT_TRUE(slots.Acquire("apikey:y", &held[1]).ok());
  ASSERT_TRUE(slots.Acquire("apikey:z", &held[2]).ok());
  ReadSlots::Slot more;
  const grpc::Status refused = slots.Acquire("apikey:w", &more);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_NE(refused.error_message().find("limits.reads_max = 3"), std::string::npos);
  EXPECT_EQ(slots.Acquire("apikey:x", &more).error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  const std::string text = metrics.RenderPrometheus();
  EXPECT_NE(text.find("cairn_reads_refused_total{limit=\"reads_max\"} 2"), std::string::npos) << text;
  EXPECT_NE(text.find("cairn_reads_refused_total{limit=\"reads_per_principal_max\"} 0"),
            std::string::npos) << text;
  held.clear();
  EXPECT_EQ(slots.in_progress(), 0u);
  EXPECT_TRUE(slots.Acquire("apikey:w", &more).ok());
}

TEST(ReadSlots, AMovedSlotIsReleasedOnceByItsLastOwner) {
  ReadSlots slots(2, 1);
  ReadSlots::Slot first;
  ASSERT_TRUE(slots.Acquire("p", &first).ok());
  ReadSlots::Slot moved(std::move(first));
  EXPECT_FALSE(first.held());  // NOLINT(bugprone-use-after-move): moved-from is empty
  EXPECT_TRUE(moved.held());
  ReadSlots::Slot assigned;
  assigned = std::move(moved);
  EXPECT_EQ(slots.in_progress("p"), 1u);
  assigned = ReadSlots::Slot();  // releases
  EXPECT_EQ(slots.in_progress("p"), 0u);
  EXPECT_EQ(slots.in_progress(), 0u);
}

TEST(ReadSlots, ConcurrentReadersNeverExceedTheBounds) {
  ReadSlots slots(/*total_max=*/6, /*per_principal_max=*/3);
  std::atomic<int> violations{0}, admitted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      const std::string principal = "p" + std::to_string(t % 3);
      for (int i = 0; i < 2000; ++i) {
        ReadSlots::Slot slot;
        if (!slots.Acquire(principal, &slot).ok()) continue;
        ++admitted;
        if (slots.in_progress() > 6 || slots.in_progress(principal) > 3) ++violations;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(violations.load(), 0);
  EXPECT_GT(admitted.load(), 0);
  EXPECT_EQ(slots.in_progress(), 0u);
}

}  // namespace CAIRN_UNITY_ID
}  // namespace cairn::server
