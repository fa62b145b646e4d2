// Byte helpers: big-endian encoding, hex and base64 text forms.
//
// Bytes are carried in std::string (binary-safe) or std::span<const uint8_t>. Decoders are strict:
// they reject odd-length hex, non-canonical base64 (bad padding, stray characters), and return
// nullopt instead of throwing. Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace cairn {

inline std::span<const uint8_t> AsBytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}
inline std::string_view AsStringView(std::span<const uint8_t> b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

void PutU8(std::string* out, uint8_t v);
void PutU32(std::string* out, uint32_t v);
void PutU64(std::string* out, uint64_t v);
// u32 length prefix + bytes.
void PutLengthPrefixed(std::string* out, std::string_view bytes);

// Reads big-endian values from a byte string, tracking the offset. Every Get* returns false
// (and leaves the output unspecified) when the input is too short; it never reads past the end.
class ByteReader {
 public:
  explicit ByteReader(std::string_view in) : in_(in) {}
  bool GetU8(uint8_t* v);
  bool GetU32(uint32_t* v);
  bool GetU64(uint64_t* v);
  bool GetBytes(size_t n, std::string_view* v);
  // u32 length prefix (at most max_size_bytes) + bytes.
  bool GetLengthPrefixed(std::string_view* v, size_t size_bytes_max);
  size_t remaining() const { return in_.size() - offset_; }
  size_t offset() const { return offset_; }

 private:
  std::string_view in_;
  size_t offset_ = 0;
};

uint64_t DecodeU64(const char* p);  // 8 big-endian bytes
uint32_t DecodeU32(const char* p);  // 4 big-endian bytes
std::string EncodeU64(uint64_t v);  // 8 big-endian bytes

std::string HexEncode(std::span<const uint8_t> bytes);  // lowercase
std::string HexEncode(std::string_view bytes);
std::optional<std::string> HexDecode(std::string_view hex);  // accepts upper or lower case

std::string Base64Encode(std::span<const uint8_t> bytes);  // standard alphabet, padded
void AppendBase64(std::span<const uint8_t> bytes, std::string* out);  // same, appended to *out
std::string Base64Encode(std::string_view bytes);
std::optional<std::string> Base64Decode(std::string_view b64);  // strict, padded

// A 32-byte hash given as 64 hex digits or as standard base64; nullopt otherwise.
std::optional<std::string> DecodeHashText(std::string_view text);

}  // namespace cairn
