#include "cli/app.h"

#include <exception>
#include <iostream>

#include <CLI/CLI.hpp>
#include <absl/synchronization/mutex.h>

#include "cli/commands.h"
#include "cli/context.h"
#include "cli/errors.h"
#include "common/core_dumps.h"

namespace cairn::cli {
namespace {

void BuildApp(CLI::App& app, CliContext& ctx) {
  app.description(
      "cairn: a security-first, verifiable event store.\n"
      "Commands work on a data directory (--data-dir DIR or $CAIRN_DATA_DIR) or against a\n"
      "server (--server HOST:PORT, or the client config that init writes).");
  app.add_option("--data-dir", ctx.global_data_dir, "Data directory (default: $CAIRN_DATA_DIR)")
      ->option_text("DIR");
  app.require_subcommand(1);
  RegisterInitCommand(app, ctx);
  RegisterAppendCommand(app, ctx);
  RegisterDeleteCommand(app, ctx);
  RegisterReadCommands(app, ctx);
  RegisterSubscribeCommand(app, ctx);
  RegisterStreamInfoCommand(app, ctx);
  RegisterCheckpointCommands(app, ctx);
  RegisterProofCommands(app, ctx);
  RegisterVerifyCommand(app, ctx);
  RegisterRecoverCommand(app, ctx);
  RegisterBenchCommand(app, ctx);
  RegisterServeCommand(app, ctx);
  RegisterDoctorCommand(app, ctx);
  RegisterForgetCommand(app, ctx);
  RegisterKeysCommands(app, ctx);
  RegisterIdentityCommands(app, ctx);
  RegisterWebhookCommands(app, ctx);
  RegisterGroupCommands(app, ctx);
  RegisterAuditCommand(app, ctx);
  RegisterMigrateCommand(app, ctx);
  RegisterBackupCommands(app, ctx);
  RegisterWitnessCommands(app, ctx);
}

int ReportParseError(const CLI::App& app, const CLI::ParseError& e) {
  if (e.get_exit_code() == static_cast<int>(CLI::ExitCodes::Success)) {
    // --help (CallForHelp / CallForAllHelp) prints usage and succeeds.
    return app.exit(e, std::cout, std::cerr);
  }
  PrintError(e.what());
  std::cerr << "Run 'cairn --help' or 'cairn <command> --help' for usage.\n";
  return kExitUsage;
}

}  // namespace

int Run(int argc, char** argv) {
  // As the server does (server.cc): Debian's Abseil keeps gRPC's mutexes checking lock order on
  // every acquisition, a debugging aid that the client commands (bench, subscribe) pay for too.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  // Before any key is read (common/core_dumps.h); `serve` re-checks and may restore them.
  (void)DisableCoreDumps();
  CliContext ctx;
  CLI::App app{"", "cairn"};
  BuildApp(app, ctx);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return ReportParseError(app, e);
  } catch (const std::exception& e) {
    PrintError(std::string("internal error: ") + e.what());
    return kExitFailure;
  }
  std::cout.flush();
  if (!std::cout) {
    PrintError("writing the output failed");
    return kExitFailure;
  }
  return ctx.exit_code;
}

}  // namespace cairn::cli
