// cairn verify: full offline verification of a data directory (every record, leaf, stream chain,
// stored Merkle node, stream index entry, checkpoint root and consistency between consecutive
// checkpoints; engine/verifier.h), optionally anchored outside the directory: a pinned verifier
// key and a checkpoint kept from an earlier run (engine::VerifyAnchor).
#include <cassert>
#include <iostream>
#include <memory>

#include "cli/anchor_files.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "cli/data_dir.h"
#include "cli/errors.h"
#include "cli/output_json.h"
#include "cli/utf8.h"
#include "common/bytes.h"
#include "common/trusted_file.h"

namespace cairn::cli {
namespace {

struct VerifyArgs {
  std::string data_dir;
  std::string config_file;
  std::string verifier_key;
  std::string verifier_key_file;
  std::string checkpoint_file;
  bool json = false;
};

constexpr size_t kCheckpointFileSizeBytesMax = 64 * 1024;

// The anchor of --verifier-key / --verifier-key-file and --checkpoint-file (which may not exist
// yet: the first run starts it). Files others may change are refused (anchor_files.h).
Result<engine::VerifyAnchor> Anchor(const VerifyArgs& args) {
  engine::VerifyAnchor anchor;
  CAIRN_ASSIGN_OR_RETURN(anchor.verifier_key,
                         PinnedVerifierKey(args.verifier_key, args.verifier_key_file));
  if (args.checkpoint_file.empty()) return anchor;
  if (anchor.verifier_key.empty()) {
    return Status::InvalidArgument("--checkpoint-file needs --verifier-key or --verifier-key-file "
                                   "(the line `cairn vkey` printed when the log was trusted)");
  }
  CAIRN_ASSIGN_OR_RETURN(anchor.trusted_checkpoint,
                         ReadKeptCheckpoint(args.checkpoint_file, kCheckpointFileSizeBytesMax));
  return anchor;
}

std::string ReportText(const engine::VerifyReport& report) {
  if (report.ok) {
    return "ok: " + std::to_string(report.records_checked) + " records, " +
           std::to_string(report.streams_checked) + " streams, " +
           std::to_string(report.checkpoints_checked) + " checkpoints, " +
           std::to_string(report.nodes_checked) + " Merkle nodes, " +
           std::to_string(report.index_entries_checked) + " stream index entries verified; root " +
           HexEncode(std::span<const uint8_t>(report.root)) +
           (report.anchored_size ? "; holds the trusted checkpoint at size " + std::to_string(*report.anchored_size)
                                 : std::string()) +
           (report.key_pinned ? "; checkpoints signed by the pinned key"
                              : "; NOT anchored: the checkpoints were checked with the key the directory "
                                "holds (pin it: --verifier-key, --checkpoint-file)");
  }
  std::string where = report.bad_position
                          ? " at position " + std::to_string(*report.bad_position)
                          : std::string();
  return "FAILED" + where + ": " + TerminalSafe(report.failure);
}

// The next run's anchor: the latest stored checkpoint, which this run showed to extend the kept
// one. Never an older one (stored checkpoints removed above the kept size would otherwise move the
// anchor back, and a history rewritten after that older size would pass the next run), never the
// empty tree's; and not when another run replaced the file while this one verified. Says so on
// stderr when it keeps the file as it is, or when the anchor starts.
Status KeepLatestCheckpoint(const std::string& path, const engine::VerifyReport& report,
                            const std::string& kept) {
  assert(report.ok);
  const bool had_anchor = !kept.empty();
  const uint64_t kept_size = report.anchored_size.value_or(0);
  if (report.latest_checkpoint.empty() || report.latest_checkpoint_size == 0) {
    if (!had_anchor) std::cerr << "cairn: no checkpoint to keep yet (sign one: `cairn checkpoint`)\n";
    return Status::Ok();
  }
  if (had_anchor && report.latest_checkpoint_size < kept_size) {
    std::cerr << "cairn: warning: the latest stored checkpoint (size " << report.latest_checkpoint_size
              << ") is older than the kept one (size " << kept_size
              << "); stored checkpoints were removed. " << TerminalSafe(path) << " is left as it is\n";
    return Status::Ok();
  }
  if (!had_anchor) {
    std::cerr << "cairn: no checkpoint was kept in " << TerminalSafe(path)
              << ": the anchor starts with this run (size " << report.latest_checkpoint_size << ")\n";
  }
  CAIRN_ASSIGN_OR_RETURN(const bool replaced,
                         ReplaceKeptCheckpoint(path, kept, report.latest_checkpoint));
  if (!replaced) {
    std::cerr << "cairn: warning: another run changed " << TerminalSafe(path)
              << " while this one verified; it is left as that run wrote it\n";
  }
  return Status::Ok();
}

int RunVerify(const CliContext& ctx, const VerifyArgs& args) {
  auto dir = ResolveDataDir(ctx, args.data_dir);
  if (!dir.ok()) return UsageError(dir.status().message());
  // Not EventStore::Open: a damaged log that Open refuses must still be examined and reported.
  // --config, else DIR/cairn.toml: [keys] and [storage] (a PostgreSQL log), like every offline command
  auto config = DirOrFileConfig(*dir, args.config_file);
  if (!config.ok()) return Fail(config.status());
  auto anchor = Anchor(args);
  if (!anchor.ok() && anchor.status().code() == StatusCode::kInvalidArgument) {
    return UsageError(anchor.status().message());
  }
  if (!anchor.ok()) return Fail(anchor.status());
  const engine::VerifyReport report = engine::EventStore::VerifyDataDir(
      *dir, config->keys, server::PostgresOptions(config->storage), *anchor);
  if (args.json) {
    std::cout << JsonLine(VerifyReportToJson(report)) << "\n";
  } else {
    std::cout << ReportText(report) << "\n";
  }
  if (!report.ok) return kExitFailure;
  if (!args.checkpoint_file.empty()) {
    Status saved = KeepLatestCheckpoint(args.checkpoint_file, report, anchor->trusted_checkpoint);
    if (!saved.ok()) return Fail(saved);
  }
  return kExitOk;
}

}  // namespace

void RegisterVerifyCommand(CLI::App& app, CliContext& ctx) {
  auto args = std::make_shared<VerifyArgs>();
  CLI::App* cmd = app.add_subcommand(
      "verify", "Verify every record, stream chain and checkpoint of a data directory");
  cmd->add_flag("--json", args->json, "Print the report as JSON");
  AddPinnedKeyOptions(cmd, &args->verifier_key, &args->verifier_key_file,
                      "every checkpoint must be signed by it");
  cmd->add_option("--checkpoint-file", args->checkpoint_file,
                  "Keep the latest verified checkpoint here between runs (needs a pinned key): "
                  "the next run fails if the log no longer holds it (cut back or rewritten)")
      ->option_text("FILE");
  cmd->add_option("--config", args->config_file,
                  "Configuration whose [keys] and [storage] to use (default: DIR/cairn.toml)")
      ->option_text("FILE");
  AddDataDirOption(cmd, &args->data_dir);
  cmd->callback([&ctx, args] { ctx.exit_code = RunVerify(ctx, *args); });
}

}  // namespace cairn::cli
