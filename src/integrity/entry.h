// The v1 log entry: the exact bytes that become a Merkle leaf, and the tree's hash functions.
//
// The encoding is a public contract (DESIGN.md, "Integrity: exact formats"); auditors
// re-implement it, so it changes only with a new format byte. All integers are big-endian;
// `str` is a u32 length followed by the bytes:
//
//   u8 format=0x01 | u64 position | str stream_id | u64 stream_version | 16 B event_id |
//   str event_type | str content_type | i64 recorded_at_ns | 32 B metadata_hash |
//   32 B data_hash | 32 B stream_prev
//
// EncodeEntry requires a valid entry (ValidateEntry() is OK) and asserts it: the engine
// validates user input before it builds entries. DecodeEntry reads untrusted bytes and is strict:
// any deviation from the layout, limits or length is kDataLoss. It checks structure, not text:
// that stream ids and event types are UTF-8 without control characters is checked where they
// enter (engine::ValidateStreamId, ValidateEventType), and a stored entry altered to hold other
// bytes no longer matches its leaf hash.
//
// Hashing follows RFC 6962/9162: leaf = SHA-256(0x00 || entry), node = SHA-256(0x01 || l || r),
// empty tree = SHA-256(""). Thread safety: pure functions; the hashing functions reuse one
// hasher per thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"
#include "crypto/sha256.h"

namespace cairn::integrity {

using crypto::Hash;

inline constexpr uint8_t kEntryFormatV1 = 0x01;
inline constexpr size_t kStreamIdSizeBytesMax = 512;
inline constexpr size_t kEventTypeSizeBytesMax = 256;
inline constexpr size_t kContentTypeSizeBytesMax = 256;
inline constexpr size_t kEventIdSizeBytes = 16;
// Everything except the three variable-length strings.
inline constexpr size_t kEntryFixedSizeBytes = 1 + 8 + 4 + 8 + kEventIdSizeBytes + 4 + 4 + 8 + 3 * 32;

inline constexpr Hash kZeroHash{};

struct Entry {
  uint64_t position = 0;        // global position = Merkle leaf index
  std::string stream_id;        // 1..kStreamIdSizeBytesMax bytes
  uint64_t stream_version = 0;  // 0-based
  std::string event_id;         // exactly 16 bytes (UUID, RFC 4122 byte order)
  std::string event_type;       // 1..kEventTypeSizeBytesMax bytes
  std::string content_type;     // 0..kContentTypeSizeBytesMax bytes
  int64_t recorded_at_ns = 0;   // Unix epoch, UTC
  Hash metadata_hash{};         // SHA-256 of the stored metadata bytes
  Hash data_hash{};             // SHA-256 of the stored data bytes
  Hash stream_prev{};           // leaf hash of the stream's previous event; zero at version 0

  bool operator==(const Entry&) const = default;
};

// kInvalidArgument when a field is outside the limits above.
Status ValidateEntry(const Entry& entry);

// Exact size of EncodeEntry(entry).
size_t EncodedEntrySizeBytes(const Entry& entry);
// Appends the v1 encoding of `entry` to `out`.
void EncodeEntry(const Entry& entry, std::string* out);
std::string EncodeEntry(const Entry& entry);
// Parses exactly one v1 entry occupying all of `bytes`; `out` is unspecified on error.
Status DecodeEntry(std::string_view bytes, Entry* out);

// SHA-256(0x00 || entry_bytes).
Hash LeafHash(std::string_view entry_bytes);
// SHA-256(0x01 || left || right).
Hash HashChildren(const Hash& left, const Hash& right);
// SHA-256 of nothing: the root of the tree of size 0.
Hash EmptyRoot();

}  // namespace cairn::integrity
