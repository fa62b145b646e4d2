// AppendBudget: the bytes of unfinished EventStoreDB appends over all calls are bounded. An
// event beyond the budget is refused (UNAVAILABLE, worth a retry); what a batch holds is given
// back when its events are handed to the engine or the batch is dropped, and moves with it.
#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "event_store/client/streams.pb.h"
#include "server/esdb/esdb_convert.h"
#include "server/esdb/streams_append.h"

namespace cairn::server::esdb {
namespace {

event_store::client::streams::AppendReq::ProposedMessage Message(size_t data_bytes) {
  event_store::client::streams::AppendReq::ProposedMessage m;
  m.mutable_id()->set_string("6a1f4d4e-8f4c-4d8e-9b3e-1c2d3e4f5a6b");
  (*m.mutable_metadata())[std::string(kMetadataType)] = "T";
  (*m.mutable_metadata())[std::string(kMetadataContentType)] = "application/octet-stream";
  m.set_data(std::string(data_bytes, 'x'));
  return m;
}

TEST(AppendBudget, BoundsUnfinishedAppendsOverAllBatches) {
  AppendBudget budget(40000);  // a principal's share: 10000
  std::optional<AppendBatch> first(std::in_place, 1 << 20, 1000, &budget, "apikey:a");
  ASSERT_TRUE(first->Add(Message(3000)).ok());
  ASSERT_TRUE(first->Add(Message(3000)).ok());
  const uint64_t held = budget.bytes_taken();
  EXPECT_GE(held, 6000u);
  AppendBatch second(1 << 20, 1000, &budget, "apikey:a");
  const Status refused = second.Add(Message(4000));  // 6000+ held: no room for 4000 more
  EXPECT_EQ(refused.code(), StatusCode::kUnavailable) << refused.ToString();
  EXPECT_NE(refused.message().find("share"), std::string::npos) << refused.ToString();
  EXPECT_EQ(budget.bytes_taken(), held);  // a refused event takes nothing
  AppendBatch moved(std::move(*first));   // the holding moves with the events
  first.reset();
  EXPECT_EQ(budget.bytes_taken(), held);
  EXPECT_EQ(moved.TakeEvents().size(), 2u);  // handed on: given back
  EXPECT_EQ(budget.bytes_taken(), 0u);
  {
    AppendBatch third(1 << 20, 1000, &budget, "apikey:a");
    ASSERT_TRUE(third.Add(Message(4000)).ok());
    EXPECT_GT(budget.bytes_taken(), 4000u);
  }  // dropped (a cancelled call): given back
  EXPECT_EQ(budget.bytes_taken(), 0u);
  EXPECT_TRUE(second.Add(Message(4000)).ok());
}

// One principal holds at most a quarter of the budget, so that appends it keeps open cannot
// refuse everyone else's; the whole budget still bounds all of them together.
TEST(AppendBudget, OnePrincipalHoldsAtMostItsShare) {
  AppendBudget budget(40000);
  ASSERT_EQ(budget.principal_bytes_max(), 10000u);
  AppendBatch a1(1 << 20, 1000, &budget, "apikey:a");
  ASSERT_TRUE(a1.Add(Message(8000)).ok());
  AppendBatch a2(1 << 20, 1000, &budget, "apikey:a");
  const Status share = a2.Add(Message(3000));
  EXPECT_EQ(share.code(), StatusCode::kUnavailable);
  EXPECT_NE(share.message().find("share of the server's limit (10000 bytes)"), std::string::npos)
      << share.ToString();
  EXPECT_EQ(share.message().find("apikey:a"), std::string::npos);  // no principal in errors
  // Others append meanwhile, up to the whole budget.
  std::vector<std::unique_ptr<AppendBatch>> others;
  for (const char* p : {"apikey:b", "apikey:c", "apikey:d"}) {
    others.push_back(std::make_unique<AppendBatch>(1 << 20, 1000, &budget, p));
    ASSERT_TRUE(others.back()->Add(Message(8000)).ok()) << p;
  }
  AppendBatch e(1 << 20, 1000, &budget, "apikey:e");
  const Status full = e.Add(Message(8000));
  EXPECT_EQ(full.code(), StatusCode::kUnavailable);
  EXPECT_NE(full.message().find("the server holds its limit"), std::string::npos) << full.ToString();
  EXPECT_EQ(budget.bytes_taken("apikey:e"), 0u);
  others.clear();
  a1.TakeEvents();
  EXPECT_EQ(budget.bytes_taken(), 0u);
  EXPECT_EQ(budget.bytes_taken("apikey:a"), 0u);
  EXPECT_TRUE(a2.Add(Message(3000)).ok());
}

}  // namespace
}  // namespace cairn::server::esdb
