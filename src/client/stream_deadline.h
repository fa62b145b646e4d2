// The deadline of the client's long-lived streams (subscriptions, consumer-group connections):
// they have no natural end, but gRPC needs a deadline, so "none" is a year.
#pragma once

#include <cstdint>

namespace cairn {

inline constexpr int64_t kNoDeadlineMs = int64_t{365} * 24 * 3600 * 1000;

}  // namespace cairn
