#include "engine/key_page_token.h"

#include <cassert>
#include <charconv>

namespace cairn::engine {
namespace {

constexpr std::string_view kStoragePrefix = "storage:";
constexpr std::string_view kSubjectPrefix = "subject:";
constexpr size_t kHashHexSize = 64;  // SHA-256, lowercase hex

bool IsLowerHex(std::string_view text) {
  for (char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

}  // namespace

Result<KeyPageToken> KeyPageToken::Parse(std::string_view text) {
  KeyPageToken token;
  if (text.empty()) return token;
  const Status bad = Status::InvalidArgument("bad page token: give the next_page_token of the previous page, or none");
  if (text.starts_with(kStoragePrefix)) {
    const std::string_view digits = text.substr(kStoragePrefix.size());
    if (digits.empty() || digits.size() > 10 || (digits.size() > 1 && digits[0] == '0')) return bad;
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), token.epoch);
    if (ec != std::errc() || end != digits.data() + digits.size()) return bad;
    return token;
  }
  if (text.starts_with(kSubjectPrefix)) {
    const std::string_view hash = text.substr(kSubjectPrefix.size());
    if (hash.size() != kHashHexSize || !IsLowerHex(hash)) return bad;
    token.kind = Kind::kSubject;
    token.subject_hash = std::string(hash);
    return token;
  }
  return bad;
}

std::string KeyPageToken::Storage(uint32_t epoch) {
  return std::string(kStoragePrefix) + std::to_string(epoch);
}

std::string KeyPageToken::Subject(std::string_view hash_hex) {
  assert(hash_hex.size() == kHashHexSize && IsLowerHex(hash_hex));
  return std::string(kSubjectPrefix) + std::string(hash_hex);
}

}  // namespace cairn::engine
