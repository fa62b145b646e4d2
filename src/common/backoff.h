// Retry delays: exponential backoff with full jitter.
//
// FullJitterBackoffMs(attempt, initial_ms, max_ms) is a delay drawn uniformly from
// [0, min(max_ms, initial_ms * 2^(attempt - 1))]: the ceiling doubles with every retry, and the
// random draw keeps many senders that failed together (several cairn nodes sending to one
// receiver that came back) from retrying in step.
//
// Thread safety: safe from any thread (each thread draws from its own generator).
#ifndef CAIRN_COMMON_BACKOFF_H_
#define CAIRN_COMMON_BACKOFF_H_

#include <cstdint>

namespace cairn {

// `attempt` >= 1 (the first retry); initial_ms, max_ms >= 0 (an initial_ms above max_ms is max_ms). The ceiling stops doubling after
// 30 retries (no shift overflow).
int64_t FullJitterBackoffMs(uint32_t attempt, int64_t initial_ms, int64_t max_ms);

// "Equal jitter": uniformly from [ceiling / 2, ceiling] with the same ceiling. For senders with
// few retries (alerts), whose retries must still span the ceiling's time to outlast a short
// outage of the receiver; full jitter could spend them all in the first milliseconds.
int64_t EqualJitterBackoffMs(uint32_t attempt, int64_t initial_ms, int64_t max_ms);

}  // namespace cairn

#endif  // CAIRN_COMMON_BACKOFF_H_
