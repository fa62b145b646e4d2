// GET /checkpoint never signs on a request's behalf (it has no authentication): it serves the
// latest stored checkpoint.
#include "server/checkpoint_route.h"

#include <gtest/gtest.h>

#include "route_store.h"
#include "test_util.h"

namespace cairn::server {
namespace CAIRN_UNITY_ID {

void AppendOne(engine::EventStore& store) {
  std::vector<engine::ProposedEvent> events(1);
  events[0].event_type = "T";
  events[0].data = "{}";
  ASSERT_TRUE(store.Append("s", engine::ExpectedVersion::Any(), std::move(events)).ok());
}

TEST(CheckpointRouteTest, ServesTheLatestStoredCheckpointAndNeverSignsAnotherOne) {
  testing::TempDir dir;
  auto store = testing::OpenRouteStore(dir, "route.test/log");
  ASSERT_NE(store, nullptr);
  HttpResponse first = CheckpointRoute(*store, nullptr);  // init signed the empty tree
  ASSERT_EQ(first.status, 200) << first.body;
  EXPECT_NE(first.body.find("route.test/log\n0\n"), std::string::npos) << first.body;

  AppendOne(*store);
  AppendOne(*store);
  for (int i = 0; i < 20; ++i) {
    HttpResponse again = CheckpointRoute(*store, nullptr);
    ASSERT_EQ(again.status, 200);
    EXPECT_EQ(again.body, first.body) << "a request signed a checkpoint";
  }
  auto stored = store->LatestStoredCheckpoint();
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->size, 0u);
  // What the background checkpointer signs is what the route serves next.
  ASSERT_TRUE(store->Checkpoint().ok());
  EXPECT_NE(CheckpointRoute(*store, nullptr).body.find("route.test/log\n2\n"), std::string::npos);
}

}  // namespace
}  // namespace cairn::server
