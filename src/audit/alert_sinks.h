// The in-process alert sinks: a structured log line, and the `$alerts` stream. (The signed
// webhook sink is subscribe/alert_webhook.h: it needs the network.)
//
// LogAlertSink writes one line per alert through common/log.h: level "error" for high and
// critical alerts, "warn" otherwise; message "alert: <summary>", event.action "alert", and the
// fields cairn.alert.rule, cairn.alert.kind, cairn.alert.severity, cairn.alert.id,
// cairn.alert.count, cairn.alert.suppressed, source.ip (per-address rules), user.id
// (per-principal rules). Never a secret: alerts hold none.
//
// StreamAlertSink appends each alert, as EncodeAlertJson, through an AlertWriter — the server's
// AppendSystem to `$alerts` with event type `$alert`. A failed write is logged (once per failure,
// without the alert body) and counted; it is not retried (the log line already carries it).
//
// Thread safety: Deliver() is called by the engine's delivery thread only; failures() is
// thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>

#include "audit/alerts.h"
#include "common/status.h"

namespace cairn::audit {

class LogAlertSink : public AlertSink {
 public:
  void Deliver(const Alert& alert) override;
};

// Appends one `$alert` event with `json_body` as its data to `$alerts`.
using AlertWriter = std::function<Status(const std::string& json_body)>;

class StreamAlertSink : public AlertSink {
 public:
  explicit StreamAlertSink(AlertWriter writer);
  void Deliver(const Alert& alert) override;
  uint64_t failures() const { return failures_.load(std::memory_order_relaxed); }

 private:
  AlertWriter writer_;
  std::atomic<uint64_t> failures_{0};
};

}  // namespace cairn::audit
