// EventStore::Backup: a consistent copy made while appends go on (a prefix of the commits, whose
// whole log verifies with the data directory's keys and holds the checkpoint signed for it), an
// existing directory refused, and the PostgreSQL backend refused (its database has backups).
#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <thread>

#include "engine_test_util.h"
#include "integrity/checkpoint.h"
#include "integrity/note.h"
#include "integrity/proof.h"

namespace cairn::engine {
namespace CAIRN_UNITY_ID {

namespace fs = std::filesystem;

class BackupTest : public EngineBackendTest {};

TEST_P(BackupTest, CopiesAPrefixOfTheCommitsWhileAppendsGoOn) {
  const std::string backup = tmp_.Sub("backup");
  if (backend() == Backend::kPostgres) {
    EXPECT_EQ(store_->Backup(backup).status().code(), StatusCode::kFailedPrecondition);
    EXPECT_FALSE(fs::exists(backup));
    return;
  }
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(store_->Append("s", ExpectedVersion::Any(), One("T", "{}")).ok());
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> appended{0};
  std::thread appender([&] {
    while (!stop && appended < 5000) {
      std::vector<ProposedEvent> batch;
      for (int i = 0; i < 10; ++i) batch.push_back(Ev("T", R"({"n":1})"));
      if (!store_->Append("t", ExpectedVersion::Any(), std::move(batch)).ok()) return;
      appended += 10;
    }
  });
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (appended < 200 && std::chrono::steady_clock::now() < give_up) std::this_thread::yield();
  ASSERT_GE(appended.load(), 200u) << "the appender stopped";
  const uint64_t before = store_->tree_size();
  auto made = store_->Backup(backup);
  const uint64_t after = store_->tree_size();
  stop = true;
  appender.join();
  ASSERT_TRUE(made.ok()) << made.status().ToString();
  EXPECT_GE(made->tree_size, before);
  EXPECT_LE(made->tree_size, after);
  EXPECT_GE(made->checkpoint_size, before);  // signed right before the copy
  EXPECT_LE(made->checkpoint_size, made->tree_size);
  EXPECT_EQ(fs::status(backup).permissions(), fs::perms::owner_all);

  // The note verifies under the log's key and is the file beside the copy.
  auto vkey = integrity::ParseVerifierKey(store_->verifier_key());
  ASSERT_TRUE(vkey.ok());
  auto cp = integrity::VerifyCheckpoint(made->checkpoint_note, *vkey);
  ASSERT_TRUE(cp.ok()) << cp.status().ToString();
  EXPECT_EQ(cp->size, made->checkpoint_size);
  EXPECT_EQ(testing::ReadFile(backup + "/" + kBackupCheckpointFile), made->checkpoint_note);

  // The whole copy verifies with the data directory's keyring (the KEK is not in the backup)
  // and the pinned key, and holds the checkpoint's tree.
  keys::KmsConfig kms;
  kms.local.keyring_path = tmp_.Sub("data/keyring");
  VerifyAnchor anchor{store_->verifier_key(), made->checkpoint_note};
  VerifyReport report = EventStore::VerifyDataDir(backup, kms, std::nullopt, anchor);
  ASSERT_TRUE(report.ok) << report.failure;
  EXPECT_EQ(report.records_checked, made->tree_size);
  EXPECT_EQ(report.latest_checkpoint, made->checkpoint_note);
  EXPECT_FALSE(fs::exists(backup + "/keyring"));

  // A prefix of the live log: the copy's root, recomputed from its records, is the live log's
  // tree at that size (a consistency proof from there to the live tree verifies).
  ASSERT_TRUE(store_->Append("u", ExpectedVersion::Any(), One("T", "{}")).ok());
  auto live = store_->Checkpoint();
  ASSERT_TRUE(live.ok());
  ASSERT_GT(live->size, made->tree_size);
  auto proof = store_->ProveConsistency(made->tree_size, live->size);
  ASSERT_TRUE(proof.ok()) << proof.status().ToString();
  EXPECT_TRUE(integrity::VerifyConsistency(made->tree_size, live->size, proof->proof, report.root,
                                           live->root)
                  .ok());

  // A relative path, and one with a trailing '/', name the same kind of directory.
  const std::string relative = fs::relative(tmp_.Sub("backup-rel")).string();
  ASSERT_FALSE(relative.empty());
  ASSERT_NE(relative.front(), '/');
  auto by_relative = store_->Backup(relative);
  ASSERT_TRUE(by_relative.ok()) << by_relative.status().ToString();
  EXPECT_EQ(by_relative->path, tmp_.Sub("backup-rel"));
  auto by_slash = store_->Backup(tmp_.Sub("backup-slash") + "/");
  ASSERT_TRUE(by_slash.ok()) << by_slash.status().ToString();
  EXPECT_TRUE(fs::exists(tmp_.Sub("backup-slash/") + kBackupCheckpointFile));

  // A second backup into the same directory changes nothing.
  auto again = store_->Backup(backup);
  EXPECT_EQ(again.status().code(), StatusCode::kAlreadyExists) << again.status().ToString();
  EXPECT_EQ(testing::ReadFile(backup + "/" + kBackupCheckpointFile), made->checkpoint_note);
}

CAIRN_ON_BOTH_BACKENDS(BackupTest);

// One backup at a time: a second one while the first copies is refused (kAborted) and writes
// nothing. The first one's directory appears before its copy starts, so a second call made then
// usually finds it running; over several rounds at least one does (without the exclusion none
// would be refused).
TEST_F(EngineTest, ASecondBackupWhileOneRunsIsAborted) {
  for (int b = 0; b < 20; ++b) {
    std::vector<ProposedEvent> batch;
    for (int i = 0; i < 1000; ++i) batch.push_back(Ev("T", R"({"n":1})"));
    ASSERT_TRUE(store_->Append("s", ExpectedVersion::Any(), std::move(batch)).ok());
  }
  bool refused = false;
  for (int round = 0; round < 20 && !refused; ++round) {
    const std::string first = tmp_.Sub("first-" + std::to_string(round));
    const std::string second = tmp_.Sub("second-" + std::to_string(round));
    Result<BackupResult> first_made = Status::Internal("not run");
    std::thread t([&] { first_made = store_->Backup(first); });
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!fs::exists(first) && std::chrono::steady_clock::now() < give_up) std::this_thread::yield();
    auto second_made = store_->Backup(second);
    t.join();
    ASSERT_TRUE(first_made.ok()) << first_made.status().ToString();
    if (second_made.status().code() == StatusCode::kAborted) {
      refused = true;
      EXPECT_FALSE(fs::exists(second));
    } else {
      ASSERT_TRUE(second_made.ok()) << second_made.status().ToString();  // the first had ended
    }
  }
  EXPECT_TRUE(refused) << "no second backup was refused while another ran";
}

}  // namespace CAIRN_UNITY_ID
}  // namespace cairn::engine
