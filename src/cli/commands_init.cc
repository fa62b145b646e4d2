// cairn init: creates a data directory (keyring, store, checkpoint key, origin).
#include <iostream>
#include <memory>

#include "cli/commands.h"
#include "cli/data_dir.h"
#include "cli/errors.h"
#include "cli/output_json.h"

namespace cairn::cli {
namespace {

struct InitArgs {
  std::string data_dir;
  std::string origin;
  bool json = false;
};

void PrintInitResult(const InitArgs& args, const std::string& dir, engine::EventStore& store) {
  if (args.json) {
    std::cout << JsonLine(Json{{"data_dir", dir},
                               {"origin", store.origin()},
                               {"verifier_key", store.verifier_key()}})
              << "\n";
    return;
  }
  std::cout << "initialised data directory " << dir << "\n"
            << "origin: " << store.origin() << "\n"
            << "verifier key: " << store.verifier_key() << "\n";
}

int RunInit(const CliContext& ctx, const InitArgs& args) {
  auto dir = ResolveDataDir(ctx, args.data_dir);
  if (!dir.ok()) return UsageError(dir.status().message());
  engine::InitOptions options;
  options.data_dir = *dir;
  options.origin = args.origin;
  if (Status s = engine::EventStore::Init(options); !s.ok()) return Fail(s);
  auto store = OpenStore(*dir);
  if (!store.ok()) return Fail(store.status());
  PrintInitResult(args, *dir, **store);
  return kExitOk;
}

}  // namespace

void RegisterInitCommand(CLI::App& app, CliContext& ctx) {
  auto args = std::make_shared<InitArgs>();
  CLI::App* cmd = app.add_subcommand(
      "init", "Create a new data directory: keyring (0600), store, checkpoint signing key");
  AddDataDirOption(cmd, &args->data_dir);
  cmd->add_option("--origin", args->origin,
                  "Checkpoint origin (log name); default cairn.local/<random id>");
  cmd->add_flag("--json", args->json, "Print the result as JSON");
  cmd->callback([&ctx, args] { ctx.exit_code = RunInit(ctx, *args); });
}

}  // namespace cairn::cli
