// A transparent hash for std::unordered_map<std::string, V, StringHash, std::equal_to<>>, so that
// find() takes a std::string_view without building a std::string.
//
// Thread safety: stateless.
#pragma once

#include <cstddef>
#include <functional>
#include <string_view>

namespace cairn {

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
};

}  // namespace cairn
