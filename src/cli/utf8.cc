#include "cli/utf8.h"

#include <cstdint>
#include <cstdio>

namespace cairn::cli {
namespace {

// Length of the valid UTF-8 sequence at s[i] and its code point; 0 when invalid.
size_t DecodeOne(std::string_view s, size_t i, uint32_t* cp) {
  const auto c = static_cast<uint8_t>(s[i]);
  if (c < 0x80) {
    *cp = c;
    return 1;
  }
  size_t n;
  if ((c & 0xe0) == 0xc0) {
    n = 1;
    *cp = c & 0x1f;
  } else if ((c & 0xf0) == 0xe0) {
    n = 2;
    *cp = c & 0x0f;
  } else if ((c & 0xf8) == 0xf0) {
    n = 3;
    *cp = c & 0x07;
  } else {
    return 0;
  }
  if (i + n >= s.size()) return 0;
  for (size_t k = 1; k <= n; ++k) {
    const auto cc = static_cast<uint8_t>(s[i + k]);
    if ((cc & 0xc0) != 0x80) return 0;
    *cp = (*cp << 6) | (cc & 0x3f);
  }
  static constexpr uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
  if (*cp < kMin[n] || *cp > 0x10ffff || (*cp >= 0xd800 && *cp <= 0xdfff)) return 0;
  return n + 1;
}

void AppendEscape(std::string* out, const char* format, unsigned value) {
  char buf[16];
  std::snprintf(buf, sizeof buf, format, value);
  *out += buf;
}

void AppendControl(std::string* out, uint32_t cp) {
  switch (cp) {
    case '\n': *out += "\\n"; return;
    case '\t': *out += "\\t"; return;
    case '\r': *out += "\\r"; return;
    default:
      AppendEscape(out, cp < 0x80 ? "\\x%02x" : "\\u%04x", cp);
  }
}

bool IsBidiControl(uint32_t cp) {
  return cp == 0x061c || cp == 0x200e || cp == 0x200f || (cp >= 0x202a && cp <= 0x202e) ||
         (cp >= 0x2066 && cp <= 0x2069);
}

}  // namespace

bool IsValidUtf8(std::string_view s) {
  uint32_t cp = 0;
  for (size_t i = 0; i < s.size();) {
    const size_t n = DecodeOne(s, i, &cp);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

std::string TerminalSafe(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  uint32_t cp = 0;
  for (size_t i = 0; i < s.size();) {
    const size_t n = DecodeOne(s, i, &cp);
    if (n == 0) {
      AppendEscape(&out, "\\x%02x", static_cast<uint8_t>(s[i]));
      i += 1;
      continue;
    }
    if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0)) {
      AppendControl(&out, cp);
    } else if (IsBidiControl(cp)) {
      AppendEscape(&out, "\\u%04x", cp);
    } else {
      out.append(s.substr(i, n));
    }
    i += n;
  }
  return out;
}

std::string KeyValueSafe(std::string_view s) {
  const bool quote = s.empty() || s.find_first_of(" =\"\\") != std::string_view::npos;
  if (!quote) return TerminalSafe(s);
  std::string escaped;
  escaped.reserve(s.size() + 2);
  for (char c : s) {
    if (c == '"' || c == '\\') escaped.push_back('\\');
    escaped.push_back(c);
  }
  return "\"" + TerminalSafe(escaped) + "\"";
}

}  // namespace cairn::cli
