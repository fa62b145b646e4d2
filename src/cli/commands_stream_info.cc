// cairn stream-info: whether a stream exists, its last version and position, whether deleted.
#include <iostream>
#include <memory>

#include "cli/commands.h"
#include "cli/data_dir.h"
#include "cli/errors.h"
#include "cli/output_json.h"
#include "cli/output_text.h"

namespace cairn::cli {
namespace {

struct StreamInfoArgs {
  std::string data_dir;
  std::string stream;
  bool json = false;
};

int RunStreamInfo(const CliContext& ctx, const StreamInfoArgs& args) {
  int rc = kExitOk;
  auto store = OpenOrReport(ctx, args.data_dir, &rc);
  if (!store) return rc;
  auto info = store->GetStreamInfo(args.stream);
  engine::StreamInfo value;
  if (info.ok()) {
    value = *info;
  } else if (info.status().code() != StatusCode::kNotFound) {
    return Fail(info.status(), args.stream);
  }
  if (args.json) {
    std::cout << JsonLine(StreamInfoToJson(args.stream, value)) << "\n";
  } else {
    std::cout << StreamInfoText(args.stream, value);
  }
  return kExitOk;
}

}  // namespace

void RegisterStreamInfoCommand(CLI::App& app, CliContext& ctx) {
  auto args = std::make_shared<StreamInfoArgs>();
  CLI::App* cmd = app.add_subcommand("stream-info", "Show a stream's state");
  cmd->add_option("stream", args->stream, "Stream id")->required();
  cmd->add_flag("--json", args->json, "Print the result as JSON");
  AddDataDirOption(cmd, &args->data_dir);
  cmd->callback([&ctx, args] { ctx.exit_code = RunStreamInfo(ctx, *args); });
}

}  // namespace cairn::cli
