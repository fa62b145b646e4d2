#include "engine/types.h"

#include <algorithm>
#include <charconv>

#include "common/bytes.h"
#include "crypto/secure.h"

namespace cairn::engine {
namespace {

// Strict UTF-8 (no overlongs, no surrogates, ≤ U+10FFFF) without C0/C1 controls or DEL.
bool IsCleanUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<uint8_t>(s[i]);
    if (c < 0x80) {
      if (c < 0x20 || c == 0x7f) return false;
      ++i;
      continue;
    }
    size_t n;
    uint32_t cp;
    if ((c & 0xe0) == 0xc0) { n = 1; cp = c & 0x1f; }
    else if ((c & 0xf0) == 0xe0) { n = 2; cp = c & 0x0f; }
    else if ((c & 0xf8) == 0xf0) { n = 3; cp = c & 0x07; }
    else return false;
    for (size_t k = 1; k <= n; ++k) {
      if (i + k >= s.size()) return false;
      auto cc = static_cast<uint8_t>(s[i + k]);
      if ((cc & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3f);
    }
    static constexpr uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    if (cp >= 0x80 && cp < 0xa0) return false;  // C1 controls
    i += n + 1;
  }
  return true;
}

Status ValidateName(std::string_view what, std::string_view s, size_t size_bytes_max) {
  if (s.empty()) return Status::InvalidArgument(std::string(what) + " must not be empty");
  if (s.size() > size_bytes_max) {
    return Status::InvalidArgument(std::string(what) + " is longer than " +
                                   std::to_string(size_bytes_max) + " bytes");
  }
  if (!IsCleanUtf8(s)) {
    return Status::InvalidArgument(std::string(what) +
                                   " must be UTF-8 without control characters");
  }
  return Status::Ok();
}

}  // namespace

Result<ExpectedVersion> ExpectedVersion::Parse(std::string_view text) {
  if (text == "any") return Any();
  if (text == "no_stream") return NoStream();
  if (text == "stream_exists") return StreamExists();
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() ||
      (text.size() > 1 && text[0] == '0')) {
    return Status::InvalidArgument("expected version must be any, no_stream, stream_exists or a "
                                   "non-negative integer");
  }
  return Exact(v);
}

std::string ExpectedVersion::ToString() const {
  switch (kind) {
    case Kind::kAny: return "any";
    case Kind::kNoStream: return "no_stream";
    case Kind::kStreamExists: return "stream_exists";
    case Kind::kExact: return std::to_string(version);
  }
  return "?";
}

Status ValidateStreamId(std::string_view stream_id) {
  return ValidateName("stream id", stream_id, integrity::kStreamIdSizeBytesMax);
}

Status ValidateClientStreamId(std::string_view stream_id) {
  CAIRN_RETURN_IF_ERROR(ValidateStreamId(stream_id));
  if (stream_id[0] == '$') {
    return Status::InvalidArgument("stream ids starting with '$' are reserved for system streams");
  }
  return Status::Ok();
}

Status ValidateEventType(std::string_view event_type) {
  return ValidateName("event type", event_type, integrity::kEventTypeSizeBytesMax);
}

std::optional<std::string> ParseUuid(std::string_view text) {
  if (text.size() != 36 || text[8] != '-' || text[13] != '-' || text[18] != '-' || text[23] != '-') {
    return std::nullopt;
  }
  std::string hex;
  hex.reserve(32);
  for (size_t i = 0; i < text.size(); ++i) {
    if (i == 8 || i == 13 || i == 18 || i == 23) continue;
    hex += text[i];
  }
  return HexDecode(hex);
}

std::string FormatUuid(std::string_view bytes16) {
  std::string h = HexEncode(bytes16);
  if (h.size() != 32) return h;
  return h.substr(0, 8) + "-" + h.substr(8, 4) + "-" + h.substr(12, 4) + "-" + h.substr(16, 4) +
         "-" + h.substr(20);
}

std::string NewUuidV4() {
  std::string b(16, '\0');
  if (!crypto::RandomPublicBytes({reinterpret_cast<uint8_t*>(b.data()), b.size()}).ok()) {
    b = crypto::RandomString(16);  // aborts if the CSPRNG is really broken
  }
  b[6] = static_cast<char>((b[6] & 0x0f) | 0x40);
  b[8] = static_cast<char>((b[8] & 0x3f) | 0x80);
  return b;
}

Status ValidateLimits(const Limits& limits) {
  if (limits.event_size_bytes_max == 0 || limits.event_size_bytes_max > kEventSizeBytesMaxLimit) {
    return Status::InvalidArgument("event_size_bytes_max must be 1 .. " +
                                   std::to_string(kEventSizeBytesMaxLimit));
  }
  if (limits.batch_size_bytes_max < limits.event_size_bytes_max ||
      limits.batch_size_bytes_max > kBatchSizeBytesMaxLimit) {
    return Status::InvalidArgument("batch_size_bytes_max must be event_size_bytes_max .. " +
                                   std::to_string(kBatchSizeBytesMaxLimit));
  }
  if (limits.batch_events_max == 0) return Status::InvalidArgument("batch_events_max must be >= 1");
  return Status::Ok();
}

Limits SystemLimits(const Limits& configured) {
  const Limits defaults;
  Limits out = configured;
  out.event_size_bytes_max = std::max(configured.event_size_bytes_max, defaults.event_size_bytes_max);
  out.batch_size_bytes_max = std::max(configured.batch_size_bytes_max, defaults.batch_size_bytes_max);
  out.batch_events_max = std::max(configured.batch_events_max, defaults.batch_events_max);
  return out;
}

}  // namespace cairn::engine
