// cairn bench: in-process end-to-end load on a data directory (see bench_load.h).
#include <cassert>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>
#include <thread>

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
#include "storage/postgres/pg_stats.h"

namespace cairn::cli {
namespace {

struct BenchArgs {
  std::string data_dir;
  std::string threads = "4", batch = "100", events = "100000", event_size_bytes = "256";
  std::string shared_streams = "0";
  double seconds = 30;
  bool no_sync = false;
  bool json = false;
  // The PostgreSQL backend: the log in this database, the data directory keeps the lock and the
  // keyring (or --keyring names another node's keyring file).
  std::string postgres_dsn, postgres_password_file, keyring;
  bool init_only = false;      // initialise the data directory (and the log) and exit
  bool pg_lock_first = false;  // PgOptions::optimistic_commits = false
  int64_t start_at_unix_ms = 0;  // 0: start the load at once; else wait for this wall-clock time
};

// How far ahead --start-at-unix-ms may be (a typo must not park the process for hours).
constexpr int64_t kStartAtAheadMsMax = 120000;
// A process this late to --start-at-unix-ms refuses to run (WaitForStart).
constexpr int64_t kStartLateMsMax = 500;

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
Status PrepareDataDir(const std::string& dir, const keys::KmsConfig& kms) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const bool exists = fs::exists(dir, ec);
  if (exists && !fs::is_directory(dir, ec)) {
    return Status::InvalidArgument("'" + dir + "' is not a directory");
  }
  if (!exists || fs::is_empty(dir, ec)) {
    engine::InitOptions init;
    init.data_dir = dir;
    init.kms = kms;
    return engine::EventStore::Init(init);
  }
  if (fs::exists(fs::path(dir) / "keyring", ec) || fs::exists(fs::path(dir) / "cairn.lock", ec)) {
    return Status::Ok();
  }
  return Status::FailedPrecondition("refusing to use '" + dir +
                                    "': it is not empty and not a cairn data directory");
}

std::optional<storage::PgOptions> BenchPgOptions(const BenchArgs& args) {
  if (args.postgres_dsn.empty()) return std::nullopt;
  storage::PgOptions pg;
  pg.conninfo = args.postgres_dsn;
  pg.password_file = args.postgres_password_file;
  pg.optimistic_commits = !args.pg_lock_first;
  return pg;
}

keys::KmsConfig BenchKms(const BenchArgs& args) {
  keys::KmsConfig kms;
  kms.local.keyring_path = args.keyring;  // empty: <data_dir>/keyring
  return kms;
}

// Whether the database already holds a cairn log: the engine's "initialized" metadata, which
// EventStore::Init writes last (engine/event_store_impl.cc).
Result<bool> PgHoldsLog(storage::PgOptions pg) {
  pg.listen = false;
  CAIRN_ASSIGN_OR_RETURN(std::unique_ptr<storage::LogStore> store, storage::OpenPgLogStore(pg));
  CAIRN_ASSIGN_OR_RETURN(std::optional<std::string> initialized, store->ReadMeta("initialized"));
  return initialized.has_value();
}

// PostgreSQL: opens the log in the database, or first initialises it (and this data directory's
// keyring, or the --keyring file) when the database holds none. Other nodes name the first
// node's keyring with --keyring and must start after the first one initialised the log.
Result<std::unique_ptr<engine::EventStore>> OpenPgForBench(const std::string& dir,
                                                           const BenchArgs& args) {
  server::StorageSection storage;
  storage.backend = "postgres";
  storage.postgres_dsn = args.postgres_dsn;
  storage.postgres_password_file = args.postgres_password_file;
  const PgFlagNames flags{"--postgres", "sslmode in --postgres",
                          "sslmode=verify-full in --postgres", "--postgres-password-file"};
  CAIRN_RETURN_IF_ERROR(ValidatePgFlags(storage, flags));
  engine::Options options;
  options.data_dir = dir;
  options.kms = BenchKms(args);
  options.postgres = BenchPgOptions(args);
  CAIRN_ASSIGN_OR_RETURN(bool holds_log, PgHoldsLog(*options.postgres));
  if (!holds_log) {
    engine::InitOptions init;
    init.data_dir = dir;
    init.kms = options.kms;
    init.postgres = options.postgres;
    CAIRN_RETURN_IF_ERROR(engine::EventStore::Init(init).Annotate("initialising the log"));
  }
  return engine::EventStore::Open(options);
}

Result<std::unique_ptr<engine::EventStore>> OpenForBench(const std::string& dir,
                                                         const BenchConfig& config,
                                                         const BenchArgs& args) {
  if (!args.postgres_dsn.empty()) return OpenPgForBench(dir, args);
  engine::Options options;
  options.data_dir = dir;
  options.sync = config.sync;
  options.kms = BenchKms(args);
  CAIRN_RETURN_IF_ERROR(PrepareDataDir(dir, options.kms));
  return engine::EventStore::Open(options);
}

// Commit-lock figures of the append phase (PostgreSQL only): the store's totals after minus
// before.
storage::PgCommitStats Minus(const storage::PgCommitStats& a, const storage::PgCommitStats& b) {
  assert(a.locks >= b.locks && a.commits >= b.commits && a.hold_ns >= b.hold_ns);
  return {a.locks - b.locks,       a.rebased - b.rebased,           a.commits - b.commits,
          a.records - b.records,   a.lock_wait_ns - b.lock_wait_ns, a.hold_ns - b.hold_ns,
          a.commit_ns - b.commit_ns, a.optimistic - b.optimistic,   a.races_lost - b.races_lost,
          a.lock_victims - b.lock_victims, a.row_waits_cut - b.row_waits_cut,
          a.durable_waits - b.durable_waits, a.durable_wait_ns - b.durable_wait_ns,
          a.barriers - b.barriers};
}

double MeanMs(uint64_t total_ns, uint64_t count) {
  return count > 0 ? static_cast<double>(total_ns) / 1e6 / static_cast<double>(count) : 0;
}

Json PgLockJson(const storage::PgCommitStats& s) {
  return Json{{"locks", s.locks},
              {"rebased", s.rebased},
              {"commits", s.commits},
              {"events", s.records},
              {"events_per_commit", s.commits > 0 ? static_cast<double>(s.records) / s.commits : 0},
              {"lock_wait_ms_mean", MeanMs(s.lock_wait_ns, s.locks)},
              {"hold_ms_mean", MeanMs(s.hold_ns, s.locks)},
              {"commit_ms_mean", MeanMs(s.commit_ns, s.commits)},
              {"lock_wait_s", static_cast<double>(s.lock_wait_ns) / 1e9},
              {"hold_s", static_cast<double>(s.hold_ns) / 1e9},
              {"optimistic", s.optimistic},
              {"races_lost", s.races_lost},
              {"lock_victims", s.lock_victims},
              {"row_waits_cut", s.row_waits_cut},
              {"durable_waits", s.durable_waits},
              {"durable_wait_ms_mean", MeanMs(s.durable_wait_ns, s.durable_waits)},
              {"barriers", s.barriers}};
}

std::string PgLockLine(const storage::PgCommitStats& s) {
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "postgres commit lock (append phase): %llu commits, %.1f events/commit, "
                "lock wait %.3f ms/lock, held %.3f ms/lock, Commit() %.3f ms (of which the wait "
                "for durability after the lock %.3f ms), "
                "rebased %llu of %llu locks; %llu optimistic writers, %llu races lost (%llu gave "
                "way after a cut wait, %llu deadlock victims)\n",
                static_cast<unsigned long long>(s.commits),
                s.commits > 0 ? static_cast<double>(s.records) / s.commits : 0.0,
                MeanMs(s.lock_wait_ns, s.locks), MeanMs(s.hold_ns, s.locks),
                MeanMs(s.commit_ns, s.commits), MeanMs(s.durable_wait_ns, s.durable_waits),
                static_cast<unsigned long long>(s.rebased),
                static_cast<unsigned long long>(s.locks), static_cast<unsigned long long>(s.optimistic),
                static_cast<unsigned long long>(s.races_lost),
                static_cast<unsigned long long>(s.row_waits_cut),
                static_cast<unsigned long long>(s.lock_victims));
  return buf;
}

// --start-at-unix-ms: several bench processes (nodes) start their load at the same instant.
// Several processes summed as one load (bench/pg_nodes.sh) must run at the same time: one that
// reaches the common start late would run partly alone and flatter the sum. Refused then.
Status WaitForStart(int64_t start_at_unix_ms) {
  if (start_at_unix_ms <= 0) return Status::Ok();
  const auto start = std::chrono::system_clock::time_point(std::chrono::milliseconds(start_at_unix_ms));
  const auto late = std::chrono::system_clock::now() - start;
  if (late > std::chrono::milliseconds(kStartLateMsMax)) {
    return Status::FailedPrecondition(
        "reached --start-at-unix-ms " +
        std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(late).count()) +
        " ms late (opening the store took longer): its run would not overlap the others'; give "
        "a later start");
  }
  std::this_thread::sleep_until(start);
  return Status::Ok();
}

Status CheckStartAt(int64_t start_at_unix_ms) {
  if (start_at_unix_ms == 0) return Status::Ok();
  const int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
  if (start_at_unix_ms < 0 || start_at_unix_ms > now_ms + kStartAtAheadMsMax) {
    return Status::InvalidArgument("--start-at-unix-ms must be at most " +
                                   std::to_string(kStartAtAheadMsMax / 1000) +
                                   " s in the future");
  }
  return Status::Ok();
}

Status CheckBackendArgs(const BenchArgs& args) {
  if (args.postgres_dsn.empty()) {
    if (!args.postgres_password_file.empty() || args.init_only) {
      return Status::InvalidArgument("--postgres-password-file and --init-only need --postgres");
    }
    return CheckStartAt(args.start_at_unix_ms);
  }
  if (args.no_sync) {
    return Status::InvalidArgument(
        "--no-sync does not apply to --postgres (the server's synchronous_commit decides)");
  }
  return CheckStartAt(args.start_at_unix_ms);
}

Result<BenchResult> RunPhases(engine::EventStore& store, const BenchConfig& config,
                              std::optional<storage::PgCommitStats>* pg_lock) {
  BenchResult result;
  const auto pg_before = storage::PgCommitStatsOf(store.log_store());
  const engine::EventStore::RemoteReads remote_before = store.remote_reads();
  CAIRN_ASSIGN_OR_RETURN(result.append, RunAppendLoad(store, config));
  const auto pg_after = storage::PgCommitStatsOf(store.log_store());
  const engine::EventStore::RemoteReads remote_after = store.remote_reads();
  if (pg_before && pg_after) *pg_lock = Minus(*pg_after, *pg_before);
  result.remote.prefetched = remote_after.prefetched - remote_before.prefetched;
  result.remote.summarized = remote_after.summarized - remote_before.summarized;
  result.remote.ahead_summarized = remote_after.ahead_summarized - remote_before.ahead_summarized;
  result.remote.learned_before_lock = remote_after.learned_before_lock - remote_before.learned_before_lock;
  result.remote.read_under_lock = remote_after.read_under_lock - remote_before.read_under_lock;
  result.remote.rebases = remote_after.rebases - remote_before.rebases;
  result.remote.rebase_ns = remote_after.rebase_ns - remote_before.rebase_ns;
  CAIRN_ASSIGN_OR_RETURN(result.read_all, RunReadAll(store, config.seconds));
  engine::VerifyReport report;
  result.verify = RunVerify(store, &report);
  result.verify_ok = report.ok;
  result.verify_failure = report.failure;
  return result;
}

int RunBench(const CliContext& ctx, const BenchArgs& args) {
  auto config = ParseConfig(args);
  if (!config.ok()) return UsageError(config.status().message());
  if (Status s = CheckBackendArgs(args); !s.ok()) return UsageError(s.message());
  auto dir = ResolveDataDir(ctx, args.data_dir);
  if (!dir.ok()) return UsageError(dir.status().message());
  auto store = OpenForBench(*dir, *config, args);
  if (!store.ok()) return Fail(store.status());
  if (args.init_only) return kExitOk;
  if (Status s = WaitForStart(args.start_at_unix_ms); !s.ok()) return Fail(s.Annotate("bench"));
  std::optional<storage::PgCommitStats> pg_lock;
  auto result = RunPhases(**store, *config, &pg_lock);
  if (!result.ok()) return Fail(result.status().Annotate("bench"));
  if (args.json) {
    Json out = BenchJson(*config, *result);
    out["backend"] = args.postgres_dsn.empty() ? "rocksdb" : "postgres";
    if (pg_lock) {
      out["postgres_commit_lock"] = PgLockJson(*pg_lock);
      out["postgres_commit_lock"]["remote_events_prefetched"] = result->remote.prefetched;
      out["postgres_commit_lock"]["remote_events_summarized"] = result->remote.summarized;
      out["postgres_commit_lock"]["remote_events_ahead_from_summaries"] = result->remote.ahead_summarized;
      out["postgres_commit_lock"]["remote_events_learned_before_lock"] = result->remote.learned_before_lock;
      out["postgres_commit_lock"]["remote_events_read_under_lock"] = result->remote.read_under_lock;
      out["postgres_commit_lock"]["rebase_ms_mean"] = MeanMs(result->remote.rebase_ns, result->remote.rebases);
    }
    std::cout << JsonLine(out) << "\n";
  } else {
    std::cout << BenchTable(*config, *result);
    if (pg_lock) {
      std::cout << PgLockLine(*pg_lock) << "other nodes' events learned: "
                << result->remote.prefetched << " decoded ahead (" << result->remote.ahead_summarized
                << " of them from group summaries, " << result->remote.learned_before_lock
                << " learned before the lock wait), " << result->remote.summarized
                << " from group summaries, " << result->remote.read_under_lock
                << " read under the lock; " << MeanMs(result->remote.rebase_ns, result->remote.rebases)
                << " ms per rebase\n";
    }
  }
  return result->verify_ok ? kExitOk : kExitFailure;
}

struct NetArgs {
  std::string clients = "8", batch = "100", events = "10000000", event_size_bytes = "256";
  std::string payload = "bench";
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
  if (args.payload != "bench" && args.payload != "customer") {
    return UsageError("--payload must be bench or customer");
  }
  c.customer_payload = args.payload == "customer";
  if (c.customer_payload && c.event_size_bytes < kCustomerEventSizeBytesMin) {
    return UsageError("--payload customer needs --event-size-bytes of at least " +
                      std::to_string(kCustomerEventSizeBytesMin));
  }
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
    cmd->add_option("--payload", args->payload,
                    "bench: BenchEvent {\"seq\":…}; customer: CustomerRegistered events with "
                    "customerId, email, name, street over 1,000 subjects (field protection)")
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
  cmd->add_option("--postgres", args->postgres_dsn,
                  "Run on the PostgreSQL backend: the log in this database (libpq connection "
                  "string without a password); initialised when it holds none");
  cmd->add_option("--postgres-password-file", args->postgres_password_file,
                  "The PostgreSQL password, from this file (mode 0600)");
  cmd->add_flag("--pg-lock-first", args->pg_lock_first,
                "PostgreSQL: lock first on every commit (storage.postgres_optimistic_commits = "
                "false), for a side-by-side run");
  cmd->add_option("--keyring", args->keyring,
                  "The local KMS keyring file (default DATA_DIR/keyring); other nodes of one "
                  "PostgreSQL log name the first node's keyring");
  cmd->add_flag("--init-only", args->init_only,
                "Open or initialise the data directory and the PostgreSQL log, then exit");
  cmd->add_option("--start-at-unix-ms", args->start_at_unix_ms,
                  "Start the load at this wall-clock time (several processes at once)");
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
