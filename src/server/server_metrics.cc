#include "server/server_metrics.h"

#include "audit/trail.h"
#include "common/log.h"
#include "policy/action.h"
#include "subscribe/alert_webhook.h"
#include "subscribe/group_engine.h"
#include "subscribe/live_hub.h"

namespace cairn::server {

namespace {

void RegisterAuditTrailMetrics(audit::MetricsRegistry* r, const audit::AuditTrail* trail) {
  r->GaugeFunction("cairn_audit_queue_depth", "Audit records queued, not yet written.", {},
                   [trail] { return static_cast<double>(trail->stats().queue_depth); });
  r->CounterFunction("cairn_audit_records_written_total", "Audit records written to $audit.", {},
                     [trail] { return trail->stats().written; });
  r->CounterFunction("cairn_audit_dropped_total",
                     "Audit records dropped because the queue was full, by kind.",
                     {{"kind", "data_plane"}}, [trail] { return trail->stats().dropped_data_plane; });
  r->CounterFunction("cairn_audit_dropped_total",
                     "Audit records dropped because the queue was full, by kind.",
                     {{"kind", "security"}}, [trail] { return trail->stats().dropped_security; });
  r->CounterFunction("cairn_audit_admin_refused_total",
                     "Admin operations refused (fail closed) because the audit queue was full or "
                     "the audit trail could not be written.",
                     {}, [trail] { return trail->stats().admin_refused; });
  r->CounterFunction("cairn_audit_write_errors_total",
                     "Rounds of failed audit write attempts (the batch is kept and retried).", {},
                     [trail] { return trail->stats().write_errors; });
  r->CounterFunction("cairn_audit_lost_total",
                     "Audit records given up: at shutdown because writes kept failing, or a "
                     "batch the store refused for good.",
                     {},
                     [trail] { return trail->stats().lost; });
}

}  // namespace

void RegisterAlertWebhookMetrics(audit::MetricsRegistry* r, const subscribe::AlertWebhookSink* sink) {
  r->CounterFunction("cairn_alert_webhook_delivered_total", "Alerts delivered to alerts.webhook_url.",
                     {}, [sink] { return sink->stats().delivered; });
  r->CounterFunction("cairn_alert_webhook_retries_total", "Retried alert webhook deliveries.", {},
                     [sink] { return sink->stats().retries; });
  r->CounterFunction("cairn_alert_webhook_dropped_total",
                     "Alerts not delivered to alerts.webhook_url: given up after the retries, "
                     "the queue full, or left at stop.",
                     {}, [sink] { return sink->stats().dropped; });
  r->CounterFunction("cairn_alert_webhook_guard_refusals_total",
                     "Alert webhook connections the address guard refused.", {},
                     [sink] { return sink->stats().guard_refusals; });
}

void RegisterServerGauges(audit::MetricsRegistry* r, const subscribe::LiveHub* hub,
                          const subscribe::GroupEngine* groups, const audit::AuditTrail* trail) {
  if (r == nullptr) return;
  if (hub != nullptr) {
    r->GaugeFunction("cairn_live_subscriptions", "Open live subscriptions.", {},
                     [hub] { return static_cast<double>(hub->subscriber_count()); });
  }
  if (groups != nullptr) {
    r->GaugeFunction("cairn_consumer_groups", "Consumer groups.", {},
                     [groups] { return static_cast<double>(groups->List().size()); });
    r->GaugeFunction("cairn_group_consumers", "Consumers connected to consumer groups.", {},
                     [groups] {
                       double consumers = 0;
                       for (const auto& g : groups->List()) consumers += g.counters.consumers;
                       return consumers;
                     });
  }
  if (trail != nullptr) RegisterAuditTrailMetrics(r, trail);
  r->CounterFunction("cairn_log_lines_dropped_total",
                     "Log lines dropped because stderr was not read fast enough.", {},
                     [] { return log::DroppedLines(); });
}

std::vector<std::string> PolicyActionNames() {
  std::vector<std::string> names;
  for (uint32_t i = 0; i < policy::kActionCount; ++i) {
    names.emplace_back(policy::ActionName(static_cast<policy::Action>(i)));
  }
  return names;
}

HttpResponse MetricsResponse(const audit::MetricsRegistry& registry) {
  return HttpResponse{200, kMetricsContentType, registry.RenderPrometheus()};
}

}  // namespace cairn::server
