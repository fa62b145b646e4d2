// EngineMetrics: the engine's own metrics (appends, group commits), looked up once in a
// audit::MetricsRegistry so that the append path only touches relaxed atomics.
//
// Names (docs/operations.md, Metrics): cairn_append_calls_total, cairn_append_queue_full_total,
// cairn_protect_queue_full_total, cairn_appended_events_total, cairn_appended_bytes_total, cairn_append_latency_seconds, cairn_commit_batch_events,
// cairn_commit_latency_seconds. No labels: nothing per stream, type or caller.
//
// A default-constructed (or null-registry) EngineMetrics has every pointer null and the
// Record* functions do nothing, so the engine runs the same with and without metrics.
//
// Thread safety: the pointers are set once in the constructor; the metric objects are
// thread-safe and live as long as the registry, which must outlive the engine.
#pragma once

#include <cstdint>

#include "audit/metrics.h"

namespace cairn::engine {

struct EngineMetrics {
  EngineMetrics() = default;
  explicit EngineMetrics(audit::MetricsRegistry* registry);

  // A client append call (Append / AppendAsync; not system appends), before any validation.
  void RecordAppendCall() const {
    if (append_calls != nullptr) append_calls->Increment();
  }
  // An asynchronous append refused because the append queue was full.
  void RecordQueueFull() const {
    if (append_queue_full != nullptr) append_queue_full->Increment();
  }
  // An asynchronous append of protected events refused because the protect queue was full
  // (engine/protect_queue.h).
  void RecordProtectQueueFull() const {
    if (protect_queue_full != nullptr) protect_queue_full->Increment();
  }
  // One durable group commit of `events` new events of `bytes` stored data+metadata bytes that
  // took `commit_ns` to commit (one storage transaction and its sync).
  void RecordCommit(uint64_t events, uint64_t bytes, int64_t commit_ns) const;
  // The answer to one client append, `elapsed_ns` after its call.
  void RecordAppendLatency(int64_t elapsed_ns) const {
    if (append_latency != nullptr) append_latency->Observe(static_cast<double>(elapsed_ns) * 1e-9);
  }
  bool enabled() const { return append_calls != nullptr; }

  audit::Counter* append_calls = nullptr;
  audit::Counter* append_queue_full = nullptr;
  audit::Counter* protect_queue_full = nullptr;
  audit::Counter* appended_events = nullptr;
  audit::Counter* appended_bytes = nullptr;
  audit::Histogram* append_latency = nullptr;
  audit::Histogram* commit_batch_events = nullptr;
  audit::Histogram* commit_latency = nullptr;
};

// Nanoseconds on the monotonic clock (for latencies).
int64_t MonotonicNowNs();

}  // namespace cairn::engine
