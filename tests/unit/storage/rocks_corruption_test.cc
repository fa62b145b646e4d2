// Values the backend cannot decode are kDataLoss; malformed arguments are kInvalidArgument.
#include <gtest/gtest.h>

#include "rocks_test_support.h"
#include "storage/rocksdb/rocks_schema.h"
#include "storage/rocksdb/rocks_store.h"

namespace cairn::storage {
namespace CAIRN_UNITY_ID {

using cairn::testing::TempDir;
using testing::AppendEvents;
using testing::EditRawDb;
using testing::Families;
using testing::OpenStore;

TEST(RocksCorruptionTest, UndecodableValuesAreDataLoss) {
  TempDir dir;
  {
    auto store = OpenStore(dir.path());
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(AppendEvents(store.get(), "s", 3).ok());
    ASSERT_TRUE(store->PutCheckpoint(3, "note").ok());
  }
  EditRawDb(dir.path(), [](rocksdb::DB* db, const Families& cf) {
    const rocksdb::WriteOptions wo;
    ASSERT_TRUE(db->Put(wo, cf.at("stream_heads"), "s", "too short").ok());
    ASSERT_TRUE(db->Put(wo, cf.at("merkle"), rocks::EncodeNodeKey({0, 0}), "not 32 bytes").ok());
    ASSERT_TRUE(db->Put(wo, cf.at("stream_index"), rocks::StreamIndexKey("s", 1), "pos").ok());
    ASSERT_TRUE(db->Put(wo, cf.at("records"), "odd key", "r").ok());
    ASSERT_TRUE(db->Put(wo, cf.at("checkpoints"), "odd key", "n").ok());
  });
  auto store = OpenStore(dir.path(), /*create=*/false);
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->ReadStreamHead("s").status().code(), StatusCode::kDataLoss);
  EXPECT_EQ(store->ScanStreamHeads([](auto, auto&) { return true; }).code(), StatusCode::kDataLoss);
  std::vector<std::string> hashes;
  const NodeKey nodes[] = {{0, 0}, {0, 1}};
  EXPECT_EQ(store->ReadNodes(nodes, &hashes).code(), StatusCode::kDataLoss);
  EXPECT_EQ(store->ScanLeafHashes(0, 10, [](auto, auto) { return true; }).code(),
            StatusCode::kDataLoss);
  EXPECT_EQ(store->ReadStreamIndex("s", 0, false, 10).status().code(), StatusCode::kDataLoss);
  EXPECT_EQ(store->ScanRecords(0, 10, [](auto, auto) { return true; }).code(),
            StatusCode::kDataLoss);
  EXPECT_EQ(store->ReadLatestCheckpoint().status().code(), StatusCode::kDataLoss);
  // Reads that do not touch the damage still work.
  EXPECT_EQ(*store->ReadRecord(2), testing::TestRecord(2));
}

TEST(RocksCorruptionTest, CorruptTreeStateRefusesToOpen) {
  TempDir dir;
  { ASSERT_NE(OpenStore(dir.path()), nullptr); }
  EditRawDb(dir.path(), [](rocksdb::DB* db, const Families& cf) {
    ASSERT_TRUE(
        db->Put(rocksdb::WriteOptions(), cf.at("merkle"), rocks::kTreeStateKey, "short").ok());
  });
  RocksOptions options = testing::StoreOptions(dir.path());
  Result<std::unique_ptr<LogStore>> store = OpenRocksLogStore(options);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(store.status().message().find("tree state"), std::string::npos);
}

TEST(RocksCorruptionTest, MalformedArgumentsAreInvalidArgument) {
  TempDir dir;
  auto store = OpenStore(dir.path());
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->ReadStreamHead("").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(store->ReadStreamHead(std::string(513, 's')).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(store->ReadStreamIndex(std::string(513, 's'), 0, false, 1).status().code(),
            StatusCode::kInvalidArgument);
  std::vector<std::string> hashes;
  std::vector<NodeKey> too_many(rocks::kReadNodesCountMax + 1);
  EXPECT_EQ(store->ReadNodes(too_many, &hashes).code(), StatusCode::kInvalidArgument);
  const NodeKey bad_level[] = {{64, 0}};
  EXPECT_EQ(store->ReadNodes(bad_level, &hashes).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(store->ReadMeta("").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(store->PutCheckpoint(1, std::string(kSmallValueSizeBytesMax + 1, 'n')).code(),
            StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace cairn::storage
