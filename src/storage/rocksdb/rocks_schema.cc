#include "storage/rocksdb/rocks_schema.h"

#include <cassert>
#include <charconv>

#include "common/bytes.h"

namespace cairn::storage::rocks {

bool IsValidStreamId(std::string_view stream_id) {
  return stream_id.size() >= kStreamIdSizeBytesMin && stream_id.size() <= kStreamIdSizeBytesMax;
}

std::string RecordKey(uint64_t position) { return EncodeU64(position); }

std::optional<uint64_t> DecodeRecordKey(std::string_view key) {
  if (key.size() != kRecordKeySizeBytes) return std::nullopt;
  return DecodeU64(key.data());
}

std::string StreamIndexPrefix(std::string_view stream_id) {
  assert(IsValidStreamId(stream_id));
  std::string prefix;
  prefix.reserve(4 + stream_id.size() + 8);
  PutLengthPrefixed(&prefix, stream_id);
  return prefix;
}

std::string StreamIndexKey(std::string_view stream_id, uint64_t version) {
  std::string key = StreamIndexPrefix(stream_id);
  PutU64(&key, version);
  assert(key.size() == 4 + stream_id.size() + 8);
  return key;
}

std::optional<uint64_t> DecodeStreamIndexVersion(std::string_view key, std::string_view prefix) {
  if (key.size() != prefix.size() + 8) return std::nullopt;
  if (key.substr(0, prefix.size()) != prefix) return std::nullopt;
  return DecodeU64(key.data() + prefix.size());
}

std::optional<size_t> StreamIndexPrefixSize(std::string_view key) {
  if (key.size() < 4) return std::nullopt;
  const uint64_t size = 4 + static_cast<uint64_t>(DecodeU32(key.data()));
  if (size > key.size()) return std::nullopt;
  return static_cast<size_t>(size);
}

std::string EncodeNodeKey(NodeKey key) {
  assert(key.level <= kNodeLevelMax);
  std::string out;
  out.reserve(kNodeKeySizeBytes);
  PutU8(&out, key.level);
  PutU64(&out, key.index);
  assert(out.size() == kNodeKeySizeBytes);
  return out;
}

std::optional<NodeKey> DecodeNodeKey(std::string_view key) {
  if (key.size() != kNodeKeySizeBytes) return std::nullopt;
  NodeKey out{static_cast<uint8_t>(key[0]), DecodeU64(key.data() + 1)};
  if (out.level > kNodeLevelMax) return std::nullopt;
  return out;
}

std::string CheckpointKey(uint64_t tree_size) { return EncodeU64(tree_size); }

std::optional<uint64_t> DecodeCheckpointKey(std::string_view key) {
  if (key.size() != kCheckpointKeySizeBytes) return std::nullopt;
  return DecodeU64(key.data());
}

std::string EncodeIndexRun(const IndexRun& run) {
  assert(run.count >= 1 && run.first_position <= UINT64_MAX - run.count);
  std::string out;
  PutU64(&out, run.first_position);
  PutU64(&out, run.count);
  return out;
}

std::optional<IndexRun> DecodeIndexRun(std::string_view value) {
  if (value.size() != 16) return std::nullopt;
  IndexRun run{DecodeU64(value.data()), DecodeU64(value.data() + 8)};
  if (run.count == 0 || run.first_position > UINT64_MAX - run.count) return std::nullopt;
  return run;
}

std::string EncodeStreamHead(const StreamHead& head) {
  assert(head.last_leaf_hash.empty() || head.last_leaf_hash.size() == kHashSizeBytes);
  std::string out;
  out.reserve(8 + 8 + kHashSizeBytes + 1);
  PutU64(&out, head.next_version);
  PutU64(&out, head.last_position);
  out.append(head.last_leaf_hash);
  PutU8(&out, head.deleted ? 1 : 0);
  return out;
}

std::optional<StreamHead> DecodeStreamHead(std::string_view value) {
  constexpr size_t kSizeWithoutHash = 8 + 8 + 1;
  if (value.size() != kSizeWithoutHash && value.size() != kSizeWithoutHash + kHashSizeBytes) {
    return std::nullopt;
  }
  ByteReader reader(value);
  StreamHead head;
  std::string_view hash;
  uint8_t deleted = 0;
  const size_t hash_size = value.size() - kSizeWithoutHash;
  if (!reader.GetU64(&head.next_version) || !reader.GetU64(&head.last_position) ||
      !reader.GetBytes(hash_size, &hash) || !reader.GetU8(&deleted)) {
    return std::nullopt;
  }
  assert(reader.remaining() == 0);
  if (deleted > 1) return std::nullopt;
  head.last_leaf_hash = std::string(hash);
  head.deleted = deleted == 1;
  if (!WellFormed(head)) return std::nullopt;
  return head;
}

std::string EncodeTreeState(const TreeState& state) {
  std::string out;
  out.reserve(8 + state.compact_range.size());
  PutU64(&out, state.size);
  out.append(state.compact_range);
  return out;
}

std::optional<TreeState> DecodeTreeState(std::string_view value) {
  if (value.size() < 8) return std::nullopt;
  return TreeState{DecodeU64(value.data()), std::string(value.substr(8))};
}

std::string EncodeFormatVersion(uint32_t version) { return std::to_string(version); }

std::optional<uint32_t> DecodeFormatVersion(std::string_view value) {
  constexpr size_t kDigitsMax = 10;
  if (value.empty() || value.size() > kDigitsMax) return std::nullopt;
  if (value.size() > 1 && value[0] == '0') return std::nullopt;  // canonical decimal only
  uint32_t version = 0;
  const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), version);
  if (ec != std::errc() || end != value.data() + value.size()) return std::nullopt;
  return version;
}

}  // namespace cairn::storage::rocks
