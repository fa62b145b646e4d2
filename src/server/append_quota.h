// AppendQuotas: the token buckets behind the policy's [[quota]] tables (policy/quota.h), one
// pair (events, bytes) per principal, and ChargeAppendQuota(), the check every client append
// passes after the policy allowed it and before the engine sees it.
//
// Buckets are counted in thousandths of a token, so that refills of a millisecond are exact for
// every rate. The quota is taken from the policy at each charge: a reload applies from the next
// append, and a bucket is clamped to its new capacity.
//
// Memory: at most kPrincipalsMax principals are tracked (kShards shards of
// kPrincipalsPerShardMax, by a hash of the principal id). When a new principal finds its shard
// full, the principals whose buckets are full again (they hold nothing worth keeping) are
// dropped; if all still owe, the kEvictBatch charged least recently are dropped, and start again
// with full buckets: their debt is forgotten. So beyond about kPrincipalsMax principals at their
// limits at once (fewer where the hash crowds a shard), a quota may admit more than its rate.
//
// Time: the caller's steady clock in milliseconds (tests drive it).
// Thread safety: thread-safe; one mutex per shard; a charge is O(1) except a full shard's sweep.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include <grpcpp/support/status.h>

#include "audit/metrics.h"
#include "common/string_hash.h"
#include "policy/quota.h"

namespace cairn::server {

struct CallIdentity;

class AppendQuotas {
 public:
  static constexpr size_t kShards = 16;
  static constexpr size_t kPrincipalsPerShardMax = 4096;
  static constexpr size_t kPrincipalsMax = kShards * kPrincipalsPerShardMax;
  // When a shard is full of principals that still owe, this many of them are dropped at once.
  static constexpr size_t kEvictBatch = kPrincipalsPerShardMax / 16;
  // A refused principal gets at most one audit record per window (the refusals are all counted),
  // so that a client retrying in a loop cannot fill the trail, which cannot be shrunk.
  static constexpr int64_t kAuditWindowMs = 10'000;

  struct Verdict {
    bool admitted = true;
    // Refused only: the limit that refused ("append_events_per_s" or "append_bytes_per_s"), the
    // wait until both buckets are out of debt, and whether this is the principal's first refusal
    // in kAuditWindowMs (the one to audit).
    std::string_view limit;
    uint64_t retry_after_ms = 0;
    bool audit = false;
  };

  // `metrics` may be null (no counters); when set, refusals are counted by limit in
  // cairn_quota_refusals_total.
  explicit AppendQuotas(audit::MetricsRegistry* metrics = nullptr);
  AppendQuotas(const AppendQuotas&) = delete;
  AppendQuotas& operator=(const AppendQuotas&) = delete;

  // Admits and charges an append of `events` events of `bytes` bytes (data + metadata) by
  // `principal_id` under `quota` (Valid()), or refuses it and charges nothing.
  Verdict Charge(std::string_view principal_id, const policy::Quota& quota, uint64_t events,
                 uint64_t bytes, int64_t now_ms);

  // Principals tracked now (≤ kPrincipalsMax).
  size_t tracked() const;

 private:
  struct Bucket {
    int64_t milli_tokens = 0;  // may be negative (the debt of an append larger than the rest)
  };
  struct Entry {
    Bucket events;
    Bucket bytes;
    int64_t charged_ms = 0;         // last refill
    int64_t full_at_ms = 0;         // when both buckets are full again (droppable from then)
    int64_t audited_ms = INT64_MIN;  // last audited refusal
  };
  struct Shard {
    mutable std::mutex mu;
    std::unordered_map<std::string, Entry, StringHash, std::equal_to<>> entries;  // guarded by mu
  };

  // Makes room for one more entry in a full shard (mu held).
  static void Evict(Shard& shard, int64_t now_ms);

  std::array<Shard, kShards> shards_;
  audit::Counter* refused_events_ = nullptr;  // null when metrics are off
  audit::Counter* refused_bytes_ = nullptr;
};

// Why an append was refused by its caller's quota.
struct QuotaRefusal {
  std::string_view limit;       // "append_events_per_s" or "append_bytes_per_s"
  uint64_t rate = 0;            // that limit's value
  uint64_t retry_after_ms = 0;  // when the caller's buckets are out of debt

  // "append quota exceeded (<limit> = <rate>); retry in <retry_after_ms> ms"
  std::string Message() const;
  // RESOURCE_EXHAUSTED with Message() and ErrorDetail reason QUOTA_EXCEEDED, retry_after_ms.
  grpc::Status ToGrpc() const;
};

// The quota check of one client write of `events` events and `bytes` bytes to `stream`, after
// the policy allowed it (an append; a delete counts as one event, the tombstone it appends):
// nullopt when the caller has no quota (or the call has no AppendQuotas) or its buckets admit
// it, and then it is charged. Otherwise the refusal, and nothing is charged; the refusal is
// audited as an access denial of `append` (rule: the quota's label, "quota[<i>]"; error
// RESOURCE_EXHAUSTED) at most once per principal per kAuditWindowMs, and counted every time.
std::optional<QuotaRefusal> ChargeAppendQuota(const CallIdentity& id, std::string_view stream,
                                              uint64_t events, uint64_t bytes);

}  // namespace cairn::server
