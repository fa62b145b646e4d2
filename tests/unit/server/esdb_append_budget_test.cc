// AppendBudget: the bytes of unfinished EventStoreDB appends over all calls are bounded. An
// event beyond the budget is refused (UNAVAILABLE, worth a retry); what a batch holds is given
// back when its events are handed to the engine or the batch is dropped, and moves with it.
#include <gtest/gtest.h>

#include <optional>
#include <string>

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
  AppendBudget budget(10000);
  std::optional<AppendBatch> first(std::in_place, 1 << 20, 1000, &budget);
  ASSERT_TRUE(first->Add(Message(3000)).ok());
  ASSERT_TRUE(first->Add(Message(3000)).ok());
  const uint64_t held = budget.bytes_taken();
  EXPECT_GE(held, 6000u);
  AppendBatch second(1 << 20, 1000, &budget);
  const Status refused = second.Add(Message(4000));  // 6000+ held: no room for 4000 more
  EXPECT_EQ(refused.code(), StatusCode::kUnavailable) << refused.ToString();
  EXPECT_EQ(budget.bytes_taken(), held);  // a refused event takes nothing
  AppendBatch moved(std::move(*first));   // the holding moves with the events
  first.reset();
  EXPECT_EQ(budget.bytes_taken(), held);
  EXPECT_EQ(moved.TakeEvents().size(), 2u);  // handed on: given back
  EXPECT_EQ(budget.bytes_taken(), 0u);
  {
    AppendBatch third(1 << 20, 1000, &budget);
    ASSERT_TRUE(third.Add(Message(4000)).ok());
    EXPECT_GT(budget.bytes_taken(), 4000u);
  }  // dropped (a cancelled call): given back
  EXPECT_EQ(budget.bytes_taken(), 0u);
  EXPECT_TRUE(second.Add(Message(4000)).ok());
}

}  // namespace
}  // namespace cairn::server::esdb
