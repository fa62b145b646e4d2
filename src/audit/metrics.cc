#include "audit/metrics.h"

#include <algorithm>
#include <cassert>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>

#include "common/log.h"

namespace cairn::audit {
namespace {

enum class Type : uint8_t { kCounter, kGauge, kHistogram };

const char* TypeName(Type t) {
  switch (t) {
    case Type::kCounter: return "counter";
    case Type::kGauge: return "gauge";
    case Type::kHistogram: return "histogram";
  }
  return "untyped";
}

[[noreturn]] void Fail(std::string_view name, std::string_view why) {
  log::Error("metric registration is a programming error",
             {.extra = {{"cairn.metric", std::string(name)}, {"cairn.reason", std::string(why)}}});
  std::fprintf(stderr, "metric %.*s: %.*s\n", static_cast<int>(name.size()), name.data(),
               static_cast<int>(why.size()), why.data());
  (void)log::Flush(1000);  // the queued lines, before the process ends
  std::abort();
}

bool IsNameStart(char c, bool colon_ok) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon_ok && c == ':');
}
bool IsNameChar(char c, bool colon_ok) { return IsNameStart(c, colon_ok) || (c >= '0' && c <= '9'); }

bool ValidName(std::string_view s, bool colon_ok) {
  if (s.empty() || !IsNameStart(s[0], colon_ok)) return false;
  return std::all_of(s.begin(), s.end(), [&](char c) { return IsNameChar(c, colon_ok); });
}

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

void CheckName(std::string_view name, Type type) {
  if (!ValidName(name, true)) Fail(name, "invalid metric name");
  if (name.substr(0, 6) != "cairn_") Fail(name, "metric names start with cairn_");
  if ((type == Type::kCounter) != EndsWith(name, "_total")) {
    Fail(name, "counters, and only counters, end in _total");
  }
  for (std::string_view reserved : {"_bucket", "_sum", "_count"}) {
    if (type == Type::kHistogram && EndsWith(name, reserved)) Fail(name, "reserved suffix");
  }
}

std::vector<std::string> LabelNames(std::string_view metric, const Labels& labels, Type type) {
  if (labels.size() > kLabelsPerSeriesMax) Fail(metric, "too many labels");
  std::vector<std::string> names;
  for (const auto& [k, v] : labels) {
    if (!ValidName(k, false) || k.substr(0, 2) == "__") Fail(metric, "invalid label name");
    if (type == Type::kHistogram && k == "le") Fail(metric, "label le is reserved for histograms");
    if (std::find(names.begin(), names.end(), k) != names.end()) Fail(metric, "duplicate label");
    names.push_back(k);
  }
  return names;
}

// Shortest text that parses back to the same double; NaN and infinities as the format spells them.
std::string FormatDouble(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  assert(ec == std::errc());
  return std::string(buf, end);
}

// Label values escape backslash, double quote and line feed; help texts backslash and line feed.
void AppendEscaped(std::string* out, std::string_view s, bool quote) {
  for (char c : s) {
    if (c == '\\') {
      out->append("\\\\");
    } else if (c == '\n') {
      out->append("\\n");
    } else if (quote && c == '"') {
      out->append("\\\"");
    } else {
      out->push_back(c);
    }
  }
}

// `{a="x",b="y"}` with an optional trailing le label; nothing when there are no labels.
void AppendLabels(std::string* out, const Labels& labels, const std::string* le = nullptr) {
  if (labels.empty() && le == nullptr) return;
  out->push_back('{');
  bool first = true;
  for (const auto& [k, v] : labels) {
    if (!first) out->push_back(',');
    first = false;
    out->append(k);
    out->append("=\"");
    AppendEscaped(out, v, true);
    out->push_back('"');
  }
  if (le != nullptr) {
    if (!first) out->push_back(',');
    out->append("le=\"");
    out->append(*le);
    out->push_back('"');
  }
  out->push_back('}');
}

void AppendSample(std::string* out, std::string_view name, std::string_view suffix,
                  const Labels& labels, std::string_view value, const std::string* le = nullptr) {
  out->append(name);
  out->append(suffix);
  AppendLabels(out, labels, le);
  out->push_back(' ');
  out->append(value);
  out->push_back('\n');
}

void AtomicAdd(std::atomic<double>* a, double d) {
  double cur = a->load(std::memory_order_relaxed);
  while (!a->compare_exchange_weak(cur, cur + d, std::memory_order_relaxed)) {
  }
}

}  // namespace

void Gauge::Add(double d) { AtomicAdd(&value_, d); }

Histogram::Histogram(std::vector<double> upper_bounds) : upper_bounds_(std::move(upper_bounds)) {
  assert(!upper_bounds_.empty() && upper_bounds_.size() <= kHistogramBucketsMax);
  for (size_t i = 0; i < upper_bounds_.size(); ++i) {
    assert(std::isfinite(upper_bounds_[i]));
    assert(i == 0 || upper_bounds_[i - 1] < upper_bounds_[i]);
  }
  buckets_ = std::make_unique<std::atomic<uint64_t>[]>(upper_bounds_.size() + 1);
  for (size_t i = 0; i <= upper_bounds_.size(); ++i) buckets_[i].store(0);
}

void Histogram::Observe(double value) {
  if (std::isnan(value)) return;  // no bucket holds NaN; it would poison the sum
  // `le` is inclusive: the first bound >= value.
  const size_t i = static_cast<size_t>(
      std::lower_bound(upper_bounds_.begin(), upper_bounds_.end(), value) - upper_bounds_.begin());
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  AtomicAdd(&sum_, value);
}

Histogram::Snapshot Histogram::Read() const {
  Snapshot s;
  s.upper_bounds = upper_bounds_;
  s.cumulative.reserve(upper_bounds_.size() + 1);
  uint64_t running = 0;
  for (size_t i = 0; i <= upper_bounds_.size(); ++i) {
    running += buckets_[i].load(std::memory_order_relaxed);
    s.cumulative.push_back(running);
  }
  // The count is the +Inf bucket, so a snapshot taken during Observe calls stays consistent.
  s.count = running;
  s.sum = sum_.load(std::memory_order_relaxed);
  return s;
}

std::vector<double> LatencyBucketsSeconds() {
  return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
          0.05,   0.1,     0.25,   0.5,   1,      2.5,    5,     10};
}

std::vector<double> PowerOfTwoBuckets(double max) {
  assert(max >= 1);
  std::vector<double> bounds;
  for (double b = 1; b <= max && bounds.size() < kHistogramBucketsMax; b *= 2) bounds.push_back(b);
  assert(bounds.back() == max);  // `max` is a power of two within the bucket limit
  return bounds;
}

namespace {

struct Series {
  Labels labels;
  std::unique_ptr<Counter> counter;
  std::unique_ptr<Gauge> gauge;
  std::unique_ptr<Histogram> histogram;
  std::shared_ptr<std::function<double()>> read;  // a gauge function; replaced on re-registration
};

struct Family {
  std::string help;
  Type type = Type::kCounter;
  std::vector<std::string> label_names;
  std::vector<double> upper_bounds;  // histograms
  std::vector<std::unique_ptr<Series>> series;
};

}  // namespace

struct MetricsRegistry::Impl {
  mutable std::mutex mu;
  std::map<std::string, Family, std::less<>> families;  // sorted by name

  // The series of `name` with `labels`, created when missing; aborts on any mismatch.
  Series* Find(std::string_view name, std::string_view help, Type type, const Labels& labels,
               bool* created) {
    CheckName(name, type);
    std::vector<std::string> names = LabelNames(name, labels, type);
    auto it = families.find(name);
    if (it == families.end()) {
      if (families.size() >= kMetricFamiliesMax) Fail(name, "too many metric families");
      Family f;
      f.help = std::string(help);
      f.type = type;
      f.label_names = names;
      it = families.emplace(std::string(name), std::move(f)).first;
    }
    Family& f = it->second;
    if (f.type != type) Fail(name, "registered with another type");
    if (f.help != help) Fail(name, "registered with another help text");
    if (f.label_names != names) Fail(name, "registered with other label names");
    for (auto& s : f.series) {
      if (s->labels == labels) {
        *created = false;
        return s.get();
      }
    }
    if (f.series.size() >= kSeriesPerFamilyMax) Fail(name, "too many label sets");
    f.series.push_back(std::make_unique<Series>());
    f.series.back()->labels = labels;
    *created = true;
    return f.series.back().get();
  }
};

MetricsRegistry::MetricsRegistry() : impl_(std::make_unique<Impl>()) {}
MetricsRegistry::~MetricsRegistry() = default;

Counter* MetricsRegistry::GetCounter(std::string_view name, std::string_view help,
                                     const Labels& labels) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  bool created = false;
  Series* s = impl_->Find(name, help, Type::kCounter, labels, &created);
  if (created) s->counter = std::make_unique<Counter>();
  if (s->counter == nullptr) Fail(name, "registered as a counter function");
  return s->counter.get();
}

Gauge* MetricsRegistry::GetGauge(std::string_view name, std::string_view help,
                                 const Labels& labels) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  bool created = false;
  Series* s = impl_->Find(name, help, Type::kGauge, labels, &created);
  if (created) s->gauge = std::make_unique<Gauge>();
  if (s->gauge == nullptr) Fail(name, "registered as a gauge function");
  return s->gauge.get();
}

Histogram* MetricsRegistry::GetHistogram(std::string_view name, std::string_view help,
                                         std::vector<double> upper_bounds, const Labels& labels) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  bool created = false;
  Series* s = impl_->Find(name, help, Type::kHistogram, labels, &created);
  if (created) {
    Family& f = impl_->families.find(name)->second;
    if (f.upper_bounds.empty()) f.upper_bounds = std::move(upper_bounds);
    s->histogram = std::make_unique<Histogram>(f.upper_bounds);
  }
  return s->histogram.get();
}

void MetricsRegistry::GaugeFunction(std::string_view name, std::string_view help,
                                    const Labels& labels, std::function<double()> read) {
  assert(read);
  std::lock_guard<std::mutex> lock(impl_->mu);
  bool created = false;
  Series* s = impl_->Find(name, help, Type::kGauge, labels, &created);
  if (!created && s->read == nullptr) Fail(name, "registered as a plain gauge");
  s->read = std::make_shared<std::function<double()>>(std::move(read));
}

void MetricsRegistry::CounterFunction(std::string_view name, std::string_view help,
                                      const Labels& labels, std::function<uint64_t()> read) {
  assert(read);
  std::lock_guard<std::mutex> lock(impl_->mu);
  bool created = false;
  Series* s = impl_->Find(name, help, Type::kCounter, labels, &created);
  if (!created && s->read == nullptr) Fail(name, "registered as a plain counter");
  s->read = std::make_shared<std::function<double()>>(
      [read = std::move(read)] { return static_cast<double>(read()); });
}

std::string MetricsRegistry::RenderPrometheus() const {
  // Copy what to render under the lock (series objects are never freed while the registry lives);
  // gauge functions run without it, so they may take their own locks.
  struct View {
    const std::string* name;
    const Family* family;
    std::vector<const Series*> series;
    std::vector<std::shared_ptr<std::function<double()>>> reads;
  };
  std::vector<View> views;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    views.reserve(impl_->families.size());
    for (const auto& [name, f] : impl_->families) {
      View v{&name, &f, {}, {}};
      for (const auto& s : f.series) {
        v.series.push_back(s.get());
        v.reads.push_back(s->read);
      }
      views.push_back(std::move(v));
    }
  }
  // Family name, help, type and label names never change after registration.
  std::string out;
  for (const View& v : views) {
    const std::string& name = *v.name;
    out.append("# HELP ").append(name).push_back(' ');
    AppendEscaped(&out, v.family->help, false);
    out.append("\n# TYPE ").append(name).append(" ").append(TypeName(v.family->type));
    out.push_back('\n');
    for (size_t i = 0; i < v.series.size(); ++i) {
      const Series& s = *v.series[i];
      if (s.counter) {
        AppendSample(&out, name, "", s.labels, std::to_string(s.counter->value()));
      } else if (s.gauge) {
        AppendSample(&out, name, "", s.labels, FormatDouble(s.gauge->value()));
      } else if (v.reads[i]) {
        AppendSample(&out, name, "", s.labels, FormatDouble((*v.reads[i])()));
      } else if (s.histogram) {
        const Histogram::Snapshot snap = s.histogram->Read();
        for (size_t b = 0; b < snap.cumulative.size(); ++b) {
          const std::string le =
              b < snap.upper_bounds.size() ? FormatDouble(snap.upper_bounds[b]) : "+Inf";
          AppendSample(&out, name, "_bucket", s.labels, std::to_string(snap.cumulative[b]), &le);
        }
        AppendSample(&out, name, "_sum", s.labels, FormatDouble(snap.sum));
        AppendSample(&out, name, "_count", s.labels, std::to_string(snap.count));
      }
    }
  }
  return out;
}

}  // namespace cairn::audit
