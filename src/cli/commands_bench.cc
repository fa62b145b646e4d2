// cairn bench: in-process end-to-end load on a data directory (see bench_load.h).
#include <filesystem>
#include <iostream>
#include <memory>

#include "cli/args.h"
#include "cli/bench_load.h"
#include "cli/bench_net.h"
#include "cli/bench_soak.h"
#include "cli/bench_subscribe.h"
#include "cli/connection.h"
#include "cli/bench_report.h"
#include "cli/commands.h"
#include "cli/data_dir.h"
#include "cli/errors.h"
#include "cli/output_json.h"

namespace cairn::cli {
namespace {

struct BenchArgs {
  std::string data_dir;
  std::string threads = "4", batch = "100", events = "100000", event_size_bytes = "256";
  std::string shared_streams = "0";
  double seconds = 30;
  bool no_sync = false;
  bool json = false;
};

Status CheckRange(uint64_t v, uint64_t lo, uint64_t hi, const std::string& what) {
  if (v >= lo && v <= hi) return Status::Ok();
  return Status::InvalidArgument(what + " must be between " + std::to_string(lo) + " and " +
                                 std::to_string(hi));
}

Result<uint64_t> ParseBounded(const std::string& text, uint64_t lo, uint64_t hi,
                              const std::string& what) {
  CAIRN_ASSIGN_OR_RETURN(uint64_t v, ParseU64(text, what));
  CAIRN_RETURN_IF_ERROR(CheckRange(v, lo, hi, what));
  return v;
}

Result<BenchConfig> ParseConfig(const BenchArgs& args) {
  const engine::Limits limits;
  BenchConfig c;
  CAIRN_ASSIGN_OR_RETURN(c.threads, ParseBounded(args.threads, 1, 1024, "--threads"));
  CAIRN_ASSIGN_OR_RETURN(c.batch, ParseBounded(args.batch, 1, limits.batch_events_max, "--batch"));
  CAIRN_ASSIGN_OR_RETURN(c.events, ParseBounded(args.events, 1, UINT64_MAX / 2, "--events"));
  CAIRN_ASSIGN_OR_RETURN(c.event_size_bytes,
                         ParseBounded(args.event_size_bytes, kBenchEventSizeBytesMin,
                                      kBenchEventSizeBytesMax, "--event-size-bytes"));
  CAIRN_ASSIGN_OR_RETURN(c.shared_streams,
                         ParseBounded(args.shared_streams, 0, 1 << 20, "--shared-streams"));
  if (!(args.seconds > 0 && args.seconds <= 86400)) {
    return Status::InvalidArgument("--seconds must be > 0 and at most 86400");
  }
  if (c.batch * c.event_size_bytes > limits.batch_size_bytes_max) {
    return Status::InvalidArgument("--batch × --event-size-bytes exceeds the batch size limit of " +
                                   std::to_string(limits.batch_size_bytes_max) + " bytes");
  }
  c.seconds = args.seconds;
  c.sync = !args.no_sync;
  return c;
}

// Initialises `dir` when it is missing or empty; accepts an existing cairn data directory;
// refuses any other non-empty directory so that a typo cannot fill someone's files.
Status PrepareDataDir(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const bool exists = fs::exists(dir, ec);
  if (exists && !fs::is_directory(dir, ec)) {
    return Status::InvalidArgument("'" + dir + "' is not a directory");
  }
  if (!exists || fs::is_empty(dir, ec)) {
    engine::InitOptions init;
    init.data_dir = dir;
    return engine::EventStore::Init(init);
  }
  if (fs::exists(fs::path(dir) / "keyring", ec) || fs::exists(fs::path(dir) / "cairn.lock", ec)) {
    return Status::Ok();
  }
  return Status::FailedPrecondition("refusing to use '" + dir +
                                    "': it is not empty and not a cairn data directory");
}

Result<BenchResult> RunPhases(engine::EventStore& store, const BenchConfig& config) {
  BenchResult result;
  CAIRN_ASSIGN_OR_RETURN(result.append, RunAppendLoad(store, config));
  CAIRN_ASSIGN_OR_RETURN(result.read_all, RunReadAll(store, config.seconds));
  engine::VerifyReport report;
  result.verify = RunVerify(store, &report);
  result.verify_ok = report.ok;
  result.verify_failure = report.failure;
  return result;
}

Result<std::unique_ptr<engine::EventStore>> OpenForBench(const std::string& dir,
                                                         const BenchConfig& config) {
  CAIRN_RETURN_IF_ERROR(PrepareDataDir(dir));
  engine::Options options;
  options.data_dir = dir;
  options.sync = config.sync;
  return engine::EventStore::Open(options);
}

int RunBench(const CliContext& ctx, const BenchArgs& args) {
  auto config = ParseConfig(args);
  if (!config.ok()) return UsageError(config.status().message());
  auto dir = ResolveDataDir(ctx, args.data_dir);
  if (!dir.ok()) return UsageError(dir.status().message());
  auto store = OpenForBench(*dir, *config);
  if (!store.ok()) return Fail(store.status());
  auto result = RunPhases(**store, *config);
  if (!result.ok()) return Fail(result.status().Annotate("bench"));
  if (args.json) {
    std::cout << JsonLine(BenchJson(*config, *result)) << "\n";
  } else {
    std::cout << BenchTable(*config, *result);
  }
  return result->verify_ok ? kExitOk : kExitFailure;
}

struct NetArgs {
  std::string clients = "8", batch = "100", events = "10000000", event_size_bytes = "256";
  double duration_s = 10;
  bool json = false;
};

void PrintNetResult(const char* phase, const NetBenchConfig& c, const PhaseResult& r, bool json) {
  if (json) {
    std::cout << JsonLine(Json{{"phase", phase},
                               {"clients", c.clients},
                               {"batch", c.batch},
                               {"event_size_bytes", c.event_size_bytes},
                               {"events", r.events},
                               {"seconds", r.seconds},
                               {"events_per_s", r.events_per_second()},
                               {"calls", r.batches},
                               {"p50_ms", r.latency.p50_ms},
                               {"p99_ms", r.latency.p99_ms},
                               {"max_ms", r.latency.max_ms}})
              << "\n";
    return;
  }
  std::cout << "bench " << phase << " clients=" << c.clients << " batch=" << c.batch
            << " events=" << r.events << " seconds=" << r.seconds
            << " events/s=" << static_cast<uint64_t>(r.events_per_second())
            << " p50_ms=" << r.latency.p50_ms << " p99_ms=" << r.latency.p99_ms
            << " max_ms=" << r.latency.max_ms << "\n";
}

int RunNetBench(const NetArgs& args, bool append) {
  NetBenchConfig c;
  auto client = ResolveClientOptions(/*explicit_only=*/false);
  if (!client.ok()) {
    return UsageError(client.status().code() == StatusCode::kNotFound
                          ? "bench append|read needs --server HOST:PORT (or a client config)"
                          : client.status().message());
  }
  c.client = *client;
  auto clients = ParseBounded(args.clients, 1, 1024, "--clients");
  auto batch = ParseBounded(args.batch, 1, engine::Limits{}.batch_events_max, "--batch");
  auto events = ParseBounded(args.events, 1, UINT64_MAX / 2, "--events");
  auto size = ParseBounded(args.event_size_bytes, kBenchEventSizeBytesMin, kBenchEventSizeBytesMax,
                           "--event-size-bytes");
  for (const Status& s : {clients.status(), batch.status(), events.status(), size.status()}) {
    if (!s.ok()) return UsageError(s.message());
  }
  if (!(args.duration_s > 0 && args.duration_s <= 3600)) {
    return UsageError("--duration must be > 0 and at most 3600 seconds");
  }
  c.clients = static_cast<uint32_t>(*clients);
  c.batch = static_cast<uint32_t>(*batch);
  c.events_max = *events;
  c.event_size_bytes = *size;
  c.duration_s = args.duration_s;
  auto result = append ? RunNetAppend(c) : RunNetRead(c);
  if (!result.ok()) return Fail(result.status().Annotate("bench"));
  PrintNetResult(append ? "append" : "read", c, *result, args.json);
  return kExitOk;
}

void RegisterNetBench(CLI::App* bench, CliContext& ctx, const char* name, bool append) {
  auto args = std::make_shared<NetArgs>();
  CLI::App* cmd = bench->add_subcommand(
      name, append ? "Load a running server with appends from N clients (own connections)"
                   : "Read the whole log from N clients of a running server");
  AddConnectionOptions(cmd);
  cmd->add_option("--clients", args->clients, "Concurrent clients")->capture_default_str();
  if (append) {
    cmd->add_option("--batch", args->batch, "Events per append")->capture_default_str();
    cmd->add_option("--events", args->events, "Stop after this many events")->capture_default_str();
    cmd->add_option("--event-size-bytes", args->event_size_bytes, "Bytes of JSON data per event")
        ->capture_default_str();
  }
  cmd->add_option("--duration", args->duration_s, "Seconds of load")->capture_default_str();
  cmd->add_flag("--json", args->json, "Print the result as JSON");
  cmd->callback([&ctx, args, append] { ctx.exit_code = RunNetBench(*args, append); });
}

}  // namespace

void RegisterBenchCommand(CLI::App& app, CliContext& ctx) {
  auto args = std::make_shared<BenchArgs>();
  CLI::App* cmd = app.add_subcommand(
      "bench", "End-to-end load in process: concurrent appends, then read-all and verify");
  AddDataDirOption(cmd, &args->data_dir);
  cmd->add_option("--threads", args->threads, "Appending threads")->capture_default_str();
  cmd->add_option("--batch", args->batch, "Events per append")->capture_default_str();
  cmd->add_option("--events", args->events, "Total events to append")->capture_default_str();
  cmd->add_option("--event-size-bytes", args->event_size_bytes, "Bytes of JSON data per event")
      ->capture_default_str();
  cmd->add_option("--seconds", args->seconds, "Time budget of the append and read phases")
      ->capture_default_str();
  cmd->add_option("--shared-streams", args->shared_streams,
                  "Threads share this many streams (0: one stream per thread)")
      ->capture_default_str();
  cmd->add_flag("--no-sync", args->no_sync,
                "Do not sync commits (measures the cost of sync; not durable)");
  cmd->add_flag("--json", args->json, "Print the results as JSON");
  cmd->callback([&ctx, args, cmd] {
    if (!cmd->get_subcommands().empty()) return;  // bench append|read ran
    ctx.exit_code = RunBench(ctx, *args);
  });
  RegisterNetBench(cmd, ctx, "append", /*append=*/true);
  RegisterNetBench(cmd, ctx, "read", /*append=*/false);
  RegisterSubscribeBench(cmd, ctx);
  RegisterSoakBench(cmd, ctx);
}

}  // namespace cairn::cli
