// Checks shared by the verifiers (engine/verifier.h, engine/range_verifier.h): the failure they
// report, and the checks of one stored record that need nothing but the record itself.
//
// Thread safety: pure functions; the RecordCipher passed in is not thread-safe (one per thread).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "engine/record_codec.h"
#include "integrity/entry.h"

namespace cairn::engine {

// What failed, and where when the failure has a position.
struct VerifyFailure {
  std::optional<uint64_t> position;
  std::string what;
  bool stopped = false;  // the pacing stopped the run: no verdict
};

inline VerifyFailure FailureAt(uint64_t position, std::string what) {
  return {position, std::move(what)};
}

// The record stored at `position` decrypts there, its entry decodes and names that position, and
// its data and metadata hashes match the stored bytes. Fills *opened and *entry.
std::optional<VerifyFailure> CheckStoredRecord(RecordCipher& cipher, uint64_t position,
                                               std::string_view stored, OpenedRecord* opened,
                                               integrity::Entry* entry);

// The stream checks of an event given what precedes it in its stream: not after a tombstone, the
// next version, and stream_prev linking to `prev_leaf` (ignored at version 0: zero hash).
std::optional<VerifyFailure> CheckStreamLink(const integrity::Entry& entry, uint64_t position,
                                             uint64_t expected_version, bool after_tombstone,
                                             const crypto::Hash& prev_leaf);

}  // namespace cairn::engine
