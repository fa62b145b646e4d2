// The on-disk layout of the RocksDB backend: column family names, key encodings and the encodings
// of the few values the backend itself builds (stream heads, the tree state).
//
// Exposed so that tamper tests can address the bytes the backend stores; the engine never
// includes it. Encoders assert their preconditions (programming errors); decoders are strict and
// return nullopt for any malformed input, which the store reports as kDataLoss.
//
// Layout (format version kStoreFormatVersion; integers big-endian so bytewise order = numeric):
//   records       u64 position                              → stored record bytes (opaque)
//   stream_index  u32 len || stream_id || u64 version        → u64 position
//   stream_heads  stream_id                                  → StreamHead (see EncodeStreamHead)
//   merkle        u8 level || u64 index                      → 32-byte hash
//                 kTreeStateKey (1 byte, 0xFF)               → TreeState (see EncodeTreeState)
//   checkpoints   u64 tree size                              → signed note text
//   keys          name                                       → wrapped key blob
//   meta          name                                       → value; "format_version" = decimal
//
// The stream index key is length-prefixed (not separator-terminated) so that no stream's keys
// fall inside another stream's range ("a" vs "ab"), whatever bytes the ids contain. The tree
// state lives in the merkle family under a 1-byte key: node keys are always 9 bytes, so it cannot
// collide with a node, and level-0 scans (prefix 0x00) never see it.
//
// Thread safety: pure functions.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "storage/log_store.h"

namespace cairn::storage::rocks {

inline constexpr std::string_view kCfRecords = "records";
inline constexpr std::string_view kCfStreamIndex = "stream_index";
inline constexpr std::string_view kCfStreamHeads = "stream_heads";
inline constexpr std::string_view kCfMerkle = "merkle";
inline constexpr std::string_view kCfCheckpoints = "checkpoints";
inline constexpr std::string_view kCfKeys = "keys";
inline constexpr std::string_view kCfMeta = "meta";

// Every column family cairn owns, in the order of the store's handle array (see CfIndex).
inline constexpr std::array<std::string_view, 7> kColumnFamilies = {
    kCfRecords, kCfStreamIndex, kCfStreamHeads, kCfMerkle, kCfCheckpoints, kCfKeys, kCfMeta};

enum class CfIndex : uint8_t {
  kRecords = 0,
  kStreamIndex,
  kStreamHeads,
  kMerkle,
  kCheckpoints,
  kKeys,
  kMeta,
};

inline constexpr std::string_view kMetaFormatVersion = "format_version";
inline constexpr std::string_view kTreeStateKey = "\xFF";

inline constexpr size_t kHashSizeBytes = 32;
inline constexpr size_t kStreamIdSizeBytesMin = 1;
inline constexpr size_t kStreamIdSizeBytesMax = 512;  // the data model's limit (DESIGN.md)
inline constexpr uint8_t kNodeLevelMax = 63;          // a tree of < 2^64 leaves
inline constexpr size_t kRecordKeySizeBytes = 8;
inline constexpr size_t kNodeKeySizeBytes = 9;
inline constexpr size_t kCheckpointKeySizeBytes = 8;

bool IsValidStreamId(std::string_view stream_id);

std::string RecordKey(uint64_t position);
std::optional<uint64_t> DecodeRecordKey(std::string_view key);

// u32 len || stream_id: every index key of the stream starts with it.
std::string StreamIndexPrefix(std::string_view stream_id);
std::string StreamIndexKey(std::string_view stream_id, uint64_t version);
// The version of an index key that starts with `prefix`; nullopt if it is not prefix || u64.
std::optional<uint64_t> DecodeStreamIndexVersion(std::string_view key, std::string_view prefix);
// The length of the StreamIndexPrefix at the start of `key`; nullopt if the key is too short.
std::optional<size_t> StreamIndexPrefixSize(std::string_view key);

std::string EncodeNodeKey(NodeKey key);
std::optional<NodeKey> DecodeNodeKey(std::string_view key);

std::string CheckpointKey(uint64_t tree_size);
std::optional<uint64_t> DecodeCheckpointKey(std::string_view key);

// u64 position.
// Merkle nodes are stored in chunks of kNodeChunkWidth consecutive nodes of one level: the key
// EncodeNodeKey({level, index / kNodeChunkWidth}) holds the hashes of nodes [16c, 16c + n) of that
// level, n <= 16, concatenated. A level fills left to right as the tree grows, so a chunk only
// ever grows; one group commit writes a few chunks instead of two keys per event.
inline constexpr uint64_t kNodeChunkWidth = 16;

// A stream index value describes a run: `count` consecutive versions starting at the key's
// version, stored at `count` consecutive positions starting at `first_position`. A batch appended
// to one stream is one run, so the index costs one key per append rather than one per event.
struct IndexRun {
  uint64_t first_position = 0;
  uint64_t count = 0;  // >= 1
};
std::string EncodeIndexRun(const IndexRun& run);       // u64 first_position || u64 count
std::optional<IndexRun> DecodeIndexRun(std::string_view value);  // strict

// u64 next_version || u64 last_position || last_leaf_hash (32 bytes or empty) || u8 deleted.
std::string EncodeStreamHead(const StreamHead& head);
std::optional<StreamHead> DecodeStreamHead(std::string_view value);

// u64 size || compact_range (opaque to the store).
std::string EncodeTreeState(const TreeState& state);
std::optional<TreeState> DecodeTreeState(std::string_view value);

std::string EncodeFormatVersion(uint32_t version);
std::optional<uint32_t> DecodeFormatVersion(std::string_view value);

}  // namespace cairn::storage::rocks
