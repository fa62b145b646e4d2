// RevisionBefore (what an EventStoreDB GetInfo reports of a stream group's positions) looks back
// through pages of the stream: a read cut short by size (engine::Limits::read_size_bytes_max)
// is not the stream's start.
#include <gtest/gtest.h>

#include "server/esdb/persistent_settings.h"
#include "test_util.h"

namespace cairn::server::esdb {
namespace CAIRN_UNITY_ID {

TEST(EsdbRevisionBeforeTest, LooksBackAcrossPagesCutBySize) {
  testing::TempDir dir;
  const std::string data_dir = dir.Sub("data");
  ASSERT_TRUE(engine::EventStore::Init({data_dir, "revision.test/log", {}, std::nullopt}).ok());
  engine::Options options;
  options.data_dir = data_dir;
  options.limits.read_size_bytes_max = 4096;  // a few of these events per read
  auto store = engine::EventStore::Open(options);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  const auto append = [&](const std::string& stream) {
    std::vector<engine::ProposedEvent> events(1);
    events[0].event_type = "T";
    events[0].data = "\"" + std::string(1000, 'p') + "\"";
    auto appended = (*store)->Append(stream, engine::ExpectedVersion::Any(), std::move(events));
    ASSERT_TRUE(appended.ok()) << appended.status().ToString();
  };
  append("other");                             // position 0
  for (int i = 0; i < 40; ++i) append("s");    // positions 1..40, versions 0..39
  append("other");                             // position 41

  EXPECT_EQ(RevisionBefore(store->get(), "s", 42), 39u);  // the stream's last event
  EXPECT_EQ(RevisionBefore(store->get(), "s", 40), 38u);
  // Position 2 is version 1: its version 0 is 39 events back, beyond the first page.
  EXPECT_EQ(RevisionBefore(store->get(), "s", 2), 0u);
  EXPECT_EQ(RevisionBefore(store->get(), "s", 1), std::nullopt);  // nothing of s below
  EXPECT_EQ(RevisionBefore(store->get(), "s", 0), std::nullopt);
  EXPECT_EQ(RevisionBefore(store->get(), "missing", 10), std::nullopt);
}

}  // namespace
}  // namespace cairn::server::esdb
