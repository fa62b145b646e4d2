#include "engine/record_check.h"

#include <cassert>
#include <cstdint>

#include "common/parallel_for.h"

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

RecordRunCheck::RecordRunCheck(const keys::StorageKeys* keys, bool parallel) : parallel_(parallel) {
  for (size_t w = 0; w < kParallelWorkersMax; ++w) workers_.push_back(std::make_unique<Worker>(keys));
}

void RecordRunCheck::Clear() {
  size_ = 0;
  arena_.Clear();
}

void RecordRunCheck::Add(uint64_t position, std::string_view stored) {
  assert(size_ == 0 || position == records_[size_ - 1].position + 1);
  if (size_ == records_.size()) records_.emplace_back();
  Record& r = records_[size_++];
  r.position = position;
  r.stored = arena_.Copy(stored);
  r.failure.reset();
}

const RecordRunCheck::Record& RecordRunCheck::At(size_t i) const {
  assert(i < size_);
  return records_[i];
}

void RecordRunCheck::CheckOne(Worker& worker, Record& record) {
  record.failure =
      CheckStoredRecord(worker.cipher, record.position, record.stored, &worker.opened, &record.entry);
  if (!record.failure) record.leaf = integrity::LeafHash(worker.opened.entry);
}

void RecordRunCheck::Check() {
  const size_t parallel_min = parallel_ ? kParallelCheckRecordsMin : SIZE_MAX;
  Status s = ParallelForWorkers(size_, parallel_min, [this](size_t worker, size_t i) {
    CheckOne(*workers_[worker], records_[i]);
    return Status::Ok();  // a record's failure is its own result, not the run's
  });
  assert(s.ok());
  (void)s;
}

}  // namespace cairn::engine
