// Whether a failure to prepare an event for a consumer (reveal, encode) passes with time.
//
// Group and webhook deliveries park an event that cannot be prepared only when no later attempt
// can cure it; a KMS or store that is away (UNAVAILABLE, an I/O error, a full queue, a lost race)
// is waited for instead. Thread safety: a pure function.
#pragma once

#include "common/status.h"

namespace cairn::subscribe {

inline bool FailurePasses(StatusCode code) {
  return code == StatusCode::kUnavailable || code == StatusCode::kIOError ||
         code == StatusCode::kResourceExhausted || code == StatusCode::kAborted;
}

}  // namespace cairn::subscribe
