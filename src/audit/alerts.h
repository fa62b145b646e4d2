// AlertEngine: turns audit records, posture findings and integrity violations into alerts
// (alert_rules.h), deduplicates them, and hands them to sinks (a log line, the `$alerts` stream,
// a signed webhook).
//
// Feeding: the engine is an AuditListener (add it to the server's AuditTrail) and is also fed
// directly by ObservePosture (doctor's periodic re-run) and ObserveIntegrityViolation (for a
// violation that does not pass through the trail). These run on the caller's thread, are quick
// and never block on a sink: they decide under a mutex and put a fired alert on a bounded queue
// (queue_alerts_max; when full the alert is dropped and counted in stats().dropped, and no
// dedup window opens, so the next match tries again).
//
// Deduplication: a rule fires at most once per dedup_window_s per dedup key — the rule, plus the
// source address (auth_failures), the principal (denied_appends with per_principal,
// key_destruction) or the check id (posture_finding). A firing inside the window is suppressed
// and counted (stats().suppressed, cairn_alerts_suppressed_total); the next alert of that key
// carries the number suppressed since the previous one. Counting kinds start counting afresh
// after a firing or a suppression, so one suppression stands for `threshold` more events.
//
// Bounds: each rule keeps at most tracked_keys_max counting or dedup keys (least recently used
// go first; an evicted key starts afresh), so a flood of one rule's keys never evicts another
// rule's; each counter holds at most `threshold` (≤ kAlertThresholdMax) timestamps.
//
// Delivery: one thread takes queued alerts in order and calls every sink's Deliver, one alert at
// a time. A sink that may be slow (the webhook) queues internally and returns at once.
//
// Thread safety: every public method is thread-safe. Stop() (also run by the destructor) delivers
// what is queued, joins the thread, then stops the sinks; observations after Stop() are ignored.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "audit/alert_rules.h"
#include "audit/metrics.h"
#include "audit/record.h"
#include "common/status.h"

namespace cairn::audit {

inline constexpr std::string_view kAlertsStream = "$alerts";
inline constexpr std::string_view kAlertEventType = "$alert";
inline constexpr size_t kAlertQueueMax = 65536;
inline constexpr size_t kAlertTrackedKeysMax = 1 << 20;
inline constexpr size_t kAlertSinksMax = 8;
inline constexpr size_t kAlertSummarySizeBytesMax = 512;

// One fired alert. Holds identifiers and fixed texts only: never a credential, payload or
// personal field value (the records it is made from do not hold them either).
struct Alert {
  std::string id;             // random UUID text; the webhook-id of its webhook delivery
  std::string rule;           // rule name
  AlertRuleKind kind = AlertRuleKind::kIntegrityViolation;
  AlertSeverity severity = AlertSeverity::kHigh;
  int64_t time_unix_ms = 0;
  std::string summary;        // one line, ≤ kAlertSummarySizeBytesMax bytes
  uint64_t count = 0;         // events that made it fire (counting kinds), otherwise 1
  int64_t window_s = 0;       // counting kinds: the window `count` was seen in
  uint64_t suppressed = 0;    // firings of this key suppressed since its previous alert
  std::string source_ip;      // auth_failures
  std::string principal;      // denied_appends with per_principal
  std::string check_id;       // posture_finding
};

// The alert as the JSON object of a `$alert` event and of a webhook body (compact, fixed field
// order; empty optional fields left out):
//   {"id":…,"rule":…,"kind":…,"severity":…,"time":"<RFC 3339 UTC ms>","summary":…,"count":…,
//    "window_s":…,"suppressed":…,"source_ip":…,"principal":…,"check_id":…}
std::string EncodeAlertJson(const Alert& alert);

// Where alerts go. Deliver() is called on the engine's delivery thread only, one alert at a
// time; it must not call back into the engine. Stop() is called once, after the last Deliver().
class AlertSink {
 public:
  virtual ~AlertSink() = default;
  virtual void Deliver(const Alert& alert) = 0;
  virtual void Stop() {}
};

struct AlertEngineOptions {
  size_t queue_alerts_max = 1024;   // 1 .. kAlertQueueMax
  size_t tracked_keys_max = 4096;   // per rule, 1 .. kAlertTrackedKeysMax
  // Clock for windows, dedup and alert times; the system clock when empty. Tests step it.
  std::function<int64_t()> now_unix_ms;
  // When set, registers cairn_alerts_fired_total{rule_kind,severity},
  // cairn_alerts_suppressed_total and cairn_alerts_dropped_total on it. Must outlive the engine.
  MetricsRegistry* metrics = nullptr;
};

struct AlertEngineStats {
  uint64_t fired = 0;       // alerts queued for delivery
  uint64_t suppressed = 0;  // firings inside a dedup window
  uint64_t dropped = 0;     // fired while the queue was full
  uint64_t delivered = 0;   // alerts handed to every sink
  uint64_t tracked_keys = 0;
  uint64_t evicted_keys = 0;
};

class AlertEngine : public AuditListener {
 public:
  // kInvalidArgument for options out of range, more than kAlertSinksMax sinks or a null sink,
  // or rules that ParseAlertRules would refuse (duplicate names, values out of range).
  static Result<std::unique_ptr<AlertEngine>> Start(std::vector<AlertRule> rules,
                                                    std::vector<std::unique_ptr<AlertSink>> sinks,
                                                    AlertEngineOptions options);
  ~AlertEngine() override;
  AlertEngine(const AlertEngine&) = delete;
  AlertEngine& operator=(const AlertEngine&) = delete;

  // AuditListener: auth failures, access denials of `append`, integrity violations and admin
  // key destructions ("forget", "key.destroy" unless outcome = "failure") feed the rules.
  void OnAuditRecord(const AuditRecord& record) override;
  // One posture finding of a check (doctor). `severity` is an AlertSeverityName; an unknown
  // name counts as "critical" (never silently ignored). `finding` is a fixed text.
  void ObservePosture(std::string_view check_id, std::string_view severity,
                      std::string_view finding);
  // An integrity violation seen outside the audit trail. `what` is a short fixed text
  // ("leaf hash mismatch at 1234"); `origin` names who saw it ("scrub", "report").
  void ObserveIntegrityViolation(std::string_view origin, std::string_view what);

  // Returns when every alert queued before the call has been handed to the sinks.
  void Flush();
  void Stop();
  AlertEngineStats stats() const;
  const std::vector<AlertRule>& rules() const { return rules_; }

 private:
  struct Impl;
  AlertEngine(std::vector<AlertRule> rules, std::vector<std::unique_ptr<AlertSink>> sinks,
              AlertEngineOptions options);

  const std::vector<AlertRule> rules_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cairn::audit
