// The tamper hooks write around every check, and reads then report what is on disk.
#include "storage/rocksdb/rocks_test_hooks.h"

#include <gtest/gtest.h>

#include "rocks_test_support.h"

namespace cairn::storage {
namespace CAIRN_UNITY_ID {

using cairn::testing::TempDir;

TEST(RocksTestHooksTest, RawWritesBypassChecks) {
  TempDir dir;
  auto store = testing::OpenStore(dir.path());
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(testing::AppendEvents(store.get(), "s", 3).ok());

  ASSERT_TRUE(RawDeleteRecordForTest(store.get(), 1).ok());
  EXPECT_EQ(store->ReadRecord(1).status().code(), StatusCode::kNotFound);
  ASSERT_TRUE(RawPutRecordForTest(store.get(), 2, std::string("tampered\0", 9)).ok());
  EXPECT_EQ(*store->ReadRecord(2), std::string("tampered\0", 9));

  // A rolled-back tree state: the store now commits from the rolled-back size.
  ASSERT_TRUE(RawPutTreeStateForTest(store.get(), TreeState{1, "rolled-back"}).ok());
  EXPECT_EQ(store->ReadTreeState()->size, 1u);
  EXPECT_EQ(store->ReadTreeState()->compact_range, "rolled-back");
  auto writer = testing::Begin(store.get(), 1);
  writer->PutTreeState(TreeState{2, "again"});
  EXPECT_TRUE(writer->Commit().ok());

  store.reset();
  store = testing::OpenStore(dir.path(), /*create=*/false);
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->ReadRecord(1).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(*store->ReadRecord(2), std::string("tampered\0", 9));
  EXPECT_EQ(store->ReadTreeState()->size, 2u);
}

}  // namespace
}  // namespace cairn::storage
