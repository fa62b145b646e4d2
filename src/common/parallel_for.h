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

// For other code that starts a helper thread of its own (engine/parallel_decoder.h): takes one of
// the kParallelHelpersMax slots (false when none is free: do the work on the calling thread);
// each successful call is paired with one ReleaseParallelHelper() once the helper has finished.
bool TryAcquireParallelHelper();
void ReleaseParallelHelper();

Status ParallelFor(size_t count, size_t parallel_min, const std::function<Status(size_t)>& fn);

// The same, with the index of the worker running each item passed to fn: 0 for the calling
// thread, 1 for the helper (so, < kParallelWorkersMax), for state kept per worker (a cipher
// context, a scratch buffer). Items of one worker run one at a time.
inline constexpr size_t kParallelWorkersMax = 2;
Status ParallelForWorkers(size_t count, size_t parallel_min,
                          const std::function<Status(size_t worker, size_t index)>& fn);

}  // namespace cairn
