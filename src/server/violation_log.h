// ViolationLog: what verifying consumers reported (Integrity.ReportViolation), kept in memory
// for the audit trail that comes later — a count since start and the latest kRecentMax reports.
//
// Each principal may file at most `reports_per_minute_max` reports a minute (a consumer stops at
// its first violation, so a legitimate one files a handful); Record() refuses the rest without
// storing them, so a caller cannot flood the memory or the log. At most kPrincipalsTrackedMax
// principals are tracked for the limit (least recently seen forgotten first).
//
// Thread safety: thread-safe (one mutex; Record is O(1) amortised).
#pragma once

#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <vector>

#include "auth/failure_limiter.h"
#include "crypto/sha256.h"

namespace cairn::server {

struct ViolationRecord {
  uint64_t number = 0;          // 1-based, in the order the server accepted the reports
  int64_t received_unix_s = 0;
  std::string principal;        // who reported it
  int kind = 0;                 // cairn.v1.ViolationKind
  uint64_t position = 0;
  std::string stream;
  uint64_t version = 0;
  uint64_t checkpoint_size = 0;
  crypto::Hash checkpoint_root{};
  std::string detail;           // validated: printable ASCII, bounded
};

class ViolationLog {
 public:
  static constexpr size_t kRecentMax = 64;
  static constexpr size_t kPrincipalsTrackedMax = 4096;
  static constexpr int64_t kReportsPerMinuteMaxDefault = 10;

  explicit ViolationLog(int64_t reports_per_minute_max = kReportsPerMinuteMaxDefault);

  // Stores `record` (its number assigned here) and returns that number, or 0 when the
  // principal is over its limit (nothing is stored).
  uint64_t Record(ViolationRecord record);
  uint64_t count() const;
  uint64_t refused_count() const;
  // The latest reports, oldest first (at most kRecentMax).
  std::vector<ViolationRecord> Recent() const;

 private:
  mutable std::mutex mu_;
  auth::FailureLimiter limiter_;       // guarded by mu_ (check and record are one step)
  std::deque<ViolationRecord> recent_;  // guarded by mu_
  uint64_t count_ = 0;                  // guarded by mu_
  uint64_t refused_ = 0;                // guarded by mu_
};

}  // namespace cairn::server
