// Commit observers: the hook that wakes subscriptions after every group commit.
#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

#include "engine_test_util.h"

namespace cairn::engine {
namespace CAIRN_UNITY_ID {

TEST_P(EngineBackendTest, CommitObserverSeesEveryCommittedTreeSizeInOrder) {
  std::mutex mu;
  std::vector<uint64_t> sizes;
  const uint64_t handle = store_->AddCommitObserver([&](uint64_t tree_size) {
    std::lock_guard<std::mutex> lock(mu);
    sizes.push_back(tree_size);
  });
  ASSERT_NE(handle, 0u);
  ASSERT_TRUE(store_->Append("s", ExpectedVersion::Any(), One("T", "0")).ok());
  ASSERT_TRUE(store_->Append("s", ExpectedVersion::Any(), One("T", "1")).ok());
  {
    std::lock_guard<std::mutex> lock(mu);
    ASSERT_EQ(sizes.size(), 2u);  // runs before the appender is answered
    EXPECT_EQ(sizes[0], 1u);
    EXPECT_EQ(sizes[1], 2u);
  }
  // A refused append commits nothing and notifies nobody.
  EXPECT_FALSE(store_->Append("s", ExpectedVersion::Exact(7), One("T", "{}")).ok());
  store_->RemoveCommitObserver(handle);
  ASSERT_TRUE(store_->Append("s", ExpectedVersion::Any(), One("T", "2")).ok());
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_EQ(sizes.size(), 2u);
}

TEST_P(EngineBackendTest, CommitObserverUnderConcurrentAppendsEndsAtTheTreeSizeAndNeverGoesBack) {
  std::atomic<uint64_t> last{0};
  std::atomic<bool> went_back{false};
  const uint64_t handle = store_->AddCommitObserver([&](uint64_t tree_size) {
    if (tree_size <= last.load()) went_back = true;
    last = tree_size;
  });
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        ASSERT_TRUE(store_->Append("s" + std::to_string(t), ExpectedVersion::Any(), One("T", "{}")).ok());
      }
    });
  }
  for (auto& th : threads) th.join();
  store_->RemoveCommitObserver(handle);
  EXPECT_FALSE(went_back.load());
  EXPECT_EQ(last.load(), store_->tree_size());
  EXPECT_EQ(last.load(), 200u);
}

}  // namespace
}  // namespace cairn::engine

namespace cairn::engine {
namespace CAIRN_UNITY_ID {

TEST_P(EngineBackendTest, SystemAppendsReachOnlySystemStreams) {
  auto ok = store_->AppendSystem("$parked-g", ExpectedVersion::Any(), One("$parked", "{}"));
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(ok->first_position, 0u);
  auto read = store_->ReadStream("$parked-g", 0, Direction::kForwards, 10);
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  ASSERT_EQ(read->events.size(), 1u);
  EXPECT_EQ(read->events[0].entry.event_type, "$parked");
  // A system append may not write a user stream; a client append may not write a system one.
  EXPECT_EQ(store_->AppendSystem("orders", ExpectedVersion::Any(), One("T", "{}")).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->Append("$parked-g", ExpectedVersion::Any(), One("T", "{}")).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->Append("orders", ExpectedVersion::Any(), One("$parked", "{}")).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_TRUE(store_->Verify().ok);
}

// Limits beyond what the storage can hold per record and per commit are refused at open (an
// event near 64 MiB used to abort the process on an assertion in the commit writer).
TEST_P(EngineBackendTest, LimitsBeyondTheStorageCapsAreRefusedAtOpen) {
  Close();
  Options o;
  o.data_dir = dir_;
  o.postgres = pg_;
  o.limits.event_size_bytes_max = size_t{64} << 20;
  o.limits.batch_size_bytes_max = size_t{64} << 20;
  auto refused = EventStore::Open(o);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(refused.status().message().find("event_size_bytes_max"), std::string::npos);
  o.limits.event_size_bytes_max = kEventSizeBytesMaxLimit;
  o.limits.batch_size_bytes_max = size_t{256} << 20;
  EXPECT_EQ(EventStore::Open(o).status().code(), StatusCode::kInvalidArgument);
  o.limits.batch_size_bytes_max = kBatchSizeBytesMaxLimit;
  auto opened = EventStore::Open(o);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
}

// Configured limits bound clients, not the server's own records: with limits far below one
// audit batch, a client append of that batch is refused and a system append of it is written.
TEST_P(EngineBackendTest, StrictConfiguredLimitsDoNotRefuseSystemAppends) {
  Options o;
  o.limits.event_size_bytes_max = 1024;
  o.limits.batch_size_bytes_max = 4096;
  o.limits.batch_events_max = 10;
  Reopen(o);
  std::vector<ProposedEvent> batch;
  for (int i = 0; i < 50; ++i) {
    batch.push_back(One("$audit.admin", "{\"detail\":\"" + std::string(2000, 'x') + "\"}")[0]);
  }
  std::vector<ProposedEvent> as_client = batch;
  for (ProposedEvent& e : as_client) e.event_type = "AuditLike";
  EXPECT_EQ(store_->Append("audit-like", ExpectedVersion::Any(), as_client).status().code(),
            StatusCode::kResourceExhausted);
  auto written = store_->AppendSystem("$audit", ExpectedVersion::Any(), batch);
  ASSERT_TRUE(written.ok()) << written.status().ToString();
  EXPECT_EQ(store_->tree_size(), 50u);
  // Beyond the defaults, a system append is refused like any other.
  std::vector<ProposedEvent> too_many(Limits{}.batch_events_max + 1, One("$audit.admin", "{}")[0]);
  for (ProposedEvent& e : too_many) e.event_id.clear();
  EXPECT_EQ(store_->AppendSystem("$audit", ExpectedVersion::Any(), too_many).status().code(),
            StatusCode::kResourceExhausted);
}

}  // namespace
}  // namespace cairn::engine
