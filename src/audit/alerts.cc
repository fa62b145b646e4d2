#include "audit/alerts.h"

#include "common/source_key.h"
#include "common/utf8_cut.h"

#include <time.h>

#include <algorithm>
#include <cassert>
#include <chrono>
#include <cstdio>
#include <list>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "common/thread_name.h"
#include "common/wall_clock.h"
#include "crypto/secure.h"

namespace cairn::audit {

namespace {

std::string NewAlertId() {
  std::string b = crypto::RandomString(16);
  b[6] = static_cast<char>((b[6] & 0x0f) | 0x40);  // version 4
  b[8] = static_cast<char>((b[8] & 0x3f) | 0x80);  // RFC 4122 variant
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(36);
  for (size_t i = 0; i < b.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out.push_back('-');
    out.push_back(kHex[(static_cast<uint8_t>(b[i]) >> 4) & 0xf]);
    out.push_back(kHex[static_cast<uint8_t>(b[i]) & 0xf]);
  }
  return out;
}

std::string FormatTimeMs(int64_t unix_ms) {
  const time_t seconds = static_cast<time_t>(unix_ms / 1000);
  struct tm tm;
  gmtime_r(&seconds, &tm);
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(unix_ms % 1000));
  return buf;
}

bool IsKeyDestruction(const AuditRecord& record) {
  if (record.outcome == "failure") return false;
  return record.action == "forget" || record.action == "key.destroy";
}

}  // namespace

std::string EncodeAlertJson(const Alert& alert) {
  nlohmann::ordered_json j;
  j["id"] = alert.id;
  j["rule"] = alert.rule;
  j["kind"] = AlertRuleKindName(alert.kind);
  j["severity"] = AlertSeverityName(alert.severity);
  j["time"] = FormatTimeMs(alert.time_unix_ms);
  j["summary"] = alert.summary;
  j["count"] = alert.count;
  if (alert.window_s != 0) j["window_s"] = alert.window_s;
  j["suppressed"] = alert.suppressed;
  if (!alert.source_ip.empty()) j["source_ip"] = alert.source_ip;
  if (!alert.principal.empty()) j["principal"] = alert.principal;
  if (!alert.check_id.empty()) j["check_id"] = alert.check_id;
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// One dedup (and, for counting kinds, counting) key: a rule plus its sub-key.
struct KeyState {
  std::vector<int64_t> hits_ms;  // ring of the last ≤ threshold event times
  size_t next = 0;               // ring slot to overwrite once full
  bool fired = false;
  int64_t last_fired_ms = 0;
  uint64_t suppressed = 0;       // since the last alert of this key
  std::list<std::string>::iterator lru;
};

// The keys of one rule, least recently used evicted first. One table per rule, so that a flood
// of one rule's keys (authentication failures from many addresses) cannot evict another rule's
// counters or dedup state. Requires the engine's mu.
struct KeyTable {
  std::unordered_map<std::string, KeyState> keys;
  std::list<std::string> lru;  // most recent first

  // The state of `key`, made (and the least recently used evicted) when new.
  KeyState& Touch(const std::string& key, size_t keys_max, uint64_t* evicted) {
    auto it = keys.find(key);
    if (it != keys.end()) {
      lru.splice(lru.begin(), lru, it->second.lru);
      return it->second;
    }
    if (keys.size() >= keys_max) {
      assert(!lru.empty());
      keys.erase(lru.back());
      lru.pop_back();
      ++*evicted;
    }
    lru.push_front(key);
    KeyState& state = keys[key];
    state.lru = lru.begin();
    assert(keys.size() <= keys_max && keys.size() == lru.size());
    return state;
  }
};

struct AlertEngine::Impl {
  AlertEngineOptions options;
  std::vector<std::unique_ptr<AlertSink>> sinks;

  // Decisions (mu).
  std::mutex mu;
  std::vector<KeyTable> tables;  // one per rule, in the order of rules_
  AlertEngineStats stats;
  bool stopped = false;

  // Delivery (mu too; the thread releases it while calling sinks).
  std::condition_variable cv;
  std::deque<Alert> queue;
  uint64_t queued_total = 0;
  uint64_t delivered_total = 0;
  bool stop = false;
  std::thread thread;

  Counter* fired_counters[kAlertRuleKindCount][kAlertSeverityCount] = {};
  Counter* suppressed_counter = nullptr;
  Counter* dropped_counter = nullptr;

  int64_t Now() const { return options.now_unix_ms ? options.now_unix_ms() : NowUnixMs(); }

  void RegisterMetrics() {
    MetricsRegistry* m = options.metrics;
    if (m == nullptr) return;
    for (uint32_t k = 0; k < kAlertRuleKindCount; ++k) {
      for (uint32_t s = 0; s < kAlertSeverityCount; ++s) {
        fired_counters[k][s] = m->GetCounter(
            "cairn_alerts_fired_total", "Alerts fired (after deduplication), by rule kind and severity.",
            {{"rule_kind", AlertRuleKindName(static_cast<AlertRuleKind>(k))},
             {"severity", AlertSeverityName(static_cast<AlertSeverity>(s))}});
      }
    }
    suppressed_counter = m->GetCounter("cairn_alerts_suppressed_total",
                                       "Alert firings suppressed inside a dedup window.");
    dropped_counter = m->GetCounter("cairn_alerts_dropped_total",
                                    "Alerts dropped because the delivery queue was full.");
  }

  // The state of rule `rule_index`'s `key`. Requires mu.
  KeyState& Touch(size_t rule_index, const std::string& key) {
    assert(rule_index < tables.size());
    return tables[rule_index].Touch(key, options.tracked_keys_max, &stats.evicted_keys);
  }

  uint64_t TrackedKeys() const {
    uint64_t total = 0;
    for (const KeyTable& table : tables) total += table.keys.size();
    return total;
  }

  // Records one event at `now_ms`; true when the window now holds `threshold` of them (and the
  // count starts afresh). Requires mu.
  static bool Count(KeyState& state, const AlertRule& rule, int64_t now_ms) {
    assert(rule.threshold >= 1 && rule.threshold <= kAlertThresholdMax);
    if (state.hits_ms.size() < rule.threshold) {
      state.hits_ms.push_back(now_ms);
    } else {
      state.hits_ms[state.next] = now_ms;
      state.next = (state.next + 1) % rule.threshold;
    }
    if (state.hits_ms.size() < rule.threshold) return false;
    const int64_t oldest_ms = state.hits_ms[state.next];  // the ring is full: next is the oldest
    if (now_ms - oldest_ms >= rule.window_s * 1000) return false;
    state.hits_ms.clear();
    state.next = 0;
    return true;
  }

  // Fires `alert` for `state` unless its dedup window is open. Requires mu.
  void Fire(KeyState& state, const AlertRule& rule, Alert alert, int64_t now_ms) {
    if (stopped) return;
    if (state.fired && now_ms - state.last_fired_ms < rule.dedup_window_s * 1000) {
      ++state.suppressed;
      ++stats.suppressed;
      if (suppressed_counter != nullptr) suppressed_counter->Increment();
      return;
    }
    if (queue.size() >= options.queue_alerts_max) {
      // Dropped without opening a dedup window: the next match tries again.
      ++stats.dropped;
      if (dropped_counter != nullptr) dropped_counter->Increment();
      return;
    }
    state.fired = true;
    state.last_fired_ms = now_ms;
    alert.id = NewAlertId();
    alert.rule = rule.name;
    alert.kind = rule.kind;
    alert.time_unix_ms = now_ms;
    alert.suppressed = state.suppressed;
    alert.summary = CutUtf8(std::move(alert.summary), kAlertSummarySizeBytesMax);
    state.suppressed = 0;
    if (Counter* c = fired_counters[static_cast<size_t>(alert.kind)]
                                   [static_cast<size_t>(alert.severity)]) {
      c->Increment();
    }
    ++stats.fired;
    ++queued_total;
    queue.push_back(std::move(alert));
    cv.notify_all();
  }

  void Run() {
    std::unique_lock<std::mutex> lock(mu);
    while (true) {
      cv.wait(lock, [&] { return stop || !queue.empty(); });
      if (queue.empty()) break;  // stop, and everything delivered
      Alert alert = std::move(queue.front());
      queue.pop_front();
      lock.unlock();
      for (auto& sink : sinks) sink->Deliver(alert);
      lock.lock();
      ++delivered_total;
      ++stats.delivered;
      cv.notify_all();
    }
  }
};

Result<std::unique_ptr<AlertEngine>> AlertEngine::Start(
    std::vector<AlertRule> rules, std::vector<std::unique_ptr<AlertSink>> sinks,
    AlertEngineOptions options) {
  CAIRN_RETURN_IF_ERROR(CheckAlertRules(rules));
  if (options.queue_alerts_max < 1 || options.queue_alerts_max > kAlertQueueMax) {
    return Status::InvalidArgument("alert queue_alerts_max out of range");
  }
  if (options.tracked_keys_max < 1 || options.tracked_keys_max > kAlertTrackedKeysMax) {
    return Status::InvalidArgument("alert tracked_keys_max out of range");
  }
  if (sinks.size() > kAlertSinksMax) return Status::InvalidArgument("too many alert sinks");
  for (const auto& sink : sinks) {
    if (sink == nullptr) return Status::InvalidArgument("null alert sink");
  }
  std::unique_ptr<AlertEngine> engine(
      new AlertEngine(std::move(rules), std::move(sinks), std::move(options)));
  Impl* impl = engine->impl_.get();
  impl->thread = std::thread([impl] {
    SetCurrentThreadName("cairn-alerts");
    impl->Run();
  });
  return engine;
}

AlertEngine::AlertEngine(std::vector<AlertRule> rules,
                         std::vector<std::unique_ptr<AlertSink>> sinks, AlertEngineOptions options)
    : rules_(std::move(rules)), impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
  impl_->sinks = std::move(sinks);
  impl_->tables.resize(rules_.size());
  impl_->RegisterMetrics();
}

AlertEngine::~AlertEngine() { Stop(); }

void AlertEngine::OnAuditRecord(const AuditRecord& record) {
  const int64_t now_ms = impl_->Now();
  std::lock_guard<std::mutex> lock(impl_->mu);
  for (size_t rule_index = 0; rule_index < rules_.size(); ++rule_index) {
    const AlertRule& rule = rules_[rule_index];
    Alert alert;
    alert.severity = rule.severity;
    alert.count = 1;
    std::string key = rule.name;
    switch (rule.kind) {
      case AlertRuleKind::kAuthFailures:
        if (record.kind != AuditKind::kAuthFailure) continue;
        if (!rule.per_source) {  // every address together: a guessing attack spread wide
          alert.summary = std::to_string(rule.threshold) +
                          " authentication failures from any address within " +
                          std::to_string(rule.window_s) + " s";
          break;
        }
        alert.source_ip = record.source_ip;
        // By source as the rate limiter counts it: an IPv6 /64 is one source, or rotating
        // addresses inside it would keep every one below the threshold.
        key += "\n" + SourceKey(record.source_ip);
        alert.summary = std::to_string(rule.threshold) + " authentication failures from " +
                        (record.source_ip.empty() ? "an unknown address" : record.source_ip) +
                        " within " + std::to_string(rule.window_s) + " s";
        break;
      case AlertRuleKind::kDeniedAppends:
        if (record.kind != AuditKind::kAccessDenied || record.action != "append") continue;
        alert.summary = std::to_string(rule.threshold) + " denied appends within " +
                        std::to_string(rule.window_s) + " s";
        if (rule.per_principal) {
          alert.principal = record.principal;
          key += "\n" + record.principal;
          alert.summary += " by principal '" + record.principal + "'";
        }
        break;
      case AlertRuleKind::kIntegrityViolation:
        if (record.kind != AuditKind::kIntegrityViolation) continue;
        // Deduplicated per source (the scrub; each reporting principal): a reader's reports
        // must never fold the scrub's own finding into its window.
        key += "\n" + record.action + "\n" + record.principal;
        alert.summary = "integrity violation" +
                        (record.action.empty() ? "" : " (" + record.action + ")") +
                        (record.reason.empty() ? "" : ": " + record.reason);
        break;
      case AlertRuleKind::kKeyDestruction:
        if (record.kind != AuditKind::kAdmin || !IsKeyDestruction(record)) continue;
        // Deduplicated per principal: another principal destroying keys inside the window
        // must not hide behind the first one's alert.
        key += "\n" + record.principal;
        alert.principal = record.principal;
        alert.summary = "key destruction (" + record.action + ") by principal '" +
                        record.principal + "'";
        break;
      case AlertRuleKind::kPostureFinding:
        continue;
      case AlertRuleKind::kAuditGap:
        if (record.kind != AuditKind::kAuditGap) continue;
        alert.summary = "audit records dropped: " +
                        (record.reason.empty() ? std::string("the audit queue was full") : record.reason);
        break;
    }
    KeyState& state = impl_->Touch(rule_index, key);
    if (IsCountingKind(rule.kind)) {
      if (!Impl::Count(state, rule, now_ms)) continue;
      alert.count = rule.threshold;
      alert.window_s = rule.window_s;
    }
    impl_->Fire(state, rule, std::move(alert), now_ms);
  }
  impl_->stats.tracked_keys = impl_->TrackedKeys();
}

void AlertEngine::ObservePosture(std::string_view check_id, std::string_view severity,
                                 std::string_view finding) {
  const AlertSeverity found = ParseAlertSeverity(severity).value_or(AlertSeverity::kCritical);
  const int64_t now_ms = impl_->Now();
  std::lock_guard<std::mutex> lock(impl_->mu);
  for (size_t rule_index = 0; rule_index < rules_.size(); ++rule_index) {
    const AlertRule& rule = rules_[rule_index];
    if (rule.kind != AlertRuleKind::kPostureFinding || found < rule.min_severity) continue;
    Alert alert;
    alert.severity = std::max(rule.severity, found);
    alert.count = 1;
    alert.check_id = CutUtf8(std::string(check_id), kAlertRuleNameSizeBytesMax);
    alert.summary = "posture finding " + alert.check_id + " (" + AlertSeverityName(found) +
                    "): " + std::string(finding);
    KeyState& state = impl_->Touch(rule_index, rule.name + "\n" + alert.check_id);
    impl_->Fire(state, rule, std::move(alert), now_ms);
  }
  impl_->stats.tracked_keys = impl_->TrackedKeys();
}

void AlertEngine::ObserveIntegrityViolation(std::string_view origin, std::string_view what) {
  AuditRecord record;
  record.kind = AuditKind::kIntegrityViolation;
  record.action = std::string(origin);
  record.reason = std::string(what);
  OnAuditRecord(record);
}

void AlertEngine::Flush() {
  std::unique_lock<std::mutex> lock(impl_->mu);
  const uint64_t target = impl_->queued_total;
  impl_->cv.wait(lock, [&] { return impl_->delivered_total >= target; });
}

void AlertEngine::Stop() {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    if (impl_->stopped) return;
    impl_->stopped = true;
    impl_->stop = true;
    impl_->cv.notify_all();
  }
  if (impl_->thread.joinable()) impl_->thread.join();
  for (auto& sink : impl_->sinks) sink->Stop();
}

AlertEngineStats AlertEngine::stats() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  AlertEngineStats s = impl_->stats;
  s.tracked_keys = impl_->TrackedKeys();
  return s;
}

}  // namespace cairn::audit
