#include "server/violation_log.h"

#include <cassert>

namespace cairn::server {

ViolationLog::ViolationLog(int64_t reports_per_minute_max)
    : limiter_(reports_per_minute_max, kPrincipalsTrackedMax) {}

uint64_t ViolationLog::Record(ViolationRecord record) {
  std::lock_guard<std::mutex> lock(mu_);
  if (limiter_.IsLimited(record.principal, record.received_unix_s)) {
    ++refused_;
    return 0;
  }
  limiter_.RecordFailure(record.principal, record.received_unix_s);
  record.number = ++count_;
  if (recent_.size() == kRecentMax) recent_.pop_front();
  recent_.push_back(std::move(record));
  assert(recent_.size() <= kRecentMax);
  return count_;
}

uint64_t ViolationLog::count() const {
  std::lock_guard<std::mutex> lock(mu_);
  return count_;
}

uint64_t ViolationLog::refused_count() const {
  std::lock_guard<std::mutex> lock(mu_);
  return refused_;
}

std::vector<ViolationRecord> ViolationLog::Recent() const {
  std::lock_guard<std::mutex> lock(mu_);
  return {recent_.begin(), recent_.end()};
}

}  // namespace cairn::server
