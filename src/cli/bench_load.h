// The in-process end-to-end benchmark behind `cairn bench`: N threads append batches of JSON
// events through EventStore::Append (the full path: validation, sequencer, group commit, sync),
// then the whole log is read back with ReadAll and verified with Verify.
//
// Bounded by both an event count and a wall-clock budget. The first failed append stops every
// thread and is returned as the error.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "common/status.h"
#include "engine/event_store.h"

namespace cairn::cli {

// Seconds of the steady clock since `start` (the benchmarks' phase clocks).
inline double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

struct BenchConfig {
  uint32_t threads = 4;
  uint32_t batch = 100;             // events per Append call
  uint64_t events = 100000;         // total events to append
  size_t event_size_bytes = 256;    // bytes of each event's JSON data
  double seconds = 30;              // wall-clock budget of the append and read phases
  uint32_t shared_streams = 0;      // 0: one stream per thread; else threads share this many
  bool sync = true;                 // false only to measure the cost of sync itself
};

struct LatencyStats {
  double p50_ms = 0, p99_ms = 0, max_ms = 0;
};

struct PhaseResult {
  uint64_t events = 0;
  uint64_t batches = 0;  // append only
  double seconds = 0;
  LatencyStats latency;  // append only: per Append call
  double events_per_second() const { return seconds > 0 ? events / seconds : 0; }
  double batches_per_second() const { return seconds > 0 ? batches / seconds : 0; }
};

struct BenchResult {
  PhaseResult append;
  PhaseResult read_all;
  PhaseResult verify;
  bool verify_ok = false;
  std::string verify_failure;
  engine::EventStore::RemoteReads remote;  // append phase, shared stores
};

// Smallest and largest accepted event_size_bytes.
inline constexpr size_t kBenchEventSizeBytesMin = 32;
inline constexpr size_t kBenchEventSizeBytesMax = 1 << 20;

Result<PhaseResult> RunAppendLoad(engine::EventStore& store, const BenchConfig& config);
Result<PhaseResult> RunReadAll(engine::EventStore& store, double seconds_max);
PhaseResult RunVerify(engine::EventStore& store, engine::VerifyReport* report);

// A JSON object of exactly `size_bytes` bytes (at least kBenchEventSizeBytesMin) carrying `seq`.
std::string BenchEventData(uint64_t seq, size_t size_bytes);

// The events of the field-protection benchmarks (issue 4): type kCustomerEventType, data
// {"customerId":"c-<k>","email":…,"name":…,"street":…,"pad":"xx…"} with k = seq mod
// kCustomerSubjects, padded to `size_bytes` (at least kCustomerEventSizeBytesMin; shorter when
// the fields alone are longer). A rule protecting /email, /name and /street with subject
// /customerId makes three protected fields per event over 1,000 subjects.
inline constexpr char kCustomerEventType[] = "CustomerRegistered";
inline constexpr uint64_t kCustomerSubjects = 1000;
inline constexpr size_t kCustomerEventSizeBytesMin = 128;
std::string CustomerEventData(uint64_t seq, size_t size_bytes);
// p50/p99/max of latencies in nanoseconds; sorts the vector.
LatencyStats SummarizeLatencies(std::vector<int64_t>* latencies_ns);

}  // namespace cairn::cli
