#include "audit/alert_rules.h"

#include <algorithm>
#include <array>
#include <cassert>
#include <initializer_list>
#include <toml++/toml.h>

#include "common/toml_strict.h"

#include "common/trusted_file.h"

namespace cairn::audit {

namespace {

constexpr std::array<const char*, kAlertSeverityCount> kSeverityNames = {
    "info", "low", "medium", "high", "critical"};
constexpr std::array<const char*, kAlertRuleKindCount> kKindNames = {
    "auth_failures", "denied_appends", "integrity_violation", "key_destruction",
    "posture_finding", "audit_gap"};

bool ValidRuleName(std::string_view name) {
  if (name.empty() || name.size() > kAlertRuleNameSizeBytesMax) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
  });
}

AlertRule DefaultFor(AlertRuleKind kind) {
  for (const AlertRule& rule : DefaultAlertRules()) {
    if (rule.kind == kind) return rule;
  }
  assert(false && "every kind has a default rule");
  return AlertRule{};
}

class Parser {
 public:
  explicit Parser(const std::string& source) : source_(source) {}

  Status Err(const toml::source_region& where, const std::string& what) const {
    return TomlErrorAt(source_, where, what);
  }

  Status CheckKeys(const toml::table& table, const std::vector<std::string_view>& allowed,
                   const std::string& where) const {
    for (auto&& [key, node] : table) {
      if (std::find(allowed.begin(), allowed.end(), key.str()) == allowed.end()) {
        return Err(key.source(), "unknown key '" + std::string(key.str()) + "' in " + where);
      }
    }
    return Status::Ok();
  }

  Result<std::string> String(const toml::table& table, std::string_view key,
                             const std::string& where) const {
    const toml::node* node = table.get(key);
    if (node == nullptr) return Err(table.source(), where + ": missing key '" + std::string(key) + "'");
    const auto* s = node->as_string();
    if (s == nullptr) return Err(node->source(), where + ": '" + std::string(key) + "' must be a string");
    return s->get();
  }

  // An optional integer in [min, max]; `*out` unchanged when absent.
  Status Integer(const toml::table& table, std::string_view key, int64_t min, int64_t max,
                 const std::string& where, int64_t* out) const {
    const toml::node* node = table.get(key);
    if (node == nullptr) return Status::Ok();
    const auto* v = node->as_integer();
    if (v == nullptr) return Err(node->source(), where + ": '" + std::string(key) + "' must be an integer");
    if (v->get() < min || v->get() > max) {
      return Err(node->source(), where + ": '" + std::string(key) + "' must be " +
                                     std::to_string(min) + ".." + std::to_string(max));
    }
    *out = v->get();
    return Status::Ok();
  }

  Status Severity(const toml::table& table, std::string_view key, const std::string& where,
                  AlertSeverity* out) const {
    if (table.get(key) == nullptr) return Status::Ok();
    CAIRN_ASSIGN_OR_RETURN(std::string text, String(table, key, where));
    std::optional<AlertSeverity> severity = ParseAlertSeverity(text);
    if (!severity) {
      return Err(table.get(key)->source(), where + ": '" + std::string(key) +
                                               "' must be info, low, medium, high or critical");
    }
    *out = *severity;
    return Status::Ok();
  }

  static std::vector<std::string_view> AllowedKeys(AlertRuleKind kind) {
    std::vector<std::string_view> keys = {"name", "kind", "severity", "dedup_window_s"};
    if (IsCountingKind(kind)) {
      keys.push_back("threshold");
      keys.push_back("window_s");
    }
    if (kind == AlertRuleKind::kDeniedAppends) keys.push_back("per_principal");
    if (kind == AlertRuleKind::kAuthFailures) keys.push_back("per_source");
    if (kind == AlertRuleKind::kPostureFinding) keys.push_back("min_severity");
    return keys;
  }

  // An optional boolean key: absent leaves *out as it is.
  Status Boolean(const toml::table& table, std::string_view key, const std::string& where,
                 bool* out) const {
    const toml::node* node = table.get(key);
    if (node == nullptr) return Status::Ok();
    const auto* b = node->as_boolean();
    if (b == nullptr) {
      return Err(node->source(), where + ": '" + std::string(key) + "' must be true or false");
    }
    *out = b->get();
    return Status::Ok();
  }

  Result<AlertRule> ParseRule(const toml::table& table, size_t index) const {
    std::string where = "rule[" + std::to_string(index) + "]";
    CAIRN_ASSIGN_OR_RETURN(std::string name, String(table, "name", where));
    if (!ValidRuleName(name)) {
      return Err(table.get("name")->source(),
                 where + ": 'name' must be 1.." + std::to_string(kAlertRuleNameSizeBytesMax) +
                     " bytes of a-z, 0-9, '.', '_' and '-'");
    }
    where += " (" + name + ")";
    CAIRN_ASSIGN_OR_RETURN(std::string kind_text, String(table, "kind", where));
    std::optional<AlertRuleKind> kind = ParseAlertRuleKind(kind_text);
    if (!kind) {
      return Err(table.get("kind")->source(),
                 where + ": unknown kind '" + kind_text +
                     "' (auth_failures, denied_appends, integrity_violation, key_destruction, "
                     "posture_finding, audit_gap)");
    }
    CAIRN_RETURN_IF_ERROR(CheckKeys(table, AllowedKeys(*kind), where + " of kind " + kind_text));
    AlertRule rule = DefaultFor(*kind);
    rule.name = std::move(name);
    CAIRN_RETURN_IF_ERROR(Severity(table, "severity", where, &rule.severity));
    CAIRN_RETURN_IF_ERROR(Severity(table, "min_severity", where, &rule.min_severity));
    CAIRN_RETURN_IF_ERROR(Integer(table, "dedup_window_s", 1, kAlertDedupWindowSecondsMax, where,
                                  &rule.dedup_window_s));
    CAIRN_RETURN_IF_ERROR(Integer(table, "window_s", 1, kAlertWindowSecondsMax, where,
                                  &rule.window_s));
    int64_t threshold = rule.threshold;
    CAIRN_RETURN_IF_ERROR(Integer(table, "threshold", 1, kAlertThresholdMax, where, &threshold));
    rule.threshold = static_cast<uint32_t>(threshold);
    CAIRN_RETURN_IF_ERROR(Boolean(table, "per_principal", where, &rule.per_principal));
    CAIRN_RETURN_IF_ERROR(Boolean(table, "per_source", where, &rule.per_source));
    return rule;
  }

  Result<std::vector<AlertRule>> Parse(std::string_view text) const {
    CAIRN_ASSIGN_OR_RETURN(toml::table root,
                           ParseTomlBounded(text, source_, kAlertRulesFileSizeBytesMax, "alert rules file"));
    CAIRN_RETURN_IF_ERROR(CheckKeys(root, {"rule"}, "the alert rules file (expected [[rule]] tables)"));
    std::vector<AlertRule> rules;
    const toml::node* node = root.get("rule");
    if (node == nullptr) return rules;
    const toml::array* array = node->as_array();
    if (array == nullptr) return Err(node->source(), "'rule' must be a list of tables ([[rule]])");
    if (array->size() > kAlertRulesMax) {
      return Err(node->source(), "more than " + std::to_string(kAlertRulesMax) + " rules");
    }
    for (size_t i = 0; i < array->size(); ++i) {
      const toml::table* table = array->get(i)->as_table();
      if (table == nullptr) {
        return Err(array->get(i)->source(), "'rule' must be a list of tables ([[rule]])");
      }
      CAIRN_ASSIGN_OR_RETURN(AlertRule rule, ParseRule(*table, i));
      for (const AlertRule& other : rules) {
        if (other.name == rule.name) {
          return Err(table->get("name")->source(), "duplicate rule name '" + rule.name + "'");
        }
      }
      rules.push_back(std::move(rule));
    }
    return rules;
  }

 private:
  const std::string& source_;
};

}  // namespace

const char* AlertSeverityName(AlertSeverity severity) {
  const auto i = static_cast<size_t>(severity);
  assert(i < kSeverityNames.size());
  return kSeverityNames[i];
}

std::optional<AlertSeverity> ParseAlertSeverity(std::string_view name) {
  for (size_t i = 0; i < kSeverityNames.size(); ++i) {
    if (name == kSeverityNames[i]) return static_cast<AlertSeverity>(i);
  }
  return std::nullopt;
}

const char* AlertRuleKindName(AlertRuleKind kind) {
  const auto i = static_cast<size_t>(kind);
  assert(i < kKindNames.size());
  return kKindNames[i];
}

std::optional<AlertRuleKind> ParseAlertRuleKind(std::string_view name) {
  for (size_t i = 0; i < kKindNames.size(); ++i) {
    if (name == kKindNames[i]) return static_cast<AlertRuleKind>(i);
  }
  return std::nullopt;
}

bool IsCountingKind(AlertRuleKind kind) {
  return kind == AlertRuleKind::kAuthFailures || kind == AlertRuleKind::kDeniedAppends;
}

std::vector<AlertRule> DefaultAlertRules() {
  std::vector<AlertRule> rules(kAlertRuleKindCount + 1);
  rules[0] = {"auth-failures", AlertRuleKind::kAuthFailures, AlertSeverity::kHigh, 300, 10, 60};
  rules[1] = {"denied-appends", AlertRuleKind::kDeniedAppends, AlertSeverity::kMedium, 300, 20, 60};
  rules[2] = {"integrity-violation", AlertRuleKind::kIntegrityViolation, AlertSeverity::kCritical,
              60};
  rules[3] = {"key-destruction", AlertRuleKind::kKeyDestruction, AlertSeverity::kHigh, 60};
  rules[4] = {"posture", AlertRuleKind::kPostureFinding, AlertSeverity::kHigh, 3600};
  rules[5] = {"audit-gap", AlertRuleKind::kAuditGap, AlertSeverity::kHigh, 300};
  // After auth-failures, so that DefaultFor(kAuthFailures) stays the per-address rule.
  rules[6] = {"auth-failures-all", AlertRuleKind::kAuthFailures, AlertSeverity::kHigh, 300, 200, 60};
  rules[6].per_source = false;
  return rules;
}

Status CheckAlertRules(const std::vector<AlertRule>& rules) {
  if (rules.size() > kAlertRulesMax) {
    return Status::InvalidArgument("more than " + std::to_string(kAlertRulesMax) + " alert rules");
  }
  for (size_t i = 0; i < rules.size(); ++i) {
    const AlertRule& rule = rules[i];
    const std::string where = "alert rule '" + rule.name + "': ";
    if (!ValidRuleName(rule.name)) return Status::InvalidArgument(where + "invalid name");
    for (size_t j = 0; j < i; ++j) {
      if (rules[j].name == rule.name) return Status::InvalidArgument(where + "duplicate name");
    }
    if (static_cast<uint32_t>(rule.kind) >= kAlertRuleKindCount ||
        static_cast<uint32_t>(rule.severity) >= kAlertSeverityCount ||
        static_cast<uint32_t>(rule.min_severity) >= kAlertSeverityCount) {
      return Status::InvalidArgument(where + "invalid kind or severity");
    }
    if (rule.dedup_window_s < 1 || rule.dedup_window_s > kAlertDedupWindowSecondsMax) {
      return Status::InvalidArgument(where + "dedup_window_s out of range");
    }
    if (rule.threshold < 1 || rule.threshold > kAlertThresholdMax) {
      return Status::InvalidArgument(where + "threshold out of range");
    }
    if (rule.window_s < 1 || rule.window_s > kAlertWindowSecondsMax) {
      return Status::InvalidArgument(where + "window_s out of range");
    }
  }
  return Status::Ok();
}

Result<std::vector<AlertRule>> ParseAlertRules(std::string_view toml_text,
                                               const std::string& source) {
  return Parser(source).Parse(toml_text);
}

Result<std::vector<AlertRule>> LoadAlertRules(const std::string& path) {
  CAIRN_ASSIGN_OR_RETURN(std::string text,
                         ReadTrustedFile(path, "alert rules file", kAlertRulesFileSizeBytesMax));
  return ParseAlertRules(text, path);
}

}  // namespace cairn::audit
