// Reads on RocksDB: records, stream index, Merkle nodes and leaves, stream heads. Each read test
// runs twice: data in the memtable, and data flushed to SST files (filters, block reads).
#include <gtest/gtest.h>

#include "rocks_test_support.h"
#include "storage/rocksdb/rocks_test_hooks.h"

namespace cairn::storage {
namespace CAIRN_UNITY_ID {

using cairn::testing::TempDir;
using testing::AppendEvents;
using testing::TestHash;
using testing::TestRecord;

class RocksReadTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    store_ = testing::OpenStore(dir_.path());
    ASSERT_NE(store_, nullptr);
  }
  // Call after writing: moves everything to SST files when the parameter says so.
  void MaybeFlush() {
    if (GetParam()) {
      ASSERT_TRUE(FlushForTest(store_.get()).ok());
    }
  }
  std::vector<uint64_t> Versions(std::string_view stream, uint64_t from, bool backwards,
                                 uint64_t limit) {
    Result<std::vector<StreamIndexEntry>> entries =
        store_->ReadStreamIndex(stream, from, backwards, limit);
    EXPECT_TRUE(entries.ok()) << entries.status().ToString();
    std::vector<uint64_t> versions;
    if (entries.ok()) {
      for (const auto& e : *entries) versions.push_back(e.version);
    }
    return versions;
  }

  TempDir dir_;
  std::unique_ptr<LogStore> store_;
};

INSTANTIATE_TEST_SUITE_P(MemtableAndSst, RocksReadTest, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "Sst" : "Memtable"; });

TEST_P(RocksReadTest, ReadRecordNotFoundNamesPosition) {
  ASSERT_TRUE(AppendEvents(store_.get(), "s", 3).ok());
  MaybeFlush();
  EXPECT_EQ(*store_->ReadRecord(2), TestRecord(2));
  Result<std::string> missing = store_->ReadRecord(12345);
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("12345"), std::string::npos);
}

TEST_P(RocksReadTest, ScanRecordsFromLimitAndEarlyStop) {
  ASSERT_TRUE(AppendEvents(store_.get(), "a", 5).ok());
  ASSERT_TRUE(AppendEvents(store_.get(), "b", 5).ok());
  MaybeFlush();
  std::vector<uint64_t> seen;
  auto collect = [&](uint64_t position, std::string_view record) {
    EXPECT_EQ(record, TestRecord(position));
    seen.push_back(position);
    return true;
  };
  ASSERT_TRUE(store_->ScanRecords(3, 4, collect).ok());
  EXPECT_EQ(seen, (std::vector<uint64_t>{3, 4, 5, 6}));
  seen.clear();
  ASSERT_TRUE(store_->ScanRecords(8, 100, collect).ok());
  EXPECT_EQ(seen, (std::vector<uint64_t>{8, 9}));
  seen.clear();
  ASSERT_TRUE(store_
                  ->ScanRecords(0, 100,
                                [&](uint64_t position, std::string_view) {
                                  seen.push_back(position);
                                  return position < 2;  // stop after the third
                                })
                  .ok());
  EXPECT_EQ(seen, (std::vector<uint64_t>{0, 1, 2}));
  seen.clear();
  ASSERT_TRUE(store_->ScanRecords(0, 0, collect).ok());
  ASSERT_TRUE(store_->ScanRecords(10, 5, collect).ok());
  EXPECT_TRUE(seen.empty());
}

TEST_P(RocksReadTest, StreamIndexForwardsBackwardsFromAndLimit) {
  ASSERT_TRUE(AppendEvents(store_.get(), "orders", 4).ok());  // positions 0..3
  ASSERT_TRUE(AppendEvents(store_.get(), "other", 2).ok());   // 4..5
  ASSERT_TRUE(AppendEvents(store_.get(), "orders", 3).ok());  // 6..8
  MaybeFlush();
  Result<std::vector<StreamIndexEntry>> all = store_->ReadStreamIndex("orders", 0, false, 100);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 7u);
  const uint64_t positions[] = {0, 1, 2, 3, 6, 7, 8};
  for (size_t i = 0; i < all->size(); ++i) {
    EXPECT_EQ((*all)[i].version, i);
    EXPECT_EQ((*all)[i].position, positions[i]);
  }
  EXPECT_EQ(Versions("orders", 2, false, 3), (std::vector<uint64_t>{2, 3, 4}));
  EXPECT_EQ(Versions("orders", 5, false, 100), (std::vector<uint64_t>{5, 6}));
  EXPECT_EQ(Versions("orders", 7, false, 100), (std::vector<uint64_t>{}));
  EXPECT_EQ(Versions("orders", 4, true, 3), (std::vector<uint64_t>{4, 3, 2}));
  EXPECT_EQ(Versions("orders", 1, true, 100), (std::vector<uint64_t>{1, 0}));
  EXPECT_EQ(Versions("orders", UINT64_MAX, true, 2), (std::vector<uint64_t>{6, 5}));
  EXPECT_EQ(Versions("orders", 100, true, 1), (std::vector<uint64_t>{6}));
  EXPECT_EQ(Versions("orders", 0, false, 0), (std::vector<uint64_t>{}));
  EXPECT_EQ(Versions("never", 0, false, 10), (std::vector<uint64_t>{}));
  EXPECT_EQ(Versions("never", UINT64_MAX, true, 10), (std::vector<uint64_t>{}));
  EXPECT_EQ(store_->ReadStreamIndex("", 0, false, 1).status().code(), StatusCode::kInvalidArgument);
}

// One commit interleaving two streams: each stream's consecutive versions land at positions that
// are not consecutive, so they are stored as separate runs and read back exactly.
TEST_P(RocksReadTest, StreamIndexRunsOfInterleavedStreamsInOneCommit) {
  auto writer = testing::Begin(store_.get(), 0);
  // a@0 -> 0, b@0 -> 1, a@1 -> 2, a@2 -> 3, b@1 -> 4, a@3 -> 5
  const std::pair<const char*, uint64_t> puts[] = {{"a", 0}, {"b", 0}, {"a", 1}, {"a", 2}, {"b", 1}, {"a", 3}};
  for (uint64_t p = 0; p < 6; ++p) {
    writer->PutRecord(p, TestRecord(p));
    writer->PutNode({0, p}, std::string(32, static_cast<char>(p)));
    writer->PutStreamIndex(puts[p].first, puts[p].second, p);
  }
  writer->PutTreeState({6, "state"});
  ASSERT_TRUE(writer->Commit().ok());
  MaybeFlush();
  auto a = store_->ReadStreamIndex("a", 0, false, 100);
  ASSERT_TRUE(a.ok());
  std::vector<uint64_t> positions;
  for (const auto& e : *a) positions.push_back(e.position);
  EXPECT_EQ(positions, (std::vector<uint64_t>{0, 2, 3, 5}));
  EXPECT_EQ(Versions("a", 2, true, 100), (std::vector<uint64_t>{2, 1, 0}));
  EXPECT_EQ(Versions("a", 1, false, 2), (std::vector<uint64_t>{1, 2}));
  auto b = store_->ReadStreamIndex("b", 1, false, 100);
  ASSERT_TRUE(b.ok());
  ASSERT_EQ(b->size(), 1u);
  EXPECT_EQ((*b)[0].position, 4u);
}

TEST_P(RocksReadTest, StreamIndexNeverLeaksIntoStreamsSharingAPrefix) {
  // Neighbours in every direction of "a": longer ids, ids with 0x00/0xFF bytes, shorter.
  const std::vector<std::string> streams = {"a", "ab", "a\x01", std::string("a\0", 2), "a\xff",
                                            "`", "b",  "aa",    std::string(512, 'a')};
  for (size_t i = 0; i < streams.size(); ++i) {
    ASSERT_TRUE(AppendEvents(store_.get(), streams[i], i + 1).ok());
  }
  MaybeFlush();
  for (size_t i = 0; i < streams.size(); ++i) {
    SCOPED_TRACE(i);
    std::vector<uint64_t> expected;
    for (uint64_t v = 0; v <= i; ++v) expected.push_back(v);
    EXPECT_EQ(Versions(streams[i], 0, false, 100), expected);
    std::reverse(expected.begin(), expected.end());
    EXPECT_EQ(Versions(streams[i], UINT64_MAX, true, 100), expected);
    EXPECT_EQ(Versions(streams[i], i + 1, false, 100), (std::vector<uint64_t>{}));
  }
  // "a" has one event: reading from version 1 must not continue into "ab" / "a\x01" etc.
  EXPECT_EQ(Versions("a", 1, false, 100), (std::vector<uint64_t>{}));
  EXPECT_EQ(Versions("ab", 0, true, 100), (std::vector<uint64_t>{0}));
}

TEST_P(RocksReadTest, ReadNodesBatchAndMissingNode) {
  ASSERT_TRUE(AppendEvents(store_.get(), "s", 4).ok());
  MaybeFlush();
  std::vector<std::string> hashes;
  const NodeKey present[] = {{0, 3}, {0, 0}, {0, 2}};
  ASSERT_TRUE(store_->ReadNodes(present, &hashes).ok());
  EXPECT_EQ(hashes, (std::vector<std::string>{TestHash(3), TestHash(0), TestHash(2)}));
  const NodeKey with_missing[] = {{0, 1}, {1, 7}, {0, 99}};
  const Status status = store_->ReadNodes(with_missing, &hashes);
  EXPECT_EQ(status.code(), StatusCode::kNotFound);
  EXPECT_NE(status.message().find("level 1, index 7"), std::string::npos) << status.ToString();
  ASSERT_TRUE(store_->ReadNodes({}, &hashes).ok());
  EXPECT_TRUE(hashes.empty());
}

TEST_P(RocksReadTest, ScanLeafHashesSkipsOtherLevelsAndTreeState) {
  ASSERT_TRUE(AppendEvents(store_.get(), "s", 6).ok());
  auto writer = testing::Begin(store_.get(), 6);
  writer->PutNode(NodeKey{1, 0}, TestHash(1000));
  writer->PutNode(NodeKey{2, 0}, TestHash(1001));
  writer->PutTreeState(TreeState{6, "same"});
  ASSERT_TRUE(writer->Commit().ok());
  MaybeFlush();
  std::vector<uint64_t> seen;
  auto collect = [&](uint64_t index, std::string_view hash) {
    EXPECT_EQ(hash, TestHash(index));
    seen.push_back(index);
    return true;
  };
  ASSERT_TRUE(store_->ScanLeafHashes(0, 100, collect).ok());
  EXPECT_EQ(seen, (std::vector<uint64_t>{0, 1, 2, 3, 4, 5}));
  seen.clear();
  ASSERT_TRUE(store_->ScanLeafHashes(2, 3, collect).ok());
  EXPECT_EQ(seen, (std::vector<uint64_t>{2, 3, 4}));
  seen.clear();
  ASSERT_TRUE(store_
                  ->ScanLeafHashes(4, 100,
                                   [&](uint64_t index, std::string_view) {
                                     seen.push_back(index);
                                     return false;
                                   })
                  .ok());
  EXPECT_EQ(seen, (std::vector<uint64_t>{4}));
}

TEST_P(RocksReadTest, ScanStreamHeadsInIdOrderWithEarlyStop) {
  ASSERT_TRUE(AppendEvents(store_.get(), "b", 2).ok());
  ASSERT_TRUE(AppendEvents(store_.get(), "a", 1).ok());
  ASSERT_TRUE(AppendEvents(store_.get(), "$audit", 1).ok());
  auto writer = testing::Begin(store_.get(), 4);
  writer->PutStreamHead("c", StreamHead{0, 0, "", true});  // a tombstone for an empty stream
  writer->PutTreeState(TreeState{4, "range@4"});
  ASSERT_TRUE(writer->Commit().ok());
  MaybeFlush();
  std::vector<std::string> ids;
  std::vector<StreamHead> heads;
  ASSERT_TRUE(store_
                  ->ScanStreamHeads([&](std::string_view id, const StreamHead& head) {
                    ids.emplace_back(id);
                    heads.push_back(head);
                    return true;
                  })
                  .ok());
  EXPECT_EQ(ids, (std::vector<std::string>{"$audit", "a", "b", "c"}));
  EXPECT_EQ(heads[2], (StreamHead{2, 1, TestHash(1), false}));
  EXPECT_EQ(heads[3], (StreamHead{0, 0, "", true}));
  ids.clear();
  ASSERT_TRUE(store_
                  ->ScanStreamHeads([&](std::string_view id, const StreamHead&) {
                    ids.emplace_back(id);
                    return ids.size() < 2;
                  })
                  .ok());
  EXPECT_EQ(ids.size(), 2u);
}

}  // namespace
}  // namespace cairn::storage
