// cairn migrate --from-data-dir DIR --to-postgres DSN: copies the RocksDB log of a data directory
// into an empty PostgreSQL database (migrate_copy.h), then proves the copy: the source's latest
// signed checkpoint verifies with the log's key, the copy's Merkle root at the checkpoint's size
// equals the checkpoint's root, the copy holds that checkpoint, and a full verification of the
// copy passes. On any failure after the copy began, the copy's tables are dropped again, so the
// database never keeps a log that was not proven; the data directory is only read.
//
// The DSN must not carry a password (--postgres-password-file or PGPASSWORD/PGPASSFILE), so it
// can be printed; the password itself is never printed.
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/data_dir.h"
#include "cli/errors.h"
#include "cli/exit_codes.h"
#include "cli/migrate_copy.h"
#include "cli/output_json.h"
#include "cli/utf8.h"
#include "common/bytes.h"
#include "engine/data_dir.h"
#include "integrity/checkpoint.h"
#include "integrity/merkle.h"
#include "storage/postgres/pg_log_store.h"
#include "storage/rocksdb/rocks_log_store.h"

namespace cairn::cli {
namespace {

struct MigrateArgs {
  std::string data_dir;
  std::string config_file;
  std::string dsn;
  std::string sslmode;
  std::string password_file;
  bool json = false;
};

struct SourceCheckpoint {
  uint64_t size = 0;
  std::string note;
};

struct Proof {
  integrity::Hash root{};
  engine::VerifyReport verify;
};

// Copies the log under the data directory's lock and returns the source's latest checkpoint.
Result<SourceCheckpoint> CopyUnderLock(const std::string& dir, storage::LogStore& target,
                                       CopyReport* report) {
  const engine::DataDirPaths paths(dir);
  CAIRN_ASSIGN_OR_RETURN(std::unique_ptr<engine::DataDirLock> lock,
                         engine::DataDirLock::Acquire(paths, /*create=*/false));
  storage::RocksOptions ro;
  ro.path = paths.db;
  ro.read_only = true;  // the source is only read
  CAIRN_ASSIGN_OR_RETURN(std::unique_ptr<storage::LogStore> source, storage::OpenRocksLogStore(ro));
  CAIRN_ASSIGN_OR_RETURN(auto latest, source->ReadLatestCheckpoint());
  if (!latest) return Status::FailedPrecondition("the data directory's log has no checkpoint");
  CAIRN_ASSIGN_OR_RETURN(*report, CopyLog(*source, target));
  return SourceCheckpoint{latest->first, latest->second};
}

// The root of the first `size` leaves of `store`'s tree, from its stored full subtrees.
Result<integrity::Hash> RootAt(storage::LogStore& store, uint64_t size) {
  if (size == 0) return integrity::EmptyRoot();
  std::vector<storage::NodeKey> keys;
  for (const integrity::NodeId& id : integrity::RangeNodes(0, size)) {
    keys.push_back({id.level, id.index});
  }
  std::vector<std::string> stored;
  CAIRN_RETURN_IF_ERROR(store.ReadNodes(keys, &stored));
  std::vector<integrity::Hash> hashes(stored.size());
  for (size_t i = 0; i < stored.size(); ++i) {
    if (stored[i].size() != hashes[i].size()) {
      return Status::DataLoss("a Merkle node of the copy is malformed");
    }
    std::copy(stored[i].begin(), stored[i].end(), hashes[i].begin());
  }
  return integrity::FoldRight(hashes);
}

// Opens the copy through the engine and checks it against the source's checkpoint.
Result<Proof> ProveCopy(const std::string& dir, const keys::KmsConfig& kms,
                        const storage::PgOptions& pg, const SourceCheckpoint& source) {
  engine::Options options;
  options.data_dir = dir;
  options.kms = kms;
  options.postgres = pg;
  options.open_unproven_copy = true;  // this is the proof
  CAIRN_ASSIGN_OR_RETURN(std::unique_ptr<engine::EventStore> copy,
                         engine::EventStore::Open(options));
  CAIRN_ASSIGN_OR_RETURN(integrity::NoteVerifier key,
                         integrity::ParseVerifierKey(copy->verifier_key()));
  Result<integrity::Checkpoint> checkpoint = integrity::VerifyCheckpoint(source.note, key);
  if (!checkpoint.ok() || checkpoint->size != source.size) {
    return Status::DataLoss("the source's latest checkpoint does not verify with the log's key");
  }
  Proof proof;
  CAIRN_ASSIGN_OR_RETURN(proof.root, RootAt(*copy->log_store(), source.size));
  if (proof.root != checkpoint->root) {
    return Status::DataLoss("the copy's root at tree size " + std::to_string(source.size) +
                            " is " + HexEncode(proof.root) + ", the checkpoint's " +
                            HexEncode(checkpoint->root));
  }
  CAIRN_ASSIGN_OR_RETURN(engine::SignedCheckpoint latest, copy->LatestStoredCheckpoint());
  if (latest.note != source.note) {
    return Status::DataLoss("the copy's latest checkpoint is not the source's");
  }
  proof.verify = copy->Verify();
  if (!proof.verify.ok) {
    const std::string where = proof.verify.bad_position
                                  ? " at position " + std::to_string(*proof.verify.bad_position)
                                  : std::string();
    return Status::DataLoss("verification of the copy failed" + where + ": " +
                            proof.verify.failure);
  }
  return proof;
}

void PrintReport(const MigrateArgs& args, const CopyReport& copied, const SourceCheckpoint& cp,
                 const Proof& proof) {
  const std::string root = HexEncode(proof.root);
  if (args.json) {
    std::cout << JsonLine(Json{{"records", copied.records},
                               {"streams", copied.streams},
                               {"index_entries", copied.index_entries},
                               {"merkle_nodes", copied.nodes},
                               {"checkpoints", copied.checkpoints},
                               {"keys", copied.key_materials},
                               {"meta_entries", copied.meta_entries},
                               {"checkpoint_size", cp.size},
                               {"root", root},
                               {"verified", true}})
              << "\n";
    return;
  }
  std::cout << "copied " << copied.records << " records, " << copied.streams << " streams ("
            << copied.index_entries << " index entries), " << copied.nodes << " Merkle nodes, "
            << copied.checkpoints << " checkpoints, " << copied.key_materials << " keys, "
            << copied.meta_entries << " metadata entries\n"
            << "into " << TerminalSafe(args.dsn) << "\n"
            << "checkpoint " << cp.size << " root " << root << ": equal in the copy\n"
            << "verified: " << proof.verify.records_checked << " records, "
            << proof.verify.streams_checked << " streams, " << proof.verify.checkpoints_checked
            << " checkpoints, " << proof.verify.nodes_checked << " Merkle nodes, "
            << proof.verify.index_entries_checked << " stream index entries\n";
}

// Clears kMetaUnprovenCopy: from now on nodes open the copy.
Status MarkProven(const storage::PgOptions& pg) {
  CAIRN_ASSIGN_OR_RETURN(std::unique_ptr<storage::LogStore> target, storage::OpenPgLogStore(pg));
  return target->PutMeta(engine::kMetaUnprovenCopy, "");
}

// The copy failed or did not prove: drop what this run wrote (the target was empty).
int FailAndDrop(const storage::PgOptions& pg, const Status& why) {
  const int code = Fail(why);
  const Status dropped = storage::DropPgSchemaForTest(pg);
  if (dropped.ok()) {
    PrintError("migrate FAILED; the partial copy was removed from the database");
  } else {
    PrintError("migrate FAILED and the partial copy could not be removed (" + dropped.message() +
               "); drop the database's cairn_* tables before running migrate again");
  }
  return code;
}

int RunMigrate(const MigrateArgs& args) {
  auto config = DirOrFileConfig(args.data_dir, args.config_file);
  if (!config.ok()) return Fail(config.status());
  server::StorageSection storage;
  storage.backend = "postgres";
  storage.postgres_dsn = args.dsn;
  storage.postgres_sslmode = args.sslmode;
  storage.postgres_password_file = args.password_file;
  storage.postgres_pool_connections_max = 4;
  const PgFlagNames flags{"--to-postgres", "--postgres-sslmode", "--postgres-sslmode verify-full",
                          "--postgres-password-file"};
  if (Status s = ValidatePgFlags(storage, flags); !s.ok()) return Fail(s);
  storage::PgOptions pg = *server::PostgresOptions(storage);
  pg.listen = false;
  CopyReport copied;
  Result<SourceCheckpoint> checkpoint = SourceCheckpoint{};
  {
    auto target = storage::OpenPgLogStore(pg);
    if (!target.ok()) return Fail(target.status());
    if (Status s = CheckTargetEmpty(**target); !s.ok()) return Fail(s);
    checkpoint = CopyUnderLock(args.data_dir, **target, &copied);
  }  // the lock is released: the engine takes it again to open the copy
  if (!checkpoint.ok()) return FailAndDrop(pg, checkpoint.status());
  Result<Proof> proof = ProveCopy(args.data_dir, config->keys, pg, *checkpoint);
  if (!proof.ok()) return FailAndDrop(pg, proof.status());
  if (Status s = MarkProven(pg); !s.ok()) return FailAndDrop(pg, s.Annotate("marking the copy proven"));
  PrintReport(args, copied, *checkpoint, *proof);
  return kExitOk;
}

}  // namespace

void RegisterMigrateCommand(CLI::App& app, CliContext& ctx) {
  auto args = std::make_shared<MigrateArgs>();
  CLI::App* cmd = app.add_subcommand(
      "migrate",
      "Copy a data directory's log into an empty PostgreSQL database and prove the copy");
  cmd->add_option("--from-data-dir", args->data_dir,
                  "The data directory whose log to copy (read only)")
      ->option_text("DIR")
      ->required();
  cmd->add_option("--to-postgres", args->dsn,
                  "libpq connection string of the empty target database (no password in it)")
      ->option_text("DSN")
      ->required();
  cmd->add_option("--postgres-sslmode", args->sslmode,
                  "Overrides the DSN's sslmode (verify-full recommended; required off loopback)")
      ->option_text("MODE");
  cmd->add_option("--postgres-password-file", args->password_file,
                  "File (0600) holding the database password; else PGPASSWORD/PGPASSFILE")
      ->option_text("FILE");
  cmd->add_option("--config", args->config_file,
                  "Configuration whose [keys] open the log (default: DIR/cairn.toml)")
      ->option_text("FILE");
  cmd->add_flag("--json", args->json, "Print the report as JSON");
  cmd->callback([&ctx, args] { ctx.exit_code = RunMigrate(*args); });
}

}  // namespace cairn::cli
