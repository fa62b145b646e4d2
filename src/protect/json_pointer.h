// JSON Pointers (RFC 6901) over protect's documents.
//
// Syntax: "" is the whole document; otherwise "/" followed by reference tokens separated by "/",
// in which "~1" stands for "/" and "~0" for "~" (decoded in that order, so "~01" is the token
// "~1"). A "~" followed by anything else, or at the end, is an error. Pointers are bounded:
// at most kJsonPointerSizeBytesMax bytes of text and kJsonPointerTokensMax tokens.
// The escaped text is canonical (RFC 6901 escapes exactly "~" and "/"), so text() of a parsed
// pointer and Format() of its tokens are the same string — protect's AAD uses it.
//
// Resolution: against an object a token is a member name; against an array it must be "0" or a
// decimal number without leading zeros that is smaller than the array size. "-" (the element
// after the last) never resolves: reads only. Anything else (a scalar in the way, a missing
// member) resolves to nullptr. Resolution never throws and never allocates.
// Thread safety: values.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "protect/json_document.h"

namespace cairn::protect {

inline constexpr size_t kJsonPointerSizeBytesMax = 256;
inline constexpr size_t kJsonPointerTokensMax = 64;

class JsonPointer {
 public:
  JsonPointer() = default;  // the root, ""

  // kInvalidArgument naming the problem (bad escape, missing leading "/", too long).
  static Result<JsonPointer> Parse(std::string_view text);
  // "~" -> "~0", "/" -> "~1".
  static std::string EscapeToken(std::string_view token);
  // The pointer text of `tokens` (no limits applied).
  static std::string Format(const std::vector<std::string>& tokens);

  const std::string& text() const { return text_; }
  const std::vector<std::string>& tokens() const { return tokens_; }
  bool is_root() const { return tokens_.empty(); }
  // True when this pointer is `other` or an ancestor of it, token by token: "/a" is a prefix of
  // "/a/b" but not of "/ab".
  bool IsPrefixOf(const JsonPointer& other) const;

  bool operator==(const JsonPointer& other) const { return text_ == other.text_; }

 private:
  std::string text_;
  std::vector<std::string> tokens_;
};

// An array index token: "0" or [1-9][0-9]*, at most 18 digits; nullopt otherwise (including "-").
std::optional<size_t> ParseArrayIndex(std::string_view token);

// The value `pointer` names in `doc`, or nullptr.
const Json* Resolve(const JsonPointer& pointer, const Json& doc);
// When `pointer` does not resolve: true when its path is blocked by a value that could hold what
// it names (a string, number or boolean where an object or array was needed, or an array named by
// a token that is not an index); false when it is merely absent (a missing member, an index past
// the end, a null on the way).
bool PathBlocked(const JsonPointer& pointer, const Json& doc);
Json* Resolve(const JsonPointer& pointer, Json& doc);
// Same, but nullptr when the path runs through an object with a "$enc" member (a protected
// field: its inside is ciphertext, not the document's structure).
Json* ResolveOutsideEnc(const JsonPointer& pointer, Json& doc);

}  // namespace cairn::protect
