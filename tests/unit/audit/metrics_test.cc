#include "audit/metrics.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "prom_parser.h"

namespace cairn::audit {
namespace CAIRN_UNITY_ID {

using cairn::testing::ParsePrometheusText;
using cairn::testing::PromExposition;

PromExposition MustParse(const std::string& text) { return cairn::testing::ParseOrFail(text); }

std::string ParseError(const std::string& text) {
  std::string error;
  auto parsed = ParsePrometheusText(text, &error);
  return parsed ? "" : error;
}

TEST(Metrics, RendersEveryKindInStrictFormat) {
  MetricsRegistry reg;
  reg.GetCounter("cairn_b_calls_total", "Calls.")->Increment(3);
  reg.GetCounter("cairn_a_failures_total", "Failures.", {{"method", "jwt"}, {"reason", "expired"}})
      ->Increment();
  reg.GetCounter("cairn_a_failures_total", "Failures.", {{"method", "apikey"}, {"reason", "other"}});
  reg.GetGauge("cairn_c_depth", "Depth.")->Set(7);
  reg.GaugeFunction("cairn_d_size", "Size.", {}, [] { return 42.0; });
  uint64_t hits = 5;
  reg.CounterFunction("cairn_f_hits_total", "Hits.", {}, [&hits] { return hits; });
  Histogram* h = reg.GetHistogram("cairn_e_latency_seconds", "Latency.", {0.1, 1});
  h->Observe(0.05);
  h->Observe(0.1);  // le is inclusive
  h->Observe(0.5);
  h->Observe(7);

  const std::string text = reg.RenderPrometheus();
  PromExposition e = MustParse(text);
  ASSERT_EQ(e.families.size(), 6u);
  EXPECT_EQ(e.families["cairn_f_hits_total"].type, "counter");
  EXPECT_EQ(e.Value("cairn_f_hits_total"), 5);
  hits = 9;
  EXPECT_EQ(MustParse(reg.RenderPrometheus()).Value("cairn_f_hits_total"), 9);
  // Families sorted by name.
  EXPECT_LT(text.find("cairn_a_failures_total"), text.find("cairn_b_calls_total"));
  EXPECT_EQ(e.families["cairn_b_calls_total"].type, "counter");
  EXPECT_EQ(e.families["cairn_b_calls_total"].help, "Calls.");
  EXPECT_EQ(e.Value("cairn_b_calls_total"), 3);
  EXPECT_EQ(e.Value("cairn_a_failures_total", {{"method", "jwt"}, {"reason", "expired"}}), 1);
  EXPECT_EQ(e.Value("cairn_a_failures_total", {{"method", "apikey"}, {"reason", "other"}}), 0);
  EXPECT_EQ(e.Value("cairn_c_depth"), 7);
  EXPECT_EQ(e.families["cairn_d_size"].type, "gauge");
  EXPECT_EQ(e.Value("cairn_d_size"), 42);
  EXPECT_EQ(e.families["cairn_e_latency_seconds"].type, "histogram");
  EXPECT_EQ(e.Value("cairn_e_latency_seconds_bucket", {{"le", "0.1"}}), 2);
  EXPECT_EQ(e.Value("cairn_e_latency_seconds_bucket", {{"le", "1"}}), 3);
  EXPECT_EQ(e.Value("cairn_e_latency_seconds_bucket", {{"le", "+Inf"}}), 4);
  EXPECT_EQ(e.Value("cairn_e_latency_seconds_count"), 4);
  EXPECT_DOUBLE_EQ(e.Value("cairn_e_latency_seconds_sum"), 7.65);
  EXPECT_EQ(text.back(), '\n');
}

TEST(Metrics, LabelValuesAndHelpAreEscaped) {
  MetricsRegistry reg;
  const std::string value = "a\\b\"c\nd";
  reg.GetCounter("cairn_x_total", "Help with \\ and\nnewline.", {{"reason", value}})->Increment();
  const std::string text = reg.RenderPrometheus();
  EXPECT_NE(text.find(R"(reason="a\\b\"c\nd")"), std::string::npos) << text;
  EXPECT_NE(text.find("# HELP cairn_x_total Help with \\\\ and\\nnewline.\n"), std::string::npos);
  PromExposition e = MustParse(text);
  EXPECT_EQ(e.Value("cairn_x_total", {{"reason", value}}), 1);
}

TEST(Metrics, FloatsRoundTripAndSpecialValuesAreSpelledAsTheFormatWants) {
  const std::vector<double> values = {0.1, 1.0 / 3, 1e-300, 123456789.123456789, -2.5, 0,
                                      std::numeric_limits<double>::max(),
                                      std::numeric_limits<double>::denorm_min()};
  MetricsRegistry reg;
  for (size_t i = 0; i < values.size(); ++i) {
    reg.GetGauge("cairn_g", "G.", {{"i", std::to_string(i)}})->Set(values[i]);
  }
  reg.GetGauge("cairn_g", "G.", {{"i", "nan"}})->Set(std::nan(""));
  reg.GetGauge("cairn_g", "G.", {{"i", "inf"}})->Set(INFINITY);
  reg.GetGauge("cairn_g", "G.", {{"i", "-inf"}})->Set(-INFINITY);
  const std::string text = reg.RenderPrometheus();
  PromExposition e = MustParse(text);
  for (size_t i = 0; i < values.size(); ++i) {
    EXPECT_EQ(e.Value("cairn_g", {{"i", std::to_string(i)}}), values[i]) << i;
  }
  EXPECT_NE(text.find("cairn_g{i=\"nan\"} NaN\n"), std::string::npos);
  EXPECT_NE(text.find("cairn_g{i=\"inf\"} +Inf\n"), std::string::npos);
  EXPECT_NE(text.find("cairn_g{i=\"-inf\"} -Inf\n"), std::string::npos);
}

TEST(Metrics, SameNameAndLabelsIsTheSameObject) {
  MetricsRegistry reg;
  Counter* a = reg.GetCounter("cairn_c_total", "C.", {{"k", "1"}});
  EXPECT_EQ(a, reg.GetCounter("cairn_c_total", "C.", {{"k", "1"}}));
  EXPECT_NE(a, reg.GetCounter("cairn_c_total", "C.", {{"k", "2"}}));
  Histogram* h = reg.GetHistogram("cairn_h_seconds", "H.", {1, 2});
  EXPECT_EQ(h, reg.GetHistogram("cairn_h_seconds", "H.", {5}));
  // A gauge function registered again replaces the callback (one series, the new value).
  reg.GaugeFunction("cairn_f", "F.", {}, [] { return 1.0; });
  reg.GaugeFunction("cairn_f", "F.", {}, [] { return 2.0; });
  PromExposition e = MustParse(reg.RenderPrometheus());
  EXPECT_EQ(e.families["cairn_f"].samples.size(), 1u);
  EXPECT_EQ(e.Value("cairn_f"), 2);
}

TEST(Metrics, BucketHelpers) {
  EXPECT_EQ(PowerOfTwoBuckets(8), (std::vector<double>{1, 2, 4, 8}));
  auto lat = LatencyBucketsSeconds();
  ASSERT_FALSE(lat.empty());
  EXPECT_LE(lat.size(), kHistogramBucketsMax);
  EXPECT_DOUBLE_EQ(lat.front(), 0.0001);
  EXPECT_DOUBLE_EQ(lat.back(), 10);
  for (size_t i = 1; i < lat.size(); ++i) EXPECT_LT(lat[i - 1], lat[i]);
}

TEST(Metrics, HistogramStaysConsistentUnderConcurrentObserveAndRender) {
  MetricsRegistry reg;
  Histogram* h = reg.GetHistogram("cairn_batch_events", "B.", PowerOfTwoBuckets(64));
  Counter* c = reg.GetCounter("cairn_n_total", "N.");
  std::atomic<bool> stop{false};
  std::vector<std::thread> writers;
  for (int t = 0; t < 3; ++t) {
    writers.emplace_back([&, t] {
      for (int i = 0; i < 20000 && !stop.load(); ++i) {
        h->Observe((i * 7 + t) % 100);
        c->Increment();
      }
    });
  }
  for (int r = 0; r < 50; ++r) {
    std::string error;
    auto e = ParsePrometheusText(reg.RenderPrometheus(), &error);
    ASSERT_TRUE(e.has_value()) << error;
  }
  stop = true;
  for (auto& w : writers) w.join();
  PromExposition e = MustParse(reg.RenderPrometheus());
  EXPECT_EQ(e.Value("cairn_batch_events_count"), c->value());
}

TEST(MetricsDeathTest, BadRegistrationsAbort) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  MetricsRegistry reg;
  reg.GetCounter("cairn_ok_total", "Ok.", {{"a", "1"}});
  EXPECT_DEATH(reg.GetCounter("cairn_calls", "No suffix."), "_total");
  EXPECT_DEATH(reg.CounterFunction("cairn_ok_total", "Ok.", {{"a", "1"}}, [] { return 1; }),
               "plain counter");
  EXPECT_DEATH(reg.GetGauge("cairn_depth_total", "Gauge with suffix."), "_total");
  EXPECT_DEATH(reg.GetCounter("other_calls_total", "Prefix."), "cairn_");
  EXPECT_DEATH(reg.GetCounter("cairn_bad-name_total", "Name."), "invalid metric name");
  reg.GetGauge("cairn_g", "G.");
  EXPECT_DEATH(reg.GetHistogram("cairn_g", "G.", {1}), "another type");
  EXPECT_DEATH(reg.GaugeFunction("cairn_g", "G.", {}, [] { return 1.0; }), "plain gauge");
  EXPECT_DEATH(reg.GetCounter("cairn_ok_total", "Other help.", {{"a", "1"}}), "help");
  EXPECT_DEATH(reg.GetCounter("cairn_ok_total", "Ok.", {{"b", "1"}}), "label names");
  EXPECT_DEATH(reg.GetCounter("cairn_l_total", "L.", {{"__x", "1"}}), "label name");
  EXPECT_DEATH(reg.GetCounter("cairn_l_total", "L.", {{"a", "1"}, {"a", "2"}}), "duplicate");
  EXPECT_DEATH(reg.GetHistogram("cairn_h_seconds", "H.", {1}, {{"le", "1"}}), "le");
  EXPECT_DEATH(
      {
        for (size_t i = 0; i <= kSeriesPerFamilyMax; ++i) {
          reg.GetCounter("cairn_ok_total", "Ok.", {{"a", "v" + std::to_string(i)}});
        }
      },
      "too many label sets");
}

// The parser is strict: each of these breaks one rule and is refused.
TEST(PromParser, RefusesWhatTheFormatOrCairnDoesNotAllow) {
  const std::string ok = "# HELP cairn_x_total X.\n# TYPE cairn_x_total counter\ncairn_x_total 1\n";
  EXPECT_EQ(ParseError(ok), "");
  const std::string hist =
      "# TYPE cairn_h histogram\n"
      "cairn_h_bucket{le=\"1\"} 1\ncairn_h_bucket{le=\"+Inf\"} 2\n"
      "cairn_h_sum 3\ncairn_h_count 2\n";
  EXPECT_EQ(ParseError(hist), "");

  const std::vector<std::pair<std::string, std::string>> bad = {
      {"no newline", "# TYPE cairn_x_total counter\ncairn_x_total 1"},
      {"blank line", "# TYPE cairn_x_total counter\n\ncairn_x_total 1\n"},
      {"other comment", "# hello\n# TYPE cairn_x_total counter\ncairn_x_total 1\n"},
      {"sample before TYPE", "cairn_x_total 1\n# TYPE cairn_x_total counter\n"},
      {"no TYPE", "cairn_x 1\n"},
      {"counter without _total", "# TYPE cairn_x counter\ncairn_x 1\n"},
      {"negative counter", "# TYPE cairn_x_total counter\ncairn_x_total -1\n"},
      {"duplicate series",
       "# TYPE cairn_x_total counter\ncairn_x_total{a=\"1\"} 1\ncairn_x_total{a=\"1\"} 2\n"},
      {"duplicate TYPE", "# TYPE cairn_x gauge\n# TYPE cairn_x gauge\ncairn_x 1\n"},
      {"not contiguous",
       "# TYPE cairn_a gauge\ncairn_a 1\n# TYPE cairn_b gauge\ncairn_b 1\ncairn_a{x=\"1\"} 1\n"},
      {"bad name", "# TYPE 1cairn gauge\n1cairn 1\n"},
      {"bad label name", "# TYPE cairn_a gauge\ncairn_a{1a=\"x\"} 1\n"},
      {"reserved label", "# TYPE cairn_a gauge\ncairn_a{__a=\"x\"} 1\n"},
      {"bad escape", "# TYPE cairn_a gauge\ncairn_a{a=\"\\t\"} 1\n"},
      {"unquoted label", "# TYPE cairn_a gauge\ncairn_a{a=x} 1\n"},
      {"trailing comma", "# TYPE cairn_a gauge\ncairn_a{a=\"x\",} 1\n"},
      {"bad value", "# TYPE cairn_a gauge\ncairn_a one\n"},
      {"inf spelled wrong", "# TYPE cairn_a gauge\ncairn_a inf\n"},
      {"unknown type", "# TYPE cairn_a meter\ncairn_a 1\n"},
      {"buckets not cumulative",
       "# TYPE cairn_h histogram\ncairn_h_bucket{le=\"1\"} 2\ncairn_h_bucket{le=\"+Inf\"} 1\n"
       "cairn_h_sum 1\ncairn_h_count 1\n"},
      {"no +Inf bucket",
       "# TYPE cairn_h histogram\ncairn_h_bucket{le=\"1\"} 1\ncairn_h_sum 1\ncairn_h_count 1\n"},
      {"count differs from +Inf",
       "# TYPE cairn_h histogram\ncairn_h_bucket{le=\"+Inf\"} 2\ncairn_h_sum 1\ncairn_h_count 3\n"},
      {"no _sum", "# TYPE cairn_h histogram\ncairn_h_bucket{le=\"+Inf\"} 2\ncairn_h_count 2\n"},
      {"le not increasing",
       "# TYPE cairn_h histogram\ncairn_h_bucket{le=\"2\"} 1\ncairn_h_bucket{le=\"1\"} 1\n"
       "cairn_h_bucket{le=\"+Inf\"} 1\ncairn_h_sum 1\ncairn_h_count 1\n"},
  };
  for (const auto& [why, text] : bad) EXPECT_NE(ParseError(text), "") << why;
}

}  // namespace
}  // namespace cairn::audit
