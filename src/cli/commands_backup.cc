// cairn backup: an online backup (a server's Admin.Backup, or a data directory opened offline).
// cairn restore: puts a verified backup in place of a stopped data directory's store.
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <utility>

#include "cli/anchor_files.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "cli/data_dir.h"
#include "cli/errors.h"
#include "cli/offline_audit.h"
#include "cli/output_json.h"
#include "cli/utf8.h"
#include "common/bytes.h"
#include "common/trusted_file.h"
#include "common/wall_clock.h"
#include "crypto/secure.h"
#include "crypto/x509.h"
#include "engine/data_dir.h"
#include "engine/event_store.h"
#include "keys/erasure_carry.h"
#include "storage/rocksdb/rocks_log_store.h"

namespace cairn::cli {
namespace {

namespace fs = std::filesystem;

constexpr size_t kCheckpointNoteBytesMax = 64 << 10;
// A RocksDB store is a few hundred files at most (SSTs of each family, WAL, MANIFEST, OPTIONS).
constexpr size_t kStoreFilesMax = 100000;

struct BackupArgs {
  std::string data_dir;
  std::string to;
  bool json = false;
};

int RunBackup(const CliContext& ctx, const BackupArgs& args) {
  int rc = kExitOk;
  std::string offline_dir;  // empty when a server does (and audits) the backup
  auto store = OpenOrReport(ctx, args.data_dir, &rc, &offline_dir);
  if (!store) return rc;
  if (!offline_dir.empty() && args.to.empty()) {
    return UsageError("--to DIR is required for a data directory opened offline");
  }
  if (offline_dir.empty() && !args.to.empty()) {
    return UsageError("a server writes its backups into its [backup] dir; --to is for a data "
                      "directory opened offline");
  }
  OfflineAct act{"backup", args.to, Status::Ok(), {}};
  auto made = store->Backup(args.to);
  act.outcome = made.status();
  if (made.ok()) {
    act.details.emplace_back("tree_size", std::to_string(made->tree_size));
    act.details.emplace_back("kek_id", made->kek_id);
  }
  const Status audited =
      offline_dir.empty() ? Status::Ok() : AuditOfflineAct(store.get(), offline_dir, std::move(act));
  if (!made.ok()) return Fail(made.status());
  if (!audited.ok()) return Fail(audited.Annotate("the backup was made, but its audit record was not written"));
  if (args.json) {
    std::cout << JsonLine(Json{{"path", made->path},
                               {"kek_id", made->kek_id},
                               {"tree_size", made->tree_size},
                               {"checkpoint_size", made->checkpoint_size},
                               {"checkpoint_note", made->checkpoint_note}})
              << "\n";
    return kExitOk;
  }
  std::cout << "backup: " << TerminalSafe(made->path) << "\n"
            << "events: " << made->tree_size << " (latest signed checkpoint: size "
            << made->checkpoint_size << ")\n"
            << "keys wrapped under KEK " << TerminalSafe(made->kek_id)
            << " (keep it, also after a KEK rotation, to restore this backup)\n"
            << "restore it with the server stopped: cairn restore --from "
            << TerminalSafe(made->path) << " --data-dir DIR\n";
  return kExitOk;
}

struct RestoreArgs {
  std::string data_dir;
  std::string from;
  std::string config_file;
  std::string verifier_key;
  std::string verifier_key_file;
  bool unpinned = false;
  bool json = false;
};

Status SyncFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return Status::IOError("cannot open " + path + ": " + std::strerror(errno));
  const bool synced = ::fsync(fd) == 0;
  const int err = errno;
  ::close(fd);
  if (!synced) return Status::IOError("cannot sync " + path + ": " + std::strerror(err));
  return Status::Ok();
}

// Copies the store files of `from` into the new directory `to` (0700; files 0600, each synced,
// then the directory). Anything but a regular file (a symlink, a directory) is refused.
Status CopyStoreFiles(const std::string& from, const std::string& to) {
  std::error_code ec;
  if (!fs::create_directory(to, ec)) return Status::IOError("cannot create " + to + ": " + ec.message());
  fs::permissions(to, fs::perms::owner_all, fs::perm_options::replace, ec);
  if (ec) return Status::IOError("cannot restrict " + to + ": " + ec.message());
  size_t files = 0;
  fs::directory_iterator it(from, ec);
  for (; !ec && it != fs::directory_iterator(); it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name == "LOCK") continue;  // RocksDB's lock file: made again at open
    if (!fs::is_regular_file(it->symlink_status())) {
      return Status::DataLoss("the backup's store holds " + name + ", which is not a regular file");
    }
    if (++files > kStoreFilesMax) return Status::IOError(from + " holds too many files for a store");
    const std::string target = to + "/" + name;
    if (!fs::copy_file(it->path(), target, ec)) {
      return Status::IOError("cannot copy " + name + ": " + ec.message());
    }
    fs::permissions(target, fs::perms::owner_read | fs::perms::owner_write, fs::perm_options::replace, ec);
    if (ec) return Status::IOError("cannot restrict " + target + ": " + ec.message());
    CAIRN_RETURN_IF_ERROR(SyncFile(target));
  }
  if (ec) return Status::IOError("cannot list " + from + ": " + ec.message());
  return crypto::SyncDirectory(to);
}

// The staged copy's whole log verified with the data directory's keys and the pinned key, and
// `note` (the backup's checkpoint.note) shown to be the latest checkpoint it holds.
Result<engine::VerifyReport> VerifyStaged(const std::string& staging, const server::Config& config,
                                          const std::string& data_dir, const std::string& pinned,
                                          const std::string& note) {
  keys::KmsConfig kms = config.keys;
  if (kms.provider == keys::kProviderLocal && kms.local.keyring_path.empty()) {
    kms.local.keyring_path = engine::DataDirPaths(data_dir).keyring;  // the KEK never is in a backup
  }
  engine::VerifyAnchor anchor;
  anchor.verifier_key = pinned;
  engine::VerifyReport report = engine::EventStore::VerifyDataDir(staging, kms, std::nullopt, anchor);
  if (!report.ok) return Status::DataLoss("the backup does not verify: " + report.failure);
  if (report.latest_checkpoint != note) {
    return Status::DataLoss("the backup's checkpoint.note is not the latest checkpoint its log holds");
  }
  return report;
}

// Puts the staged store (`staging`/db) in place of DIR/db, which moves aside: one atomic swap
// (renameat2 RENAME_EXCHANGE), so that DIR/db is at every instant either the old store or the
// verified copy, then the old store is renamed out of `staging`. Returns where the replaced store
// was kept ("" when there was none). *keep_staging is set when `staging` still holds the old
// store (the last rename failed; the message says where it is).
Result<std::string> Install(const std::string& staging, const std::string& data_dir, bool* keep_staging) {
  const engine::DataDirPaths paths(data_dir);
  const std::string staged = engine::DataDirPaths(staging).db;
  std::error_code ec;
  if (!fs::exists(fs::symlink_status(paths.db, ec))) {
    if (::rename(staged.c_str(), paths.db.c_str()) != 0) {
      return Status::IOError("cannot put the restored store in place: " + std::string(std::strerror(errno)));
    }
    CAIRN_RETURN_IF_ERROR(crypto::SyncDirectory(data_dir));
    return std::string();
  }
  if (::renameat2(AT_FDCWD, staged.c_str(), AT_FDCWD, paths.db.c_str(), RENAME_EXCHANGE) != 0) {
    return Status::IOError("cannot swap the restored store in (the data directory is as it was): " +
                           std::string(std::strerror(errno)));
  }
  *keep_staging = true;  // it holds the old store now
  Status synced = crypto::SyncDirectory(data_dir);
  if (synced.ok()) synced = crypto::SyncDirectory(staging);
  const std::string aside = paths.db + ".replaced-" + NowUtcCompact() + "-" + HexEncode(crypto::RandomString(4));
  if (synced.ok() && ::rename(staged.c_str(), aside.c_str()) != 0) {
    synced = Status::IOError(std::strerror(errno));
  }
  if (synced.ok()) synced = crypto::SyncDirectory(data_dir);
  if (!synced.ok()) {
    return synced.Annotate("the restored store is in place, the replaced one is at " +
                           (fs::exists(staged, ec) ? staged : aside));
  }
  *keep_staging = false;
  return aside;
}

// What a restore did.
struct Restored {
  engine::VerifyReport report;
  std::string aside;                               // where the replaced store is ("": none)
  std::optional<keys::CarriedErasures> carried;    // erasures made again in the restored store
  std::string not_carried;                         // why not, when carried is empty
};

// Whether the replaced store DIR/db is a later state of the log the copy holds: it holds the
// backup's own signed checkpoint (`note`, of size `note_size`), at least the copy's `copy_size`
// events, and the copy's events after the checkpoint byte for byte. "" when it is; else why not
// (also when it cannot be read: a damaged old store must not block a restore).
constexpr uint64_t kCarryTailRecordsMax = 1 << 20;  // events a backup may hold past its checkpoint
std::string WhyNotLaterState(storage::LogStore& replaced, storage::LogStore& copy,
                             const std::string& note, uint64_t note_size, uint64_t copy_size) {
  bool holds_note = false;
  Status s = replaced.ScanCheckpoints([&](uint64_t size, std::string_view signed_note) {
    holds_note = size == note_size && signed_note == note;
    return !holds_note && size <= note_size;
  });
  if (!s.ok()) return "the replaced store cannot be read: " + s.message();
  if (!holds_note) return "the replaced store does not hold the backup's checkpoint (another log, or older than the backup)";
  auto state = replaced.ReadTreeState();
  if (!state.ok()) return "the replaced store cannot be read: " + state.status().message();
  if (state->size < copy_size) return "the replaced store holds fewer events than the backup";
  if (copy_size - note_size > kCarryTailRecordsMax) return "the backup holds too many events past its checkpoint";
  std::vector<std::string> tail;
  s = copy.ScanRecords(note_size, copy_size - note_size, [&](uint64_t, std::string_view stored) {
    tail.emplace_back(stored);
    return true;
  });
  if (!s.ok()) return "the restored copy cannot be read: " + s.message();
  size_t i = 0;
  bool same = tail.size() == copy_size - note_size;
  s = replaced.ScanRecords(note_size, copy_size - note_size, [&](uint64_t, std::string_view stored) {
    same = same && i < tail.size() && tail[i++] == stored;
    return same;
  });
  if (!s.ok()) return "the replaced store cannot be read: " + s.message();
  if (!same || i != tail.size()) return "the replaced store's events after the backup's checkpoint differ from the backup's";
  return "";
}

// The erasures made since the backup, made again in the verified copy `staging`/db before it is
// put in place, when the replaced store is a later state of the same log (keys/erasure_carry.h).
// Otherwise *why says why nothing was carried.
Result<std::optional<keys::CarriedErasures>> CarryErasures(const std::string& staging,
                                                          const std::string& data_dir,
                                                          const std::string& note, uint64_t note_size,
                                                          uint64_t copy_size, std::string* why) {
  using Carried = std::optional<keys::CarriedErasures>;
  const engine::DataDirPaths paths(data_dir);
  std::error_code ec;
  if (!fs::exists(fs::symlink_status(paths.db, ec))) {
    *why = "the data directory held no store";
    return Carried();
  }
  storage::RocksOptions old_options;
  old_options.path = paths.db;
  old_options.read_only = true;
  auto replaced = storage::OpenRocksLogStore(old_options);
  if (!replaced.ok()) {
    *why = "the replaced store does not open: " + replaced.status().message();
    return Carried();
  }
  storage::RocksOptions copy_options;
  copy_options.path = engine::DataDirPaths(staging).db;
  CAIRN_ASSIGN_OR_RETURN(std::unique_ptr<storage::LogStore> restored,
                         storage::OpenRocksLogStore(copy_options));
  *why = WhyNotLaterState(**replaced, *restored, note, note_size, copy_size);
  if (!why->empty()) return Carried();
  auto carried = keys::CarryErasuresForward(**replaced, *restored);
  if (!carried.ok()) return carried.status().Annotate("carrying the erasures since the backup");
  return Carried(*carried);
}

// The restore as an admin act in the staged copy's own `$audit`, before it is put in place: a
// restore is never in place without its record. With the data directory's keys and [audit].
Status AuditRestore(const std::string& staging, const std::string& data_dir, const server::Config& config,
                    const std::string& from, const Restored& r) {
  server::Config staged_config = config;
  if (staged_config.keys.provider == keys::kProviderLocal && staged_config.keys.local.keyring_path.empty()) {
    staged_config.keys.local.keyring_path = engine::DataDirPaths(data_dir).keyring;
  }
  CAIRN_ASSIGN_OR_RETURN(std::unique_ptr<engine::EventStore> store, OpenStoreWith(staging, staged_config));
  OfflineAct act{"restore", from, Status::Ok(), {}};
  act.details.emplace_back("tree_size", std::to_string(r.report.records_checked));
  act.details.emplace_back("key_pinned", r.report.key_pinned ? "true" : "false");
  act.details.emplace_back("erasures_carried", r.carried ? "true" : "false");
  if (r.carried) {
    act.details.emplace_back("subjects_erased", std::to_string(r.carried->subjects_erased));
    act.details.emplace_back("key_versions_destroyed", std::to_string(r.carried->versions_destroyed));
  } else {
    act.details.emplace_back("erasures_not_carried", r.not_carried);
  }
  return AuditOfflineActWith(store.get(), staged_config, std::move(act));
}

// Stages the backup's store inside DIR (DIR/restoring-<time>-<random>/db): what is verified is
// the copy that is installed, the backup is only read, and DIR/db is touched only once the copy
// is whole, verified, carries the erasures made since the backup and records the restore in its
// `$audit`. A crash before that leaves a restoring-* directory to remove.
Result<Restored> StageVerifyInstall(const std::string& from, const server::Config& config,
                                    const std::string& data_dir, const std::string& pinned) {
  CAIRN_ASSIGN_OR_RETURN(const std::string note,
                         ReadSmallFile(from + "/" + engine::kBackupCheckpointFile,
                                       "the backup's checkpoint", kCheckpointNoteBytesMax));
  const std::string staging =
      data_dir + "/restoring-" + NowUtcCompact() + "-" + HexEncode(crypto::RandomString(4));
  std::error_code ec;
  if (!fs::create_directory(staging, ec)) return Status::IOError("cannot create " + staging + ": " + ec.message());
  fs::permissions(staging, fs::perms::owner_all, fs::perm_options::replace, ec);
  Restored out;
  Status s = ec ? Status::IOError("cannot restrict " + staging + ": " + ec.message())
                : CopyStoreFiles(engine::DataDirPaths(from).db, engine::DataDirPaths(staging).db);
  if (s.ok()) {
    auto report = VerifyStaged(staging, config, data_dir, pinned, note);
    if (report.ok()) out.report = std::move(report).value();
    s = report.status();
  }
  if (s.ok()) {
    auto carried = CarryErasures(staging, data_dir, note, out.report.latest_checkpoint_size,
                                 out.report.records_checked, &out.not_carried);
    if (carried.ok()) out.carried = *carried;
    s = carried.status();
  }
  if (s.ok()) s = AuditRestore(staging, data_dir, config, from, out).Annotate("recording the restore in $audit");
  bool keep_staging = false;
  if (s.ok()) {
    auto aside = Install(staging, data_dir, &keep_staging);
    if (aside.ok()) out.aside = std::move(aside).value();
    s = aside.status();
  }
  if (!keep_staging) fs::remove_all(staging, ec);
  if (!s.ok()) return s;
  return out;
}

int RunRestore(const CliContext& ctx, const RestoreArgs& args) {
  auto dir = ResolveDataDir(ctx, args.data_dir);
  if (!dir.ok()) return UsageError(dir.status().message());
  auto pinned = PinnedVerifierKey(args.verifier_key, args.verifier_key_file);
  if (!pinned.ok()) return UsageError(pinned.status().message());
  if (pinned->empty() && !args.unpinned) {
    return UsageError("pin the log's verifier key (--verifier-key or --verifier-key-file), so that "
                      "a backup of another log is refused; --unpinned trusts the key the backup holds");
  }
  auto config = DirOrFileConfig(*dir, args.config_file);
  if (!config.ok()) return Fail(config.status());
  if (config->storage.backend == "postgres") {
    return UsageError("a PostgreSQL log is restored with the database's own tools");
  }
  // Held until the store is in place: no server and no other command uses the directory.
  auto lock = engine::DataDirLock::Acquire(engine::DataDirPaths(*dir), /*create=*/false);
  if (!lock.ok()) return Fail(lock.status());
  auto done = StageVerifyInstall(args.from, *config, *dir, *pinned);
  if (!done.ok()) return Fail(done.status());
  const Restored& r = *done;
  const std::string erasures =
      r.carried ? "erasures since the backup made again: " + std::to_string(r.carried->subjects_erased) +
                      " subject(s), " + std::to_string(r.carried->versions_destroyed) + " key version(s) destroyed"
                : "erasures since the backup NOT made again (" + r.not_carried +
                      "): repeat them before serving";
  if (args.json) {
    Json out{{"records", r.report.records_checked},
             {"checkpoint_size", r.report.latest_checkpoint_size},
             {"key_pinned", r.report.key_pinned},
             {"replaced_store", r.aside},
             {"erasures_carried", r.carried.has_value()},
             {"key_versions_destroyed", r.carried ? r.carried->versions_destroyed : 0},
             {"erasures", erasures}};
    if (r.carried) out["subjects_erased"] = r.carried->subjects_erased;
    std::cout << JsonLine(out) << "\n";
  } else {
    std::cout << "restored " << r.report.records_checked << " events (latest signed checkpoint: size "
              << r.report.latest_checkpoint_size << "), verified"
              << (r.report.key_pinned ? " under the pinned verifier key" : " with the key the backup holds")
              << "\n"
              << erasures << "\n";
    if (!r.aside.empty()) {
      std::cout << "the replaced store is kept at " << TerminalSafe(r.aside)
                << " (remove it once the restored log serves: it still holds what was erased)\n";
    }
  }
  return kExitOk;
}

}  // namespace

void RegisterBackupCommands(CLI::App& app, CliContext& ctx) {
  auto backup = std::make_shared<BackupArgs>();
  CLI::App* cmd = app.add_subcommand(
      "backup", "Make an online backup: over the network into the server's [backup] dir, or of "
                "a data directory opened offline into --to DIR");
  cmd->add_option("--to", backup->to, "The new backup directory (offline only)")->option_text("DIR");
  cmd->add_flag("--json", backup->json, "Print the result as JSON");
  AddDataDirOption(cmd, &backup->data_dir);
  cmd->callback([&ctx, backup] { ctx.exit_code = RunBackup(ctx, *backup); });

  auto restore = std::make_shared<RestoreArgs>();
  cmd = app.add_subcommand(
      "restore", "Verify a backup and put its store in place of a stopped data directory's");
  cmd->add_option("--from", restore->from, "The backup directory (`cairn backup`)")
      ->required()
      ->option_text("DIR");
  cmd->add_option("--config", restore->config_file,
                  "The configuration whose [keys] open the backup (default DIR/cairn.toml)")
      ->option_text("FILE");
  AddPinnedKeyOptions(cmd, &restore->verifier_key, &restore->verifier_key_file,
                      "the backup's checkpoints must be signed by it");
  cmd->add_flag("--unpinned", restore->unpinned,
                "Verify with the signing key the backup holds (refuses nothing of another log)");
  cmd->add_flag("--json", restore->json, "Print the result as JSON");
  AddDataDirOption(cmd, &restore->data_dir);
  cmd->callback([&ctx, restore] { ctx.exit_code = RunRestore(ctx, *restore); });
}

}  // namespace cairn::cli
