// An EventStoreDB append of no events: it checks the expected revision against the stream and
// writes nothing; a system stream is refused as an append with events would be, so that an empty
// append is no way to learn a '$' stream's version.
#include <gtest/gtest.h>

#include "server/esdb/streams_append.h"
#include "test_util.h"

namespace cairn::server::esdb {
namespace CAIRN_UNITY_ID {

using engine::ExpectedVersion;

class EsdbAppendNothingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string data_dir = dir_.Sub("data");
    ASSERT_TRUE(engine::EventStore::Init({data_dir, "nothing.test/log", {}, std::nullopt}).ok());
    engine::Options options;
    options.data_dir = data_dir;
    auto store = engine::EventStore::Open(options);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(store).value();
    std::vector<engine::ProposedEvent> events(2);
    for (auto& e : events) {
      e.event_type = "T";
      e.data = "{}";
    }
    ASSERT_TRUE(store_->Append("s", ExpectedVersion::Any(), std::move(events)).ok());
    std::vector<engine::ProposedEvent> audit(1);
    audit[0].event_type = "$T";
    audit[0].data = "{}";
    ASSERT_TRUE(store_->AppendSystem("$system-test", ExpectedVersion::Any(), std::move(audit)).ok());
  }

  testing::TempDir dir_;
  std::unique_ptr<engine::EventStore> store_;
};

TEST_F(EsdbAppendNothingTest, ChecksTheExpectedVersionAndWritesNothing) {
  const uint64_t size = store_->tree_size();
  auto any = AppendNothing(*store_, "s", ExpectedVersion::Any());
  ASSERT_TRUE(any.ok()) << any.status().ToString();
  ASSERT_TRUE(any->has_value());
  EXPECT_EQ((*any)->last_version, 1u);
  EXPECT_TRUE(AppendNothing(*store_, "s", ExpectedVersion::Exact(1)).ok());
  auto wrong = AppendNothing(*store_, "s", ExpectedVersion::Exact(0));
  EXPECT_EQ(wrong.status().code(), StatusCode::kWrongExpectedVersion);
  auto missing = AppendNothing(*store_, "nobody", ExpectedVersion::NoStream());
  ASSERT_TRUE(missing.ok());
  EXPECT_FALSE(missing->has_value());
  EXPECT_EQ(store_->tree_size(), size);
}

TEST_F(EsdbAppendNothingTest, ASystemStreamIsRefusedWithoutItsVersion) {
  for (const ExpectedVersion& expected :
       {ExpectedVersion::Any(), ExpectedVersion::Exact(0), ExpectedVersion::NoStream()}) {
    auto refused = AppendNothing(*store_, "$system-test", expected);
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(refused.status().message().find("reserved"), std::string::npos);
  }
}

}  // namespace
}  // namespace cairn::server::esdb
