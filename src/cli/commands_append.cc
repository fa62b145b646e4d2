// cairn append: appends one event to a stream.
#include <iostream>
#include <memory>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/data_dir.h"
#include "cli/errors.h"
#include "cli/output_json.h"

namespace cairn::cli {
namespace {

struct AppendArgs {
  std::string data_dir;
  std::string stream;
  std::string type;
  std::string data;
  std::string metadata;
  std::string content_type = std::string(engine::kDefaultContentType);
  std::string expected_version = "any";
  std::string id;
  std::string subject;
  bool json = false;
};

// Builds the event and expected version from the arguments; a malformed value is a usage
// error (exit 2), an unreadable @FILE a failure (exit 1).
int PrepareAppend(const AppendArgs& args, engine::ProposedEvent* event,
                  engine::ExpectedVersion* expected) {
  auto ev = engine::ExpectedVersion::Parse(args.expected_version);
  if (!ev.ok()) {
    return UsageError("--expected-version: '" + args.expected_version +
                      "' is not valid: use any, no_stream, stream_exists or a version number");
  }
  *expected = *ev;
  if (!args.id.empty()) {
    auto id = engine::ParseUuid(args.id);
    if (!id) return UsageError("--id: '" + args.id + "' is not a UUID (8-4-4-4-12 hex digits)");
    event->event_id = *id;
  }
  if (args.data == "@-" && args.metadata == "@-") {
    return UsageError("--data and --metadata cannot both read stdin");
  }
  auto data = ReadValueArg(args.data, "--data");
  if (!data.ok()) return Fail(data.status());
  auto metadata = ReadValueArg(args.metadata, "--metadata");
  if (!metadata.ok()) return Fail(metadata.status());
  event->event_type = args.type;
  event->subject = args.subject;
  event->content_type = args.content_type;
  event->data = std::move(data).value();
  event->metadata = std::move(metadata).value();
  return kExitOk;
}

void PrintAppendResult(const AppendArgs& args, const engine::AppendResult& result) {
  if (args.json) {
    std::cout << JsonLine(AppendResultToJson(result)) << "\n";
    return;
  }
  std::cout << "position " << result.last_position << " version " << result.last_version;
  if (result.idempotent_replay) std::cout << " (already appended: nothing written)";
  std::cout << "\n";
}

int RunAppend(const CliContext& ctx, const AppendArgs& args) {
  engine::ProposedEvent event;
  engine::ExpectedVersion expected;
  if (int rc = PrepareAppend(args, &event, &expected); rc != kExitOk) return rc;
  int rc = kExitOk;
  auto store = OpenOrReport(ctx, args.data_dir, &rc);
  if (!store) return rc;
  std::vector<engine::ProposedEvent> events;
  events.push_back(std::move(event));
  auto result = store->Append(args.stream, expected, std::move(events));
  if (!result.ok() && result.status().message().find("other protection rules") != std::string::npos) {
    return Fail(Status(result.status().code(),
                       result.status().message() + " (give the server's configuration: CAIRN_CONFIG=FILE)"));
  }
  if (!result.ok()) return Fail(result.status(), args.stream);
  PrintAppendResult(args, *result);
  return kExitOk;
}

}  // namespace

void RegisterAppendCommand(CLI::App& app, CliContext& ctx) {
  auto args = std::make_shared<AppendArgs>();
  CLI::App* cmd = app.add_subcommand("append", "Append one event to a stream");
  cmd->add_option("stream", args->stream, "Stream id (1-512 bytes of UTF-8)")->required();
  cmd->add_option("--type", args->type, "Event type")->required();
  cmd->add_option("--data", args->data, "Event data: JSON text, @FILE, or @- for stdin")
      ->required();
  cmd->add_option("--metadata", args->metadata, "Event metadata: JSON text, @FILE or @-");
  cmd->add_option("--content-type", args->content_type, "Content type")
      ->capture_default_str();
  cmd->add_option("--expected-version", args->expected_version,
                  "any, no_stream, stream_exists or the stream's current version")
      ->capture_default_str();
  cmd->add_option("--id", args->id, "Event id (UUID); default: a random v4 UUID");
  cmd->add_option("--subject", args->subject,
                  "Data subject (CloudEvents subject) for protection rules with subject = \"$subject\"");
  cmd->add_flag("--json", args->json, "Print the result as JSON");
  AddDataDirOption(cmd, &args->data_dir);
  cmd->callback([&ctx, args] { ctx.exit_code = RunAppend(ctx, *args); });
}

}  // namespace cairn::cli
