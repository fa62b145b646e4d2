// Metrics: counters, gauges and histograms kept in process and rendered in the Prometheus text
// exposition format (version 0.0.4) for `/metrics` on the admin listener.
//
// Naming (checked when a metric is registered): names match [a-zA-Z_:][a-zA-Z0-9_:]* and start
// with "cairn_"; counters end in "_total"; values are in base units (seconds, bytes) named in
// the metric ("cairn_append_latency_seconds"). Label names match [a-zA-Z_][a-zA-Z0-9_]* and do
// not start with "__".
//
// Labels carry only values from small closed sets (an auth method, a reason text of a fixed
// table, an action name, a severity). Never a stream id, principal, event type, address or any
// other unbounded or personal value: that is the caller's contract, and the registry enforces
// the bound — at most kSeriesPerFamilyMax label sets per metric name.
//
// Registration (Counter/Gauge/Histogram/GaugeFunction) with the same name and labels returns the
// same object; with the same name and another type, another help text or other label names, or
// past a limit, it is a programming error and the process aborts with a message naming the
// metric (registration happens at start-up with constant names). Objects returned live as long
// as the registry.
//
// Cost: Counter::Increment and Gauge::Set are one relaxed atomic operation; Histogram::Observe is
// a binary search over at most kHistogramBucketsMax bounds plus two atomic adds. Lookups by name
// take a mutex: look metrics up once and keep the pointer.
//
// Thread safety: everything is thread-safe. GaugeFunction callbacks run on the thread that calls
// RenderPrometheus() (the admin listener's) and must be quick and thread-safe themselves.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace cairn::audit {

inline constexpr size_t kMetricFamiliesMax = 256;
inline constexpr size_t kSeriesPerFamilyMax = 64;
inline constexpr size_t kHistogramBucketsMax = 32;
inline constexpr size_t kLabelsPerSeriesMax = 4;

// Label name → value, in the order given (rendered in that order).
using Labels = std::vector<std::pair<std::string, std::string>>;

class Counter {
 public:
  void Increment(uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

class Gauge {
 public:
  void Set(double v) { value_.store(v, std::memory_order_relaxed); }
  void Add(double d);
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

class Histogram {
 public:
  // `upper_bounds`: finite, strictly increasing, 1..kHistogramBucketsMax values (asserted);
  // the +Inf bucket is implicit.
  explicit Histogram(std::vector<double> upper_bounds);
  void Observe(double value);

  struct Snapshot {
    std::vector<double> upper_bounds;       // without +Inf
    std::vector<uint64_t> cumulative;       // one per bound, then one for +Inf (== count)
    uint64_t count = 0;
    double sum = 0;
  };
  Snapshot Read() const;

 private:
  std::vector<double> upper_bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;  // per bucket (not cumulative), +Inf last
  std::atomic<uint64_t> count_{0};
  std::atomic<double> sum_{0};
};

// Bucket bounds for latencies in seconds: 100 µs .. 10 s, roughly ×2.5 apart.
std::vector<double> LatencyBucketsSeconds();
// Bucket bounds for sizes and counts: 1, 2, 4, ... up to `max` (a power of two).
std::vector<double> PowerOfTwoBuckets(double max);

class MetricsRegistry {
 public:
  MetricsRegistry();
  ~MetricsRegistry();
  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;

  Counter* GetCounter(std::string_view name, std::string_view help, const Labels& labels = {});
  Gauge* GetGauge(std::string_view name, std::string_view help, const Labels& labels = {});
  // All series of one histogram name share `upper_bounds` (the first registration's).
  Histogram* GetHistogram(std::string_view name, std::string_view help,
                          std::vector<double> upper_bounds, const Labels& labels = {});
  // A gauge whose value is read at scrape time (tree size, checkpoint age, queue depth).
  void GaugeFunction(std::string_view name, std::string_view help, const Labels& labels,
                     std::function<double()> read);
  // A counter whose value is read at scrape time from a count kept elsewhere (a cache's hits, a
  // filter's refusals); `read` must never decrease. Same rules as GaugeFunction.
  void CounterFunction(std::string_view name, std::string_view help, const Labels& labels,
                       std::function<uint64_t()> read);

  // The whole registry in the text exposition format: families sorted by name, each with
  // "# HELP" and "# TYPE", series in registration order; ends with "\n".
  std::string RenderPrometheus() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace cairn::audit
