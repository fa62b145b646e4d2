// CutUtf8: a text cut to a byte budget without splitting a UTF-8 sequence, for bounded copies
// of messages (a webhook's last error, an alert's summary) that JSON encoders and terminals will
// read later: a sequence cut in half is invalid UTF-8, which nlohmann::json's dump() throws on.
//
// Thread safety: a pure function.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace cairn {

// `text` itself when it fits in `size_bytes_max`; otherwise its longest prefix within the budget
// that does not end inside a multi-byte sequence (a sequence already invalid stays as it is).
inline std::string CutUtf8(std::string text, size_t size_bytes_max) {
  if (text.size() <= size_bytes_max) return text;
  size_t end = size_bytes_max;
  // Back up over continuation bytes to the start of the sequence that crosses the budget.
  while (end > 0 && (static_cast<uint8_t>(text[end]) & 0xc0) == 0x80) --end;
  text.resize(end);
  return text;
}

}  // namespace cairn
