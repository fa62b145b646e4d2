// ParseDecimal: ASCII decimal text as an unsigned 64-bit integer, strictly — no sign, no
// leading zeros ("0" alone is zero), no spaces, within uint64_t — for numbers in formats cairn
// reads (checkpoint sizes, notification payloads). Thread safety: a pure function.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace cairn {

inline std::optional<uint64_t> ParseDecimal(std::string_view s) {
  if (s.empty() || (s.size() > 1 && s[0] == '0')) return std::nullopt;
  uint64_t value = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    const uint64_t digit = static_cast<uint64_t>(c - '0');
    if (value > (UINT64_MAX - digit) / 10) return std::nullopt;
    value = value * 10 + digit;
  }
  return value;
}

}  // namespace cairn
