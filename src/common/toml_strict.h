// The shared start of cairn's strict TOML files (policy, protection rules, alert rules): a size
// bound, then one parse whose error names "<source>:<line>:<column>". Header-only so that
// `common` itself does not link toml++; only modules that link tomlplusplus include it.
//
// Thread safety: pure functions.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include <toml++/toml.h>

#include "common/status.h"

namespace cairn {

// kInvalidArgument "<source>:<line>:<column>: <what>".
inline Status TomlErrorAt(const std::string& source, const toml::source_region& where,
                          const std::string& what) {
  return Status::InvalidArgument(source + ":" + std::to_string(where.begin.line) + ":" +
                                 std::to_string(where.begin.column) + ": " + what);
}

// kResourceExhausted "<source>: <kind> larger than N bytes" past `size_bytes_max`;
// kInvalidArgument "<source>:<line>:<column>: invalid TOML: …" for text that does not parse.
inline Result<toml::table> ParseTomlBounded(std::string_view text, const std::string& source,
                                            size_t size_bytes_max, std::string_view kind) {
  if (text.size() > size_bytes_max) {
    return Status::ResourceExhausted(source + ": " + std::string(kind) + " larger than " +
                                     std::to_string(size_bytes_max) + " bytes");
  }
  try {
    return toml::parse(text, source);
  } catch (const toml::parse_error& e) {
    return TomlErrorAt(source, e.source(), "invalid TOML: " + std::string(e.description()));
  }
}

}  // namespace cairn
