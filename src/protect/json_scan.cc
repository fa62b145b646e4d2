#include "protect/json_scan.h"

#include <algorithm>
#include <cassert>
#include <charconv>
#include <cmath>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "protect/json_document.h"

namespace cairn::protect {
namespace {

// Numbers longer than this, or with an exponent, are checked for finiteness with from_chars.
inline constexpr size_t kNumberPlainSizeBytesMax = 300;
inline constexpr size_t kCompactIntegerDigitsMax = 18;  // fits int64: DumpDocument writes it back

bool IsSpace(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }

const char* SkipSpace(const char* p, const char* end) {
  while (p < end && IsSpace(*p)) ++p;
  return p;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// The code unit of "\uXXXX" at p (p points at the backslash), or -1.
int UnicodeEscape(const char* p, const char* end) {
  if (end - p < 6 || p[0] != '\\' || p[1] != 'u') return -1;
  int v = 0;
  for (int i = 2; i < 6; ++i) {
    const int h = HexValue(p[i]);
    if (h < 0) return -1;
    v = v * 16 + h;
  }
  return v;
}

// One escape sequence at p (a backslash); returns the byte after it or nullptr.
const char* ScanEscape(const char* p, const char* end) {
  if (end - p < 2) return nullptr;
  switch (p[1]) {
    case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
      return p + 2;
    case 'u': break;
    default: return nullptr;
  }
  const int unit = UnicodeEscape(p, end);
  if (unit < 0 || (unit >= 0xDC00 && unit <= 0xDFFF)) return nullptr;  // lone low surrogate
  if (unit < 0xD800 || unit > 0xDBFF) return p + 6;
  const int low = UnicodeEscape(p + 6, end);  // a high surrogate needs its low half
  if (low < 0xDC00 || low > 0xDFFF) return nullptr;
  return p + 12;
}

bool InRange(const char* p, unsigned char lo, unsigned char hi) {
  const auto c = static_cast<unsigned char>(*p);
  return c >= lo && c <= hi;
}

// One UTF-8 sequence of 2..4 bytes at p (lead byte >= 0x80): the byte after it or nullptr.
const char* ScanUtf8(const char* p, const char* end) {
  const auto c = static_cast<unsigned char>(*p);
  const ptrdiff_t left = end - p;
  if (c >= 0xC2 && c <= 0xDF) return left >= 2 && InRange(p + 1, 0x80, 0xBF) ? p + 2 : nullptr;
  if (c >= 0xE0 && c <= 0xEF) {
    if (left < 3) return nullptr;
    const unsigned char lo = c == 0xE0 ? 0xA0 : 0x80;
    const unsigned char hi = c == 0xED ? 0x9F : 0xBF;
    return InRange(p + 1, lo, hi) && InRange(p + 2, 0x80, 0xBF) ? p + 3 : nullptr;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    if (left < 4) return nullptr;
    const unsigned char lo = c == 0xF0 ? 0x90 : 0x80;
    const unsigned char hi = c == 0xF4 ? 0x8F : 0xBF;
    return InRange(p + 1, lo, hi) && InRange(p + 2, 0x80, 0xBF) && InRange(p + 3, 0x80, 0xBF)
               ? p + 4
               : nullptr;
  }
  return nullptr;
}

// Skips bytes that need no check (0x20..0x7f except '"' and '\\').
const char* SkipPlain(const char* p, const char* end) {
#if defined(__SSE2__)
  const __m128i quote = _mm_set1_epi8('"');
  const __m128i backslash = _mm_set1_epi8('\\');
  const __m128i space = _mm_set1_epi8(0x20);
  while (end - p >= 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    // Signed compare: bytes < 0x20 and bytes >= 0x80 (negative) both count as special.
    const __m128i special = _mm_or_si128(_mm_cmplt_epi8(v, space),
                                         _mm_or_si128(_mm_cmpeq_epi8(v, quote),
                                                      _mm_cmpeq_epi8(v, backslash)));
    const int mask = _mm_movemask_epi8(special);
    if (mask != 0) return p + __builtin_ctz(static_cast<unsigned>(mask));
    p += 16;
  }
#endif
  while (p < end) {
    const auto c = static_cast<unsigned char>(*p);
    if (c < 0x20 || c >= 0x80 || c == '"' || c == '\\') return p;
    ++p;
  }
  return p;
}

// The string whose opening quote is at p: the byte after its closing quote, or nullptr.
const char* ScanString(const char* p, const char* end, bool* escaped) {
  ++p;
  *escaped = false;
  while (true) {
    p = SkipPlain(p, end);
    if (p >= end) return nullptr;
    const auto c = static_cast<unsigned char>(*p);
    if (c == '"') return p + 1;
    if (c == '\\') {
      *escaped = true;
      p = ScanEscape(p, end);
    } else if (c < 0x20) {
      return nullptr;
    } else {
      p = ScanUtf8(p, end);
    }
    if (p == nullptr) return nullptr;
  }
}

const char* ScanDigits(const char* p, const char* end) {
  while (p < end && IsDigit(*p)) ++p;
  return p;
}

// Whether the integer literal [begin, end) fits int64 (negative) or uint64.
bool FitsIn64Bits(const char* begin, const char* end) {
  if (*begin == '-') {
    int64_t v = 0;
    const auto [ptr, ec] = std::from_chars(begin, end, v);
    return ec == std::errc() && ptr == end;
  }
  uint64_t v = 0;
  const auto [ptr, ec] = std::from_chars(begin, end, v);
  return ec == std::errc() && ptr == end;
}

// The number at p: the byte after it, or nullptr (malformed, finiteness not settled, or an
// integer beyond 64 bits).
const char* ScanNumber(const char* p, const char* end, NumberPolicy numbers, bool* compact) {
  const char* const start = p;
  if (*p == '-') ++p;
  if (p >= end || !IsDigit(*p)) return nullptr;
  const char* const int_begin = p;
  p = *p == '0' ? p + 1 : ScanDigits(p, end);
  const size_t int_digits = static_cast<size_t>(p - int_begin);
  bool integer = true;
  bool exponent = false;
  if (p < end && *p == '.') {
    integer = false;
    const char* digits = p + 1;
    p = ScanDigits(digits, end);
    if (p == digits) return nullptr;
  }
  if (p < end && (*p == 'e' || *p == 'E')) {
    integer = false;
    exponent = true;
    ++p;
    if (p < end && (*p == '+' || *p == '-')) ++p;
    const char* digits = p;
    p = ScanDigits(digits, end);
    if (p == digits) return nullptr;
  }
  // An integer beyond 64 bits is one the DOM path would round (nlohmann reads it as a double):
  // under kExact declined, so that ParseDocument refuses it on both paths. 18 digits always fit
  // (19 do for uint64, not below INT64_MIN).
  if (numbers == NumberPolicy::kExact && integer && int_digits > 18 && !FitsIn64Bits(start, p)) {
    return nullptr;
  }
  const bool negative_zero = *start == '-' && *int_begin == '0' && int_digits == 1;
  *compact = integer && int_digits <= kCompactIntegerDigitsMax && !negative_zero;
  if (exponent || static_cast<size_t>(p - start) > kNumberPlainSizeBytesMax) {
    // ParseDocument refuses numbers that do not fit a double (1e999). from_chars reports both
    // overflow and underflow as out of range; both decline here and ParseDocument decides.
    double v = 0;
    const auto [ptr, ec] = std::from_chars(start, p, v);
    if (ec != std::errc() || ptr != p || !std::isfinite(v)) return nullptr;
  }
  return p;
}

const char* ScanLiteral(const char* p, const char* end, std::string_view literal) {
  if (static_cast<size_t>(end - p) < literal.size()) return nullptr;
  if (std::string_view(p, literal.size()) != literal) return nullptr;
  return p + literal.size();
}

bool HasDuplicates(std::vector<std::string_view>::const_iterator begin,
                   std::vector<std::string_view>::const_iterator end,
                   std::vector<std::string_view>* scratch) {
  const size_t n = static_cast<size_t>(end - begin);
  if (n <= 8) {
    for (auto i = begin; i != end; ++i) {
      for (auto j = i + 1; j != end; ++j) {
        if (*i == *j) return true;
      }
    }
    return false;
  }
  scratch->assign(begin, end);
  std::sort(scratch->begin(), scratch->end());
  return std::adjacent_find(scratch->begin(), scratch->end()) != scratch->end();
}

}  // namespace

bool JsonScan::AddNode(JsonKind kind, uint32_t begin) {
  if (nodes_.size() >= kScanNodesMax) return false;
  const auto index = static_cast<uint32_t>(nodes_.size());
  ScanNode& node = nodes_.emplace_back();
  node.kind = kind;
  node.begin = begin;
  if (!stack_.empty()) {
    Frame& frame = stack_.back();
    node.parent = frame.node;
    node.key_begin = pending_key_begin_;
    node.key_end = pending_key_end_;
    pending_key_begin_ = pending_key_end_ = 0;
    if (frame.last_child == kNoScanNode) {
      nodes_[frame.node].first_child = index;
    } else {
      nodes_[frame.last_child].next_sibling = index;
    }
    frame.last_child = index;
  } else if (index != 0) {
    return false;  // a second root value
  }
  if (kind == JsonKind::kObject || kind == JsonKind::kArray) {
    if (stack_.size() >= kJsonDocumentDepthMax) return false;
    stack_.push_back(Frame{index, kNoScanNode, keys_.size()});
  }
  return true;
}

bool JsonScan::CloseObject(uint32_t end) {
  const Frame frame = stack_.back();
  stack_.pop_back();
  const auto first = keys_.begin() + static_cast<std::ptrdiff_t>(frame.keys_begin);
  if (HasDuplicates(first, keys_.end(), &sorted_keys_)) return false;
  ScanNode& node = nodes_[frame.node];
  node.end = end;
  node.has_enc_member = std::find(first, keys_.end(), kEncKey) != keys_.end();
  if (node.has_enc_member) ++enc_objects_;
  keys_.resize(frame.keys_begin);
  return true;
}

bool JsonScan::Scan(std::string_view text, NumberPolicy numbers) {
  text_ = text;
  nodes_.clear();
  stack_.clear();
  keys_.clear();
  enc_objects_ = 0;
  pending_key_begin_ = pending_key_end_ = 0;  // a scan that failed after a name left them set
  if (text.empty() || text.size() > kScanTextSizeBytesMax) return false;
  const char* const base = text.data();
  const char* const end = base + text.size();
  auto offset = [base](const char* p) { return static_cast<uint32_t>(p - base); };
  const char* p = SkipSpace(base, end);

  // Each turn reads one value at p, then the separators up to the next value.
  while (true) {
    if (p >= end) return false;
    const uint32_t begin = offset(p);
    const char* value_end = nullptr;
    bool compact = false;
    switch (*p) {
      case '{': {
        if (!AddNode(JsonKind::kObject, begin)) return false;
        p = SkipSpace(p + 1, end);
        if (p < end && *p == '}') {
          if (!CloseObject(offset(p) + 1)) return false;
          value_end = p + 1;
          break;
        }
        goto member_name;
      }
      case '[': {
        if (!AddNode(JsonKind::kArray, begin)) return false;
        p = SkipSpace(p + 1, end);
        if (p < end && *p == ']') {
          nodes_[stack_.back().node].end = offset(p) + 1;
          stack_.pop_back();
          value_end = p + 1;
          break;
        }
        continue;  // the first element
      }
      case '"': {
        bool escaped = false;
        value_end = ScanString(p, end, &escaped);
        if (value_end == nullptr || !AddNode(JsonKind::kString, begin)) return false;
        compact = !escaped;
        break;
      }
      case 't': case 'f':
        value_end = ScanLiteral(p, end, *p == 't' ? "true" : "false");
        if (value_end == nullptr || !AddNode(JsonKind::kBool, begin)) return false;
        compact = true;
        break;
      case 'n':
        value_end = ScanLiteral(p, end, "null");
        if (value_end == nullptr || !AddNode(JsonKind::kNull, begin)) return false;
        compact = true;
        break;
      default:
        if (*p != '-' && !IsDigit(*p)) return false;
        value_end = ScanNumber(p, end, numbers, &compact);
        if (value_end == nullptr || !AddNode(JsonKind::kNumber, begin)) return false;
        break;
    }
    if (nodes_.back().begin == begin && nodes_.back().kind != JsonKind::kObject &&
        nodes_.back().kind != JsonKind::kArray) {
      nodes_.back().end = offset(value_end);
      nodes_.back().compact = compact;
    }
    p = value_end;

    // After a value: close containers, or find the next element or member.
    while (true) {
      p = SkipSpace(p, end);
      if (stack_.empty()) return p == end;
      if (p >= end) return false;
      const bool in_object = nodes_[stack_.back().node].kind == JsonKind::kObject;
      if (*p == ',') {
        p = SkipSpace(p + 1, end);
        if (in_object) goto member_name;
        break;  // the next element
      }
      if (in_object && *p == '}') {
        if (!CloseObject(offset(p) + 1)) return false;
      } else if (!in_object && *p == ']') {
        nodes_[stack_.back().node].end = offset(p) + 1;
        stack_.pop_back();
      } else {
        return false;
      }
      ++p;
    }
    continue;

  member_name:
    // p: the opening quote of a member name (after '{' or ',' and spaces).
    if (p >= end || *p != '"') return false;
    {
      bool escaped = false;
      const char* name_end = ScanString(p, end, &escaped);
      if (name_end == nullptr || escaped) return false;  // escaped names: the DOM path
      pending_key_begin_ = offset(p) + 1;
      pending_key_end_ = offset(name_end) - 1;
      keys_.push_back(text_.substr(pending_key_begin_, pending_key_end_ - pending_key_begin_));
      p = SkipSpace(name_end, end);
      if (p >= end || *p != ':') return false;
      p = SkipSpace(p + 1, end);
    }
  }
}

void JsonScan::ShrinkIfLarge() {
  if (nodes_.capacity() > kScanNodesKept) std::vector<ScanNode>().swap(nodes_);
  if (keys_.capacity() > kScanNodesKept) std::vector<std::string_view>().swap(keys_);
  if (sorted_keys_.capacity() > kScanNodesKept) std::vector<std::string_view>().swap(sorted_keys_);
  if (stack_.capacity() > kScanNodesKept) std::vector<Frame>().swap(stack_);
}

std::string_view JsonScan::Text(uint32_t node) const {
  const ScanNode& n = nodes_.at(node);
  return text_.substr(n.begin, n.end - n.begin);
}

std::string_view JsonScan::Key(uint32_t node) const {
  const ScanNode& n = nodes_.at(node);
  return text_.substr(n.key_begin, n.key_end - n.key_begin);
}

uint32_t JsonScan::ResolveImpl(const JsonPointer& pointer, bool stop_at_enc, bool* blocked) const {
  if (nodes_.empty()) return kNoScanNode;
  uint32_t node = 0;
  for (const std::string& token : pointer.tokens()) {
    const ScanNode& n = nodes_[node];
    if (stop_at_enc && n.has_enc_member) return kNoScanNode;
    uint32_t child = n.first_child;
    if (n.kind == JsonKind::kObject) {
      while (child != kNoScanNode && Key(child) != token) child = nodes_[child].next_sibling;
    } else if (n.kind == JsonKind::kArray) {
      const std::optional<size_t> index = ParseArrayIndex(token);
      if (!index) {
        if (blocked != nullptr) *blocked = true;
        return kNoScanNode;
      }
      for (size_t i = 0; i < *index && child != kNoScanNode; ++i) child = nodes_[child].next_sibling;
    } else {
      if (n.kind != JsonKind::kNull && blocked != nullptr) *blocked = true;
      return kNoScanNode;
    }
    if (child == kNoScanNode) return kNoScanNode;
    node = child;
  }
  return node;
}

uint32_t JsonScan::Resolve(const JsonPointer& pointer) const { return ResolveImpl(pointer, false); }

bool JsonScan::PathBlocked(const JsonPointer& pointer) const {
  bool blocked = false;
  return ResolveImpl(pointer, false, &blocked) == kNoScanNode && blocked;
}

uint32_t JsonScan::ResolveOutsideEnc(const JsonPointer& pointer) const {
  return ResolveImpl(pointer, true);
}

std::vector<uint32_t> JsonScan::EncObjects() const {
  std::vector<uint32_t> out;
  for (uint32_t i = 0; i < nodes_.size();) {
    if (!nodes_[i].has_enc_member) {
      ++i;
      continue;
    }
    out.push_back(i);
    const uint32_t end = nodes_[i].end;  // skip its subtree (pre-order, nested spans)
    for (++i; i < nodes_.size() && nodes_[i].begin < end;) ++i;
  }
  return out;
}

std::string JsonScan::PointerOf(uint32_t node) const {
  std::vector<std::string> tokens;
  for (uint32_t n = node; nodes_.at(n).parent != kNoScanNode; n = nodes_[n].parent) {
    const ScanNode& parent = nodes_[nodes_[n].parent];
    if (parent.kind == JsonKind::kObject) {
      tokens.emplace_back(Key(n));
    } else {
      size_t index = 0;
      for (uint32_t c = parent.first_child; c != n; c = nodes_[c].next_sibling) ++index;
      tokens.push_back(std::to_string(index));
    }
  }
  std::reverse(tokens.begin(), tokens.end());
  return JsonPointer::Format(tokens);
}

}  // namespace cairn::protect
