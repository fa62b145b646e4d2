// The idempotency window (engine/id_window.h) at the engine's default size (100,000 ids): every
// appended event is looked up and inserted, and on a shared store every event another node
// commits is inserted too (under the commit lock when it is learned in a rebase). Once full, each
// insert also evicts the oldest id. Keys are random, as event ids (UUIDs) are.
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "engine/id_window.h"

namespace cairn::bench {
namespace {

constexpr size_t kWindowIds = 100'000;

std::vector<engine::EventIdKey> RandomKeys(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<engine::EventIdKey> keys(n);
  for (auto& k : keys) k = {rng(), rng()};
  return keys;
}

engine::IdWindow FullWindow() {
  engine::IdWindow w(kWindowIds);
  uint64_t n = 0;
  for (const auto& k : RandomKeys(kWindowIds, 1)) w.Insert(k, {7, n, n++});
  return w;
}

// Inserts of new ids into a full window (each evicts the oldest).
void BM_IdWindow_InsertEvicting(benchmark::State& state) {
  engine::IdWindow w = FullWindow();
  const auto keys = RandomKeys(1 << 20, 2);
  size_t i = 0;
  uint64_t n = kWindowIds;
  for (auto _ : state) {
    w.Insert(keys[i], {7, n, n});
    ++n;
    i = (i + 1) & (keys.size() - 1);
  }
  benchmark::DoNotOptimize(w.size());
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_IdWindow_InsertEvicting);

// Lookups of ids that are not in the window (the common case: a new event).
void BM_IdWindow_FindAbsent(benchmark::State& state) {
  engine::IdWindow w = FullWindow();
  const auto keys = RandomKeys(1 << 20, 3);
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(w.Find(keys[i]));
    i = (i + 1) & (keys.size() - 1);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_IdWindow_FindAbsent);

// Lookups of ids in the window (re-sends).
void BM_IdWindow_FindPresent(benchmark::State& state) {
  engine::IdWindow w = FullWindow();
  const auto keys = RandomKeys(kWindowIds, 1);
  std::vector<size_t> order(keys.size());
  std::mt19937_64 rng(4);
  for (size_t j = 0; j < order.size(); ++j) order[j] = rng() % keys.size();
  size_t i = 0;
  for (auto _ : state) {
    const engine::IdRecord* r = w.Find(keys[order[i]]);
    if (r == nullptr) {
      state.SkipWithError("an id of the window was not found");
      break;
    }
    benchmark::DoNotOptimize(r);
    if (++i == order.size()) i = 0;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_IdWindow_FindPresent);

}  // namespace
}  // namespace cairn::bench
