// cairn bench soak: flags, checks and output of the soak run (bench_soak.h; bench/soak.sh runs it
// against a server of its own).
#include <cstdio>
#include <iostream>
#include <memory>

#include "cli/args.h"
#include "cli/bench_soak.h"
#include "cli/connection.h"
#include "cli/errors.h"

namespace cairn::cli {
namespace {

struct SoakArgs {
  std::string server_pid, policy_file;
  double duration_s = 600, warmup_s = 30, report_interval_s = 10;
  double policy_interval_s = 10, forget_interval_s = 10, rotate_interval_s = 30;
  std::string appenders = "4", readers = "2", subscribers = "3", group_consumers = "2";
  std::string batch = "20", rate = "2000";
};

Result<uint32_t> Count(const std::string& text, uint64_t lo, uint64_t hi, const char* what) {
  CAIRN_ASSIGN_OR_RETURN(uint64_t v, ParseU64(text, what));
  if (v < lo || v > hi) {
    return Status::InvalidArgument(std::string(what) + " must be between " + std::to_string(lo) +
                                   " and " + std::to_string(hi));
  }
  return static_cast<uint32_t>(v);
}

Status CheckTimes(const SoakArgs& a) {
  if (!(a.duration_s > 0 && a.duration_s <= 86400)) {
    return Status::InvalidArgument("--duration-s must be > 0 and at most 86400");
  }
  if (!(a.warmup_s >= 0 && a.warmup_s < a.duration_s)) {
    return Status::InvalidArgument("--warmup-s must be >= 0 and below --duration-s");
  }
  if (!(a.report_interval_s >= 1 && a.report_interval_s <= a.duration_s)) {
    return Status::InvalidArgument("--report-interval-s must be >= 1 and at most --duration-s");
  }
  for (double interval_s : {a.policy_interval_s, a.forget_interval_s, a.rotate_interval_s}) {
    if (!(interval_s == 0 || (interval_s >= 1 && interval_s <= 86400))) {
      return Status::InvalidArgument("admin intervals must be 0 (off) or 1..86400 seconds");
    }
  }
  return Status::Ok();
}

Result<SoakConfig> ParseArgs(const SoakArgs& a) {
  SoakConfig c;
  CAIRN_ASSIGN_OR_RETURN(c.client, ResolveClientOptions(/*explicit_only=*/false));
  CAIRN_ASSIGN_OR_RETURN(uint64_t pid, ParseU64(a.server_pid, "--server-pid"));
  if (pid == 0 || pid > INT32_MAX) return Status::InvalidArgument("--server-pid is not a pid");
  if (a.policy_file.empty()) return Status::InvalidArgument("--policy-file is required");
  CAIRN_RETURN_IF_ERROR(CheckTimes(a));
  c.server_pid = static_cast<pid_t>(pid);
  c.policy_file = a.policy_file;
  c.duration_s = a.duration_s;
  c.warmup_s = a.warmup_s;
  c.report_interval_s = a.report_interval_s;
  c.policy_interval_s = a.policy_interval_s;
  c.forget_interval_s = a.forget_interval_s;
  c.rotate_interval_s = a.rotate_interval_s;
  CAIRN_ASSIGN_OR_RETURN(c.appenders, Count(a.appenders, 1, 256, "--appenders"));
  CAIRN_ASSIGN_OR_RETURN(c.readers, Count(a.readers, 0, 256, "--readers"));
  CAIRN_ASSIGN_OR_RETURN(c.subscribers, Count(a.subscribers, 0, 256, "--subscribers"));
  CAIRN_ASSIGN_OR_RETURN(c.group_consumers, Count(a.group_consumers, 0, 64, "--group-consumers"));
  CAIRN_ASSIGN_OR_RETURN(c.batch, Count(a.batch, c.subjects_per_interval, 1000, "--batch"));
  CAIRN_ASSIGN_OR_RETURN(c.rate, Count(a.rate, 1, 1'000'000, "--rate"));
  return c;
}

std::string Mib(uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", static_cast<double>(bytes) / (1 << 20));
  return buf;
}

void PrintHeader(const SoakConfig& c) {
  std::printf("cairn bench soak: %.0f s, %u appenders at %llu events/s (batch %u), %u readers, "
              "%u live subscribers, %u group consumers; every %.0f/%.0f/%.0f s (0: never) a "
              "policy reload/forget/key rotation; server pid %d\n",
              c.duration_s, c.appenders, static_cast<unsigned long long>(c.rate), c.batch,
              c.readers, c.subscribers, c.group_consumers, c.policy_interval_s,
              c.forget_interval_s, c.rotate_interval_s, static_cast<int>(c.server_pid));
  std::printf("%9s %12s %10s %12s %7s %10s %6s %8s\n", "elapsed_s", "appends/s", "reads/s",
              "sub_events/s", "errors", "rss_MiB", "fds", "sst_fds");
}

void PrintSample(const SoakSample& s) {
  std::printf("%9.0f %12.0f %10.0f %12.0f %7llu %10s %6llu %8llu\n", s.elapsed_s,
              s.appends_per_s, s.reads_per_s, s.sub_events_per_s,
              static_cast<unsigned long long>(s.errors), Mib(s.server.rss_bytes).c_str(),
              static_cast<unsigned long long>(s.server.fds),
              static_cast<unsigned long long>(s.server.sst_fds));
  std::fflush(stdout);
}

void PrintSummary(const SoakConfig& c, const SoakResult& r) {
  const SoakTotals& t = r.totals;
  std::printf("totals: appended %llu, read %llu, live events %llu, group events %llu, lagged "
              "resubscribes %llu, policy reloads %llu, forgets %llu, key rotations %llu storage "
              "+ %llu subject, errors %llu\n",
              (unsigned long long)t.appended, (unsigned long long)t.read,
              (unsigned long long)t.live_events, (unsigned long long)t.group_events,
              (unsigned long long)t.lagged, (unsigned long long)t.policy_reloads,
              (unsigned long long)t.forgets, (unsigned long long)t.storage_rotations,
              (unsigned long long)t.subject_rotations, (unsigned long long)t.errors);
  std::printf("server: rss %s MiB at %.0f s -> %s MiB at %.0f s (bound %.1f x + %s MiB); "
              "fds %llu -> %llu (bound +%llu); SST files open %llu -> %llu (bound %llu)\n",
              Mib(r.warm.server.rss_bytes).c_str(), r.warm.elapsed_s,
              Mib(r.last.server.rss_bytes).c_str(), r.last.elapsed_s, c.rss_growth_factor_max,
              Mib(c.rss_slack_bytes).c_str(), (unsigned long long)r.warm.server.fds,
              (unsigned long long)r.last.server.fds, (unsigned long long)c.fd_growth_max,
              (unsigned long long)r.warm.server.sst_fds, (unsigned long long)r.last.server.sst_fds,
              (unsigned long long)c.sst_fds_max);
  for (const std::string& e : r.errors) std::printf("error: %s\n", e.c_str());
  for (const std::string& f : r.failures) std::printf("FAIL: %s\n", f.c_str());
  std::printf("verdict: %s\n", r.passed() ? "pass" : "FAIL");
  std::fflush(stdout);
}

int Run(const SoakArgs& args) {
  auto config = ParseArgs(args);
  if (!config.ok()) {
    return UsageError(config.status().code() == StatusCode::kNotFound
                          ? "bench soak needs --server HOST:PORT (or a client config)"
                          : config.status().message());
  }
  PrintHeader(*config);
  auto result = RunSoak(*config, PrintSample);
  if (!result.ok()) return Fail(result.status().Annotate("bench soak"));
  PrintSummary(*config, *result);
  return result->passed() ? kExitOk : kExitFailure;
}

}  // namespace

void RegisterSoakBench(CLI::App* bench, CliContext& ctx) {
  auto a = std::make_shared<SoakArgs>();
  CLI::App* cmd = bench->add_subcommand(
      "soak", "Mixed load on a running server for a long time; fails if its RSS or fds grow");
  AddConnectionOptions(cmd);
  cmd->add_option("--server-pid", a->server_pid, "The server's process id (for RSS and fds)")
      ->required();
  cmd->add_option("--policy-file", a->policy_file, "The server's policy file (rewritten, reloaded)")
      ->required();
  cmd->add_option("--duration-s", a->duration_s, "Seconds of load")->capture_default_str();
  cmd->add_option("--warmup-s", a->warmup_s, "RSS and fds are compared from this point on")
      ->capture_default_str();
  cmd->add_option("--report-interval-s", a->report_interval_s, "Seconds between report lines")
      ->capture_default_str();
  cmd->add_option("--policy-interval-s", a->policy_interval_s,
                  "Seconds between policy rewrites + reloads (0: none)")->capture_default_str();
  cmd->add_option("--forget-interval-s", a->forget_interval_s,
                  "Seconds between forgets of the finished interval's subjects (0: none)")
      ->capture_default_str();
  cmd->add_option("--rotate-interval-s", a->rotate_interval_s,
                  "Seconds between storage + subject key rotations (0: none)")->capture_default_str();
  cmd->add_option("--appenders", a->appenders, "Appending clients")->capture_default_str();
  cmd->add_option("--rate", a->rate, "Appended events/s, all appenders")->capture_default_str();
  cmd->add_option("--batch", a->batch, "Events per append")->capture_default_str();
  cmd->add_option("--readers", a->readers, "Reading clients")->capture_default_str();
  cmd->add_option("--subscribers", a->subscribers, "Live subscribers on $all")
      ->capture_default_str();
  cmd->add_option("--group-consumers", a->group_consumers, "Consumers of the consumer group")
      ->capture_default_str();
  cmd->callback([&ctx, a] { ctx.exit_code = Run(*a); });
}

}  // namespace cairn::cli
