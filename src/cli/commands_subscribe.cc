// cairn subscribe STREAM|'$all': a live subscription printed like `cairn read` — catch-up from
// --from, then live — until Ctrl-C (a clean end, exit 0), --count events, or the server ends it
// (exit 1; for a subscriber that fell behind or a server shutdown, stderr says where to resume).
#include <atomic>
#include <csignal>
#include <iostream>
#include <memory>
#include <optional>
#include <thread>

#include <pthread.h>

#include "cairn/subscriptions.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "cli/connection.h"
#include "cli/errors.h"
#include "cli/event_printer.h"
#include "cli/signal_canceller.h"
#include "cli/subscribe_verify.h"
#include "server/wire_convert.h"

namespace cairn::cli {
namespace {

struct SubscribeArgs {
  std::string stream;
  std::string from;           // $all: a position; a stream: a version; "end": new events only
  std::string from_position;  // a stream from a log position (resuming)
  std::vector<std::string> filter_types;
  std::vector<std::string> filter_prefixes;
  std::string count;          // stop after this many events; empty: no limit
  bool json = false;
  VerifyFlags verify;  // --verify: a cairn::VerifyingSubscription (cli/subscribe_verify.h)
};

Result<v1::SubscribeRequest> BuildRequest(const SubscribeArgs& args) {
  v1::SubscribeRequest request;
  request.set_stream(args.stream);
  const bool all = args.stream == "$all";
  if (!args.from.empty() && !args.from_position.empty()) {
    return Status::InvalidArgument("--from and --from-position exclude each other");
  }
  if (args.from == "end") {
    request.set_from_end(true);
  } else if (!args.from.empty()) {
    CAIRN_ASSIGN_OR_RETURN(uint64_t from, ParseU64(args.from, "--from"));
    if (all) {
      request.set_from_position(from);
    } else {
      request.set_from_version(from);
    }
  } else if (!args.from_position.empty()) {
    CAIRN_ASSIGN_OR_RETURN(uint64_t from, ParseU64(args.from_position, "--from-position"));
    request.set_from_position(from);
  }
  for (const auto& t : args.filter_types) request.mutable_filter()->add_event_types(t);
  for (const auto& p : args.filter_prefixes) request.mutable_filter()->add_stream_prefixes(p);
  return request;
}

// Prints events from `sub` — with --verify a VerifyingSubscription, which returns an event only
// after checking it — until `count` events, a signal, or the end.
int Consume(Subscription& sub, const SubscribeArgs& args, std::optional<uint64_t> count,
            const SignalCanceller& signals, KeptCheckpoint* kept) {
  EventPrinter printer(args.json);
  uint64_t printed = 0;
  int rc = kExitOk;
  while (!count || printed < *count) {
    auto message = sub.Next();
    // Before anything is printed or the loop ends: a checkpoint verified is kept even when the
    // next message is a violation.
    if (Status s = SaveVerifiedCheckpoint(sub, args.verify, kept, std::cerr); !s.ok()) {
      return Fail(s);
    }
    if (!message.ok()) {
      if (signals.interrupted()) break;
      const Status& s = message.status();
      if (s.code() == StatusCode::kResourceExhausted || s.code() == StatusCode::kUnavailable) {
        std::cerr << "cairn: resume with --from-position " << sub.resume_position() << "\n";
      }
      rc = Fail(s, args.stream == "$all" ? "" : args.stream);
      break;
    }
    if (!message->has_event()) continue;  // checkpoints and caught-up: resume_position() tracks
    auto event = server::FromWire(message->event());
    if (!event.ok()) return Fail(event.status());
    WarnIfDataUnchecked(sub, message->event().position(), std::cerr);
    printer.Print({*event});
    std::cout.flush();
    ++printed;
  }
  PrintVerifySummary(sub, std::cerr);
  return rc;
}

int RunSubscribe(const SubscribeArgs& args) {
  auto request = BuildRequest(args);
  if (!request.ok()) return UsageError(request.status().message());
  std::optional<uint64_t> count;
  if (!args.count.empty()) {
    auto n = ParseU64(args.count, "--count");
    if (!n.ok()) return UsageError(n.status().message());
    if (*n > 0) count = *n;
  }
  auto options = ResolveClientOptions(/*explicit_only=*/false);
  if (!options.ok()) {
    return options.status().code() == StatusCode::kNotFound
               ? UsageError("subscribe needs a server: pass --server HOST:PORT (or a client config)")
               : UsageError(options.status().message());
  }
  SignalCanceller signals;  // before the client starts any thread
  auto client = Client::Connect(*options);
  if (!client.ok()) return Fail(client.status());
  KeptCheckpoint kept;
  auto sub = StartSubscription(**client, *request, args.verify, &kept);
  if (!sub.ok()) {
    return sub.status().code() == StatusCode::kInvalidArgument ? UsageError(sub.status().message())
                                                               : Fail(sub.status());
  }
  signals.Watch(sub->get());
  const int rc = Consume(**sub, args, count, signals, &kept);
  signals.StopWatching();  // before `sub` goes: a late signal must not reach a freed one
  (*sub)->Cancel();
  return rc;
}

}  // namespace

void RegisterSubscribeCommand(CLI::App& app, CliContext& ctx) {
  auto args = std::make_shared<SubscribeArgs>();
  CLI::App* cmd = app.add_subcommand(
      "subscribe", "Follow a stream or the whole log ('$all'): catch-up, then live, in log order");
  cmd->add_option("stream", args->stream, "Stream id, or '$all'")->required();
  cmd->add_option("--from", args->from,
                  "Start: a log position ($all) or a stream version (stream), inclusive; 'end' "
                  "for new events only (default: the beginning)");
  cmd->add_option("--from-position", args->from_position,
                  "A stream from a log position (to resume where a subscription ended)");
  cmd->add_option("--filter-type", args->filter_types, "Only events of these types")
      ->option_text("TYPE ...");
  cmd->add_option("--filter-prefix", args->filter_prefixes,
                  "Only events of streams starting with these prefixes")
      ->option_text("PREFIX ...");
  cmd->add_option("--count", args->count, "Stop after this many events (default: never)");
  cmd->add_flag("--json", args->json,
                "One JSON object per event with every entry field and the stored bytes");
  AddVerifyFlags(cmd, &args->verify);
  AddConnectionOptions(cmd);
  cmd->callback([&ctx, args] { ctx.exit_code = RunSubscribe(*args); });
}

}  // namespace cairn::cli
