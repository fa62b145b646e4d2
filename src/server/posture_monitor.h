// PostureMonitor: the posture checks (server/posture.h) inside `cairn serve`.
//
// Start() runs the checks once, before the server takes calls, and refuses (kFailedPrecondition,
// one line naming the check id and the fix) when a critical finding's id is not accepted
// (Options::accepted: --accept-risk ID and [doctor] accept_risks). Every finding is logged
// (common/log.h; warn for medium and above, info below; accepted critical ones say so), the
// gauges cairn_posture_findings{severity} are set on the metrics registry, and every finding goes
// to the alert engine (AlertEngine::ObservePosture: its posture rules' min_severity decides —
// high by default — and it deduplicates). A
// background thread re-runs the checks every interval_s and does the same (it never stops the
// server: a new critical finding is logged and alerted).
//
// Ownership: store, metrics and alerts are borrowed and must outlive the monitor (null metrics
// or alerts: not exported / not alerted). Thread safety: Stop() and the destructor may be called
// from any thread, once the monitor is started; they return when the thread has ended.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/status.h"
#include "server/config.h"
#include "server/posture.h"

namespace cairn::audit {
class AlertEngine;
class Gauge;
class MetricsRegistry;
}  // namespace cairn::audit

namespace cairn::server {

class PostureMonitor {
 public:
  struct Options {
    Config config;
    engine::EventStore* store = nullptr;
    audit::MetricsRegistry* metrics = nullptr;
    audit::AlertEngine* alerts = nullptr;
    std::vector<std::string> accepted;  // critical check ids to start despite
    int64_t interval_s = 3600;          // > 0
  };

  static Result<std::unique_ptr<PostureMonitor>> Start(Options options);
  ~PostureMonitor();
  PostureMonitor(const PostureMonitor&) = delete;
  PostureMonitor& operator=(const PostureMonitor&) = delete;

  void Stop();
  // The findings of the latest run.
  std::vector<Finding> latest() const;

 private:
  explicit PostureMonitor(Options options);
  std::vector<Finding> RunOnce();
  void Publish(const std::vector<Finding>& findings, bool at_start);
  void Loop();

  const Options options_;
  audit::Gauge* gauges_[kSeverityCount] = {};
  mutable std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;            // guarded by mu_
  std::vector<Finding> latest_;      // guarded by mu_
  std::thread thread_;
};

}  // namespace cairn::server
