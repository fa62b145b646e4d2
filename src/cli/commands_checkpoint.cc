// cairn checkpoint / vkey: the signed checkpoint of the log and the key that verifies it.
#include <iostream>
#include <memory>

#include "cli/commands.h"
#include "cli/data_dir.h"
#include "cli/errors.h"
#include "cli/utf8.h"
#include "cli/output_json.h"

namespace cairn::cli {
namespace {

struct CheckpointArgs {
  std::string data_dir;
  bool json = false;
};

int RunCheckpoint(const CliContext& ctx, const CheckpointArgs& args) {
  int rc = kExitOk;
  auto store = OpenOrReport(ctx, args.data_dir, &rc);
  if (!store) return rc;
  auto checkpoint = store->Checkpoint();
  if (!checkpoint.ok()) return Fail(checkpoint.status());
  if (args.json) {
    std::cout << JsonLine(CheckpointToJson(*checkpoint)) << "\n";
  } else {
    std::cout << checkpoint->note;  // byte for byte: verifiers check the signature over it
  }
  return kExitOk;
}

int RunVkey(const CliContext& ctx, const CheckpointArgs& args) {
  int rc = kExitOk;
  auto store = OpenOrReport(ctx, args.data_dir, &rc);
  if (!store) return rc;
  const std::string vkey = store->verifier_key();
  if (vkey.empty()) {
    // Over the network verifier_key() cannot fail: ask once more to say why.
    auto checkpoint = store->LatestStoredCheckpoint();
    return Fail(checkpoint.ok() ? Status::Unavailable("the server sent no verifier key")
                                : checkpoint.status());
  }
  std::cout << TerminalSafe(vkey) << "\n";
  return kExitOk;
}

}  // namespace

void RegisterCheckpointCommands(CLI::App& app, CliContext& ctx) {
  auto args = std::make_shared<CheckpointArgs>();
  CLI::App* cmd = app.add_subcommand(
      "checkpoint", "Print the latest signed checkpoint (C2SP signed note), signing one if needed");
  cmd->add_flag("--json", args->json, "Print {size, root (hex), note} as JSON");
  AddDataDirOption(cmd, &args->data_dir);
  cmd->callback([&ctx, args] { ctx.exit_code = RunCheckpoint(ctx, *args); });

  auto vkey_args = std::make_shared<CheckpointArgs>();
  CLI::App* vkey = app.add_subcommand("vkey", "Print the checkpoint verifier key");
  AddDataDirOption(vkey, &vkey_args->data_dir);
  vkey->callback([&ctx, vkey_args] { ctx.exit_code = RunVkey(ctx, *vkey_args); });
}

}  // namespace cairn::cli
