// Quota: how fast one principal may append, from the policy's [[quota]] tables.
//
//   [[quota]]
//   principal = "jwt:svc-*"        # exact id, prefix ending in '*', or "*" (as bindings)
//   append_events_per_s = 2000     # optional; at least one of the two rates
//   append_bytes_per_s = 8388608   # data + metadata of the appended events
//   burst_s = 2                    # optional, 1..kQuotaBurstSMax, default 1
//
// Semantics:
//  - The first [[quota]] in file order whose principal pattern matches the caller's principal id
//    applies; a principal no quota matches is not limited. A quota is a limit per principal: two
//    principals matched by one prefix each get their own budget.
//  - A rate with a burst is a token bucket of rate × burst_s tokens, refilled at `rate` per
//    second. An append is admitted while both of its principal's buckets hold at least zero
//    tokens, and then takes its events and bytes out of them (a bucket may go below zero by one
//    append: a batch larger than the burst is admitted from a full bucket, and the principal
//    waits for the debt to refill). So over any period T a principal appends at most
//    rate × (T + burst_s) plus one append's worth.
//  - Quotas bound clients' appends (cairn.v1 and EventStoreDB). The server's own appends
//    (`$audit`, `$alerts`, `$parked-*`) are never limited.
//
// Why: the log cannot be shrunk (every event is a leaf of the signed tree), so a leaked writer
// credential could fill the disk for every other tenant at full speed. A quota bounds that.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "policy/pattern.h"

namespace cairn::policy {

inline constexpr uint64_t kQuotaEventsPerSMax = uint64_t{1} << 30;   // ~1.07 billion
inline constexpr uint64_t kQuotaBytesPerSMax = uint64_t{1} << 40;    // 1 TiB
inline constexpr uint64_t kQuotaBurstSMax = 60;
// Quota::label is this prefix, the quota's index and "]": the rule of its refusals' audit records.
inline constexpr std::string_view kQuotaLabelPrefix = "quota[";

struct Quota {
  PrincipalPattern principal;
  uint64_t append_events_per_s = 0;  // 0 = not limited by events
  uint64_t append_bytes_per_s = 0;   // 0 = not limited by bytes
  uint64_t burst_s = 1;              // 1..kQuotaBurstSMax
  std::string label;                 // "quota[i]": for the audit log only

  // At least one rate set, each within its maximum, burst_s in range.
  bool Valid() const {
    return (append_events_per_s != 0 || append_bytes_per_s != 0) &&
           append_events_per_s <= kQuotaEventsPerSMax && append_bytes_per_s <= kQuotaBytesPerSMax &&
           burst_s >= 1 && burst_s <= kQuotaBurstSMax;
  }
};

}  // namespace cairn::policy
