#include "engine/record_check.h"

namespace cairn::engine {

std::optional<VerifyFailure> CheckStoredRecord(RecordCipher& cipher, uint64_t position,
                                               std::string_view stored, OpenedRecord* opened,
                                               integrity::Entry* entry) {
  Status s = cipher.Open(position, stored, opened);
  if (!s.ok()) return FailureAt(position, s.message());
  s = integrity::DecodeEntry(opened->entry, entry);
  if (!s.ok()) return FailureAt(position, "entry is malformed: " + s.message());
  if (entry->position != position) {
    return FailureAt(position, "entry names position " + std::to_string(entry->position));
  }
  if (crypto::Sha256(opened->data) != entry->data_hash) {
    return FailureAt(position, "data does not match the entry's data_hash");
  }
  if (crypto::Sha256(opened->metadata) != entry->metadata_hash) {
    return FailureAt(position, "metadata does not match the entry's metadata_hash");
  }
  return std::nullopt;
}

std::optional<VerifyFailure> CheckStreamLink(const integrity::Entry& e, uint64_t position,
                                             uint64_t expected_version, bool after_tombstone,
                                             const crypto::Hash& prev_leaf) {
  if (after_tombstone) {
    return FailureAt(position, "event appended to stream '" + e.stream_id + "' after its tombstone");
  }
  if (e.stream_version != expected_version) {
    return FailureAt(position, "stream '" + e.stream_id + "' has version " + std::to_string(e.stream_version) +
                                   " where " + std::to_string(expected_version) + " was expected");
  }
  const crypto::Hash& prev = expected_version == 0 ? integrity::kZeroHash : prev_leaf;
  if (e.stream_prev != prev) {
    return FailureAt(position, "stream chain of '" + e.stream_id + "' is broken (stream_prev does not link)");
  }
  return std::nullopt;
}

}  // namespace cairn::engine
