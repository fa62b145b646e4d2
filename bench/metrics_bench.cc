// Cost of the metrics primitives on the hot path (audit/metrics.h): a counter increment and a
// histogram observation, alone and from several threads at once (contention on one cache line),
// and rendering a registry the size of a server's /metrics page. Report ratios and orders of
// magnitude; the machine is shared.
#include <benchmark/benchmark.h>

#include <string>

#include "audit/metrics.h"

namespace cairn::bench {
namespace {

audit::MetricsRegistry& Registry() {
  static audit::MetricsRegistry* registry = new audit::MetricsRegistry();  // lives to exit
  return *registry;
}

void BM_Metrics_CounterIncrement(benchmark::State& state) {
  audit::Counter* c = Registry().GetCounter("cairn_bench_total", "Bench.");
  for (auto _ : state) c->Increment();
  benchmark::DoNotOptimize(c->value());
}
BENCHMARK(BM_Metrics_CounterIncrement)->Threads(1)->Threads(4);

void BM_Metrics_HistogramObserve(benchmark::State& state) {
  audit::Histogram* h = Registry().GetHistogram("cairn_bench_seconds", "Bench.",
                                                audit::LatencyBucketsSeconds());
  double v = 0.00003;
  for (auto _ : state) {
    h->Observe(v);
    v = v > 20 ? 0.00003 : v * 1.7;  // walks every bucket
  }
}
BENCHMARK(BM_Metrics_HistogramObserve)->Threads(1)->Threads(4);

// About the families and series of a server's page: 40 counters with 8 label sets each and 8
// histograms of 16 buckets.
void BM_Metrics_Render(benchmark::State& state) {
  audit::MetricsRegistry registry;
  for (int f = 0; f < 40; ++f) {
    for (int s = 0; s < 8; ++s) {
      registry.GetCounter("cairn_render_" + std::to_string(f) + "_total", "Render bench.",
                          {{"label", "value" + std::to_string(s)}})
          ->Increment(static_cast<uint64_t>(f * s));
    }
  }
  for (int f = 0; f < 8; ++f) {
    registry.GetHistogram("cairn_render_" + std::to_string(f) + "_seconds", "Render bench.",
                          audit::LatencyBucketsSeconds())
        ->Observe(0.001 * f);
  }
  size_t bytes = 0;
  for (auto _ : state) {
    std::string page = registry.RenderPrometheus();
    bytes = page.size();
    benchmark::DoNotOptimize(page);
  }
  state.counters["page_bytes"] = static_cast<double>(bytes);
}
BENCHMARK(BM_Metrics_Render)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace cairn::bench
