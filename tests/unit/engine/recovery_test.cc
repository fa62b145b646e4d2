// EventStore::RecoverDataDir (`cairn recover`): a store that Open() refuses over a damaged WAL
// record is examined without change, and recovered only on request, only when what it keeps
// verifies, after its WAL files were copied aside.
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <map>

#include "engine_test_util.h"
#include "storage/rocksdb/rocks_schema.h"
#include "storage/rocksdb/rocks_test_hooks.h"

namespace cairn::engine {
namespace CAIRN_UNITY_ID {

namespace fs = std::filesystem;

constexpr int kKeptEvents = 20;

// Every file of a directory tree with its bytes.
std::map<std::string, std::string> Snapshot(const std::string& dir) {
  std::map<std::string, std::string> files;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (e.is_regular_file() && e.path().filename() != "LOCK") {
      files[e.path().string()] = testing::ReadFile(e.path().string());
    }
  }
  return files;
}

Result<std::unique_ptr<EventStore>> OpenAt(const std::string& dir) {
  Options o;
  o.data_dir = dir;
  return EventStore::Open(o);
}

constexpr const char* kChildDirEnv = "CAIRN_RECOVERY_TEST_CHILD_DIR";
constexpr const char* kChildFlushEnv = "CAIRN_RECOVERY_TEST_CHILD_FLUSH";

// The child of RecoveryTest::CrashAfterThreeAppends (skipped in a normal run): opens the store,
// appends 3 acknowledged events to s-9, optionally signs a checkpoint over them and flushes the
// checkpoints' column family alone, then dies without closing.
TEST(RecoveryChild, AppendsThreeEventsAndDies) {
  const char* dir = std::getenv(kChildDirEnv);
  if (dir == nullptr) GTEST_SKIP() << "run by RecoveryTest only";
  const bool flush = std::string(std::getenv(kChildFlushEnv)) == "1";
  storage::LogStore* raw = nullptr;
  Options o;
  o.data_dir = dir;
  o.wrap_store_for_test = [&raw](std::unique_ptr<storage::LogStore> s) {
    raw = s.get();
    return s;
  };
  auto store = EventStore::Open(o);
  if (!store.ok()) _exit(3);
  for (int i = 0; i < 3; ++i) {
    if (!(*store)->Append("s-9", ExpectedVersion::Any(), One("T", "{\"lost\":" + std::to_string(i) + "}")).ok()) _exit(4);
  }
  if (flush) {
    if (!(*store)->Checkpoint().ok()) _exit(5);
    if (!storage::FlushFamilyForTest(raw, storage::rocks::kCfCheckpoints).ok()) _exit(6);
  }
  _exit(0);
}

class RecoveryTest : public EngineTest {
 protected:
  void SetUp() override {
    EngineTest::SetUp();
    for (int i = 0; i < kKeptEvents; ++i) {
      ASSERT_TRUE(store_->Append("s-" + std::to_string(i % 3), ExpectedVersion::Any(),
                                 One("T", "{\"i\":" + std::to_string(i) + "}")).ok());
    }
    ASSERT_TRUE(store_->Checkpoint().ok());
    Close();  // flushes: the kept events are in SST files, not in the WAL
  }

  // In a child process (this test binary again, fresh: a forked child has none of RocksDB's
  // background threads, so it could not flush): see RecoveryChild below.
  void CrashAfterThreeAppends(bool flush_a_checkpoint_over_them) {
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::setenv(kChildDirEnv, dir_.c_str(), 1);
      ::setenv(kChildFlushEnv, flush_a_checkpoint_over_them ? "1" : "0", 1);
      ::execl("/proc/self/exe", "engine_test", "--gtest_filter=RecoveryChild.AppendsThreeEventsAndDies",
              static_cast<char*>(nullptr));
      _exit(127);
    }
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  }

  // Flips a bit near the start of the oldest WAL file that holds commits: its first record.
  void DamageTheWal() {
    std::string wal;
    for (const auto& e : fs::directory_iterator(dir_ + "/db")) {
      const std::string p = e.path().string();
      if (e.path().extension() == ".log" && fs::file_size(p) > 1000 && (wal.empty() || p < wal)) wal = p;
    }
    ASSERT_FALSE(wal.empty());
    damaged_wal_name_ = fs::path(wal).filename().string();
    damaged_wal_ = testing::ReadFile(wal);
    damaged_wal_[40] ^= 0x20;
    testing::WriteFile(wal, damaged_wal_);
    ASSERT_FALSE(OpenAt(dir_).ok()) << "the damage went unnoticed";
  }

  // The newest WAL file: the one the child's last commit went to.
  std::string NewestWal() {
    std::string wal;
    for (const auto& e : fs::directory_iterator(dir_ + "/db")) {
      const std::string p = e.path().string();
      if (e.path().extension() == ".log" && (wal.empty() || p > wal)) wal = p;
    }
    EXPECT_FALSE(wal.empty());
    return wal;
  }
  // Bytes at the end of the newest WAL that the tests damage: inside the child's last commit
  // (one event, a record of several hundred bytes).
  static constexpr size_t kTornBytes = 100;

  std::vector<std::string> RecoveryDirs() {
    std::vector<std::string> dirs;
    for (const auto& e : fs::directory_iterator(dir_)) {
      if (e.path().filename().string().rfind("wal-recovery-", 0) == 0) dirs.push_back(e.path().string());
    }
    return dirs;
  }

  std::string damaged_wal_name_;
  std::string damaged_wal_;
};

TEST_F(RecoveryTest, NothingIsDoneToAStoreThatOpens) {
  const auto before = Snapshot(dir_);
  const RecoveryReport r = EventStore::RecoverDataDir(dir_, {}, /*apply=*/true);
  EXPECT_TRUE(r.open_failure.empty()) << r.open_failure;
  EXPECT_FALSE(r.applied);
  EXPECT_TRUE(RecoveryDirs().empty());
  EXPECT_EQ(Snapshot(dir_), before);
}

TEST_F(RecoveryTest, WithoutApplyItReportsWhatIsKeptAndChangesNothing) {
  CrashAfterThreeAppends(false);
  DamageTheWal();
  const auto before = Snapshot(dir_);
  const RecoveryReport r = EventStore::RecoverDataDir(dir_, {}, /*apply=*/false);
  EXPECT_FALSE(r.open_failure.empty());
  ASSERT_TRUE(r.recovered.ok) << r.recovered.failure;
  EXPECT_EQ(r.tree_size, uint64_t{kKeptEvents});
  EXPECT_EQ(r.checkpoint_size, uint64_t{kKeptEvents});
  EXPECT_EQ(r.recovered.records_checked, uint64_t{kKeptEvents});
  EXPECT_FALSE(r.applied);
  EXPECT_TRUE(r.wal_copy_dir.empty());
  EXPECT_TRUE(RecoveryDirs().empty());
  EXPECT_EQ(Snapshot(dir_), before) << "a dry run wrote to the data directory";
  EXPECT_FALSE(OpenAt(dir_).ok());
}

TEST_F(RecoveryTest, ApplyCopiesTheWalKeepsTheVerifiedPrefixAndTheStoreOpensAgain) {
  CrashAfterThreeAppends(false);
  DamageTheWal();
  const RecoveryReport r = EventStore::RecoverDataDir(dir_, {}, /*apply=*/true);
  ASSERT_TRUE(r.applied) << r.recovered.failure << r.apply_failure;
  EXPECT_EQ(r.tree_size, uint64_t{kKeptEvents});
  // The WAL as it was, damaged record included, is kept owner-only.
  ASSERT_EQ(RecoveryDirs(), std::vector<std::string>{r.wal_copy_dir});
  EXPECT_EQ(fs::status(r.wal_copy_dir).permissions(), fs::perms::owner_all);
  ASSERT_FALSE(r.wal_files_copied.empty());
  const std::string copy = r.wal_copy_dir + "/" + damaged_wal_name_;
  EXPECT_EQ(testing::ReadFile(copy), damaged_wal_);
  struct stat st{};
  ASSERT_EQ(::stat(copy.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  Reopen();
  EXPECT_EQ(store_->ReadStream("s-9", 0, Direction::kForwards, 10).status().code(), StatusCode::kNotFound)
      << "the commits after the damaged record are gone";
  auto appended = store_->Append("s-10", ExpectedVersion::NoStream(), One("T", "{}"));
  ASSERT_TRUE(appended.ok()) << appended.status().ToString();
  EXPECT_EQ(appended->first_position, uint64_t{kKeptEvents});
  ASSERT_TRUE(store_->Checkpoint().ok());
  EXPECT_TRUE(store_->Verify().ok);
  Close();
  EXPECT_TRUE(EventStore::RecoverDataDir(dir_, {}, true).open_failure.empty()) << "nothing left to recover";
}

TEST_F(RecoveryTest, ASignedCheckpointOverTheLostCommitsRefusesTheRecovery) {
  CrashAfterThreeAppends(/*flush_a_checkpoint_over_them=*/true);
  DamageTheWal();
  const auto before = Snapshot(dir_);
  const RecoveryReport r = EventStore::RecoverDataDir(dir_, {}, /*apply=*/true);
  EXPECT_FALSE(r.open_failure.empty());
  EXPECT_FALSE(r.recovered.ok) << "kept " << r.tree_size << " events under a checkpoint of " << r.checkpoint_size;
  EXPECT_FALSE(r.recovered.failure.empty());
  EXPECT_FALSE(r.applied);
  EXPECT_TRUE(RecoveryDirs().empty());
  EXPECT_EQ(Snapshot(dir_), before);
  EXPECT_FALSE(OpenAt(dir_).ok());
}

// The last WAL record of a commit that never finished (it was not acknowledged), read back as
// zeros (a power loss on a file system that grew the file first): the start is refused with a
// message naming `cairn recover`, and that keeps every commit before it.
TEST_F(RecoveryTest, AZeroedLastRecordRefusesTheStartAndRecoverKeepsWhatCameBefore) {
  CrashAfterThreeAppends(false);
  const std::string wal = NewestWal();
  std::string zeroed = testing::ReadFile(wal);
  ASSERT_GT(zeroed.size(), 1000u);
  std::fill(zeroed.end() - kTornBytes, zeroed.end(), '\0');
  testing::WriteFile(wal, zeroed);
  auto refused = OpenAt(dir_);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(refused.status().message().find("cairn recover --data-dir"), std::string::npos)
      << refused.status().message();
  const RecoveryReport r = EventStore::RecoverDataDir(dir_, {}, /*apply=*/true);
  ASSERT_TRUE(r.applied) << r.recovered.failure << r.apply_failure;
  EXPECT_EQ(r.tree_size, uint64_t{kKeptEvents} + 2) << "every commit before the zeroed one is kept";
  Reopen();
  EXPECT_TRUE(store_->Verify().ok);
}

// The same record cut short (the file ends inside it: what a crash leaves): the store opens by
// itself without it.
TEST_F(RecoveryTest, ATornLastRecordIsDroppedAtOpen) {
  CrashAfterThreeAppends(false);
  const std::string wal = NewestWal();
  std::string cut = testing::ReadFile(wal);
  ASSERT_GT(cut.size(), 1000u);
  cut.resize(cut.size() - kTornBytes);
  testing::WriteFile(wal, cut);
  Reopen();
  EXPECT_EQ(store_->tree_size(), uint64_t{kKeptEvents} + 2);
  EXPECT_TRUE(store_->Verify().ok);
}

}  // namespace CAIRN_UNITY_ID
}  // namespace cairn::engine

namespace cairn::engine {
namespace CAIRN_UNITY_ID {

// A log marked as an unproven `cairn migrate` copy is opened only by migrate's proof.
TEST_F(EngineTest, AnUnprovenMigrationCopyIsOpenedOnlyByTheProof) {
  ASSERT_TRUE(store_->log_store()->PutMeta(kMetaUnprovenCopy, "1").ok());
  Close();
  Options o;
  o.data_dir = dir_;
  auto refused = EventStore::Open(o);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(refused.status().message().find("proof never finished"), std::string::npos)
      << refused.status().message();
  o.open_unproven_copy = true;
  auto proof = EventStore::Open(o);
  ASSERT_TRUE(proof.ok()) << proof.status().ToString();
  ASSERT_TRUE((*proof)->log_store()->PutMeta(kMetaUnprovenCopy, "").ok());  // proven
  proof->reset();
  Reopen();
}

}  // namespace CAIRN_UNITY_ID
}  // namespace cairn::engine
