// The scrub's cost (engine/scrubber.h): how fast an incremental step verifies committed records
// (EventStore::VerifyRange), and what a running scrubber — incremental steps after every commit
// plus full runs back to back — takes from durable appends. Compare BM_Append_Scrub/0 (no
// scrubber) with BM_Append_Scrub/1 in the same run; report the ratio, not absolute numbers.
#include <benchmark/benchmark.h>

#include <memory>

#include "bench_util.h"
#include "engine/event_store.h"
#include "engine/scrubber.h"

namespace cairn::bench {
namespace {

constexpr size_t kEventSizeBytes = 256;

std::unique_ptr<engine::EventStore> FreshStore(const std::string& name) {
  engine::Options options;
  options.data_dir = FreshDir(name);
  if (!engine::EventStore::Init({options.data_dir, "bench.local/log", {}, std::nullopt}).ok()) std::abort();
  auto s = engine::EventStore::Open(options);
  if (!s.ok()) std::abort();
  return std::move(s).value();
}

void AppendEvents(engine::EventStore* store, uint64_t events) {
  for (uint64_t n = store->tree_size(); n < events; n += 1000) {
    if (!store->Append("s-" + std::to_string(n % 97), engine::ExpectedVersion::Any(),
                       Batch(1000, kEventSizeBytes, n)).ok()) {
      std::abort();
    }
  }
}

// Incremental steps of 4096 records over a 100,000-event log (97 streams).
void BM_VerifyRange_4096(benchmark::State& state) {
  constexpr uint64_t kEvents = 100'000;
  constexpr uint64_t kStep = 4096;
  auto store = FreshStore("scrub-range");
  AppendEvents(store.get(), kEvents);
  uint64_t from = 0, checked = 0;
  for (auto _ : state) {
    if (from + kStep > kEvents) from = 0;
    engine::VerifyReport r = store->VerifyRange(from, from + kStep);
    if (!r.ok) {
      state.SkipWithError(r.failure.c_str());
      break;
    }
    from += kStep;
    checked += r.records_checked;
  }
  state.SetItemsProcessed(static_cast<int64_t>(checked));
}
BENCHMARK(BM_VerifyRange_4096)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(2.0);

// Durable appends in batches of 100 from 2 threads, with (1) or without (0) a scrubber verifying
// each commit at once and running full scrubs every second over the growing log.
std::unique_ptr<engine::EventStore> g_store;
std::unique_ptr<engine::Scrubber> g_scrubber;

void BM_Append_Scrub(benchmark::State& state) {
  if (state.thread_index() == 0) {
    g_store = FreshStore("scrub-append-" + std::to_string(state.range(0)));
    AppendEvents(g_store.get(), 50'000);  // something for the full runs to read
    if (state.range(0) == 1) {
      engine::ScrubberOptions o;
      o.delay_ms = 0;
      o.full_interval_ms = 1000;
      auto s = engine::Scrubber::Start(g_store.get(), o, nullptr);
      if (!s.ok()) std::abort();
      g_scrubber = std::move(s).value();
    }
  }
  const std::string stream = "bench-" + std::to_string(state.thread_index());
  const std::vector<engine::ProposedEvent> events = Batch(100, kEventSizeBytes, 0);
  uint64_t n = 0;
  for (auto _ : state) {
    auto r = g_store->Append(stream, engine::ExpectedVersion::Any(), events);
    if (!r.ok()) {
      state.SkipWithError(r.status().ToString().c_str());
      break;
    }
    n += events.size();
  }
  state.SetItemsProcessed(static_cast<int64_t>(n));
  if (state.thread_index() == 0) {
    if (g_scrubber) {
      const engine::ScrubStatus s = g_scrubber->status();
      state.counters["scrub_failures"] = static_cast<double>(s.failures_total);
      state.counters["scrub_records"] = static_cast<double>(s.records_checked_total);
    }
    g_scrubber.reset();
    g_store.reset();
  }
}
BENCHMARK(BM_Append_Scrub)->Arg(0)->Arg(1)->Threads(2)->UseRealTime()->MinTime(4.0);

}  // namespace
}  // namespace cairn::bench
