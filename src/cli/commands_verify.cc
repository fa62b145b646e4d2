// cairn verify: full offline verification of a data directory (every record, leaf, stream chain,
// stored Merkle node, stream index entry, checkpoint root and consistency between consecutive
// checkpoints; engine/verifier.h).
#include <iostream>
#include <memory>

#include "cli/commands.h"
#include "cli/data_dir.h"
#include "cli/errors.h"
#include "cli/output_json.h"
#include "cli/utf8.h"

namespace cairn::cli {
namespace {

struct VerifyArgs {
  std::string data_dir;
  std::string config_file;
  bool json = false;
};

std::string ReportText(const engine::VerifyReport& report) {
  if (report.ok) {
    return "ok: " + std::to_string(report.records_checked) + " records, " +
           std::to_string(report.streams_checked) + " streams, " +
           std::to_string(report.checkpoints_checked) + " checkpoints, " +
           std::to_string(report.nodes_checked) + " Merkle nodes, " +
           std::to_string(report.index_entries_checked) + " stream index entries verified";
  }
  std::string where = report.bad_position
                          ? " at position " + std::to_string(*report.bad_position)
                          : std::string();
  return "FAILED" + where + ": " + TerminalSafe(report.failure);
}

int RunVerify(const CliContext& ctx, const VerifyArgs& args) {
  auto dir = ResolveDataDir(ctx, args.data_dir);
  if (!dir.ok()) return UsageError(dir.status().message());
  // Not EventStore::Open: a damaged log that Open refuses must still be examined and reported.
  // --config, else DIR/cairn.toml: [keys] and [storage] (a PostgreSQL log), like every offline command
  auto config = DirOrFileConfig(*dir, args.config_file);
  if (!config.ok()) return Fail(config.status());
  const engine::VerifyReport report = engine::EventStore::VerifyDataDir(
      *dir, config->keys, server::PostgresOptions(config->storage));
  if (args.json) {
    std::cout << JsonLine(VerifyReportToJson(report)) << "\n";
  } else {
    std::cout << ReportText(report) << "\n";
  }
  return report.ok ? kExitOk : kExitFailure;
}

}  // namespace

void RegisterVerifyCommand(CLI::App& app, CliContext& ctx) {
  auto args = std::make_shared<VerifyArgs>();
  CLI::App* cmd = app.add_subcommand(
      "verify", "Verify every record, stream chain and checkpoint of a data directory");
  cmd->add_flag("--json", args->json, "Print the report as JSON");
  cmd->add_option("--config", args->config_file,
                  "Configuration whose [keys] and [storage] to use (default: DIR/cairn.toml)")
      ->option_text("FILE");
  AddDataDirOption(cmd, &args->data_dir);
  cmd->callback([&ctx, args] { ctx.exit_code = RunVerify(ctx, *args); });
}

}  // namespace cairn::cli
