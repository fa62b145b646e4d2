// Limits every LogStore backend applies to key material, metadata and checkpoints, so that a name
// or value accepted by one backend is accepted by the other (`cairn migrate` copies between them).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "common/status.h"

namespace cairn::storage {

inline constexpr size_t kNameSizeBytesMax = 1024;                   // key material and meta names
inline constexpr size_t kSmallValueSizeBytesMax = size_t{1} << 20;  // key blobs, meta, notes

// Names: 1..kNameSizeBytesMax bytes without NUL (PostgreSQL text cannot hold NUL).
inline Status CheckName(std::string_view name, std::string_view what) {
  if (name.empty() || name.size() > kNameSizeBytesMax || name.find('\0') != std::string_view::npos) {
    return Status::InvalidArgument(std::string(what) + " name must be 1.." +
                                   std::to_string(kNameSizeBytesMax) + " bytes without NUL");
  }
  return Status::Ok();
}

inline Status CheckSmallValue(std::string_view value, std::string_view what) {
  if (value.size() > kSmallValueSizeBytesMax) {
    return Status::InvalidArgument(std::string(what) + " exceeds " +
                                   std::to_string(kSmallValueSizeBytesMax) + " bytes");
  }
  return Status::Ok();
}

}  // namespace cairn::storage
