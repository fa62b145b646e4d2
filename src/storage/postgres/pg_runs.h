// Runs: how a commit writer packs stream-index entries, Merkle nodes (schema v2) and records
// (schema v5) into rows.
//
// A group commit of n events adds n records, n stream-index entries and about 2n Merkle nodes.
// One row each made most of a group's time inside PostgreSQL (a row costs a heap tuple, an index
// entry and a WAL record whatever its size). All three come in runs: a group's records have
// consecutive positions, an append's events take consecutive versions at consecutive positions,
// and the nodes a group completes on each level have consecutive indexes. So a writer stores
//   cairn_record_runs (first_position) → ends, records (≤ kRecordRunBytesMax bytes of records,
//       ≤ kRecordRunRecordsMax records, unless one record alone is larger)
//       record k of the run: position first_position + k, bytes [ends[k-1], ends[k]) of records
//       (ends[-1] = 0);
//   cairn_index_runs (stream_id, first_version) → first_position, count
//       entry k of the run: version first_version + k at position first_position + k;
//   cairn_node_runs  (level, first_idx) → hashes (≤ kNodeRunHashesMax × 32 bytes)
//       hash k of the run: node (level, first_idx + k).
// Rows are written once and never updated. A reader finds the row holding a key as the one with
// the greatest first key ≤ it, and checks that the key lies inside it.
//
// Not thread-safe: each belongs to one commit writer.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "storage/log_store.h"

namespace cairn::storage::pg {

// Hashes per cairn_node_runs row: 48 × 32 = 1536 bytes keeps every row below PostgreSQL's
// TOAST threshold (~2 KB), so a run is stored inline and read in one page access.
inline constexpr size_t kNodeRunHashesMax = 48;
inline constexpr size_t kHashSizeBytes = 32;
// Record bytes per cairn_record_runs row: with its ends (≤ 64 × 4 bytes) and headers a row stays
// below the table's toast_tuple_target (8160), so a run of small records is stored inline, in
// one page. A record larger than this is a run of its own (stored out of line by TOAST).
inline constexpr size_t kRecordRunBytesMax = 7680;
inline constexpr size_t kRecordRunRecordsMax = 64;

struct RecordRun {
  uint64_t first_position = 0;
  std::vector<int32_t> ends;  // end offset in `records` of each record; non-decreasing
  std::string records;
  size_t count() const { return ends.size(); }
};

struct IndexRun {
  std::string stream_id;
  uint64_t first_version = 0;
  uint64_t first_position = 0;
  uint32_t count = 0;
};

struct NodeRun {
  uint8_t level = 0;
  uint64_t first_index = 0;
  std::string hashes;  // count × 32 bytes
  size_t count() const { return hashes.size() / kHashSizeBytes; }
};

// Records of one writer (consecutive positions), joined into runs.
class RecordRunBuilder {
 public:
  // Appends to the current run when it has room (kRecordRunBytesMax, kRecordRunRecordsMax); else
  // starts a new run. Positions must follow each other (asserted); a record is at most
  // INT32_MAX bytes (asserted; the engine's limit is far below).
  void Add(uint64_t position, std::string_view record);
  const std::vector<RecordRun>& runs() const { return runs_; }
  bool empty() const { return runs_.empty(); }
  uint64_t records() const { return records_; }
  size_t size_bytes() const { return size_bytes_; }
  std::string_view last_record() const;  // requires !empty()

 private:
  std::vector<RecordRun> runs_;
  uint64_t records_ = 0;
  size_t size_bytes_ = 0;
};

// Splits a run read back from the table into its records, checking its shape: `ends` (the
// column's array text, "{e0,e1,...}") non-empty, non-decreasing, its last entry records.size().
// `out` gets views into `records`. kDataLoss naming first_position when the row is malformed.
Status SplitRecordRun(uint64_t first_position, std::string_view ends_text, std::string_view records,
                      std::vector<std::string_view>* out);

// Stream-index entries of one writer, joined into runs per stream.
class IndexRunBuilder {
 public:
  // Extends the stream's current run when (version, position) follow its last entry; else
  // starts a new run. Versions of one stream must increase (asserted).
  void Add(std::string_view stream_id, uint64_t version, uint64_t position);
  const std::vector<IndexRun>& runs() const { return runs_; }
  bool empty() const { return runs_.empty(); }

 private:
  std::vector<IndexRun> runs_;
  std::unordered_map<std::string, size_t> open_;  // stream → its last run in runs_
};

// Merkle nodes of one writer, joined into runs per level of at most kNodeRunHashesMax.
class NodeRunBuilder {
 public:
  NodeRunBuilder() { open_.fill(kNone); }
  // Extends the level's current run when `key.index` follows its last node and the run has
  // room; else starts a new run. `hash` is 32 bytes (asserted).
  void Add(NodeKey key, std::string_view hash);
  const std::vector<NodeRun>& runs() const { return runs_; }
  bool empty() const { return runs_.empty(); }
  size_t size_bytes() const { return size_bytes_; }

 private:
  static constexpr size_t kNone = SIZE_MAX;
  std::vector<NodeRun> runs_;
  std::array<size_t, 64> open_;  // level → its last run in runs_, or kNone
  size_t size_bytes_ = 0;
};

// The entries of `runs` (rows of one stream, in any order; sorted here) from `from_version` on,
// ascending or, when `backwards`, descending from it, at most `limit` of them, appended to `out`.
void ExpandIndexRuns(std::vector<IndexRun>* runs, uint64_t from_version, bool backwards,
                     uint64_t limit, std::vector<StreamIndexEntry>* out);

}  // namespace cairn::storage::pg
