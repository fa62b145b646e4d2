// cairn audit [--follow] [--since TIME] [--json]: the `$audit` trail (docs/operations.md), read
// over the network with a subscription to `$audit` (action `audit.read`). Without --follow it
// prints the records up to the trail's end and exits 0; with --follow it goes on live until
// Ctrl-C (exit 0) or the server ends it (exit 1). --since keeps records at or after TIME: RFC 3339
// ("2026-11-30T17:00:00Z") or a span back from now ("90s", "15m", "2h", "7d").
//
// Text: one line per record, "<time> <type> <outcome> key=value ..." (empty fields left out,
// values made terminal-safe). --json: the record's JSON object as stored, one per line, with
// "type" (the `$audit` event type) and "position" added first.
#include <chrono>
#include <iostream>
#include <memory>
#include <optional>

#include <nlohmann/json.hpp>

#include "audit/record.h"
#include "cairn/subscriptions.h"
#include "cli/commands.h"
#include "cli/connection.h"
#include "cli/errors.h"
#include "cli/exit_codes.h"
#include "cli/signal_canceller.h"
#include "cli/utf8.h"
#include "common/wall_clock.h"

namespace cairn::cli {
namespace {

constexpr int64_t kNsPerSecond = 1'000'000'000;
constexpr int64_t kSinceSpanSecondsMax = int64_t{3650} * 86400;

struct AuditArgs {
  bool follow = false;
  std::string since;
  bool json = false;
};

// --since: RFC 3339, or <n>s|m|h|d back from now.
Result<int64_t> ParseSince(std::string_view text, int64_t now_ns) {
  if (text.size() >= 2 && text.size() <= 12) {
    const char unit = text.back();
    const int64_t scale = unit == 's' ? 1 : unit == 'm' ? 60 : unit == 'h' ? 3600
                        : unit == 'd' ? 86400 : 0;
    const std::string_view digits = text.substr(0, text.size() - 1);
    bool numeric = scale > 0 && !digits.empty();
    int64_t n = 0;
    for (char c : digits) {
      if (c < '0' || c > '9') numeric = false;
      if (numeric) n = n * 10 + (c - '0');
    }
    if (numeric) {
      if (n * scale > kSinceSpanSecondsMax) return Status::InvalidArgument("--since: span too long");
      return now_ns - n * scale * kNsPerSecond;
    }
  }
  auto t = audit::ParseRfc3339(text);
  if (!t.ok()) {
    return Status::InvalidArgument(
        "--since: expected an RFC 3339 time (2026-11-30T17:00:00Z) or a span like 15m, 2h, 7d");
  }
  return *t;
}

void PrintText(const audit::AuditRecord& r) {
  std::string line = audit::FormatRfc3339Ns(r.time_unix_ns);
  line += " ";
  line += audit::AuditEventType(r.kind);
  line += " ";
  line += r.outcome.empty() ? "-" : KeyValueSafe(r.outcome);
  auto add = [&](std::string_view key, const std::string& value) {
    if (value.empty()) return;
    line += " ";
    line += key;
    line += "=";
    line += KeyValueSafe(value);
  };
  add("principal", r.principal);
  add("method", r.auth_method);
  add("ip", r.source_ip);
  add("action", r.action);
  add("resource", r.resource);
  add("type", r.event_type);
  add("decision", r.decision);
  add("rule", r.rule);
  add("error", r.error_code);
  add("reason", r.reason);
  add("request", r.request_id);
  for (const auto& [k, v] : r.details) add(TerminalSafe(k), v);
  std::cout << line << "\n";
}

void PrintJson(const v1::RecordedEvent& event) {
  auto parsed = nlohmann::ordered_json::parse(event.data(), nullptr, /*allow_exceptions=*/false);
  nlohmann::ordered_json out;
  out["type"] = event.type();
  out["position"] = event.position();
  if (parsed.is_object()) {
    for (auto it = parsed.begin(); it != parsed.end(); ++it) out[it.key()] = it.value();
  }
  std::cout << out.dump(-1, ' ', /*ensure_ascii=*/true,
                        nlohmann::ordered_json::error_handler_t::replace)
            << "\n";
}

// Prints the records of `sub` at or after `since_ns` until the trail's end (or, following, until
// a signal or the server's end).
int Consume(Subscription& sub, const AuditArgs& args, int64_t since_ns,
            const SignalCanceller& signals) {
  for (;;) {
    auto message = sub.Next();
    if (!message.ok()) {
      if (signals.interrupted()) return kExitOk;
      return Fail(message.status(), audit::kAuditStream);
    }
    if (message->has_caught_up() && !args.follow) return kExitOk;
    if (!message->has_event()) continue;
    const v1::RecordedEvent& event = message->event();
    auto record = audit::DecodeAuditRecordJson(event.type(), event.data());
    if (!record.ok()) {
      PrintError("skipped an undecodable record at position " + std::to_string(event.position()));
      continue;
    }
    if (record->time_unix_ns < since_ns) continue;
    if (args.json) {
      PrintJson(event);
    } else {
      PrintText(*record);
    }
    std::cout.flush();
  }
}

int RunAudit(const AuditArgs& args) {
  int64_t since_ns = 0;
  if (!args.since.empty()) {
    auto since = ParseSince(args.since, NowUnixNs());
    if (!since.ok()) return UsageError(since.status().message());
    since_ns = *since;
  }
  auto options = ResolveClientOptions(/*explicit_only=*/false);
  if (!options.ok()) {
    return options.status().code() == StatusCode::kNotFound
               ? UsageError("audit needs a server: pass --server HOST:PORT (or a client config)")
               : UsageError(options.status().message());
  }
  SignalCanceller signals;  // before the client starts any thread
  auto client = Client::Connect(*options);
  if (!client.ok()) return Fail(client.status());
  v1::SubscribeRequest request;
  request.set_stream(std::string(audit::kAuditStream));
  auto sub = Subscription::Start(**client, request);
  if (!sub.ok()) return Fail(sub.status());
  signals.Watch(sub->get());
  const int rc = Consume(**sub, args, since_ns, signals);
  signals.StopWatching();  // before `sub` goes: a late signal must not reach a freed one
  (*sub)->Cancel();
  return rc;
}

}  // namespace

void RegisterAuditCommand(CLI::App& app, CliContext& ctx) {
  auto args = std::make_shared<AuditArgs>();
  CLI::App* cmd = app.add_subcommand(
      "audit", "Print the audit trail ($audit; needs action audit.read), oldest first");
  cmd->add_flag("--follow,-f", args->follow, "Keep printing new records until Ctrl-C");
  cmd->add_option("--since", args->since,
                  "Only records at or after TIME: RFC 3339, or a span back from now (15m, 2h, 7d)");
  cmd->add_flag("--json", args->json, "One JSON object per record (the stored record)");
  AddConnectionOptions(cmd);
  cmd->callback([&ctx, args] { ctx.exit_code = RunAudit(*args); });
}

}  // namespace cairn::cli
