// Group summaries: what another node must learn about one committed group before it builds on it
// (shared stores; DESIGN.md, Storage), sealed in one value that the store keeps with the tree
// state (storage::TreeState::group_summary).
//
// Why: the next holder of the commit lock must learn the events the previous holder committed —
// their ids (idempotency across nodes) and the streams whose cached heads went stale — before
// it sequences. Their commit notification arrives only as the lock passes, so the prefetcher
// (remote_prefetch.h) cannot decode them ahead; reading and opening every record of the group
// under the lock was ~2.8 ms of a ~8 ms three-node hold. The summary arrives with the locked row.
//
// Stored summary = u8 format (3) || u32 storage epoch || AES-256-GCM sealed(IV || ct || tag) of
//   u64 recorded_at_ns || u32 runs || runs × (u32 len || stream id || u64 first version ||
//   u32 count || count × (16-byte event id || u64 content tag)),
// with AAD "cairn-grp-v1" || u64 first position || u64 end position, so a summary read back for
// any other range of positions fails to open. A run is one append: `count` consecutive positions
// of one stream from `first version` on, in position order.
//
// Thread safety: a builder is not thread-safe (the sequencer thread owns its group's). The free
// functions use the caller's RecordCipher, which is not thread-safe either.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "engine/record_codec.h"
#include "engine/remote_prefetch.h"

namespace cairn::engine {

// Format 2 (written by cairn before content tags) has no content tag after each id; it is still
// read (its entries' content tags are 0: not known).
inline constexpr uint8_t kGroupSummaryFormatV1 = 0x02;
inline constexpr uint8_t kGroupSummaryFormatV2 = 0x03;
// The most events one summary describes; a longer group is committed without one.
inline constexpr uint64_t kGroupSummaryEventsMax = 1u << 20;

class GroupSummaryBuilder {
 public:
  // One append of `event_ids` (16 bytes each) to `stream_id`, its first event at `first_version`,
  // with their content tags (id_window.h; as many as ids).
  void AddRun(std::string_view stream_id, uint64_t first_version,
              const std::vector<std::string_view>& event_ids,
              const std::vector<uint64_t>& content_tags);
  uint64_t events() const { return events_; }
  void Clear();

  // Seals the runs added so far as the summary of positions [from, from + events()).
  Status Seal(RecordCipher& cipher, uint32_t epoch, uint64_t from, int64_t recorded_at_ns,
              std::string* out) const;

 private:
  std::string runs_;  // the runs' encoding, without the header
  uint32_t run_count_ = 0;
  uint64_t events_ = 0;
};

// Opens the summary of positions [from, to) and appends one entry per position, in order.
// kDataLoss when it does not authenticate for that range or does not describe exactly it (then
// *out may hold some of the entries: pass an empty vector and drop it).
Status OpenGroupSummary(RecordCipher& cipher, uint64_t from, uint64_t to, std::string_view stored,
                        std::vector<RemoteEntry>* out);

}  // namespace cairn::engine
