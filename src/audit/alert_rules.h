// Alert rules (docs/operations.md, "Alerts"): what the AlertEngine watches for. A rules file
// (TOML) holds up to kAlertRulesMax `[[rule]]` tables:
//
//   [[rule]]
//   name = "auth-failures"            # 1..kAlertRuleNameSizeBytesMax bytes of [a-z0-9._-], unique
//   kind = "auth_failures"            # see AlertRuleKind
//   threshold = 10                    # counting kinds: fires when the count in the window
//   window_s = 60                     #   reaches `threshold` (1..kAlertThresholdMax)
//   severity = "high"                 # info | low | medium | high | critical
//   dedup_window_s = 300              # 1..kAlertDedupWindowSecondsMax
//
// Kinds and their keys (besides name, kind, severity and dedup_window_s, which every rule has;
// severity and dedup_window_s default to the kind's DefaultAlertRules() values):
//  - "auth_failures": authentication failures (threshold, window_s) from one source address,
//    counted and deduplicated per address; per_source = false counts every address together
//    (a guessing attack spread over many addresses stays below any per-address threshold).
//  - "denied_appends": authorization denials of `append` (threshold, window_s; per_principal =
//    true counts and deduplicates per principal, otherwise all principals together).
//  - "integrity_violation": any integrity violation record (scrub or Integrity.ReportViolation).
//  - "key_destruction": any key destruction (the admin acts "forget" and "key.destroy").
//  - "posture_finding": a posture finding at or above min_severity (default "high");
//    deduplicated per check id.
//  - "audit_gap": the audit trail dropped records, its queue full, or gave up a batch the store
//    refused (a `$audit.gap` record).
// Validation is strict, like policy and protection rules: unknown keys, keys that do not apply
// to the kind, wrong types and values out of range are kInvalidArgument
// "<source>:<line>:<column>: <what>"; a file larger than kAlertRulesFileSizeBytesMax is
// kResourceExhausted; LoadAlertRules refuses a file others may write (kFailedPrecondition).
// A file with no rules is valid: nothing alerts.
//
// Thread safety: values and pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace cairn::audit {

inline constexpr size_t kAlertRulesFileSizeBytesMax = size_t{1} << 20;
inline constexpr size_t kAlertRulesMax = 64;
inline constexpr size_t kAlertRuleNameSizeBytesMax = 64;
inline constexpr uint32_t kAlertThresholdMax = 1000;
inline constexpr int64_t kAlertWindowSecondsMax = 86400;
inline constexpr int64_t kAlertDedupWindowSecondsMax = 86400;

// Ordered: a finding "at or above" a severity compares with >=.
enum class AlertSeverity : uint8_t { kInfo = 0, kLow, kMedium, kHigh, kCritical };
inline constexpr uint32_t kAlertSeverityCount = 5;

const char* AlertSeverityName(AlertSeverity severity);                // "info" .. "critical"
std::optional<AlertSeverity> ParseAlertSeverity(std::string_view name);  // exact names above

enum class AlertRuleKind : uint8_t {
  kAuthFailures = 0,
  kDeniedAppends,
  kIntegrityViolation,
  kKeyDestruction,
  kPostureFinding,
  kAuditGap,
};
inline constexpr uint32_t kAlertRuleKindCount = 6;

const char* AlertRuleKindName(AlertRuleKind kind);  // "auth_failures", … as in the rules file
std::optional<AlertRuleKind> ParseAlertRuleKind(std::string_view name);
// True for the kinds that count events in a sliding window (threshold, window_s).
bool IsCountingKind(AlertRuleKind kind);

struct AlertRule {
  std::string name;
  AlertRuleKind kind = AlertRuleKind::kIntegrityViolation;
  AlertSeverity severity = AlertSeverity::kHigh;
  int64_t dedup_window_s = 300;
  uint32_t threshold = 1;      // counting kinds only
  int64_t window_s = 60;       // counting kinds only
  bool per_principal = false;  // denied_appends only
  bool per_source = true;      // auth_failures only
  AlertSeverity min_severity = AlertSeverity::kHigh;  // posture_finding only
};

// The rules in force when no rules file is configured (documented in docs/operations.md):
//   auth-failures        auth_failures       threshold 10 / 60 s   high      dedup 300 s
//   auth-failures-all    auth_failures       threshold 200 / 60 s  high      dedup 300 s
//                        (per_source = false: every address together)
//   denied-appends       denied_appends      threshold 20 / 60 s   medium    dedup 300 s
//   integrity-violation  integrity_violation                       critical  dedup 60 s
//   key-destruction      key_destruction                           high      dedup 60 s
//   posture              posture_finding     min_severity high     high      dedup 3600 s
//   audit-gap            audit_gap                                 high      dedup 300 s
std::vector<AlertRule> DefaultAlertRules();

// kInvalidArgument naming the first rule a rules file could not hold: a name that is not
// 1..kAlertRuleNameSizeBytesMax bytes of [a-z0-9._-] or is used twice, values out of range,
// more than kAlertRulesMax rules. (For rules built in code; parsed rules always pass.)
Status CheckAlertRules(const std::vector<AlertRule>& rules);

// Parses a rules file's text; `source` names it in errors.
Result<std::vector<AlertRule>> ParseAlertRules(std::string_view toml_text,
                                               const std::string& source);
// Reads (ReadTrustedFile) and parses `path`.
Result<std::vector<AlertRule>> LoadAlertRules(const std::string& path);

}  // namespace cairn::audit
