// DenialThrottle: how many of one principal's policy denials are written to the audit trail.
//
// The trail is part of the log and cannot be shrunk. Without a bound, a caller who is denied —
// a misconfigured service retrying at its full request rate, or a stolen credential probing
// what it may do — would write one record per call, filling the disk and slowing every append
// at a rate no append quota governs. Each principal gets at most kRecordsPerWindowMax records
// per kWindowMs window (fixed windows, started by its first denial); the denials beyond are not
// recorded but counted, and the principal's next recorded denial carries how many were left out
// before it (`unrecorded_before`). The caller counts every denial in the metrics and tells the
// alert rules of every one, recorded or not.
//
// Memory: at most kPrincipalsMax principals are tracked. When a new one comes and the table is
// full, the principals whose window has ended are dropped (a count they had not yet reported
// is then only in the metrics); if every window is still running, the denial is recorded
// without being tracked (no principal loses records to another's flood).
//
// Thread safety: thread-safe (one mutex). Time is the caller's `now_ms` (tests drive it).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "common/string_hash.h"

namespace cairn::server {

class DenialThrottle {
 public:
  static constexpr int64_t kWindowMs = 10000;
  static constexpr uint32_t kRecordsPerWindowMax = 10;
  static constexpr size_t kPrincipalsMax = 4096;

  struct Verdict {
    bool record = false;             // write this denial to the trail
    uint64_t unrecorded_before = 0;  // when recorded: the principal's denials left out before it
  };

  // One denial of `principal_id` at `now_ms` (a steady clock).
  Verdict Admit(std::string_view principal_id, int64_t now_ms);
  size_t tracked_principals() const;

 private:
  struct Entry {
    int64_t window_start_ms = 0;
    uint32_t recorded_in_window = 0;
    uint64_t unrecorded = 0;  // since the principal's last recorded denial
  };
  // Drops the entries whose window ended by `now_ms` (mu_ held).
  void DropEndedLocked(int64_t now_ms);

  mutable std::mutex mu_;
  std::unordered_map<std::string, Entry, StringHash, std::equal_to<>> by_principal_;  // mu_
};

}  // namespace cairn::server
