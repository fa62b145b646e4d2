// DestroyKeyMaterial leaves no copy of the wrapped key in any file of the store: SST, WAL,
// MANIFEST, OPTIONS, LOG. Each scenario first proves the scan finds the secret while it is live.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <thread>

#include "rocks_test_support.h"
#include "storage/rocksdb/rocks_test_hooks.h"

namespace cairn::storage {
namespace CAIRN_UNITY_ID {

using cairn::testing::TempDir;
using testing::AppendEvents;
using testing::OpenStore;

const std::string kSecret = "SECRET-WRAPPED-KEY-0123456789ab!";  // 32 recognisable bytes

// Files under `dir` that contain `needle`, byte for byte.
std::vector<std::string> FilesContaining(const std::string& dir, const std::string& needle) {
  std::vector<std::string> hits;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    const std::string bytes = cairn::testing::ReadFile(entry.path().string());
    if (bytes.find(needle) != std::string::npos) hits.push_back(entry.path().string());
  }
  return hits;
}

class RocksDestroyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(kSecret.size(), 32u);
    store_ = OpenStore(dir_.path());
    ASSERT_NE(store_, nullptr);
  }
  void PutSecretAndCheckItIsOnDisk() {
    ASSERT_TRUE(store_->PutKeyMaterial("subject/alice/v1", kSecret).ok());
    ASSERT_TRUE(store_->PutKeyMaterial("subject/bob/v1", "bob-wrapped").ok());
    EXPECT_FALSE(FilesContaining(dir_.path(), kSecret).empty()) << "the scan cannot see the secret";
  }
  void DestroyCloseAndScan() {
    ASSERT_TRUE(store_->DestroyKeyMaterial("subject/alice/v1").ok());
    store_.reset();  // close
    EXPECT_EQ(FilesContaining(dir_.path(), kSecret), std::vector<std::string>{});
    // The rest of the store is intact.
    store_ = OpenStore(dir_.path(), /*create=*/false);
    ASSERT_NE(store_, nullptr);
    EXPECT_FALSE(store_->ReadKeyMaterial("subject/alice/v1")->has_value());
    EXPECT_EQ(**store_->ReadKeyMaterial("subject/bob/v1"), "bob-wrapped");
  }

  TempDir dir_;
  std::unique_ptr<LogStore> store_;
};

TEST_F(RocksDestroyTest, SecretOnlyInWalAndMemtable) {
  PutSecretAndCheckItIsOnDisk();
  DestroyCloseAndScan();
}

// Several names in one destroy (one write batch, one flush and compaction): none of them is left
// in any file; absent names are fine; more than the batch bound is refused.
TEST_F(RocksDestroyTest, ABatchDestroyLeavesNoCopyOfAnyName) {
  const std::string second = "SECRET-WRAPPED-KEY-second-abcdef!";
  PutSecretAndCheckItIsOnDisk();
  ASSERT_TRUE(store_->PutKeyMaterial("subject/alice/v2", second).ok());
  ASSERT_TRUE(FlushForTest(store_.get()).ok());  // one in an SST file, with the other
  const std::vector<std::string> names = {"subject/alice/v1", "subject/alice/v2", "subject/none"};
  ASSERT_TRUE(store_->DestroyKeyMaterials(names).ok());
  store_.reset();
  EXPECT_EQ(FilesContaining(dir_.path(), kSecret), std::vector<std::string>{});
  EXPECT_EQ(FilesContaining(dir_.path(), second), std::vector<std::string>{});
  store_ = OpenStore(dir_.path(), /*create=*/false);
  ASSERT_NE(store_, nullptr);
  EXPECT_EQ(**store_->ReadKeyMaterial("subject/bob/v1"), "bob-wrapped");
  const std::vector<std::string> too_many(LogStore::kDestroyBatchNamesMax + 1, "subject/x");
  EXPECT_EQ(store_->DestroyKeyMaterials(too_many).status().code(), StatusCode::kInvalidArgument);
}

TEST_F(RocksDestroyTest, SecretSharesTheWalWithLaterCommits) {
  PutSecretAndCheckItIsOnDisk();
  // Later commits to other families keep the WAL file that holds the secret alive.
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(AppendEvents(store_.get(), "s", 10).ok());
  ASSERT_TRUE(store_->PutCheckpoint(50, "note").ok());
  DestroyCloseAndScan();
  EXPECT_EQ(store_->ReadTreeState()->size, 50u);
  EXPECT_EQ(*store_->ReadRecord(49), testing::TestRecord(49));
}

TEST_F(RocksDestroyTest, SecretFlushedToAnSstFile) {
  PutSecretAndCheckItIsOnDisk();
  ASSERT_TRUE(AppendEvents(store_.get(), "s", 10).ok());
  ASSERT_TRUE(FlushForTest(store_.get()).ok());
  ASSERT_FALSE(cairn::testing::ListFiles(dir_.path(), ".sst").empty());
  EXPECT_FALSE(FilesContaining(dir_.path(), kSecret).empty());
  ASSERT_TRUE(AppendEvents(store_.get(), "s", 10).ok());
  DestroyCloseAndScan();
}

TEST_F(RocksDestroyTest, SecretCompactedIntoTheBottomLevel) {
  PutSecretAndCheckItIsOnDisk();
  // Destroying another key compacts the whole keys family: the secret moves to the bottom level.
  ASSERT_TRUE(store_->PutKeyMaterial("subject/carol/v1", "carol").ok());
  ASSERT_TRUE(store_->DestroyKeyMaterial("subject/carol/v1").ok());
  EXPECT_FALSE(FilesContaining(dir_.path(), kSecret).empty());
  EXPECT_EQ(**store_->ReadKeyMaterial("subject/alice/v1"), kSecret);
  DestroyCloseAndScan();
}

TEST_F(RocksDestroyTest, SecretSurvivesReopenThenDestroyed) {
  PutSecretAndCheckItIsOnDisk();
  store_.reset();  // the secret is recovered from the WAL at the next open
  store_ = OpenStore(dir_.path(), /*create=*/false);
  ASSERT_NE(store_, nullptr);
  EXPECT_EQ(**store_->ReadKeyMaterial("subject/alice/v1"), kSecret);
  DestroyCloseAndScan();
}

TEST_F(RocksDestroyTest, SecretDestroyedWhileOtherKeysAreReadConcurrently) {
  PutSecretAndCheckItIsOnDisk();
  ASSERT_TRUE(AppendEvents(store_.get(), "s", 10).ok());
  ASSERT_TRUE(FlushForTest(store_.get()).ok());  // the secret is in an SST file of the family
  // Point reads of the family during the compaction keep the old SST file referenced; the
  // destroy must still see it deleted once they move on (and not time out).
  std::atomic<bool> stop{false};
  std::vector<std::thread> readers;
  for (int t = 0; t < 4; ++t) {
    readers.emplace_back([&] {
      while (!stop.load()) EXPECT_TRUE(store_->ReadKeyMaterial("subject/bob/v1").ok());
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  const Status destroyed = store_->DestroyKeyMaterial("subject/alice/v1");
  stop = true;
  for (std::thread& t : readers) t.join();
  ASSERT_TRUE(destroyed.ok()) << destroyed.ToString();
  EXPECT_EQ(FilesContaining(dir_.path(), kSecret), std::vector<std::string>{});  // while open
  store_.reset();
  EXPECT_EQ(FilesContaining(dir_.path(), kSecret), std::vector<std::string>{});
}

}  // namespace
}  // namespace cairn::storage
