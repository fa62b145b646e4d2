// The page token of a key listing (EventStore::ListKeys): where the next page starts. Opaque to
// callers; its text is "storage:<epoch>" (storage epochs from that one on, then every subject)
// or "subject:<hash hex>" (subjects after that hash). The empty token is the start.
//
// Thread safety: values.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace cairn::engine {

struct KeyPageToken {
  enum class Kind : uint8_t { kStorage, kSubject };
  Kind kind = Kind::kStorage;
  uint32_t epoch = 0;        // kStorage: the first epoch of the page
  std::string subject_hash;  // kSubject: the page starts after this subject

  // kInvalidArgument "bad page token" for text that Storage() or Subject() did not make.
  static Result<KeyPageToken> Parse(std::string_view text);
  static std::string Storage(uint32_t epoch);
  static std::string Subject(std::string_view hash_hex);
};

}  // namespace cairn::engine
