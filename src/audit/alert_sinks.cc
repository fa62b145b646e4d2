#include "audit/alert_sinks.h"

#include <cassert>
#include <utility>

#include "common/log.h"

namespace cairn::audit {

void LogAlertSink::Deliver(const Alert& alert) {
  const log::Level level =
      alert.severity >= AlertSeverity::kHigh ? log::Level::kError : log::Level::kWarn;
  log::Fields fields;
  fields.action = "alert";
  fields.source_ip = alert.source_ip;
  fields.user_id = alert.principal;
  fields.extra = {{"cairn.alert.rule", alert.rule},
                  {"cairn.alert.kind", AlertRuleKindName(alert.kind)},
                  {"cairn.alert.severity", AlertSeverityName(alert.severity)},
                  {"cairn.alert.id", alert.id},
                  {"cairn.alert.count", std::to_string(alert.count)},
                  {"cairn.alert.suppressed", std::to_string(alert.suppressed)}};
  if (!alert.check_id.empty()) fields.extra.emplace_back("cairn.alert.check_id", alert.check_id);
  log::Write(level, "alert: " + alert.summary, fields);
}

StreamAlertSink::StreamAlertSink(AlertWriter writer) : writer_(std::move(writer)) {
  assert(writer_);
}

void StreamAlertSink::Deliver(const Alert& alert) {
  Status s = writer_(EncodeAlertJson(alert));
  if (s.ok()) return;
  failures_.fetch_add(1, std::memory_order_relaxed);
  log::Fields fields;
  fields.action = "alert";
  fields.outcome = "failure";
  fields.extra = {{"cairn.alert.rule", alert.rule},
                  {"cairn.alert.id", alert.id},
                  {"error.message", s.ToString()}};
  log::Error("alert not written to $alerts", fields);
}

}  // namespace cairn::audit
