// Strict JSON parsing for untrusted documents (JWT headers and payloads, JWKS).
//
// nlohmann::json silently keeps the last of duplicate object keys; a JWT with two `sub` or two
// `exp` claims could then mean different things to different parsers (RFC 7515 §5.2 allows
// rejecting them), so duplicates are an error here. Nesting depth is bounded. No exception
// escapes: malformed input gives std::nullopt. Thread safety: pure function.
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

#include <nlohmann/json.hpp>

namespace cairn::auth {

inline constexpr size_t kJsonDepthMax = 16;

// Parses `text` as one JSON value; nullopt on a syntax error, a duplicate key in any object, or
// nesting deeper than kJsonDepthMax.
std::optional<nlohmann::json> ParseStrictJson(std::string_view text);

}  // namespace cairn::auth
