#include "engine/engine_metrics.h"
#include "common/steady_clock.h"


namespace cairn::engine {

namespace {
// Group commits hold at most Options::group_events_max events (4000 by default).
constexpr double kBatchEventsBucketMax = 4096;
}  // namespace

EngineMetrics::EngineMetrics(audit::MetricsRegistry* r) {
  if (r == nullptr) return;
  append_calls = r->GetCounter("cairn_append_calls_total",
                               "Client append calls (Append RPCs), including refused ones.");
  append_queue_full = r->GetCounter(
      "cairn_append_queue_full_total",
      "Asynchronous appends refused (UNAVAILABLE) because the append queue was full.");
  protect_queue_full = r->GetCounter(
      "cairn_protect_queue_full_total",
      "Asynchronous appends of protected events refused (UNAVAILABLE) because the queue of "
      "appends waiting for field protection was full.");
  appended_events = r->GetCounter("cairn_appended_events_total",
                                  "Events made durable in the log (client and system streams).");
  appended_bytes = r->GetCounter("cairn_appended_bytes_total",
                                 "Data and metadata bytes of the events made durable.");
  append_latency = r->GetHistogram(
      "cairn_append_latency_seconds",
      "Time from a client append call to its answer, for appends that reached the sequencer.",
      audit::LatencyBucketsSeconds());
  commit_batch_events = r->GetHistogram("cairn_commit_batch_events",
                                        "Events per group commit (one transaction, one sync).",
                                        audit::PowerOfTwoBuckets(kBatchEventsBucketMax));
  commit_latency = r->GetHistogram("cairn_commit_latency_seconds",
                                   "Time to commit one group (storage transaction and sync).",
                                   audit::LatencyBucketsSeconds());
}

void EngineMetrics::RecordCommit(uint64_t events, uint64_t bytes, int64_t commit_ns) const {
  if (!enabled()) return;
  appended_events->Increment(events);
  appended_bytes->Increment(bytes);
  commit_batch_events->Observe(static_cast<double>(events));
  commit_latency->Observe(static_cast<double>(commit_ns) * 1e-9);
}

int64_t MonotonicNowNs() { return SteadyNowNs(); }

}  // namespace cairn::engine
