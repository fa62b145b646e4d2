// Base64url without padding (RFC 4648 §5, as JOSE uses it: RFC 7515 §2).
//
// The decoder is strict: it rejects padding ('='), characters outside [A-Za-z0-9_-], a length of
// 1 mod 4, and non-canonical encodings (unused low bits of the last character set), so that one
// byte string has exactly one accepted text form. Thread safety: pure functions.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace cairn::auth {

std::string Base64UrlEncode(std::string_view bytes);
std::optional<std::string> Base64UrlDecode(std::string_view text);

// True when every character of `text` is in the base64url alphabet [A-Za-z0-9_-].
bool IsBase64UrlAlphabet(std::string_view text);

}  // namespace cairn::auth
