// Checks shared by the verifiers (engine/verifier.h, engine/range_verifier.h): the failure they
// report, and the checks of one stored record that need nothing but the record itself.
//
// Thread safety: pure functions; the RecordCipher passed in is not thread-safe (one per thread).
// A RecordRunCheck is used by one thread (its helper is internal to Check()).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/block_arena.h"
#include "crypto/sha256.h"
#include "engine/record_codec.h"
#include "integrity/entry.h"
#include "keys/storage_keys.h"

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

// The per-record half of verification over a run of consecutive stored records: CheckStoredRecord
// and the leaf hash of each, on the calling thread and, when `parallel` and the run has at least
// kParallelCheckRecordsMin records, one helper thread. What depends on the records before (stream
// links, the tree) stays with the caller, who walks the results in position order, so the first
// failure reported is the one at the lowest position, as with one thread.
class RecordRunCheck {
 public:
  static constexpr size_t kParallelCheckRecordsMin = 256;

  RecordRunCheck(const keys::StorageKeys* keys, bool parallel);
  RecordRunCheck(const RecordRunCheck&) = delete;
  RecordRunCheck& operator=(const RecordRunCheck&) = delete;

  // Starts a new run (results of the last one are dropped; buffers are kept for reuse).
  void Clear();
  // Copies the record stored at `position`; positions are the caller's to check.
  void Add(uint64_t position, std::string_view stored);
  // Checks every record added since Clear(); then the accessors below answer for i < size().
  void Check();

  size_t size() const { return size_; }
  uint64_t position(size_t i) const { return At(i).position; }
  // The record's failure, if it failed; entry() and leaf() are meaningful only when it did not.
  const std::optional<VerifyFailure>& failure(size_t i) const { return At(i).failure; }
  const integrity::Entry& entry(size_t i) const { return At(i).entry; }
  const crypto::Hash& leaf(size_t i) const { return At(i).leaf; }

 private:
  struct Worker {
    explicit Worker(const keys::StorageKeys* keys) : cipher(keys) {}
    RecordCipher cipher;
    OpenedRecord opened;  // its plaintext buffer is reused from record to record
  };
  struct Record {
    uint64_t position = 0;
    std::string_view stored;  // in arena_
    integrity::Entry entry;   // kept across runs: its strings reuse their buffers
    crypto::Hash leaf{};
    std::optional<VerifyFailure> failure;
  };
  const Record& At(size_t i) const;
  void CheckOne(Worker& worker, Record& record);

  const bool parallel_;
  std::vector<std::unique_ptr<Worker>> workers_;  // one per ParallelForWorkers worker
  BlockArena arena_;
  std::vector<Record> records_;  // [0, size_) are this run's
  size_t size_ = 0;
};

}  // namespace cairn::engine
