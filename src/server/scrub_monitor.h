// ScrubMonitor: what `cairn serve` does with the results of the scrub (engine/scrubber.h).
//
// Every run updates the metrics (docs/operations.md, Scrub):
//   cairn_scrub_last_run_timestamp_seconds{kind}   Unix time of the last completed run
//   cairn_scrub_last_result{kind}                  1 ok, 0 failed (absent before the first run)
//   cairn_scrub_records_checked_total              records verified by either kind
//   cairn_scrub_failures_total                     failed runs (incremental steps, full runs)
//   cairn_scrub_verified_tree_size                 [0, this) verified, up to the first failure
//   cairn_scrub_incremental_lag_records            committed records not yet verified
//   cairn_scrub_busy_milliseconds_total            wall time the scrub thread worked (its budget)
// with kind = "incremental" | "full". A failed run also becomes one `$integrity.violation` audit
// record (action "scrub"; details: kind, position, failure, records_checked) — the alert engine
// listens on the trail, so the alert follows from it — and one error log line. Neither holds a
// payload: a failure names positions, stream ids and Merkle nodes only.
//
// Thread safety: OnScrubRun is called on the scrub thread only. The registry and the trail are
// not owned and must outlive the monitor; `trail` may be null (then only metrics and the log).
#pragma once

#include "audit/metrics.h"
#include "audit/trail.h"
#include "engine/scrubber.h"

namespace cairn::server {

class ScrubMonitor final : public engine::ScrubListener {
 public:
  ScrubMonitor(audit::MetricsRegistry* metrics, audit::AuditTrail* trail);
  void OnScrubRun(const engine::ScrubRun& run) override;

 private:
  void ReportFailure(const engine::ScrubRun& run);

  audit::MetricsRegistry* const metrics_;
  audit::AuditTrail* const trail_;
  audit::Counter* records_checked_;
  audit::Counter* failures_;
  audit::Gauge* verified_size_;
  audit::Gauge* lag_records_;
  audit::Counter* busy_ms_;
  uint64_t busy_us_unreported_ = 0;  // below one millisecond, carried to the next run
  // Per kind (index: ScrubKind), registered at the kind's first run.
  audit::Gauge* last_run_[2] = {nullptr, nullptr};
  audit::Gauge* last_result_[2] = {nullptr, nullptr};
};

}  // namespace cairn::server
