#include "server/append_quota.h"

#include <algorithm>
#include <cassert>
#include <functional>
#include <limits>
#include <utility>
#include <vector>

#include "audit/record.h"
#include "common/steady_clock.h"
#include "server/call_audit.h"
#include "server/call_gate.h"
#include "server/status_map.h"

namespace cairn::server {
namespace {

constexpr std::string_view kEventsLimit = "append_events_per_s";
constexpr std::string_view kBytesLimit = "append_bytes_per_s";
constexpr int64_t kMilli = 1000;  // thousandths of a token per token
static_assert(audit::kQuotaRulePrefix == policy::kQuotaLabelPrefix,
              "the audit metrics tell quota refusals by their rule");

// A bucket's capacity in thousandths of a token: rate × burst_s tokens. `rate` ≤ 2^40 and
// burst_s ≤ 60, so this stays below 2^57.
int64_t CapacityMilli(uint64_t rate, uint64_t burst_s) {
  return static_cast<int64_t>(rate * burst_s) * kMilli;
}

// Milliseconds until a bucket holding `milli_tokens` reaches `target` (rate tokens per second
// are rate thousandths per millisecond); 0 when it is there.
int64_t MsUntil(int64_t milli_tokens, int64_t target, uint64_t rate) {
  if (milli_tokens >= target) return 0;
  const auto per_ms = static_cast<int64_t>(rate);
  return (target - milli_tokens + per_ms - 1) / per_ms;
}

// Refills a bucket of `rate` for `elapsed_ms`, up to its capacity (also clamping it down to a
// capacity a reload made smaller). Never overflows: it adds at most what is missing.
void Refill(int64_t* milli_tokens, uint64_t rate, uint64_t burst_s, int64_t elapsed_ms) {
  assert(elapsed_ms >= 0);
  const int64_t capacity = CapacityMilli(rate, burst_s);
  if (elapsed_ms >= MsUntil(*milli_tokens, capacity, rate)) {
    *milli_tokens = capacity;
  } else {
    *milli_tokens += elapsed_ms * static_cast<int64_t>(rate);
  }
  assert(*milli_tokens <= capacity);
}

// The high bits: each shard's map buckets by the low ones of the same hash.
size_t ShardOf(std::string_view principal_id) {
  return (StringHash()(principal_id) >> 32) % AppendQuotas::kShards;
}

}  // namespace

AppendQuotas::AppendQuotas(audit::MetricsRegistry* metrics) {
  if (metrics == nullptr) return;
  constexpr std::string_view kName = "cairn_quota_refusals_total";
  constexpr std::string_view kHelp =
      "Client appends refused by a [[quota]] of the policy, by the limit that refused them.";
  refused_events_ = metrics->GetCounter(kName, kHelp, {{"limit", std::string(kEventsLimit)}});
  refused_bytes_ = metrics->GetCounter(kName, kHelp, {{"limit", std::string(kBytesLimit)}});
}

void AppendQuotas::Evict(Shard& shard, int64_t now_ms) {
  assert(shard.entries.size() >= kPrincipalsPerShardMax);
  std::erase_if(shard.entries, [now_ms](const auto& kv) { return kv.second.full_at_ms <= now_ms; });
  if (shard.entries.size() < kPrincipalsPerShardMax) return;
  // Every one still owes: drop the kEvictBatch charged least recently at once, so that a stream
  // of new principals pays this scan once per kEvictBatch of them, not each.
  std::vector<std::pair<int64_t, const std::string*>> by_age;
  by_age.reserve(shard.entries.size());
  for (const auto& [principal, entry] : shard.entries) {
    by_age.emplace_back(entry.charged_ms, &principal);
  }
  static_assert(kEvictBatch < kPrincipalsPerShardMax);
  std::nth_element(by_age.begin(), by_age.begin() + kEvictBatch, by_age.end());
  std::vector<std::string> dropped;
  dropped.reserve(kEvictBatch);
  for (size_t i = 0; i < kEvictBatch; ++i) dropped.push_back(*by_age[i].second);
  for (const std::string& principal : dropped) shard.entries.erase(principal);
  assert(shard.entries.size() == kPrincipalsPerShardMax - kEvictBatch);
}

AppendQuotas::Verdict AppendQuotas::Charge(std::string_view principal_id,
                                           const policy::Quota& quota, uint64_t events,
                                           uint64_t bytes, int64_t now_ms) {
  assert(quota.Valid());
  const uint64_t events_rate = quota.append_events_per_s;
  const uint64_t bytes_rate = quota.append_bytes_per_s;
  Shard& shard = shards_[ShardOf(principal_id)];
  std::lock_guard<std::mutex> lock(shard.mu);
  auto it = shard.entries.find(principal_id);
  if (it == shard.entries.end()) {
    if (shard.entries.size() >= kPrincipalsPerShardMax) Evict(shard, now_ms);
    Entry fresh;
    fresh.events.milli_tokens = CapacityMilli(events_rate, quota.burst_s);
    fresh.bytes.milli_tokens = CapacityMilli(bytes_rate, quota.burst_s);
    fresh.charged_ms = now_ms;
    it = shard.entries.emplace(std::string(principal_id), fresh).first;
  }
  Entry& entry = it->second;
  const int64_t elapsed_ms = std::max<int64_t>(0, now_ms - entry.charged_ms);
  entry.charged_ms = std::max(entry.charged_ms, now_ms);
  if (events_rate != 0) Refill(&entry.events.milli_tokens, events_rate, quota.burst_s, elapsed_ms);
  if (bytes_rate != 0) Refill(&entry.bytes.milli_tokens, bytes_rate, quota.burst_s, elapsed_ms);

  Verdict verdict;
  const int64_t events_wait_ms =
      events_rate == 0 ? 0 : MsUntil(entry.events.milli_tokens, 0, events_rate);
  const int64_t bytes_wait_ms =
      bytes_rate == 0 ? 0 : MsUntil(entry.bytes.milli_tokens, 0, bytes_rate);
  if (events_wait_ms > 0 || bytes_wait_ms > 0) {
    verdict.admitted = false;
    verdict.limit = events_wait_ms >= bytes_wait_ms ? kEventsLimit : kBytesLimit;
    verdict.retry_after_ms = static_cast<uint64_t>(std::max(events_wait_ms, bytes_wait_ms));
    verdict.audit = entry.audited_ms == std::numeric_limits<int64_t>::min() ||
                    now_ms - entry.audited_ms >= kAuditWindowMs;
    if (verdict.audit) entry.audited_ms = now_ms;
    audit::Counter* counter = verdict.limit == kEventsLimit ? refused_events_ : refused_bytes_;
    if (counter != nullptr) counter->Increment();
    return verdict;
  }
  // Within limits an append costs at most 10,000 events and 256 MiB: no overflow here.
  assert(events <= (uint64_t{1} << 32) && bytes <= (uint64_t{1} << 40));
  int64_t full_in_ms = 0;
  if (events_rate != 0) {
    entry.events.milli_tokens -= static_cast<int64_t>(events) * kMilli;
    full_in_ms = MsUntil(entry.events.milli_tokens, CapacityMilli(events_rate, quota.burst_s),
                         events_rate);
  }
  if (bytes_rate != 0) {
    entry.bytes.milli_tokens -= static_cast<int64_t>(bytes) * kMilli;
    const int64_t bytes_full_in_ms = MsUntil(
        entry.bytes.milli_tokens, CapacityMilli(bytes_rate, quota.burst_s), bytes_rate);
    full_in_ms = std::max(full_in_ms, bytes_full_in_ms);
  }
  entry.full_at_ms = now_ms + full_in_ms;
  return verdict;
}

size_t AppendQuotas::tracked() const {
  size_t count = 0;
  for (const Shard& shard : shards_) {
    std::lock_guard<std::mutex> lock(shard.mu);
    count += shard.entries.size();
  }
  assert(count <= kPrincipalsMax);
  return count;
}

std::string QuotaRefusal::Message() const {
  return "append quota exceeded (" + std::string(limit) + " = " + std::to_string(rate) +
         "); retry in " + std::to_string(retry_after_ms) + " ms";
}

grpc::Status QuotaRefusal::ToGrpc() const { return QuotaExceededStatus(Message(), retry_after_ms); }

std::optional<QuotaRefusal> ChargeAppendQuota(const CallIdentity& id, std::string_view stream,
                                              uint64_t events, uint64_t bytes) {
  if (id.quotas == nullptr || id.policy == nullptr) return std::nullopt;
  const policy::Quota* quota = id.policy->QuotaOf(id.resolved);
  if (quota == nullptr) return std::nullopt;
  const AppendQuotas::Verdict verdict =
      id.quotas->Charge(id.principal.id, *quota, events, bytes, SteadyNowMs());
  if (verdict.admitted) return std::nullopt;
  QuotaRefusal refusal;
  refusal.limit = verdict.limit;
  refusal.rate = verdict.limit == kEventsLimit ? quota->append_events_per_s
                                               : quota->append_bytes_per_s;
  refusal.retry_after_ms = verdict.retry_after_ms;
  if (verdict.audit && id.audit != nullptr) {
    id.audit->QuotaRefused(id, stream, quota->label, verdict.limit, verdict.retry_after_ms);
  }
  return refusal;
}

}  // namespace cairn::server
