// End-to-end engine benchmarks (durable appends with hashing and at-rest encryption, reads,
// verification, proofs) beside the ceiling: RocksDB synced group commits of the same bytes with
// no hashing or encryption. Run with `make bench`; report ratios, not absolute numbers.
#include <benchmark/benchmark.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <random>

#include <unistd.h>

#include "bench_util.h"
#include "engine/event_codec.h"
#include "engine/event_store.h"

namespace cairn::bench {
namespace {

constexpr size_t kEventSizeBytes = 256;

// One store shared by the threads of a benchmark run; created by the first thread to arrive.
// Before a new one is made, the ceiling's store is closed and the page cache written back: its
// flushes, compactions and dirty pages must not run beside the engine's timed loop (nor this
// one's beside the ceiling's, ceiling_bench.cc): the ratio compares the two on a quiet machine.
class SharedStore {
 public:
  engine::EventStore* Get(const std::string& name, engine::Options options = {}) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (store_ && name_ == name) return store_.get();
    }
    CloseCeilingStores();
    std::lock_guard<std::mutex> lock(mu_);
    if (!store_ || name_ != name) {
      store_.reset();
      ::sync();
      options.data_dir = FreshDir(name);
      if (!engine::EventStore::Init({options.data_dir, "bench.local/log", {}, std::nullopt}).ok()) std::abort();
      auto s = engine::EventStore::Open(options);
      if (!s.ok()) std::abort();
      store_ = std::move(s).value();
      name_ = name;
    }
    return store_.get();
  }
  void Reset() {
    std::lock_guard<std::mutex> lock(mu_);
    store_.reset();
    name_.clear();
  }

 private:
  std::mutex mu_;
  std::string name_;
  std::unique_ptr<engine::EventStore> store_;
};

SharedStore g_store;

void AppendLoop(benchmark::State& state, const std::string& name, size_t batch) {
  engine::EventStore* store = g_store.Get(name + "-" + std::to_string(state.threads()));
  const std::string stream = "bench-" + std::to_string(state.thread_index());
  // Events are made once: the ceiling makes none, so only a copy stays inside the loop.
  const std::vector<engine::ProposedEvent> events = Batch(batch, kEventSizeBytes, 0);
  uint64_t n = 0;
  for (auto _ : state) {
    auto r = store->Append(stream, engine::ExpectedVersion::Any(), events);
    if (!r.ok()) {
      state.SkipWithError(r.status().ToString().c_str());
      break;  // Google Benchmark runs every later iteration otherwise
    }
    n += batch;
  }
  state.SetItemsProcessed(static_cast<int64_t>(n));
  state.SetBytesProcessed(static_cast<int64_t>(n * kEventSizeBytes));
}

// Target: >= 300,000 events/s (batches of 100, 4 threads).
void BM_Append_Batch100(benchmark::State& state) { AppendLoop(state, "append100", 100); }
BENCHMARK(BM_Append_Batch100)->Threads(4)->UseRealTime()->MinTime(3.0);

// What every append costs its caller before the sequencer sees it (validation, JSON check, ids,
// hashes): a batch of 100 256-byte events, copied in as an append call receives it.
void BM_PrepareAppend_Batch100(benchmark::State& state) {
  const std::vector<engine::ProposedEvent> events = Batch(100, kEventSizeBytes, 0);
  const engine::Limits limits;
  for (auto _ : state) {
    auto r = engine::PrepareAppend("bench-0", engine::ExpectedVersion::Any(), events, limits);
    if (!r.ok()) {
      state.SkipWithError(r.status().ToString().c_str());
      break;
    }
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * events.size()));
}
BENCHMARK(BM_PrepareAppend_Batch100);

// Target: >= 20,000 events/s from 16 threads of single-event appends (group commit).
void BM_Append_Single(benchmark::State& state) { AppendLoop(state, "append1", 1); }
BENCHMARK(BM_Append_Single)->Threads(16)->UseRealTime()->MinTime(3.0);

// A populated store for the read-side benchmarks.
engine::EventStore* Populated(uint64_t events) {
  engine::EventStore* store = g_store.Get("populated-" + std::to_string(events));
  for (uint64_t n = store->tree_size(); n < events; n += 1000) {
    if (!store->Append("s-" + std::to_string(n % 97), engine::ExpectedVersion::Any(),
                       Batch(1000, kEventSizeBytes, n)).ok()) {
      std::abort();
    }
  }
  return store;
}

// Target: >= 1,000,000 events/s.
void BM_ReadAll(benchmark::State& state) {
  const uint64_t events = 200'000;
  engine::EventStore* store = Populated(events);
  uint64_t read = 0;
  bool failed = false;
  for (auto _ : state) {
    for (uint64_t p = 0; p < events && !failed; p += 10'000) {
      auto r = store->ReadAll(p, 10'000);
      if (!r.ok()) {
        state.SkipWithError(r.status().ToString().c_str());
        failed = true;
        break;
      }
      read += r->size();
      benchmark::DoNotOptimize(r->data());
    }
    if (failed) break;
  }
  state.SetItemsProcessed(static_cast<int64_t>(read));
}
BENCHMARK(BM_ReadAll)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(2.0);

// Target: >= 500,000 events/s.
void BM_Verify(benchmark::State& state) {
  const uint64_t events = 200'000;
  engine::EventStore* store = Populated(events);
  for (auto _ : state) {
    engine::VerifyReport r = store->Verify();
    if (!r.ok) {
      state.SkipWithError(r.failure.c_str());
      break;
    }
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * events));
}
BENCHMARK(BM_Verify)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(2.0);

// Target: median <= 50 us at 1,000,000 events.
void BM_InclusionProof_1M(benchmark::State& state) {
  const uint64_t events = 1'000'000;
  engine::EventStore* store = Populated(events);
  std::mt19937_64 rng(7);
  for (auto _ : state) {
    auto p = store->ProveInclusion(rng() % events, 0);
    if (!p.ok()) {
      state.SkipWithError(p.status().ToString().c_str());
      break;
    }
    benchmark::DoNotOptimize(p->root);
  }
}
BENCHMARK(BM_InclusionProof_1M)->Unit(benchmark::kMicrosecond)->Repetitions(5)->ReportAggregatesOnly(true);

}  // namespace

void CloseEngineStores() { g_store.Reset(); }

}  // namespace cairn::bench
