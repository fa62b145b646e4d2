// The server's part of /metrics: gauges read at scrape time from the live-subscription hub, the
// consumer-group engine and the audit trail, the closed set of action names denials are counted
// under, and the /metrics HTTP response (audit/metrics.h renders; engine/ and audit/ register the
// rest).
//
// Lifetime: the gauges call into `hub`, `groups` and `trail`; the caller stops every scrape (the
// admin listener) before destroying them. Any of them may be null (its gauges are then left out).
// Thread safety: the gauges run on the admin listener's thread; the objects they read are
// thread-safe.
#pragma once

#include <string>
#include <vector>

#include "audit/metrics.h"
#include "server/admin_http.h"

namespace cairn::audit {
class AuditTrail;
}
namespace cairn::subscribe {
class AlertWebhookSink;
class GroupEngine;
class LiveHub;
}  // namespace cairn::subscribe

namespace cairn::server {

inline constexpr char kMetricsContentType[] = "text/plain; version=0.0.4; charset=utf-8";

void RegisterServerGauges(audit::MetricsRegistry* registry, const subscribe::LiveHub* hub,
                          const subscribe::GroupEngine* groups, const audit::AuditTrail* trail);

// Every policy action's name ("append", "read", …): the label values of cairn_denials_total.
std::vector<std::string> PolicyActionNames();

// GET /metrics: the registry in the Prometheus text format 0.0.4.
HttpResponse MetricsResponse(const audit::MetricsRegistry& registry);

// The alert webhook sink's counters (cairn_alert_webhook_*). `sink` must outlive the registry's
// last rendering (the server keeps its alert engine until it is destroyed).
void RegisterAlertWebhookMetrics(audit::MetricsRegistry* registry,
                                 const subscribe::AlertWebhookSink* sink);

}  // namespace cairn::server
