// A strict parser of the Prometheus text exposition format (0.0.4) for tests: it accepts what
// the format allows and cairn promises, and rejects everything else with a message naming the line.
//
// Checked: every line is "# HELP", "# TYPE" or a sample (no blank lines, no other comments); a
// family's HELP and TYPE come before its samples, at most once each; every sample belongs to a
// family with a TYPE; a family's lines are contiguous; metric and label names are valid; label
// values use only the escapes \\ \" \n; values are floats or NaN/+Inf/-Inf; no series appears
// twice; counters end in _total and are >= 0; a histogram's series have _bucket lines with
// increasing `le` ending in +Inf, cumulative counts that never decrease, `_sum`, and `_count`
// equal to the +Inf bucket; the text ends with a newline.
//
// Header-only; used by tests/unit/{audit,engine} and tests/integration.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace cairn::testing {

using PromLabels = std::vector<std::pair<std::string, std::string>>;

struct PromSample {
  std::string name;   // as written (with _bucket/_sum/_count for histograms)
  PromLabels labels;  // in the order written
  double value = 0;
};

struct PromFamily {
  std::string name;
  std::string help;
  std::string type;  // counter | gauge | histogram | summary | untyped
  std::vector<PromSample> samples;
};

struct PromExposition {
  std::map<std::string, PromFamily> families;

  // The sample `name` whose labels include every pair of `labels` (and no more when `exact`).
  const PromSample* Find(const std::string& name, const PromLabels& labels = {},
                         bool exact = true) const {
    for (const auto& [fname, family] : families) {
      for (const PromSample& s : family.samples) {
        if (s.name != name) continue;
        if (exact && s.labels.size() != labels.size()) continue;
        bool all = std::all_of(labels.begin(), labels.end(), [&](const auto& want) {
          return std::find(s.labels.begin(), s.labels.end(), want) != s.labels.end();
        });
        if (all) return &s;
      }
    }
    return nullptr;
  }
  // The value of Find(...), or NaN when there is no such sample.
  double Value(const std::string& name, const PromLabels& labels = {}) const {
    const PromSample* s = Find(name, labels);
    return s == nullptr ? std::nan("") : s->value;
  }
  // Every label value of every sample (for "no stream id in a label" checks).
  std::vector<std::string> AllLabelValues() const {
    std::vector<std::string> out;
    for (const auto& [n, f] : families) {
      for (const auto& s : f.samples) {
        for (const auto& [k, v] : s.labels) out.push_back(v);
      }
    }
    return out;
  }
};

namespace prom_detail {

inline bool NameStart(char c, bool colon) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon && c == ':');
}
inline bool NameChar(char c, bool colon) { return NameStart(c, colon) || (c >= '0' && c <= '9'); }
inline bool ValidName(std::string_view s, bool colon) {
  if (s.empty() || !NameStart(s[0], colon)) return false;
  for (char c : s) {
    if (!NameChar(c, colon)) return false;
  }
  return true;
}
inline bool EndsWith(std::string_view s, std::string_view suf) {
  return s.size() >= suf.size() && s.substr(s.size() - suf.size()) == suf;
}

inline std::optional<double> ParseValue(std::string_view s) {
  if (s == "NaN") return std::nan("");
  if (s == "+Inf") return INFINITY;
  if (s == "-Inf") return -INFINITY;
  if (s.empty()) return std::nullopt;
  for (char c : s) {  // digits, sign, point, exponent only (strtod alone would take "inf", hex)
    if (!((c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E')) {
      return std::nullopt;
    }
  }
  std::string copy(s);
  char* end = nullptr;
  double v = std::strtod(copy.c_str(), &end);
  if (end != copy.c_str() + copy.size()) return std::nullopt;
  return v;
}

class Parser {
 public:
  explicit Parser(std::string* error) : error_(error) {}

  bool Run(std::string_view text, PromExposition* out) {
    if (text.empty()) return Fail(0, "empty exposition");
    if (text.back() != '\n') return Fail(0, "does not end with a newline");
    size_t line_no = 0;
    for (size_t pos = 0; pos < text.size();) {
      size_t nl = text.find('\n', pos);
      std::string_view line = text.substr(pos, nl - pos);
      pos = nl + 1;
      ++line_no;
      if (!Line(line_no, line, out)) return false;
    }
    for (const auto& [name, family] : out->families) {
      if (!CheckFamily(family)) return false;
    }
    return true;
  }

 private:
  bool Fail(size_t line_no, const std::string& why) {
    *error_ = "line " + std::to_string(line_no) + ": " + why;
    return false;
  }

  // Switches the current family to `name`; a family may not come back after another one.
  bool Enter(size_t line_no, const std::string& name) {
    if (name == current_) return true;
    if (seen_.count(name) != 0) return Fail(line_no, "family " + name + " is not contiguous");
    seen_.insert(name);
    current_ = name;
    return true;
  }

  bool Line(size_t n, std::string_view line, PromExposition* out) {
    if (line.empty()) return Fail(n, "blank line");
    if (line[0] == '#') return Comment(n, line, out);
    return Sample(n, line, out);
  }

  bool Comment(size_t n, std::string_view line, PromExposition* out) {
    const bool help = line.substr(0, 7) == "# HELP ";
    const bool type = line.substr(0, 7) == "# TYPE ";
    if (!help && !type) return Fail(n, "comment that is neither HELP nor TYPE");
    std::string_view rest = line.substr(7);
    size_t sp = rest.find(' ');
    if (sp == std::string_view::npos) return Fail(n, "HELP/TYPE without text");
    std::string name(rest.substr(0, sp));
    std::string_view text = rest.substr(sp + 1);
    if (!ValidName(name, true)) return Fail(n, "invalid metric name " + name);
    if (!Enter(n, name)) return false;
    PromFamily& f = out->families[name];
    f.name = name;
    if (!f.samples.empty()) return Fail(n, "HELP/TYPE after samples of " + name);
    if (help) {
      if (has_help_.count(name)) return Fail(n, "second HELP for " + name);
      has_help_.insert(name);
      for (size_t i = 0; i < text.size(); ++i) {
        if (text[i] != '\\') continue;
        if (i + 1 >= text.size() || (text[i + 1] != '\\' && text[i + 1] != 'n')) {
          return Fail(n, "bad escape in HELP");
        }
        ++i;
      }
      f.help = std::string(text);
      return true;
    }
    if (!f.type.empty()) return Fail(n, "second TYPE for " + name);
    static const std::set<std::string> kTypes = {"counter", "gauge", "histogram", "summary",
                                                  "untyped"};
    if (kTypes.count(std::string(text)) == 0) return Fail(n, "unknown type " + std::string(text));
    f.type = std::string(text);
    return true;
  }

  // The family a sample name belongs to: itself, or the histogram it is a _bucket/_sum/_count of.
  std::string FamilyOf(const std::string& name, const PromExposition& out) const {
    for (std::string_view suf : {"_bucket", "_sum", "_count"}) {
      if (!EndsWith(name, suf)) continue;
      std::string base = name.substr(0, name.size() - suf.size());
      auto it = out.families.find(base);
      if (it != out.families.end() && it->second.type == "histogram") return base;
    }
    return name;
  }

  bool Labels(size_t n, std::string_view* s, PromLabels* labels) {
    // *s starts after '{'; consumes through '}'.
    std::set<std::string> names;
    while (true) {
      if (s->empty()) return Fail(n, "unterminated labels");
      if ((*s)[0] == '}') {
        s->remove_prefix(1);
        return true;
      }
      size_t eq = s->find('=');
      if (eq == std::string_view::npos) return Fail(n, "label without '='");
      std::string name(s->substr(0, eq));
      if (!ValidName(name, false) || name.substr(0, 2) == "__") {
        return Fail(n, "invalid label name '" + name + "'");
      }
      if (!names.insert(name).second) return Fail(n, "duplicate label " + name);
      s->remove_prefix(eq + 1);
      if (s->empty() || (*s)[0] != '"') return Fail(n, "label value not quoted");
      s->remove_prefix(1);
      std::string value;
      bool closed = false;
      while (!s->empty()) {
        char c = (*s)[0];
        s->remove_prefix(1);
        if (c == '"') {
          closed = true;
          break;
        }
        if (c == '\n') return Fail(n, "raw newline in label value");
        if (c == '\\') {
          if (s->empty()) return Fail(n, "dangling escape");
          char e = (*s)[0];
          s->remove_prefix(1);
          if (e == '\\') value.push_back('\\');
          else if (e == '"') value.push_back('"');
          else if (e == 'n') value.push_back('\n');
          else return Fail(n, std::string("bad escape \\") + e + " in label value");
          continue;
        }
        value.push_back(c);
      }
      if (!closed) return Fail(n, "unterminated label value");
      labels->emplace_back(name, value);
      if (!s->empty() && (*s)[0] == ',') {
        s->remove_prefix(1);
        if (!s->empty() && (*s)[0] == '}') return Fail(n, "trailing comma in labels");
      } else if (s->empty() || (*s)[0] != '}') {
        return Fail(n, "expected ',' or '}' after a label");
      }
    }
  }

  bool Sample(size_t n, std::string_view line, PromExposition* out) {
    size_t i = 0;
    while (i < line.size() && line[i] != '{' && line[i] != ' ') ++i;
    std::string name(line.substr(0, i));
    if (!ValidName(name, true)) return Fail(n, "invalid sample name '" + name + "'");
    std::string_view rest = line.substr(i);
    PromSample sample;
    sample.name = name;
    if (!rest.empty() && rest[0] == '{') {
      rest.remove_prefix(1);
      if (!Labels(n, &rest, &sample.labels)) return false;
    }
    if (rest.empty() || rest[0] != ' ') return Fail(n, "no space before the value");
    rest.remove_prefix(1);
    size_t sp = rest.find(' ');
    std::string_view value_text = rest.substr(0, sp);
    if (sp != std::string_view::npos) {  // optional integer timestamp
      std::string_view ts = rest.substr(sp + 1);
      if (ts.empty()) return Fail(n, "trailing space");
      for (size_t k = 0; k < ts.size(); ++k) {
        if (!((ts[k] >= '0' && ts[k] <= '9') || (k == 0 && ts[k] == '-'))) {
          return Fail(n, "bad timestamp");
        }
      }
    }
    std::optional<double> value = ParseValue(value_text);
    if (!value) return Fail(n, "bad value '" + std::string(value_text) + "'");
    sample.value = *value;

    std::string family_name = FamilyOf(name, *out);
    auto it = out->families.find(family_name);
    if (it == out->families.end() || it->second.type.empty()) {
      return Fail(n, "sample of " + family_name + " before its TYPE");
    }
    if (!Enter(n, family_name)) return false;
    PromLabels key = sample.labels;
    std::sort(key.begin(), key.end());
    if (!series_.insert({name, key}).second) return Fail(n, "duplicate series " + name);
    it->second.samples.push_back(std::move(sample));
    return true;
  }

  bool CheckFamily(const PromFamily& f) {
    if (f.type.empty()) return Fail(0, "family " + f.name + " has no TYPE");
    if (f.type == "counter") {
      if (!EndsWith(f.name, "_total")) return Fail(0, "counter " + f.name + " not _total");
      for (const auto& s : f.samples) {
        if (s.name != f.name) return Fail(0, "counter sample " + s.name + " in " + f.name);
        if (!(s.value >= 0)) return Fail(0, "counter " + f.name + " negative or NaN");
      }
      return true;
    }
    if (f.type == "histogram") return CheckHistogram(f);
    for (const auto& s : f.samples) {
      if (s.name != f.name) return Fail(0, "sample " + s.name + " in family " + f.name);
    }
    return true;
  }

  bool CheckHistogram(const PromFamily& f) {
    struct Series {
      std::vector<std::pair<double, double>> buckets;  // le, cumulative
      std::optional<double> sum, count;
    };
    std::map<PromLabels, Series> by_labels;
    for (const auto& s : f.samples) {
      PromLabels labels;
      std::optional<double> le;
      for (const auto& [k, v] : s.labels) {
        if (k != "le") {
          labels.emplace_back(k, v);
          continue;
        }
        le = ParseValue(v);
        if (!le || std::isnan(*le)) return Fail(0, f.name + ": bad le '" + v + "'");
      }
      std::sort(labels.begin(), labels.end());
      Series& series = by_labels[labels];
      if (s.name == f.name + "_bucket") {
        if (!le) return Fail(0, f.name + "_bucket without le");
        series.buckets.emplace_back(*le, s.value);
      } else if (le) {
        return Fail(0, s.name + " with an le label");
      } else if (s.name == f.name + "_sum") {
        series.sum = s.value;
      } else if (s.name == f.name + "_count") {
        series.count = s.value;
      } else {
        return Fail(0, "sample " + s.name + " in histogram " + f.name);
      }
    }
    for (const auto& [labels, s] : by_labels) {
      if (s.buckets.empty() || !s.sum || !s.count) {
        return Fail(0, f.name + ": series without buckets, _sum or _count");
      }
      for (size_t i = 1; i < s.buckets.size(); ++i) {
        if (!(s.buckets[i - 1].first < s.buckets[i].first)) {
          return Fail(0, f.name + ": le not increasing");
        }
        if (s.buckets[i - 1].second > s.buckets[i].second) {
          return Fail(0, f.name + ": buckets not cumulative");
        }
      }
      if (!std::isinf(s.buckets.back().first) || s.buckets.back().first < 0) {
        return Fail(0, f.name + ": last bucket is not +Inf");
      }
      if (s.buckets.back().second != *s.count) {
        return Fail(0, f.name + ": +Inf bucket differs from _count");
      }
    }
    return true;
  }

  std::string* error_;
  std::string current_;
  std::set<std::string> seen_;
  std::set<std::string> has_help_;
  std::set<std::pair<std::string, PromLabels>> series_;
};

}  // namespace prom_detail

// Parses `text` strictly; on failure returns nullopt and sets *error to the first problem.
inline std::optional<PromExposition> ParsePrometheusText(std::string_view text,
                                                         std::string* error) {
  PromExposition out;
  prom_detail::Parser parser(error);
  if (!parser.Run(text, &out)) return std::nullopt;
  return out;
}

// ParsePrometheusText for tests: a refused text fails the current test with the parser's message
// (and the text); an empty exposition is returned then.
inline PromExposition ParseOrFail(std::string_view text) {
  std::string error;
  auto parsed = ParsePrometheusText(text, &error);
  EXPECT_TRUE(parsed.has_value()) << error << "\n" << text;
  return parsed.value_or(PromExposition{});
}

}  // namespace cairn::testing
