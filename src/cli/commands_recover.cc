// cairn recover: point-in-time recovery of a RocksDB data directory whose write-ahead log has a
// damaged record (engine/event_store.h, RecoverDataDir). Without --apply it only reports.
#include <iostream>
#include <memory>

#include "cli/commands.h"
#include "cli/data_dir.h"
#include "cli/errors.h"
#include "cli/offline_audit.h"
#include "cli/output_json.h"
#include "cli/utf8.h"

namespace cairn::cli {
namespace {

struct RecoverArgs {
  std::string data_dir;
  std::string config_file;
  bool apply = false;
  bool json = false;
};

Json ReportToJson(const engine::RecoveryReport& r) {
  Json j{{"needed", !r.open_failure.empty()}, {"open_failure", r.open_failure}};
  if (r.open_failure.empty()) return j;
  j["recoverable"] = r.recovered.ok;
  j["recovered"] = VerifyReportToJson(r.recovered);
  j["tree_size"] = r.tree_size;
  j["checkpoint_size"] = r.checkpoint_size;
  j["applied"] = r.applied;
  if (!r.wal_copy_dir.empty()) {
    j["wal_copy_dir"] = r.wal_copy_dir;
    j["wal_files_copied"] = r.wal_files_copied;
  }
  if (!r.apply_failure.empty()) j["apply_failure"] = r.apply_failure;
  return j;
}

void PrintText(const engine::RecoveryReport& r, bool apply) {
  if (r.open_failure.empty()) {
    std::cout << "nothing to recover: the store's write-ahead log replays as it is\n";
    return;
  }
  std::cout << "the store refuses to open: " << TerminalSafe(r.open_failure) << "\n";
  if (!r.recovered.ok) {
    std::cout << "point-in-time recovery cannot help: " << TerminalSafe(r.recovered.failure)
              << "\nrestore the data directory from a backup\n";
    return;
  }
  std::cout << "point-in-time recovery keeps " << r.tree_size
            << " events (the latest signed checkpoint covers " << r.checkpoint_size
            << "), verified; every commit in the write-ahead log from its first damaged record on "
               "is dropped, acknowledged or not\n";
  if (!apply) {
    std::cout << "run again with --apply to recover (the WAL files are copied aside first)\n";
    return;
  }
  if (!r.wal_copy_dir.empty()) {
    std::cout << "copied " << r.wal_files_copied.size() << " WAL file(s) to "
              << TerminalSafe(r.wal_copy_dir) << "\n";
  }
  if (r.applied) {
    std::cout << "recovered: the store opens and verifies with " << r.tree_size << " events\n";
  } else {
    std::cout << "recovery FAILED: " << TerminalSafe(r.apply_failure) << "\n";
  }
}

// The `$admin` record of an applied recovery (the dropped WAL tail is an act an auditor must see).
Status AuditRecovery(const std::string& dir, const engine::RecoveryReport& r) {
  CAIRN_ASSIGN_OR_RETURN(std::unique_ptr<engine::EventStore> store, OpenStore(dir));
  OfflineAct act{"store.recover", "wal", Status::Ok(),
                 {{"tree_size", std::to_string(r.tree_size)},
                  {"checkpoint_size", std::to_string(r.checkpoint_size)},
                  {"wal_copy_dir", r.wal_copy_dir}}};
  return AuditOfflineAct(store.get(), dir, std::move(act));
}

int RunRecover(const CliContext& ctx, const RecoverArgs& args) {
  auto dir = ResolveDataDir(ctx, args.data_dir);
  if (!dir.ok()) return UsageError(dir.status().message());
  auto config = DirOrFileConfig(*dir, args.config_file);
  if (!config.ok()) return Fail(config.status());
  if (server::PostgresOptions(config->storage).has_value()) {
    return Fail(Status::FailedPrecondition(
        "cairn recover is for the embedded RocksDB store; a PostgreSQL log recovers with the "
        "database's own tools (docs/deployment.md)"));
  }
  const engine::RecoveryReport r = engine::EventStore::RecoverDataDir(*dir, config->keys, args.apply);
  Status audited = Status::Ok();
  if (r.applied) audited = AuditRecovery(*dir, r);
  if (args.json) {
    Json j = ReportToJson(r);
    if (!audited.ok()) j["audit_failure"] = audited.message();
    std::cout << JsonLine(j) << "\n";
  } else {
    PrintText(r, args.apply);
  }
  if (!audited.ok()) {
    return Fail(audited.Annotate("the store was recovered, but the audit record of the recovery "
                                 "was not written"));
  }
  if (r.open_failure.empty()) return kExitOk;
  if (!r.recovered.ok) return kExitFailure;
  return !args.apply || r.applied ? kExitOk : kExitFailure;
}

}  // namespace

void RegisterRecoverCommand(CLI::App& app, CliContext& ctx) {
  auto args = std::make_shared<RecoverArgs>();
  CLI::App* cmd = app.add_subcommand(
      "recover",
      "Recover a data directory whose write-ahead log has a damaged record (reports only, unless "
      "--apply)");
  cmd->add_flag("--apply", args->apply,
                "Drop the WAL from its first damaged record on, after copying the WAL files aside");
  cmd->add_flag("--json", args->json, "Print the report as JSON");
  cmd->add_option("--config", args->config_file,
                  "Configuration whose [keys] and [storage] to use (default: DIR/cairn.toml)")
      ->option_text("FILE");
  AddDataDirOption(cmd, &args->data_dir);
  cmd->callback([&ctx, args] { ctx.exit_code = RunRecover(ctx, *args); });
}

}  // namespace cairn::cli
