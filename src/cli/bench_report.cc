#include "cli/bench_report.h"

#include <cstdio>

namespace cairn::cli {
namespace {

std::string Format(const char* format, auto... args) {
  char buf[256];
  std::snprintf(buf, sizeof buf, format, args...);
  return buf;
}

std::string Header(const BenchConfig& c) {
  std::string streams = c.shared_streams > 0
                            ? std::to_string(c.shared_streams) + " shared streams"
                            : "one stream per thread";
  return Format("cairn bench: %u threads, batch %u, %zu-byte events, %s, sync %s\n", c.threads,
                c.batch, c.event_size_bytes, streams.c_str(), c.sync ? "on" : "OFF");
}

std::string Row(const char* phase, const PhaseResult& p) {
  return Format("%-9s %10llu %9.3f %12.0f", phase, static_cast<unsigned long long>(p.events),
                p.seconds, p.events_per_second());
}

Json PhaseJson(const PhaseResult& p) {
  return Json{{"events", p.events}, {"seconds", p.seconds},
              {"events_per_s", p.events_per_second()}};
}

}  // namespace

std::string BenchTable(const BenchConfig& config, const BenchResult& r) {
  std::string out = Header(config);
  out += Format("%-9s %10s %9s %12s %10s %8s %8s %8s\n", "phase", "events", "seconds",
                "events/s", "batches/s", "p50 ms", "p99 ms", "max ms");
  out += Row("append", r.append) +
         Format(" %10.1f %8.3f %8.3f %8.3f\n", r.append.batches_per_second(),
                r.append.latency.p50_ms, r.append.latency.p99_ms, r.append.latency.max_ms);
  out += Row("read-all", r.read_all) + "\n";
  out += Row("verify", r.verify) + (r.verify_ok ? "  ok\n" : "  FAILED\n");
  return out;
}

Json BenchJson(const BenchConfig& config, const BenchResult& r) {
  Json append = PhaseJson(r.append);
  append["batches"] = r.append.batches;
  append["batches_per_s"] = r.append.batches_per_second();
  append["latency_ms"] = Json{{"p50", r.append.latency.p50_ms},
                              {"p99", r.append.latency.p99_ms},
                              {"max", r.append.latency.max_ms}};
  Json verify = PhaseJson(r.verify);
  verify["ok"] = r.verify_ok;
  if (!r.verify_ok) verify["failure"] = r.verify_failure;
  return Json{{"config",
               {{"threads", config.threads},
                {"batch", config.batch},
                {"events", config.events},
                {"event_size_bytes", config.event_size_bytes},
                {"seconds", config.seconds},
                {"shared_streams", config.shared_streams},
                {"sync", config.sync}}},
              {"append", append},
              {"read_all", PhaseJson(r.read_all)},
              {"verify", verify}};
}

}  // namespace cairn::cli
