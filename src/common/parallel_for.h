// ParallelFor: runs fn(0) … fn(count - 1) on the calling thread and, for runs of at least
// `parallel_min` items, one helper thread, each claiming the next kClaimItems items at a time.
//
// Returns OK, or the error of the lowest index that failed; items after a failure may or may not
// have run (the workers stop claiming once they see one). fn must be safe to call concurrently
// for different indexes. Helper threads are bounded process-wide (kParallelHelpersMax running at
// once); past the bound the caller does the whole run alone, so the result is the same.
//
// Thread safety: ParallelFor may be called from any number of threads.
#pragma once

#include <atomic>
#include <cstddef>
#include <functional>

#include "common/status.h"

namespace cairn {

inline constexpr size_t kParallelHelpersMax = 8;

Status ParallelFor(size_t count, size_t parallel_min, const std::function<Status(size_t)>& fn);

}  // namespace cairn
