// Online backup and restore end to end: Admin.Backup on the real server (action `admin`, into
// `[backup] dir` only) copies the log while it serves; `cairn restore` verifies the backup with
// the data directory's keys and the pinned verifier key and puts it in place of the stopped
// server's store, which then serves the log as it was at the backup. A backup of another log, a
// checkpoint.note that is not the backup's and a damaged copy are refused with the data directory
// left as it was. A witness (`cairn checkpoint --checkpoint-file`) notices the restored, shorter
// log and the different history appended after it.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "engine/event_store.h"
#include "integrity/checkpoint.h"
#include "kms_test_util.h"
#include "protect_rules.h"
#include "server_env.h"

namespace cairn::testing {
namespace CAIRN_UNITY_ID {

namespace fs = std::filesystem;

std::string FirstData(Client& client, const std::string& stream) {
  std::string data;
  v1::ReadRequest request;
  request.set_stream(stream);
  Status s = client.Read(request, [&](const v1::ReadResponse& chunk) {
    if (data.empty() && chunk.events_size() > 0) data = chunk.events(0).data();
    return true;
  });
  EXPECT_TRUE(s.ok()) << s.ToString();
  return data;
}

v1::AppendRequest Orders(const std::string& stream, int n) {
  v1::AppendRequest request;
  request.set_stream(stream);
  for (int i = 0; i < n; ++i) {
    auto* e = request.add_events();
    e->set_type("OrderCreated");
    e->set_data(R"({"n":)" + std::to_string(i) + "}");
  }
  return request;
}

uint64_t StreamLength(Client& client, const std::string& stream) {
  uint64_t n = 0;
  v1::ReadRequest request;
  request.set_stream(stream);
  Status s = client.Read(request, [&](const v1::ReadResponse& chunk) {
    n += static_cast<uint64_t>(chunk.events_size());
    return true;
  });
  EXPECT_TRUE(s.ok()) << s.ToString();
  return n;
}

std::vector<std::string> Entries(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

class BackupTest : public ::testing::Test {
 protected:
  void SetUp() override {
    backups_ = env_.dir().Sub("backups");
    ASSERT_EQ(::mkdir(backups_.c_str(), 0700), 0);
    env_.extra_config = ProtectRulesConfig(env_, kKmsTestRules) + "[backup]\ndir = \"" + backups_ + "\"\n";
    ASSERT_TRUE(env_.Start()) << env_.server().output();
    admin_ = env_.ClientWith(env_.admin_key);
    auto key = admin_->GetVerifierKey();
    ASSERT_TRUE(key.ok()) << key.status().ToString();
    vkey_ = key->vkey();
  }

  CommandResult Restore(const std::string& from, const std::string& vkey) {
    return RunCairn({"restore", "--from", from, "--data-dir", env_.DataDir(), "--config",
                     env_.ConfigPath(), "--verifier-key", vkey});
  }

  // Starts the stopped server again, with a new admin client.
  void StartAgain() {
    ASSERT_TRUE(env_.Start()) << env_.server().output();
    admin_ = env_.ClientWith(env_.admin_key);
  }

  // `cairn checkpoint` as a witness of the running server, keeping its checkpoint in kept_.
  CommandResult Witness(const std::string& vkey) {
    return RunCairn({"checkpoint", "--server", env_.server().target(), "--ca", env_.CaCert(),
                     "--token", env_.admin_key, "--verifier-key", vkey, "--checkpoint-file", kept_});
  }
  uint64_t KeptSize() {
    auto cp = integrity::ParseCheckpoint(ReadAll(kept_).substr(0, ReadAll(kept_).find("\n\n") + 1));
    EXPECT_TRUE(cp.ok()) << cp.status().ToString();
    return cp.ok() ? cp->size : 0;
  }

  ServerEnv env_;
  std::string backups_;
  std::string kept_ = env_.dir().Sub("kept.note");
  std::unique_ptr<Client> admin_;
  std::string vkey_;
};

TEST_F(BackupTest, OnlineBackupRestoresTheLogAsItWasWhenTaken) {
  ASSERT_TRUE(admin_->Append(Orders("order-1", 5)).ok());
  auto made = admin_->Backup();
  ASSERT_TRUE(made.ok()) << made.status().ToString();
  EXPECT_EQ(made->tree_size(), 5u);
  EXPECT_EQ(made->checkpoint_size(), 5u);  // signed right before the copy
  EXPECT_EQ(fs::path(made->path()).parent_path().string(), backups_);
  EXPECT_EQ(fs::status(made->path()).permissions(), fs::perms::owner_all);
  EXPECT_EQ(ReadAll(made->path() + "/" + engine::kBackupCheckpointFile), made->checkpoint_note());
  EXPECT_FALSE(fs::exists(made->path() + "/keyring"));  // the KEK never leaves with a backup

  ASSERT_TRUE(admin_->Append(Orders("order-1", 3)).ok());
  ASSERT_EQ(env_.server().Stop(), 0);
  CommandResult restored = Restore(made->path(), vkey_);
  ASSERT_EQ(restored.exit_code, 0) << restored.out << restored.err;
  EXPECT_NE(restored.out.find("restored 5 events"), std::string::npos) << restored.out;
  EXPECT_NE(restored.out.find("under the pinned verifier key"), std::string::npos) << restored.out;

  ASSERT_NO_FATAL_FAILURE(StartAgain());
  EXPECT_EQ(StreamLength(*admin_, "order-1"), 5u);  // the 3 later events are not in the backup
  auto info = admin_->ServerInfo();
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->tree_size(), 5u);  // this configuration has [audit] off: no restore record
  auto next = admin_->Append(Orders("order-1", 1));  // the restored log takes appends
  ASSERT_TRUE(next.ok()) << next.status().ToString();
  EXPECT_EQ(next->first_position(), 5u);
  ASSERT_EQ(env_.server().Stop(), 0);
  CommandResult verified = RunCairn({"verify", "--data-dir", env_.DataDir(), "--config",
                                     env_.ConfigPath(), "--verifier-key", vkey_});
  EXPECT_EQ(verified.exit_code, 0) << verified.out << verified.err;
}

// A witness (`cairn checkpoint --checkpoint-file`) keeps the checkpoints it saw: a restore to an
// older state is a log that shrank, and appends on top of it a history that does not extend the
// kept one. Both are refused and the kept checkpoint stays.
TEST_F(BackupTest, AWitnessNoticesARestoreToAnOlderStateAndTheForkAfterIt) {
  ASSERT_TRUE(admin_->Append(Orders("order-1", 5)).ok());
  CommandResult seen = Witness(vkey_);
  ASSERT_EQ(seen.exit_code, 0) << seen.err;
  EXPECT_EQ(KeptSize(), 5u);
  auto made = admin_->Backup();
  ASSERT_TRUE(made.ok()) << made.status().ToString();
  ASSERT_TRUE(admin_->Append(Orders("order-1", 3)).ok());
  seen = Witness(vkey_);  // 5 -> 8 through a consistency proof
  ASSERT_EQ(seen.exit_code, 0) << seen.err;
  EXPECT_EQ(KeptSize(), 8u);

  // Not the log's key: refused, the kept checkpoint stays.
  TempDir other;
  ASSERT_EQ(RunCairn({"init", "--data-dir", other.Sub("d")}).exit_code, 0);
  CommandResult other_key = RunCairn({"vkey", "--data-dir", other.Sub("d")});
  std::string foreign = other_key.out.substr(0, other_key.out.find('\n'));
  CommandResult refused = Witness(foreign);
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_NE(refused.err.find("not signed by the pinned key"), std::string::npos) << refused.err;
  // A pinned key without a kept file checks the signature too.
  CommandResult pinned_only = RunCairn({"checkpoint", "--server", env_.server().target(), "--ca",
                                        env_.CaCert(), "--token", env_.admin_key, "--verifier-key",
                                        foreign});
  EXPECT_EQ(pinned_only.exit_code, 1) << pinned_only.out;
  // A kept file the pinned key did not sign is refused, not replaced.
  const std::string kept_before = ReadAll(kept_);
  CommandResult other_cp = RunCairn({"checkpoint", "--data-dir", other.Sub("d")});
  ASSERT_EQ(other_cp.exit_code, 0) << other_cp.err;
  ASSERT_TRUE(fs::remove(kept_));
  WriteFile(kept_, other_cp.out);
  refused = Witness(vkey_);
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_NE(refused.err.find("is not signed by the pinned key"), std::string::npos) << refused.err;
  ASSERT_TRUE(fs::remove(kept_));
  WriteFile(kept_, kept_before);

  ASSERT_EQ(env_.server().Stop(), 0);
  ASSERT_EQ(Restore(made->path(), vkey_).exit_code, 0);
  ASSERT_NO_FATAL_FAILURE(StartAgain());
  refused = Witness(vkey_);
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_NE(refused.err.find("the log shrank"), std::string::npos) << refused.err;
  EXPECT_EQ(KeptSize(), 8u);

  ASSERT_TRUE(admin_->Append(Orders("order-2", 3)).ok());  // size 8 again, another tree
  refused = Witness(vkey_);
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_NE(refused.err.find("two different trees of one size"), std::string::npos) << refused.err;
  EXPECT_NE(refused.err.find("the refused checkpoint"), std::string::npos) << refused.err;
  EXPECT_EQ(KeptSize(), 8u);

  ASSERT_TRUE(admin_->Append(Orders("order-2", 1)).ok());  // size 9, another history after 5
  refused = Witness(vkey_);
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_NE(refused.err.find("history was rewritten"), std::string::npos) << refused.err;
  EXPECT_EQ(KeptSize(), 8u);

  // Without a pinned key there is nothing to witness with: a usage error.
  CommandResult usage = RunCairn({"checkpoint", "--server", env_.server().target(), "--ca",
                                  env_.CaCert(), "--token", env_.admin_key, "--checkpoint-file", kept_});
  EXPECT_EQ(usage.exit_code, 2) << usage.err;
}

TEST_F(BackupTest, BackupNeedsAdminAndWritesNothingForOthers) {
  auto bot = env_.ClientWith(env_.bot_key);
  auto denied = bot->Backup();
  EXPECT_EQ(denied.status().code(), StatusCode::kPermissionDenied) << denied.status().ToString();
  EXPECT_TRUE(Entries(backups_).empty());
  auto made = admin_->Backup();
  ASSERT_TRUE(made.ok()) << made.status().ToString();
  EXPECT_EQ(made->tree_size(), 0u);
  EXPECT_EQ(Entries(backups_).size(), 1u);
}

TEST_F(BackupTest, RestoreRefusesAForeignWrongOrDamagedBackupAndChangesNothing) {
  ASSERT_TRUE(admin_->Append(Orders("order-1", 4)).ok());
  auto made = admin_->Backup();
  ASSERT_TRUE(made.ok()) << made.status().ToString();
  ASSERT_TRUE(admin_->Append(Orders("order-1", 2)).ok());
  auto later = admin_->GetCheckpoint();  // size 6: signed, but not the backup's
  ASSERT_TRUE(later.ok());
  ASSERT_EQ(env_.server().Stop(), 0);
  const std::vector<std::string> before = Entries(env_.DataDir());

  // Another log's key: the backup is not signed by it.
  TempDir other;
  ASSERT_EQ(RunCairn({"init", "--data-dir", other.Sub("d")}).exit_code, 0);
  CommandResult other_key = RunCairn({"vkey", "--data-dir", other.Sub("d")});
  ASSERT_EQ(other_key.exit_code, 0) << other_key.err;
  std::string foreign = other_key.out;
  while (!foreign.empty() && foreign.back() == '\n') foreign.pop_back();
  CommandResult refused = Restore(made->path(), foreign);
  EXPECT_EQ(refused.exit_code, 1) << refused.out;
  EXPECT_NE(refused.err.find("does not verify"), std::string::npos) << refused.err;

  // A checkpoint.note that is a valid note of this log, but not the backup's own.
  const std::string note_path = made->path() + "/" + engine::kBackupCheckpointFile;
  ASSERT_TRUE(fs::remove(note_path));
  WriteFile(note_path, later->note());
  refused = Restore(made->path(), vkey_);
  EXPECT_EQ(refused.exit_code, 1) << refused.out;
  EXPECT_NE(refused.err.find("not the latest checkpoint its log holds"), std::string::npos)
      << refused.err;
  ASSERT_TRUE(fs::remove(note_path));
  WriteFile(note_path, made->checkpoint_note());

  // A damaged copy: one byte of the copied write-ahead log flipped.
  std::string wal;
  for (const auto& e : fs::directory_iterator(made->path() + "/db")) {
    // A copied WAL, not one hard-linked to the live store's (that would damage the store too).
    if (e.path().extension() == ".log" && fs::file_size(e.path()) > 64 && e.hard_link_count() == 1) {
      wal = e.path().string();
    }
  }
  ASSERT_FALSE(wal.empty()) << "the backup holds no write-ahead log with records";
  {
    std::fstream f(wal, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(static_cast<std::streamoff>(fs::file_size(wal) / 2));
    char c = 0;
    f.read(&c, 1);
    f.seekp(static_cast<std::streamoff>(fs::file_size(wal) / 2));
    c = static_cast<char>(c ^ 0x5a);
    f.write(&c, 1);
  }
  refused = Restore(made->path(), vkey_);
  EXPECT_EQ(refused.exit_code, 1) << refused.out;
  // Either the log does not verify or, if only the last record (the checkpoint) was cut, the
  // note is not the latest checkpoint the copy holds.
  EXPECT_NE(refused.err.find("the backup"), std::string::npos) << refused.err;

  // A symlink inside the backup's store is not copied through.
  const std::string link = made->path() + "/db/000999.sst";
  fs::create_symlink("/etc/hostname", link);
  refused = Restore(made->path(), vkey_);
  EXPECT_EQ(refused.exit_code, 1) << refused.out;
  EXPECT_NE(refused.err.find("not a regular file"), std::string::npos) << refused.err;
  fs::remove(link);

  // Without a pinned key (and without --unpinned) nothing is restored.
  CommandResult unpinned = RunCairn({"restore", "--from", made->path(), "--data-dir", env_.DataDir(),
                                     "--config", env_.ConfigPath()});
  EXPECT_EQ(unpinned.exit_code, 2) << unpinned.out << unpinned.err;
  EXPECT_NE(unpinned.err.find("pin the log's verifier key"), std::string::npos) << unpinned.err;

  // Nothing was replaced: the data directory serves the whole log.
  EXPECT_EQ(Entries(env_.DataDir()), before);
  ASSERT_NO_FATAL_FAILURE(StartAgain());
  EXPECT_EQ(StreamLength(*admin_, "order-1"), 6u);
}

// A subject forgotten after the backup was taken stays forgotten after the restore: the restore
// destroys, in the verified copy, the key versions the replaced store no longer holds. A subject
// whose keys are still there, and one made after the backup, are untouched.
TEST_F(BackupTest, RestoreCarriesTheErasuresMadeSinceTheBackup) {
  ASSERT_TRUE(admin_->Append(CustomerAppend("order-c1", "alice")).ok());
  ASSERT_TRUE(admin_->Append(CustomerAppend("order-c2", "bob")).ok());
  auto made = admin_->Backup();
  ASSERT_TRUE(made.ok()) << made.status().ToString();
  auto forgotten = admin_->Forget("alice");
  ASSERT_TRUE(forgotten.ok()) << forgotten.status().ToString();
  EXPECT_EQ(forgotten->versions_destroyed(), 1u);
  ASSERT_TRUE(admin_->Append(CustomerAppend("order-c3", "carol")).ok());
  ASSERT_EQ(env_.server().Stop(), 0);

  // With the data directory's own configuration (DIR/cairn.toml: the audit trail on), so that
  // the restore is recorded in the restored log.
  CommandResult restored = RunCairn({"restore", "--from", made->path(), "--data-dir",
                                     env_.DataDir(), "--verifier-key", vkey_});
  ASSERT_EQ(restored.exit_code, 0) << restored.out << restored.err;
  EXPECT_NE(restored.out.find("erasures since the backup made again: 1 subject(s), 1 key version(s)"),
            std::string::npos)
      << restored.out;

  ASSERT_NO_FATAL_FAILURE(StartAgain());
  EXPECT_EQ(FirstData(*admin_, "order-c1").find("alice@example.com"), std::string::npos)
      << "a forgotten subject came back with the restore";
  EXPECT_NE(FirstData(*admin_, "order-c2").find("bob@example.com"), std::string::npos);
  auto keys = admin_->ListKeys();
  ASSERT_TRUE(keys.ok());
  int subject_keys = 0;
  for (const auto& k : keys->keys()) subject_keys += k.kind() == "subject";
  EXPECT_EQ(subject_keys, 1);  // bob's; carol's was made after the backup, alice's is destroyed

  // The restore is in the restored log's audit trail.
  ASSERT_EQ(env_.server().Stop(), 0);
  CommandResult audit = RunCairn({"read", "$audit", "--data-dir", env_.DataDir(), "--json"});
  EXPECT_NE(audit.out.find(R"(\"action\":\"restore\")"), std::string::npos) << audit.out << audit.err;
  EXPECT_NE(audit.out.find(R"(\"subjects_erased\":\"1\")"), std::string::npos) << audit.out;
}

// A newer backup restored over an older state of the log: the replaced store does not hold the
// backup's checkpoint, so nothing is carried — a subject made between the two states is not
// mistaken for a forgotten one.
TEST_F(BackupTest, NothingIsCarriedOntoAStoreOlderThanTheBackup) {
  ASSERT_TRUE(admin_->Append(CustomerAppend("order-c1", "alice")).ok());
  auto older = admin_->Backup();
  ASSERT_TRUE(older.ok()) << older.status().ToString();
  ASSERT_TRUE(admin_->Append(CustomerAppend("order-c2", "dave")).ok());
  auto newer = admin_->Backup();
  ASSERT_TRUE(newer.ok()) << newer.status().ToString();
  ASSERT_EQ(env_.server().Stop(), 0);
  ASSERT_EQ(Restore(older->path(), vkey_).exit_code, 0);
  CommandResult restored = Restore(newer->path(), vkey_);
  ASSERT_EQ(restored.exit_code, 0) << restored.out << restored.err;
  EXPECT_NE(restored.out.find("NOT made again (the replaced store does not hold the backup's checkpoint"),
            std::string::npos)
      << restored.out;
  ASSERT_NO_FATAL_FAILURE(StartAgain());
  EXPECT_NE(FirstData(*admin_, "order-c2").find("dave@example.com"), std::string::npos);
}

TEST_F(BackupTest, UnpinnedRestoreTrustsTheKeyTheBackupHoldsAndSaysSo) {
  ASSERT_TRUE(admin_->Append(Orders("order-1", 2)).ok());
  auto made = admin_->Backup();
  ASSERT_TRUE(made.ok()) << made.status().ToString();
  EXPECT_FALSE(made->kek_id().empty());
  ASSERT_EQ(env_.server().Stop(), 0);
  CommandResult restored = RunCairn({"restore", "--from", made->path(), "--data-dir", env_.DataDir(),
                                     "--config", env_.ConfigPath(), "--unpinned", "--json"});
  ASSERT_EQ(restored.exit_code, 0) << restored.out << restored.err;
  EXPECT_NE(restored.out.find(R"("key_pinned":false)"), std::string::npos) << restored.out;
  EXPECT_NE(restored.out.find(R"("records":2)"), std::string::npos) << restored.out;
  EXPECT_NE(restored.out.find(R"("erasures_carried":true)"), std::string::npos) << restored.out;
}

// A KEK rotation after a backup retires the KEK its keys are wrapped under: the restore is
// refused with the data directory unchanged, and succeeds with a copy of the keyring as of the
// backup in [keys] (what operations.md tells operators to keep); the server then reads it all.
TEST_F(BackupTest, ABackupFromBeforeAKekRotationNeedsTheKeyringOfItsTime) {
  ASSERT_TRUE(admin_->Append(CustomerAppend("cust-alice", "alice")).ok());
  ASSERT_TRUE(admin_->Append(Orders("order-1", 2)).ok());
  auto made = admin_->Backup();
  ASSERT_TRUE(made.ok()) << made.status().ToString();
  const std::string keyring = env_.DataDir() + "/keyring";
  const std::string kept_keyring = env_.dir().Sub("keyring.at-backup");
  fs::copy_file(keyring, kept_keyring);
  ASSERT_EQ(::chmod(kept_keyring.c_str(), 0600), 0);
  ASSERT_TRUE(admin_->Append(Orders("order-1", 4)).ok());  // after the backup: 6 in all
  ASSERT_EQ(env_.server().Stop(), 0);
  auto rotated = RunCairn({"keys", "rotate", "--kek", "--data-dir", env_.DataDir()});
  ASSERT_EQ(rotated.exit_code, 0) << rotated.out << rotated.err;
  ASSERT_NE(rotated.out.find("older KEK versions retired"), std::string::npos) << rotated.out;

  CommandResult refused = Restore(made->path(), vkey_);
  EXPECT_EQ(refused.exit_code, 1) << refused.out << refused.err;
  EXPECT_NE(refused.err.find("which the local provider configured here does not hold"), std::string::npos)
      << refused.err;  // names the KEK the backup needs
  for (const std::string& name : Entries(env_.DataDir())) {
    EXPECT_EQ(name.rfind("restoring-", 0), std::string::npos) << "left behind: " << name;
  }
  ASSERT_NO_FATAL_FAILURE(StartAgain());
  EXPECT_EQ(StreamLength(*admin_, "order-1"), 6u) << "the refused restore changed the log";
  ASSERT_EQ(env_.server().Stop(), 0);

  env_.extra_config += "\n[keys]\nkeyring = \"" + kept_keyring + "\"\n";
  env_.WriteConfig(env_.ConfigText());
  CommandResult restored = Restore(made->path(), vkey_);
  ASSERT_EQ(restored.exit_code, 0) << restored.out << restored.err;
  ASSERT_NO_FATAL_FAILURE(StartAgain());
  EXPECT_EQ(StreamLength(*admin_, "order-1"), 2u);
  Status read;
  auto customer = ReadEvents(*admin_, "cust-alice", &read);
  ASSERT_TRUE(read.ok()) << read.ToString();
  ASSERT_EQ(customer.size(), 1u);
  EXPECT_NE(customer[0].data().find("alice@example.com"), std::string::npos)
      << "the subject key opens under the kept keyring";
}

TEST(BackupOffTest, BackupWithoutABackupDirIsRefused) {
  ServerEnv env;
  ASSERT_TRUE(env.Start()) << env.server().output();
  auto made = env.ClientWith(env.admin_key)->Backup();
  EXPECT_EQ(made.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(made.status().message().find("[backup] dir"), std::string::npos)
      << made.status().ToString();
  // Over the network the server chooses where: --to is a usage error, and nothing is written.
  CommandResult to = RunCairn({"backup", "--server", env.server().target(), "--ca", env.CaCert(),
                               "--token", env.admin_key, "--to", env.dir().Sub("here")});
  EXPECT_EQ(to.exit_code, 2) << to.out << to.err;
  EXPECT_FALSE(std::filesystem::exists(env.dir().Sub("here")));
}

}  // namespace
}  // namespace cairn::testing
