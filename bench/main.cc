// Benchmark entry point: like BENCHMARK_MAIN, but closes the stores before static destruction.
#include <benchmark/benchmark.h>

#include "bench_util.h"

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  cairn::bench::CloseEngineStores();
  cairn::bench::CloseCeilingStores();
  benchmark::Shutdown();
  return 0;
}
