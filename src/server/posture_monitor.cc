#include "server/posture_monitor.h"

#include <algorithm>
#include <cassert>
#include <chrono>
#include <exception>

#include "audit/alerts.h"
#include "audit/metrics.h"
#include "common/log.h"
#include "common/thread_name.h"
#include "common/wall_clock.h"

namespace cairn::server {
namespace {

bool Contains(const std::vector<std::string>& ids, const std::string& id) {
  return std::find(ids.begin(), ids.end(), id) != ids.end();
}

}  // namespace

PostureMonitor::PostureMonitor(Options options) : options_(std::move(options)) {
  assert(options_.interval_s > 0);
  if (options_.metrics == nullptr) return;
  for (size_t s = 0; s < kSeverityCount; ++s) {
    gauges_[s] = options_.metrics->GetGauge(
        "cairn_posture_findings", "Posture findings of the latest check run, by severity",
        {{"severity", SeverityName(static_cast<Severity>(s))}});
  }
}

Result<std::unique_ptr<PostureMonitor>> PostureMonitor::Start(Options options) {
  std::unique_ptr<PostureMonitor> monitor(new PostureMonitor(std::move(options)));
  const std::vector<Finding> findings = monitor->RunOnce();
  monitor->Publish(findings, /*at_start=*/true);
  if (auto refused = FirstUnacceptedCritical(findings, monitor->options_.accepted)) {
    return Status::FailedPrecondition(
        "posture check " + refused->id + " (critical): " + refused->finding + "; fix: " +
        refused->fix + " — or start with --accept-risk " + refused->id);
  }
  monitor->thread_ = std::thread([m = monitor.get()] {
    SetCurrentThreadName("cairn-posture");
    m->Loop();
  });
  return monitor;
}

PostureMonitor::~PostureMonitor() { Stop(); }

void PostureMonitor::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::vector<Finding> PostureMonitor::latest() const {
  std::lock_guard<std::mutex> lock(mu_);
  return latest_;
}

std::vector<Finding> PostureMonitor::RunOnce() {
  PostureContext context;
  context.store = options_.store;
  context.now_unix_s = NowUnixSeconds();
  std::vector<Finding> findings;
  try {
    findings = RunPostureChecks(options_.config, context);
  } catch (const std::exception&) {
    // A check that throws on some file it reads must not end the server; the findings of the
    // last run stay published. (The checks catch what they know of; this is the backstop.)
    log::Error("posture checks failed; keeping the previous findings",
               {.action = "posture.check", .outcome = "failure"});
    std::lock_guard<std::mutex> lock(mu_);
    return latest_;
  }
  std::lock_guard<std::mutex> lock(mu_);
  latest_ = findings;
  return findings;
}

void PostureMonitor::Publish(const std::vector<Finding>& findings, bool at_start) {
  size_t counts[kSeverityCount] = {};
  for (const Finding& f : findings) {
    ++counts[static_cast<size_t>(f.severity)];
    const bool accepted = f.severity == Severity::kCritical && Contains(options_.accepted, f.id);
    log::Write(f.severity >= Severity::kMedium ? log::Level::kWarn : log::Level::kInfo,
               "posture finding " + f.id + ": " + f.title,
               {.action = "posture.check",
                .outcome = accepted ? "accepted" : "finding",
                .extra = {{"cairn.check_id", f.id},
                          {"cairn.severity", SeverityName(f.severity)},
                          {"cairn.finding", f.finding},
                          {"cairn.fix", f.fix}}});
    // Every finding: the alert rules' min_severity decides (built-in: high and above).
    if (options_.alerts != nullptr) {
      options_.alerts->ObservePosture(f.id, SeverityName(f.severity), f.finding);
    }
  }
  for (size_t s = 0; s < kSeverityCount; ++s) {
    if (gauges_[s] != nullptr) gauges_[s]->Set(static_cast<double>(counts[s]));
  }
  if (at_start) {
    log::Info("posture checks done",
              {.action = "posture.check",
               .extra = {{"cairn.findings", std::to_string(findings.size())},
                         {"cairn.findings_medium_or_above",
                          std::to_string(CountAtLeast(findings, Severity::kMedium))}}});
  }
}

void PostureMonitor::Loop() {
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      wake_.wait_for(lock, std::chrono::seconds(options_.interval_s), [this] { return stopping_; });
      if (stopping_) return;
    }
    Publish(RunOnce(), /*at_start=*/false);
  }
}

}  // namespace cairn::server
