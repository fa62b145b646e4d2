#include "server/scrub_monitor.h"

#include <cassert>
#include <string>

#include "audit/record.h"
#include "common/log.h"

namespace cairn::server {
namespace {

constexpr char kLastRunHelp[] = "Unix time of the last completed scrub run, by kind.";
constexpr char kLastResultHelp[] = "Result of the last scrub run, by kind: 1 ok, 0 failed.";

std::string PositionText(const engine::ScrubRun& run) {
  return run.bad_position ? std::to_string(*run.bad_position) : "";
}

}  // namespace

ScrubMonitor::ScrubMonitor(audit::MetricsRegistry* metrics, audit::AuditTrail* trail)
    : metrics_(metrics), trail_(trail) {
  assert(metrics != nullptr);
  records_checked_ = metrics->GetCounter("cairn_scrub_records_checked_total",
                                         "Records verified by the scrub (incremental and full).");
  failures_ = metrics->GetCounter("cairn_scrub_failures_total",
                                  "Scrub runs that found a mismatch (incremental steps and full runs).");
  verified_size_ = metrics->GetGauge("cairn_scrub_verified_tree_size",
                                     "The log prefix [0, n) the scrub has verified, up to its first failure.");
  lag_records_ = metrics->GetGauge("cairn_scrub_incremental_lag_records",
                                   "Committed records the incremental scrub has not verified yet.");
  busy_ms_ = metrics->GetCounter("cairn_scrub_busy_milliseconds_total",
                                 "Wall time the scrub thread spent verifying (bounded by scrub.busy_percent_max).");
}

void ScrubMonitor::OnScrubRun(const engine::ScrubRun& run) {
  const size_t k = static_cast<size_t>(run.kind);
  assert(k < 2);
  if (last_run_[k] == nullptr) {  // at the kind's first run: no result is shown before one exists
    const audit::Labels labels = {{"kind", engine::ScrubKindName(run.kind)}};
    last_run_[k] = metrics_->GetGauge("cairn_scrub_last_run_timestamp_seconds", kLastRunHelp, labels);
    last_result_[k] = metrics_->GetGauge("cairn_scrub_last_result", kLastResultHelp, labels);
  }
  records_checked_->Increment(run.records_checked);
  verified_size_->Set(static_cast<double>(run.verified_prefix_size));
  lag_records_->Set(static_cast<double>(run.incremental_lag_records));
  busy_us_unreported_ += run.busy_us;
  busy_ms_->Increment(busy_us_unreported_ / 1000);
  busy_us_unreported_ %= 1000;
  last_run_[k]->Set(static_cast<double>(run.finished_unix_s));
  last_result_[k]->Set(run.ok ? 1 : 0);
  if (!run.ok) ReportFailure(run);
}

void ScrubMonitor::ReportFailure(const engine::ScrubRun& run) {
  failures_->Increment();
  const std::string kind = engine::ScrubKindName(run.kind);
  const std::string position = PositionText(run);
  log::Error("scrub found a mismatch in the log; run `cairn verify` on a copy of the data directory",
             {.action = "scrub",
              .outcome = "failure",
              .extra = {{"cairn.scrub.kind", kind},
                        {"cairn.position", position},
                        {"cairn.failure", run.failure}}});
  if (trail_ == nullptr) return;
  audit::AuditRecord r;
  r.kind = audit::AuditKind::kIntegrityViolation;
  r.action = "scrub";
  r.resource = "log";
  r.outcome = "failure";
  r.error_code = StatusCodeName(StatusCode::kDataLoss);
  r.reason = kind + " scrub mismatch" + (position.empty() ? "" : " at position " + position);
  r.details = {{"kind", kind},
               {"position", position},
               {"failure", run.failure},
               {"records_checked", std::to_string(run.records_checked)},
               {"verified_tree_size", std::to_string(run.verified_prefix_size)}};
  if (!trail_->Submit(std::move(r))) {
    log::Error("the audit record of a scrub mismatch was dropped (audit queue full)",
               {.action = "scrub", .outcome = "failure"});
  }
}

}  // namespace cairn::server
