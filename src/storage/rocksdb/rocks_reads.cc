// RocksLogStore: reads of the log (records, stream index and heads, Merkle state, checkpoints).
#include <algorithm>
#include <map>
#include <cassert>

#include "storage/rocksdb/rocks_schema.h"
#include "storage/rocksdb/rocks_status.h"
#include "storage/rocksdb/rocks_store.h"
#include "storage/rocksdb/rocks_tuning.h"

namespace cairn::storage::rocks {
namespace {

constexpr size_t kReserveCountMax = 1024;

std::string_view View(const rocksdb::Slice& s) { return std::string_view(s.data(), s.size()); }

Status Corrupt(std::string_view what, std::string_view where) {
  return Status::DataLoss("corrupt " + std::string(what) + " in column family " +
                          std::string(where));
}

// Two index runs of one stream claim the same version: only tampering or a damaged store makes it.
Status OverlappingRuns(std::string_view stream_id) {
  return Corrupt("index entries of stream '" + std::string(stream_id) + "' (overlapping runs)", kCfStreamIndex);
}

// For bulk scans (records, leaf hashes): read ahead instead of one block at a time. Short reads
// (a stream's index, the heads, checkpoints) rely on RocksDB's automatic readahead instead.
// Bulk scans read through large readahead buffers. Block checksums are not verified on record
// scans: every record is authenticated by AES-GCM at its position when it is opened, which
// detects any changed byte that a CRC would, and software CRC32C (Debian's portable RocksDB)
// otherwise costs more than the decryption.
rocksdb::ReadOptions BulkScanOptions() {
  rocksdb::ReadOptions ro;
  ro.fill_cache = true;
  ro.verify_checksums = false;
  ro.readahead_size = kScanReadaheadSizeBytes;
  return ro;
}

}  // namespace

std::unique_ptr<rocksdb::Iterator> RocksLogStore::NewIterator(CfIndex index,
                                                              const rocksdb::ReadOptions& ro) {
  return std::unique_ptr<rocksdb::Iterator>(db_->NewIterator(ro, cf(index)));
}

Result<TreeState> RocksLogStore::ReadTreeState() {
  CAIRN_ASSIGN_OR_RETURN(std::optional<std::string> value,
                         Get(CfIndex::kMerkle, kTreeStateKey, "tree state"));
  if (!value.has_value()) return TreeState{};
  std::optional<TreeState> state = DecodeTreeState(*value);
  if (!state.has_value()) return Corrupt("tree state", kCfMerkle);
  return std::move(*state);
}

Result<std::optional<StreamHead>> RocksLogStore::ReadStreamHead(std::string_view stream_id) {
  if (!IsValidStreamId(stream_id)) return Status::InvalidArgument("stream id must be 1..512 bytes");
  CAIRN_ASSIGN_OR_RETURN(std::optional<std::string> value,
                         Get(CfIndex::kStreamHeads, stream_id, "stream head"));
  if (!value.has_value()) return std::optional<StreamHead>();
  std::optional<StreamHead> head = DecodeStreamHead(*value);
  if (!head.has_value())
    return Corrupt("stream head of '" + std::string(stream_id) + "'", kCfStreamHeads);
  return head;
}

Result<std::string> RocksLogStore::ReadRecord(uint64_t position) {
  const std::string what = "record at position " + std::to_string(position);
  CAIRN_ASSIGN_OR_RETURN(std::optional<std::string> value,
                         Get(CfIndex::kRecords, RecordKey(position), what));
  if (!value.has_value()) return Status::NotFound("no " + what);
  return std::move(*value);
}

Status RocksLogStore::ScanRecords(uint64_t from_position, uint64_t limit,
                                  const std::function<bool(uint64_t, std::string_view)>& fn) {
  std::unique_ptr<rocksdb::Iterator> it = NewIterator(CfIndex::kRecords, BulkScanOptions());
  uint64_t count = 0;
  uint64_t last = 0;
  for (it->Seek(ToSlice(RecordKey(from_position))); it->Valid() && count < limit; it->Next()) {
    const std::optional<uint64_t> position = DecodeRecordKey(View(it->key()));
    // Keys come back in order from intact files; a damaged block (read without checksums, for
    // speed: the records authenticate themselves) is reported, never asserted on.
    if (!position.has_value() || *position < from_position || (count > 0 && *position <= last)) {
      return Corrupt("record key", kCfRecords);
    }
    last = *position;
    count += 1;
    if (!fn(*position, View(it->value()))) break;
  }
  return FromRocks(it->status(), "scanning records");
}

Result<std::vector<StreamIndexEntry>> RocksLogStore::ReadStreamIndex(std::string_view stream_id,
                                                                     uint64_t from_version,
                                                                     bool backwards,
                                                                     uint64_t limit) {
  if (!IsValidStreamId(stream_id)) return Status::InvalidArgument("stream id must be 1..512 bytes");
  // Bounds confine the iterator to this stream's keys (prefix || u64 sorts below prefix || 9×FF).
  const std::string prefix = StreamIndexPrefix(stream_id);
  const std::string upper = prefix + std::string(9, '\xFF');
  const rocksdb::Slice lower_bound = ToSlice(prefix), upper_bound = ToSlice(upper);
  rocksdb::ReadOptions ro;
  ro.iterate_lower_bound = &lower_bound;
  ro.iterate_upper_bound = &upper_bound;
  ro.prefix_same_as_start = true;
  std::unique_ptr<rocksdb::Iterator> it = NewIterator(CfIndex::kStreamIndex, ro);

  std::vector<StreamIndexEntry> entries;
  entries.reserve(static_cast<size_t>(std::min<uint64_t>(limit, kReserveCountMax)));
  // The run holding from_version starts at or before it: seek there, then walk runs.
  it->SeekForPrev(ToSlice(StreamIndexKey(stream_id, from_version)));
  if (!it->Valid() && !backwards) it->Seek(ToSlice(StreamIndexKey(stream_id, from_version)));
  for (; it->Valid() && entries.size() < limit; backwards ? it->Prev() : it->Next()) {
    const std::optional<uint64_t> first = DecodeStreamIndexVersion(View(it->key()), prefix);
    const std::optional<IndexRun> run = DecodeIndexRun(View(it->value()));
    if (!first.has_value() || !run.has_value() || *first > UINT64_MAX - run->count) {
      return Corrupt("index entry of stream '" + std::string(stream_id) + "'", kCfStreamIndex);
    }
    const uint64_t end = *first + run->count;  // versions [first, end)
    if (backwards) {
      for (uint64_t v = std::min(end - 1, from_version) + 1; v-- > *first && entries.size() < limit;) {
        if (!entries.empty() && v >= entries.back().version) return OverlappingRuns(stream_id);
        entries.push_back({v, run->first_position + (v - *first)});
      }
    } else {
      for (uint64_t v = std::max(*first, from_version); v < end && entries.size() < limit; ++v) {
        if (!entries.empty() && v <= entries.back().version) return OverlappingRuns(stream_id);
        entries.push_back({v, run->first_position + (v - *first)});
      }
    }
  }
  CAIRN_RETURN_IF_ERROR(FromRocks(it->status(), "reading stream index"));
  return entries;
}

Status RocksLogStore::ReadNodes(std::span<const NodeKey> keys, std::vector<std::string>* hashes) {
  assert(hashes != nullptr);
  hashes->clear();
  if (keys.size() > kReadNodesCountMax) {
    return Status::InvalidArgument("at most " + std::to_string(kReadNodesCountMax) +
                                   " nodes per read");
  }
  // One key per distinct chunk, read in one MultiGet.
  std::vector<std::string> encoded;
  std::vector<size_t> chunk_of(keys.size());
  std::map<std::string, size_t> seen;
  for (size_t i = 0; i < keys.size(); ++i) {
    if (keys[i].level > kNodeLevelMax) return Status::InvalidArgument("node level above 63");
    std::string k = EncodeNodeKey(NodeKey{keys[i].level, keys[i].index / kNodeChunkWidth});
    auto [it, fresh] = seen.try_emplace(std::move(k), encoded.size());
    if (fresh) encoded.push_back(it->first);
    chunk_of[i] = it->second;
  }
  std::vector<rocksdb::Slice> slices(encoded.begin(), encoded.end());
  std::vector<rocksdb::PinnableSlice> values(encoded.size());
  std::vector<rocksdb::Status> statuses(encoded.size());
  db_->MultiGet(rocksdb::ReadOptions(), cf(CfIndex::kMerkle), encoded.size(), slices.data(),
                values.data(), statuses.data());
  hashes->reserve(keys.size());
  for (size_t i = 0; i < keys.size(); ++i) {
    const size_t c = chunk_of[i];
    const size_t offset = (keys[i].index % kNodeChunkWidth) * kHashSizeBytes;
    const rocksdb::PinnableSlice& v = values[c];
    if (statuses[c].ok() && v.size() % kHashSizeBytes == 0 &&
        v.size() <= kNodeChunkWidth * kHashSizeBytes && offset + kHashSizeBytes <= v.size()) {
      hashes->emplace_back(v.data() + offset, kHashSizeBytes);
      continue;
    }
    // Named only on the error path: a proof reads ~40 nodes and must stay cheap.
    const std::string name = "node (level " + std::to_string(keys[i].level) + ", index " +
                             std::to_string(keys[i].index) + ")";
    if (statuses[c].IsNotFound() || (statuses[c].ok() && v.size() % kHashSizeBytes == 0 &&
                                     v.size() <= kNodeChunkWidth * kHashSizeBytes)) {
      return Status::NotFound("no Merkle " + name);
    }
    CAIRN_RETURN_IF_ERROR(FromRocks(statuses[c], "reading Merkle " + name));
    return Corrupt("Merkle chunk of " + name, kCfMerkle);
  }
  assert(hashes->size() == keys.size());
  return Status::Ok();
}

Status RocksLogStore::ScanLeafHashes(uint64_t from_index, uint64_t limit,
                                     const std::function<bool(uint64_t, std::string_view)>& fn) {
  const std::string upper = EncodeNodeKey(NodeKey{1, 0});  // level-0 keys sort below level 1
  const rocksdb::Slice upper_bound = ToSlice(upper);
  rocksdb::ReadOptions ro = BulkScanOptions();
  ro.verify_checksums = true;  // leaf hashes are not authenticated by anything else on read
  ro.iterate_upper_bound = &upper_bound;
  std::unique_ptr<rocksdb::Iterator> it = NewIterator(CfIndex::kMerkle, ro);
  uint64_t count = 0;
  bool stop = false;
  for (it->Seek(ToSlice(EncodeNodeKey(NodeKey{0, from_index / kNodeChunkWidth})));
       it->Valid() && count < limit && !stop; it->Next()) {
    const std::optional<NodeKey> key = DecodeNodeKey(View(it->key()));
    const std::string_view chunk = View(it->value());
    // A chunk filed beyond the last one a u64 leaf index can reach would wrap its indexes onto
    // earlier leaves.
    if (!key.has_value() || key->level != 0 || chunk.empty() || chunk.size() % kHashSizeBytes != 0 ||
        chunk.size() > kNodeChunkWidth * kHashSizeBytes ||
        key->index > (UINT64_MAX - (kNodeChunkWidth - 1)) / kNodeChunkWidth) {
      return Corrupt("leaf hash chunk", kCfMerkle);
    }
    for (size_t slot = 0; slot * kHashSizeBytes < chunk.size() && count < limit; ++slot) {
      const uint64_t index = key->index * kNodeChunkWidth + slot;
      if (index < from_index) continue;
      count += 1;
      if (!fn(index, chunk.substr(slot * kHashSizeBytes, kHashSizeBytes))) {
        stop = true;
        break;
      }
    }
  }
  return FromRocks(it->status(), "scanning leaf hashes");
}

Status RocksLogStore::ScanStreamHeads(
    const std::function<bool(std::string_view, const StreamHead&)>& fn) {
  std::unique_ptr<rocksdb::Iterator> it =
      NewIterator(CfIndex::kStreamHeads, rocksdb::ReadOptions());
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    const std::optional<StreamHead> head = DecodeStreamHead(View(it->value()));
    if (!IsValidStreamId(View(it->key()))) return Corrupt("stream head key", kCfStreamHeads);
    if (!head.has_value()) {
      return Corrupt("stream head of '" + std::string(View(it->key())) + "'", kCfStreamHeads);
    }
    if (!fn(View(it->key()), *head)) break;
  }
  return FromRocks(it->status(), "scanning stream heads");
}

Result<std::optional<std::pair<uint64_t, std::string>>> RocksLogStore::ReadLatestCheckpoint() {
  using Latest = std::optional<std::pair<uint64_t, std::string>>;
  std::unique_ptr<rocksdb::Iterator> it =
      NewIterator(CfIndex::kCheckpoints, rocksdb::ReadOptions());
  it->SeekToLast();
  if (!it->Valid()) {
    CAIRN_RETURN_IF_ERROR(FromRocks(it->status(), "reading latest checkpoint"));
    return Latest();
  }
  const std::optional<uint64_t> size = DecodeCheckpointKey(View(it->key()));
  if (!size.has_value()) return Corrupt("checkpoint key", kCfCheckpoints);
  return Latest(std::make_pair(*size, std::string(View(it->value()))));
}

Status RocksLogStore::ScanCheckpoints(const std::function<bool(uint64_t, std::string_view)>& fn) {
  std::unique_ptr<rocksdb::Iterator> it =
      NewIterator(CfIndex::kCheckpoints, rocksdb::ReadOptions());
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    const std::optional<uint64_t> size = DecodeCheckpointKey(View(it->key()));
    if (!size.has_value()) return Corrupt("checkpoint key", kCfCheckpoints);
    if (!fn(*size, View(it->value()))) break;
  }
  return FromRocks(it->status(), "scanning checkpoints");
}

}  // namespace cairn::storage::rocks
