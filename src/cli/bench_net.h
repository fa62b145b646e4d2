// The network benchmark behind `cairn bench append|read --server …`: N clients, each with its own
// connection (TLS and credentials as for any command), drive a running server for a bounded
// time (and, for appends, a bounded number of events). Reports events/s and per-call latency.
#pragma once

#include <cstdint>
#include <string>

#include "cairn/client.h"
#include "cli/bench_load.h"
#include "common/status.h"

namespace cairn::cli {

struct NetBenchConfig {
  ClientOptions client;
  uint32_t clients = 8;
  uint32_t batch = 100;
  uint64_t events_max = 10'000'000;  // appends stop at this many events
  size_t event_size_bytes = 256;
  double duration_s = 10;
  std::string stream_prefix = "bench";
  // false: BenchEvent {"seq":…}; true: the protection benchmark's CustomerRegistered events
  // (bench_load.h, CustomerEventData).
  bool customer_payload = false;
};

// Appends from `clients` threads, each to its own stream, until duration or events_max.
Result<PhaseResult> RunNetAppend(const NetBenchConfig& config);
// Each client reads the whole log with ReadAll, again and again, until duration.
Result<PhaseResult> RunNetRead(const NetBenchConfig& config);

}  // namespace cairn::cli
