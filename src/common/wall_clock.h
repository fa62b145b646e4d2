// The wall clock in the units cairn stores and compares: Unix time (since 1970-01-01 UTC) in
// seconds, milliseconds or nanoseconds. It may jump when the system clock is set; measure
// intervals with common/steady_clock.h instead, and use these only for timestamps that are
// stored, shown or compared with other machines (expiries, audit records, checkpoints).
//
// Thread safety: any thread.
#pragma once

#include <cassert>
#include <chrono>
#include <cstdint>
#include <ctime>
#include <string>

namespace cairn {

inline int64_t NowUnixSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

inline int64_t NowUnixMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

inline int64_t NowUnixNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Now as ISO 8601 basic UTC to the second, "20261206T120000Z": names of files and directories
// that sort by time (backups, WAL copies).
inline std::string NowUtcCompact() {
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  ::gmtime_r(&now, &utc);
  char text[32];
  const size_t n = std::strftime(text, sizeof text, "%Y%m%dT%H%M%SZ", &utc);
  assert(n > 0);
  return std::string(text, n);
}

// `unix_s` as RFC 3339 UTC to the second, "2026-12-06T12:00:00Z" (for messages and listings).
inline std::string UnixSecondsUtcText(int64_t unix_s) {
  const std::time_t t = static_cast<std::time_t>(unix_s);
  std::tm utc{};
  if (::gmtime_r(&t, &utc) == nullptr) return std::to_string(unix_s);
  char text[32];
  const size_t n = std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return n > 0 ? std::string(text, n) : std::to_string(unix_s);
}

}  // namespace cairn
