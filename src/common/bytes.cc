#include "common/bytes.h"

#include <array>
#include <cassert>

namespace cairn {

void PutU8(std::string* out, uint8_t v) { out->push_back(static_cast<char>(v)); }

void PutU32(std::string* out, uint32_t v) {
  char b[4];
  for (int i = 0; i < 4; ++i) b[i] = static_cast<char>(v >> (24 - 8 * i));
  out->append(b, 4);
}

void PutU64(std::string* out, uint64_t v) {
  char b[8];
  for (int i = 0; i < 8; ++i) b[i] = static_cast<char>(v >> (56 - 8 * i));
  out->append(b, 8);
}

void PutLengthPrefixed(std::string* out, std::string_view bytes) {
  assert(bytes.size() <= UINT32_MAX);
  PutU32(out, static_cast<uint32_t>(bytes.size()));
  out->append(bytes);
}

uint32_t DecodeU32(const char* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

uint64_t DecodeU64(const char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

std::string EncodeU64(uint64_t v) {
  std::string s;
  PutU64(&s, v);
  return s;
}

bool ByteReader::GetU8(uint8_t* v) {
  if (remaining() < 1) return false;
  *v = static_cast<uint8_t>(in_[offset_]);
  offset_ += 1;
  return true;
}

bool ByteReader::GetU32(uint32_t* v) {
  if (remaining() < 4) return false;
  *v = DecodeU32(in_.data() + offset_);
  offset_ += 4;
  return true;
}

bool ByteReader::GetU64(uint64_t* v) {
  if (remaining() < 8) return false;
  *v = DecodeU64(in_.data() + offset_);
  offset_ += 8;
  return true;
}

bool ByteReader::GetBytes(size_t n, std::string_view* v) {
  if (remaining() < n) return false;
  *v = in_.substr(offset_, n);
  offset_ += n;
  return true;
}

bool ByteReader::GetLengthPrefixed(std::string_view* v, size_t size_bytes_max) {
  uint32_t n = 0;
  if (!GetU32(&n) || n > size_bytes_max) return false;
  return GetBytes(n, v);
}

std::string HexEncode(std::span<const uint8_t> bytes) {
  static const char kDigits[] = "0123456789abcdef";
  std::string out(bytes.size() * 2, '\0');
  for (size_t i = 0; i < bytes.size(); ++i) {
    out[2 * i] = kDigits[bytes[i] >> 4];
    out[2 * i + 1] = kDigits[bytes[i] & 0xf];
  }
  return out;
}

std::string HexEncode(std::string_view bytes) { return HexEncode(AsBytes(bytes)); }

namespace {
int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::array<int8_t, 256> MakeB64Table() {
  std::array<int8_t, 256> t{};
  t.fill(-1);
  for (int i = 0; i < 64; ++i) t[static_cast<uint8_t>(kB64[i])] = static_cast<int8_t>(i);
  return t;
}
}  // namespace

std::optional<std::string> HexDecode(std::string_view hex) {
  if (hex.size() % 2 != 0) return std::nullopt;
  std::string out(hex.size() / 2, '\0');
  for (size_t i = 0; i < out.size(); ++i) {
    int hi = HexValue(hex[2 * i]), lo = HexValue(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out[i] = static_cast<char>((hi << 4) | lo);
  }
  return out;
}

void AppendBase64(std::span<const uint8_t> in, std::string* out) {
  const size_t base = out->size();
  out->resize(base + (in.size() + 2) / 3 * 4);
  char* dst = out->data() + base;
  size_t i = 0;
  for (; i + 3 <= in.size(); i += 3, dst += 4) {
    const uint32_t v = (uint32_t{in[i]} << 16) | (uint32_t{in[i + 1]} << 8) | in[i + 2];
    dst[0] = kB64[v >> 18];
    dst[1] = kB64[(v >> 12) & 63];
    dst[2] = kB64[(v >> 6) & 63];
    dst[3] = kB64[v & 63];
  }
  const size_t rest = in.size() - i;
  if (rest == 0) return;
  const uint32_t v = (uint32_t{in[i]} << 16) | (rest == 2 ? uint32_t{in[i + 1]} << 8 : 0);
  dst[0] = kB64[v >> 18];
  dst[1] = kB64[(v >> 12) & 63];
  dst[2] = rest == 2 ? kB64[(v >> 6) & 63] : '=';
  dst[3] = '=';
}

std::string Base64Encode(std::span<const uint8_t> in) {
  std::string out;
  AppendBase64(in, &out);
  return out;
}

std::string Base64Encode(std::string_view bytes) { return Base64Encode(AsBytes(bytes)); }

std::optional<std::string> Base64Decode(std::string_view in) {
  static const std::array<int8_t, 256> kTable = MakeB64Table();
  if (in.size() % 4 != 0) return std::nullopt;
  std::string out;
  out.reserve(in.size() / 4 * 3);
  for (size_t i = 0; i < in.size(); i += 4) {
    bool last = i + 4 == in.size();
    int v[4];
    int pad = 0;
    for (int j = 0; j < 4; ++j) {
      char c = in[i + j];
      if (c == '=' && last && j >= 2) {
        v[j] = 0;
        ++pad;
        continue;
      }
      if (pad > 0) return std::nullopt;  // data after padding
      v[j] = kTable[static_cast<uint8_t>(c)];
      if (v[j] < 0) return std::nullopt;
    }
    uint32_t n = (v[0] << 18) | (v[1] << 12) | (v[2] << 6) | v[3];
    out += static_cast<char>(n >> 16);
    if (pad < 2) out += static_cast<char>((n >> 8) & 0xff);
    if (pad < 1) out += static_cast<char>(n & 0xff);
    // Canonical form: the bits dropped by padding must be zero.
    if (pad == 1 && (v[2] & 0x3) != 0) return std::nullopt;
    if (pad == 2 && (v[1] & 0xf) != 0) return std::nullopt;
  }
  return out;
}

std::optional<std::string> DecodeHashText(std::string_view text) {
  std::optional<std::string> out;
  if (text.size() == 64) out = HexDecode(text);
  if (!out && text.size() == 44) out = Base64Decode(text);
  if (out && out->size() != 32) return std::nullopt;
  return out;
}

}  // namespace cairn
