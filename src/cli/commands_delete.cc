// cairn delete: tombstones a stream (nothing is physically removed).
#include <iostream>
#include <memory>

#include "cli/commands.h"
#include "cli/data_dir.h"
#include "cli/errors.h"
#include "cli/output_json.h"
#include "cli/utf8.h"

namespace cairn::cli {
namespace {

struct DeleteArgs {
  std::string data_dir;
  std::string stream;
  std::string expected_version = "any";
  bool json = false;
};

int RunDelete(const CliContext& ctx, const DeleteArgs& args) {
  auto expected = engine::ExpectedVersion::Parse(args.expected_version);
  if (!expected.ok()) {
    return UsageError("--expected-version: '" + args.expected_version +
                      "' is not valid: use any, no_stream, stream_exists or a version number");
  }
  int rc = kExitOk;
  auto store = OpenOrReport(ctx, args.data_dir, &rc);
  if (!store) return rc;
  auto result = store->DeleteStream(args.stream, *expected);
  if (!result.ok()) return Fail(result.status(), args.stream);
  if (args.json) {
    std::cout << JsonLine(AppendResultToJson(*result)) << "\n";
  } else {
    std::cout << "deleted stream '" << TerminalSafe(args.stream) << "': tombstone at position "
              << result->last_position << " version " << result->last_version << "\n";
  }
  return kExitOk;
}

}  // namespace

void RegisterDeleteCommand(CLI::App& app, CliContext& ctx) {
  auto args = std::make_shared<DeleteArgs>();
  CLI::App* cmd = app.add_subcommand(
      "delete", "Delete (tombstone) a stream: later appends fail, its events stay in the log");
  cmd->add_option("stream", args->stream, "Stream id")->required();
  cmd->add_option("--expected-version", args->expected_version,
                  "any, no_stream, stream_exists or the stream's current version")
      ->capture_default_str();
  cmd->add_flag("--json", args->json, "Print the result as JSON");
  AddDataDirOption(cmd, &args->data_dir);
  cmd->callback([&ctx, args] { ctx.exit_code = RunDelete(ctx, *args); });
}

}  // namespace cairn::cli
