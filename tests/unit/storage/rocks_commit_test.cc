// CommitWriter on RocksDB: atomic visibility, the base-size condition and its race.
#include <gtest/gtest.h>

#include <atomic>
#include <latch>
#include <thread>

#include "rocks_test_support.h"
#include "storage/rocksdb/rocks_commit_writer.h"
#include "storage/rocksdb/rocks_store.h"

namespace cairn::storage {
namespace CAIRN_UNITY_ID {

using cairn::testing::TempDir;
using testing::OpenStore;
using testing::TestHash;

TEST(RocksCommitTest, NothingVisibleBeforeCommitEverythingAfter) {
  TempDir dir;
  auto store = OpenStore(dir.path());
  ASSERT_NE(store, nullptr);
  auto writer = testing::Begin(store.get(), 0);
  EXPECT_EQ(writer->buffered_size_bytes(), 12u);  // an empty WriteBatch's header
  writer->PutRecord(0, "r0");
  writer->PutRecord(1, "r1");
  writer->PutStreamIndex("s", 0, 0);
  writer->PutStreamIndex("s", 1, 1);
  writer->PutStreamHead("s", StreamHead{2, 1, TestHash(1), false});
  writer->PutNode(NodeKey{0, 0}, TestHash(0));
  writer->PutNode(NodeKey{0, 1}, TestHash(1));
  writer->PutNode(NodeKey{1, 0}, TestHash(100));
  writer->PutTreeState(TreeState{2, "compact"});
  EXPECT_GT(writer->buffered_size_bytes(), 12u + 2 * 32);

  // Before Commit: none of it.
  EXPECT_EQ(store->ReadRecord(0).status().code(), StatusCode::kNotFound);
  EXPECT_FALSE(store->ReadStreamHead("s")->has_value());
  EXPECT_TRUE(store->ReadStreamIndex("s", 0, false, 10)->empty());
  EXPECT_EQ(store->ReadTreeState()->size, 0u);
  std::vector<std::string> hashes;
  const NodeKey leaf0{0, 0};
  EXPECT_EQ(store->ReadNodes({&leaf0, 1}, &hashes).code(), StatusCode::kNotFound);

  ASSERT_TRUE(writer->Commit().ok());

  // After Commit: all of it.
  EXPECT_EQ(*store->ReadRecord(0), "r0");
  EXPECT_EQ(*store->ReadRecord(1), "r1");
  EXPECT_EQ(**store->ReadStreamHead("s"), (StreamHead{2, 1, TestHash(1), false}));
  EXPECT_EQ(store->ReadStreamIndex("s", 0, false, 10)->size(), 2u);
  Result<TreeState> state = store->ReadTreeState();
  EXPECT_EQ(state->size, 2u);
  EXPECT_EQ(state->compact_range, "compact");
  const NodeKey nodes[] = {{0, 0}, {0, 1}, {1, 0}};
  ASSERT_TRUE(store->ReadNodes(nodes, &hashes).ok());
  EXPECT_EQ(hashes, (std::vector<std::string>{TestHash(0), TestHash(1), TestHash(100)}));
}

TEST(RocksCommitTest, StaleBaseIsAbortedAndWritesNothing) {
  TempDir dir;
  auto store = OpenStore(dir.path());
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(testing::AppendEvents(store.get(), "s", 2).ok());

  auto stale = testing::Begin(store.get(), 1);  // the committed size is 2
  stale->PutRecord(1, "overwrite");
  stale->PutRecord(2, "new");
  stale->PutStreamIndex("other", 0, 2);
  stale->PutStreamHead("other", StreamHead{1, 2, TestHash(9), false});
  stale->PutNode(NodeKey{0, 2}, TestHash(9));
  stale->PutTreeState(TreeState{3, "stale"});
  const Status status = stale->Commit();
  EXPECT_EQ(status.code(), StatusCode::kAborted);
  EXPECT_NE(status.message().find("committed tree size is 2"), std::string::npos);

  EXPECT_EQ(*store->ReadRecord(1), testing::TestRecord(1));
  EXPECT_EQ(store->ReadRecord(2).status().code(), StatusCode::kNotFound);
  EXPECT_FALSE(store->ReadStreamHead("other")->has_value());
  EXPECT_TRUE(store->ReadStreamIndex("other", 0, false, 10)->empty());
  EXPECT_EQ(store->ReadTreeState()->size, 2u);
  EXPECT_EQ(store->ReadTreeState()->compact_range, "range@2");
  std::vector<std::string> hashes;
  const NodeKey leaf2{0, 2};
  EXPECT_EQ(store->ReadNodes({&leaf2, 1}, &hashes).code(), StatusCode::kNotFound);

  // A base ahead of the committed size is stale too.
  auto ahead = testing::Begin(store.get(), 5);
  ahead->PutTreeState(TreeState{6, ""});
  EXPECT_EQ(ahead->Commit().code(), StatusCode::kAborted);
}

TEST(RocksCommitTest, EmptyCommitChecksBaseOnly) {
  TempDir dir;
  auto store = OpenStore(dir.path());
  ASSERT_NE(store, nullptr);
  EXPECT_TRUE((testing::Begin(store.get(), 0))->Commit().ok());
  EXPECT_EQ((testing::Begin(store.get(), 3))->Commit().code(), StatusCode::kAborted);
  EXPECT_EQ(store->ReadTreeState()->size, 0u);
}

TEST(RocksCommitTest, ConcurrentWritersFromOneBaseExactlyOneWins) {
  TempDir dir;
  auto store = OpenStore(dir.path());
  ASSERT_NE(store, nullptr);
  constexpr int kRounds = 20;
  for (int round = 0; round < kRounds; ++round) {
    const uint64_t base = static_cast<uint64_t>(round);
    std::latch start(2);
    std::atomic<int> ok_count{0}, aborted_count{0};
    auto run = [&](int writer_id) {
      auto writer = testing::Begin(store.get(), base);
      writer->PutRecord(base, "writer-" + std::to_string(writer_id));
      writer->PutNode(NodeKey{0, base}, TestHash(base * 2 + writer_id));
      writer->PutTreeState(TreeState{base + 1, "w" + std::to_string(writer_id)});
      start.arrive_and_wait();
      const Status s = writer->Commit();
      if (s.ok()) ok_count += 1;
      if (s.code() == StatusCode::kAborted) aborted_count += 1;
    };
    std::thread a(run, 0), b(run, 1);
    a.join();
    b.join();
    ASSERT_EQ(ok_count.load(), 1) << "round " << round;
    ASSERT_EQ(aborted_count.load(), 1) << "round " << round;
    // The winner's puts are all there, the loser's none.
    Result<TreeState> state = store->ReadTreeState();
    ASSERT_EQ(state->size, base + 1);
    const std::string winner = state->compact_range.substr(1);
    EXPECT_EQ(*store->ReadRecord(base), "writer-" + winner);
  }
}

TEST(RocksCommitTest, OversizedCommitIsResourceExhausted) {
  TempDir dir;
  auto store = OpenStore(dir.path());
  ASSERT_NE(store, nullptr);
  auto* rocks_store = dynamic_cast<rocks::RocksLogStore*>(store.get());
  ASSERT_NE(rocks_store, nullptr);
  constexpr size_t kLimitBytes = 4096;  // the production limit is kCommitSizeBytesMax
  rocks::RocksCommitWriter writer(rocks_store, 0, kLimitBytes);
  const std::string record(1000, 'x');
  for (uint64_t position = 0; position < 5; ++position) writer.PutRecord(position, record);
  EXPECT_LE(writer.buffered_size_bytes(), kLimitBytes);
  writer.PutTreeState(TreeState{5, ""});
  const Status status = writer.Commit();
  EXPECT_EQ(status.code(), StatusCode::kResourceExhausted);
  EXPECT_NE(status.message().find("4096"), std::string::npos);
  EXPECT_EQ(store->ReadTreeState()->size, 0u);
  EXPECT_EQ(store->ReadRecord(0).status().code(), StatusCode::kNotFound);
  // The store is unaffected: a commit from the same base succeeds.
  ASSERT_TRUE(testing::AppendEvents(store.get(), "s", 1).ok());
}

TEST(RocksCommitTest, RecordsKeepArbitraryBinaryBytes) {
  TempDir dir;
  std::string all_bytes;
  for (int i = 0; i < 256; ++i) all_bytes.push_back(static_cast<char>(i));
  const std::vector<std::string> records = {std::string(), std::string(1, '\0'),
                                            std::string(1000, '\0'), all_bytes + all_bytes};
  {
    auto store = OpenStore(dir.path());
    ASSERT_NE(store, nullptr);
    auto writer = testing::Begin(store.get(), 0);
    for (size_t i = 0; i < records.size(); ++i) writer->PutRecord(i, records[i]);
    writer->PutTreeState(TreeState{records.size(), std::string("\0\1\0", 3)});
    ASSERT_TRUE(writer->Commit().ok());
  }
  auto store = OpenStore(dir.path(), /*create=*/false);
  ASSERT_NE(store, nullptr);
  for (size_t i = 0; i < records.size(); ++i) EXPECT_EQ(*store->ReadRecord(i), records[i]);
  EXPECT_EQ(store->ReadTreeState()->compact_range, std::string("\0\1\0", 3));
}

TEST(RocksCommitDeathTest, CommitWithoutTreeStateIsAProgrammingError) {
  TempDir dir;
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        auto store = OpenStore(dir.path());
        auto writer = testing::Begin(store.get(), 0);
        writer->PutRecord(0, "r");
        (void)writer->Commit();
      },
      "PutTreeState");
}

}  // namespace
}  // namespace cairn::storage
