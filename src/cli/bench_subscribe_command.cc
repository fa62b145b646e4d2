// cairn bench subscribe: flags, checks and output of the live-subscription benchmark.
#include <iostream>
#include <memory>

#include "cli/args.h"
#include "cli/bench_subscribe.h"
#include "cli/connection.h"
#include "cli/errors.h"
#include "cli/output_json.h"

namespace cairn::cli {
namespace {

struct SubscribeBenchArgs {
  std::string subscribers = "16", clients = "8", batch = "100", rate = "50000", replayers = "0";
  std::string event_size_bytes = "256";
  double duration_s = 10;
  bool json = false;
};

Result<uint64_t> Bounded(const std::string& text, uint64_t lo, uint64_t hi, const char* what) {
  CAIRN_ASSIGN_OR_RETURN(uint64_t v, ParseU64(text, what));
  if (v < lo || v > hi) {
    return Status::InvalidArgument(std::string(what) + " must be between " + std::to_string(lo) +
                                   " and " + std::to_string(hi));
  }
  return v;
}

Result<SubscribeBenchConfig> ParseArgs(const SubscribeBenchArgs& args) {
  SubscribeBenchConfig c;
  CAIRN_ASSIGN_OR_RETURN(c.client, ResolveClientOptions(/*explicit_only=*/false));
  CAIRN_ASSIGN_OR_RETURN(uint64_t subscribers, Bounded(args.subscribers, 1, 1024, "--subscribers"));
  CAIRN_ASSIGN_OR_RETURN(uint64_t clients, Bounded(args.clients, 1, 256, "--clients"));
  CAIRN_ASSIGN_OR_RETURN(uint64_t replayers, Bounded(args.replayers, 0, 200, "--replayers"));
  c.replayers = static_cast<uint32_t>(replayers);
  CAIRN_ASSIGN_OR_RETURN(uint64_t batch,
                         Bounded(args.batch, 1, engine::Limits{}.batch_events_max, "--batch"));
  CAIRN_ASSIGN_OR_RETURN(c.rate, Bounded(args.rate, 1, 10'000'000, "--rate"));
  CAIRN_ASSIGN_OR_RETURN(c.event_size_bytes,
                         Bounded(args.event_size_bytes, kBenchEventSizeBytesMin, 65536,
                                 "--event-size-bytes"));
  if (!(args.duration_s > 0 && args.duration_s <= 3600)) {
    return Status::InvalidArgument("--duration-s must be > 0 and at most 3600");
  }
  c.subscribers = static_cast<uint32_t>(subscribers);
  c.clients = static_cast<uint32_t>(clients);
  c.batch = static_cast<uint32_t>(batch);
  c.duration_s = args.duration_s;
  return c;
}

void Print(const SubscribeBenchConfig& c, const SubscribeBenchResult& r, bool json) {
  const double append_rate = r.append_seconds > 0 ? r.appended / r.append_seconds : 0;
  const double delivery_rate = r.delivery_seconds > 0 ? r.delivered() / r.delivery_seconds : 0;
  size_t kept_up = 0;
  for (const auto& s : r.subscribers) kept_up += s.kept_up ? 1 : 0;
  if (json) {
    Json subs = Json::array();
    for (const auto& s : r.subscribers) {
      subs.push_back(Json{{"received", s.received}, {"kept_up", s.kept_up}, {"error", s.error}});
    }
    std::cout << JsonLine(Json{{"phase", "subscribe"},
                               {"subscribers", c.subscribers},
                               {"clients", c.clients},
                               {"batch", c.batch},
                               {"target_events_per_s", c.rate},
                               {"event_size_bytes", c.event_size_bytes},
                               {"appended", r.appended},
                               {"append_events_per_s", append_rate},
                               {"append_call_p50_ms", r.append_call.p50_ms},
                               {"append_call_p99_ms", r.append_call.p99_ms},
                               {"delivered", r.delivered()},
                               {"delivered_events_per_s", delivery_rate},
                               {"delivery_p50_ms", r.delivery.p50_ms},
                               {"delivery_p99_ms", r.delivery.p99_ms},
                               {"delivery_max_ms", r.delivery.max_ms},
                               {"all_kept_up", r.all_kept_up()},
                               {"replayers", c.replayers},
                               {"replays", r.replays},
                               {"replayer_error", r.replayer_error},
                               {"per_subscriber", subs}})
              << "\n";
    return;
  }
  std::cout << "bench subscribe subscribers=" << c.subscribers << " target_events/s=" << c.rate
            << " clients=" << c.clients << " batch=" << c.batch << "\n"
            << "  appended=" << r.appended << " in " << r.append_seconds
            << " s: events/s=" << static_cast<uint64_t>(append_rate)
            << " (append call p50_ms=" << r.append_call.p50_ms
            << " p99_ms=" << r.append_call.p99_ms << ")\n"
            << "  delivered=" << r.delivered() << " events/s (all subscribers)="
            << static_cast<uint64_t>(delivery_rate) << " append->delivery p50_ms="
            << r.delivery.p50_ms << " p99_ms=" << r.delivery.p99_ms
            << " max_ms=" << r.delivery.max_ms << "\n"
            << (c.replayers > 0 ? "  replayers=" + std::to_string(c.replayers) +
                                      " full replays meanwhile=" + std::to_string(r.replays) +
                                      (r.replayer_error.empty() ? "" : ", a replayer stopped: " + r.replayer_error) + "\n"
                                : std::string())
            << "  kept up: " << kept_up << "/" << r.subscribers.size()
            << (r.all_kept_up() ? " (every subscriber received every event, in order)" : "")
            << "\n";
  for (size_t i = 0; i < r.subscribers.size(); ++i) {
    if (!r.subscribers[i].kept_up) {
      std::cout << "  subscriber " << i << ": received " << r.subscribers[i].received
                << (r.subscribers[i].error.empty() ? "" : ", " + r.subscribers[i].error) << "\n";
    }
  }
}

int Run(const SubscribeBenchArgs& args) {
  auto config = ParseArgs(args);
  if (!config.ok()) {
    return UsageError(config.status().code() == StatusCode::kNotFound
                          ? "bench subscribe needs --server HOST:PORT (or a client config)"
                          : config.status().message());
  }
  auto result = RunSubscribeBench(*config);
  if (!result.ok()) return Fail(result.status().Annotate("bench subscribe"));
  Print(*config, *result, args.json);
  return result->all_kept_up() ? kExitOk : kExitFailure;
}

}  // namespace

void RegisterSubscribeBench(CLI::App* bench, CliContext& ctx) {
  auto args = std::make_shared<SubscribeBenchArgs>();
  CLI::App* cmd = bench->add_subcommand(
      "subscribe", "Live subscribers on '$all' of a running server while appends run at a rate");
  AddConnectionOptions(cmd);
  cmd->add_option("--subscribers", args->subscribers, "Live subscribers (own connections)")
      ->capture_default_str();
  cmd->add_option("--rate", args->rate, "Target appended events per second")->capture_default_str();
  cmd->add_option("--replayers", args->replayers,
                  "Subscriptions that replay the whole log meanwhile, with a filter matching "
                  "nothing (own connections)")
      ->capture_default_str();
  cmd->add_option("--clients", args->clients, "Appending clients (own connections)")
      ->capture_default_str();
  cmd->add_option("--batch", args->batch, "Events per append")->capture_default_str();
  cmd->add_option("--event-size-bytes", args->event_size_bytes, "Bytes of JSON data per event")
      ->capture_default_str();
  cmd->add_option("--duration-s", args->duration_s, "Seconds of appends")->capture_default_str();
  cmd->add_flag("--json", args->json, "Print the result as JSON");
  cmd->callback([&ctx, args] { ctx.exit_code = Run(*args); });
}

}  // namespace cairn::cli
