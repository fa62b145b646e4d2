// Shared set-up for the benchmarks: fresh data directories and 256-byte JSON events.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "engine/event_store.h"

namespace cairn::bench {

inline std::string FreshDir(const std::string& name) {
  const char* base = std::getenv("CAIRN_BENCH_DIR");
  std::string dir = std::string(base ? base : "/tmp") + "/cairn-bench-" + name;
  std::filesystem::remove_all(dir);
  return dir;
}

// A JSON object of exactly `size_bytes` bytes (≥ 32).
inline std::string JsonOfSize(size_t size_bytes, uint64_t n) {
  std::string head = "{\"n\":" + std::to_string(n) + ",\"pad\":\"";
  std::string tail = "\"}";
  size_t pad = size_bytes > head.size() + tail.size() ? size_bytes - head.size() - tail.size() : 0;
  return head + std::string(pad, 'x') + tail;
}

inline std::vector<engine::ProposedEvent> Batch(size_t events, size_t size_bytes, uint64_t n) {
  std::vector<engine::ProposedEvent> v(events);
  for (size_t i = 0; i < events; ++i) {
    v[i].event_type = "BenchEvent";
    v[i].data = JsonOfSize(size_bytes, n + i);
  }
  return v;
}

// Closes the stores the benchmarks keep open, before static destructors run (bench/main.cc).
void CloseEngineStores();
void CloseCeilingStores();

}  // namespace cairn::bench
