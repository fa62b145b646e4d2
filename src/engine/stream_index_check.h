// The stream index (stream id, version → position) checked against the records it points to, for
// the verifiers (engine/verifier.h). Reads of a stream go through the index, so an index entry
// that names another event's position would serve that event as this stream's: the records' own
// checks cannot see it.
//
// While the records are walked in position order, each stream folds the positions of its events
// into an IndexDigest (version k is the k-th fold). CheckStreamIndex then reads the stream's
// stored index entries, folds their positions the same way and compares. On a mismatch it reads
// the records the entries name, to report the first version whose entry is wrong.
//
// Thread safety: an IndexDigest is a value; CheckStreamIndex reads only (one thread per call).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string_view>

#include "crypto/sha256.h"
#include "engine/record_check.h"
#include "keys/storage_keys.h"
#include "storage/log_store.h"

namespace cairn::engine {

// SHA-256 chain over the positions of a stream's events, in version order.
class IndexDigest {
 public:
  void Add(uint64_t position);
  bool operator==(const IndexDigest&) const = default;

 private:
  crypto::Hash chain_{};
};

// What the records say about one stream.
struct StreamIndexExpectation {
  uint64_t events = 0;       // versions [0, events) were seen below `positions_below`
  IndexDigest digest;        // their positions, folded in version order
  uint64_t last_position = 0;
};

// Index entries read per storage call.
inline constexpr uint64_t kIndexReadEntriesMax = 4096;

// The positions an index check covers: below `positions_below`. An entry at or beyond it ends the
// walk (a prefix check of a live log: later appends), or, when `beyond_is_damage` (the whole log,
// positions_below its size), is a failure: no event is there.
struct IndexBound {
  uint64_t positions_below = 0;
  bool beyond_is_damage = false;
};

// Checks that the stored index of `stream_id`, cut as `bound` says, has exactly
// `want.events` entries for versions 0, 1, … whose positions fold to `want.digest`.
// `between_reads` (when set) runs before each storage read (the record reads of a mismatch
// included) and returns false to stop (the failure then has stopped = true). *entries_checked
// counts the entries compared.
std::optional<VerifyFailure> CheckStreamIndex(storage::LogStore* store, const keys::StorageKeys* keys,
                                              std::string_view stream_id,
                                              const StreamIndexExpectation& want,
                                              IndexBound bound,
                                              const std::function<bool()>& between_reads,
                                              uint64_t* entries_checked);

}  // namespace cairn::engine
