// Opening, creating and reopening the RocksDB store; format version and directory lock.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <rocksdb/db.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>

#include "rocks_test_support.h"
#include "storage/rocksdb/rocks_schema.h"

namespace cairn::storage {
namespace CAIRN_UNITY_ID {

using cairn::testing::TempDir;
using testing::AppendEvents;
using testing::OpenStore;
using testing::StoreOptions;

TEST(RocksOpenTest, MissingStoreWithoutCreateIsNotFound) {
  TempDir dir;
  RocksOptions options = StoreOptions(dir.Sub("data"));
  options.create_if_missing = false;
  Result<std::unique_ptr<LogStore>> store = OpenRocksLogStore(options);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), StatusCode::kNotFound);
  EXPECT_NE(store.status().message().find(dir.Sub("data")), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(dir.Sub("data")));  // nothing created

  options.path = dir.path();  // an existing but empty directory is not a store either
  EXPECT_EQ(OpenRocksLogStore(options).status().code(), StatusCode::kNotFound);
}

TEST(RocksOpenTest, RejectsBadOptions) {
  RocksOptions options;
  EXPECT_EQ(OpenRocksLogStore(options).status().code(), StatusCode::kInvalidArgument);
  TempDir dir;
  options = StoreOptions(dir.Sub("data"));
  options.block_cache_size_bytes = 0;
  EXPECT_EQ(OpenRocksLogStore(options).status().code(), StatusCode::kInvalidArgument);
}

TEST(RocksOpenTest, CreatesOwnerOnlyDirectoryAndNewStoreIsEmpty) {
  TempDir dir;
  auto store = OpenStore(dir.Sub("a/data"));
  ASSERT_NE(store, nullptr);
  struct stat st {};
  ASSERT_EQ(stat(dir.Sub("a/data").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);

  Result<TreeState> state = store->ReadTreeState();
  ASSERT_TRUE(state.ok());
  EXPECT_EQ(state->size, 0u);
  EXPECT_TRUE(state->compact_range.empty());
  Result<std::optional<std::pair<uint64_t, std::string>>> latest = store->ReadLatestCheckpoint();
  ASSERT_TRUE(latest.ok());
  EXPECT_FALSE(latest->has_value());
}

TEST(RocksOpenTest, FormatVersionIsPersistedAndReservedName) {
  TempDir dir;
  {
    auto store = OpenStore(dir.path());
    ASSERT_NE(store, nullptr);
    Result<std::optional<std::string>> version = store->ReadMeta("format_version");
    ASSERT_TRUE(version.ok());
    ASSERT_TRUE(version->has_value());
    EXPECT_EQ(**version, std::to_string(kStoreFormatVersion));
    EXPECT_EQ(store->PutMeta("format_version", "999").code(), StatusCode::kInvalidArgument);
  }
  auto store = OpenStore(dir.path(), /*create=*/false);
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(**store->ReadMeta("format_version"), std::to_string(kStoreFormatVersion));
}

TEST(RocksOpenTest, OtherFormatVersionIsRefused) {
  TempDir dir;
  { ASSERT_NE(OpenStore(dir.path()), nullptr); }
  testing::EditRawDb(dir.path(), [](rocksdb::DB* db, const testing::Families& cf) {
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), cf.at("meta"), "format_version", "2").ok());
  });
  Result<std::unique_ptr<LogStore>> store = OpenRocksLogStore(StoreOptions(dir.path()));
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(store.status().message().find("format version 2"), std::string::npos)
      << store.status().ToString();
}

TEST(RocksOpenTest, MissingFormatVersionIsRefused) {
  TempDir dir;
  { ASSERT_NE(OpenStore(dir.path()), nullptr); }
  testing::EditRawDb(dir.path(), [](rocksdb::DB* db, const testing::Families& cf) {
    ASSERT_TRUE(db->Delete(rocksdb::WriteOptions(), cf.at("meta"), "format_version").ok());
  });
  Result<std::unique_ptr<LogStore>> store = OpenRocksLogStore(StoreOptions(dir.path()));
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(store.status().message().find("no format version"), std::string::npos);
}

TEST(RocksOpenTest, PlainRocksDbIsNotACairnStore) {
  TempDir dir;
  rocksdb::Options options;
  options.create_if_missing = true;
  rocksdb::DB* db = nullptr;
  ASSERT_TRUE(rocksdb::DB::Open(options, dir.path(), &db).ok());
  delete db;
  Result<std::unique_ptr<LogStore>> store = OpenRocksLogStore(StoreOptions(dir.path()));
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(store.status().message().find("not a cairn store"), std::string::npos);
}

TEST(RocksOpenTest, ReopenRestoresTreeStateHeadsAndCommitBase) {
  TempDir dir;
  {
    auto store = OpenStore(dir.path());
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(AppendEvents(store.get(), "orders-1", 3).ok());
    ASSERT_TRUE(AppendEvents(store.get(), "orders-2", 2).ok());
  }
  auto store = OpenStore(dir.path(), /*create=*/false);
  ASSERT_NE(store, nullptr);
  Result<TreeState> state = store->ReadTreeState();
  ASSERT_TRUE(state.ok());
  EXPECT_EQ(state->size, 5u);
  EXPECT_EQ(state->compact_range, "range@5");
  Result<std::optional<StreamHead>> head = store->ReadStreamHead("orders-1");
  ASSERT_TRUE(head.ok());
  ASSERT_TRUE(head->has_value());
  EXPECT_EQ((*head)->next_version, 3u);
  EXPECT_EQ((*head)->last_position, 2u);
  EXPECT_EQ((*head)->last_leaf_hash, testing::TestHash(2));
  EXPECT_FALSE((*head)->deleted);

  // The committed size was loaded: a stale base is refused, the current one accepted.
  auto stale = testing::Begin(store.get(), 4);
  stale->PutTreeState(TreeState{6, "x"});
  EXPECT_EQ(stale->Commit().code(), StatusCode::kAborted);
  ASSERT_TRUE(AppendEvents(store.get(), "orders-1", 1).ok());
  EXPECT_EQ(store->ReadTreeState()->size, 6u);
}

TEST(RocksOpenTest, SecondOpenInThisProcessIsUnavailable) {
  TempDir dir;
  auto store = OpenStore(dir.path());
  ASSERT_NE(store, nullptr);
  Result<std::unique_ptr<LogStore>> second = OpenRocksLogStore(StoreOptions(dir.path()));
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(second.status().message().find("in use"), std::string::npos)
      << second.status().ToString();
}

TEST(RocksOpenTest, LockHeldByAnotherProcessIsUnavailable) {
  TempDir dir;
  { ASSERT_NE(OpenStore(dir.path()), nullptr); }
  // The child takes the same fcntl lock RocksDB takes on LOCK, then waits for the parent.
  int ready[2], done[2];
  ASSERT_EQ(pipe(ready), 0);
  ASSERT_EQ(pipe(done), 0);
  const std::string lock_path = dir.Sub("LOCK");
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    const int fd = open(lock_path.c_str(), O_RDWR);
    struct flock lock {};
    lock.l_type = F_WRLCK;
    lock.l_whence = SEEK_SET;
    const char ok = (fd >= 0 && fcntl(fd, F_SETLK, &lock) == 0) ? '1' : '0';
    if (write(ready[1], &ok, 1) != 1) _exit(2);
    char c;
    if (read(done[0], &c, 1) < 0) _exit(3);
    _exit(0);
  }
  char ok = 0;
  ASSERT_EQ(read(ready[0], &ok, 1), 1);
  ASSERT_EQ(ok, '1');
  Result<std::unique_ptr<LogStore>> store = OpenRocksLogStore(StoreOptions(dir.path()));
  ASSERT_EQ(write(done[1], "x", 1), 1);
  int wstatus = 0;
  waitpid(pid, &wstatus, 0);
  for (int fd : {ready[0], ready[1], done[0], done[1]}) close(fd);

  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(store.status().message().find("the data directory is in use by another process"),
            std::string::npos)
      << store.status().ToString();
  // Once the other process is gone the store opens again.
  EXPECT_NE(OpenStore(dir.path(), /*create=*/false), nullptr);
}

}  // namespace
}  // namespace cairn::storage
