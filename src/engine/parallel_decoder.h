// ParallelDecoder: decrypts and decodes a contiguous run of records while they are being scanned.
//
// The scanning thread Add()s stored records in position order; a helper thread (started for runs
// of at least kParallelRecordsMin records) decodes them as they arrive, and the scanning thread
// joins in once the scan is done, so scan and decryption overlap on two cores. Finish() returns
// the events, or the first error: a gap in positions (kDataLoss naming the missing position), a
// record that does not authenticate, or the scan's own error. A run may end early by size: once
// the stored records taken reach `size_bytes_max`, Add() takes no more (the record that reached
// it is kept, so a run holds at least one record) and Finish() returns those taken.
//
// Thread safety: Add() and Finish() are called by one thread; the helper is internal.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/block_arena.h"
#include "common/status.h"
#include "engine/types.h"
#include "keys/storage_keys.h"

namespace cairn::engine {

class ParallelDecoder {
 public:
  static constexpr size_t kParallelRecordsMin = 512;

  ParallelDecoder(const keys::StorageKeys* keys, uint64_t first_position, uint64_t count,
                  uint64_t size_bytes_max = UINT64_MAX);
  ~ParallelDecoder();
  ParallelDecoder(const ParallelDecoder&) = delete;
  ParallelDecoder& operator=(const ParallelDecoder&) = delete;

  // Takes the record at `position`; false (stop scanning) if it is not the next expected one or
  // the size bound was reached.
  bool Add(uint64_t position, std::string_view stored);
  Result<std::vector<RecordedEvent>> Finish(const Status& scan_status);

 private:
  // Claims and decodes records until none are left; `worker` 0 = scanning thread, 1 = helper.
  void DecodeClaimed(size_t worker);
  void StopHelper();

  const keys::StorageKeys* keys_;
  const uint64_t first_position_;
  const uint64_t count_;
  const uint64_t size_bytes_max_;
  uint64_t size_bytes_ = 0;  // stored bytes taken (scanning thread only)
  bool full_ = false;        // size_bytes_max_ reached: the run ends at scanned_
  // Stored records are copied into fixed blocks (never moved, so the helper may read a record
  // while later ones are added) instead of one allocation per record.
  BlockArena arena_;
  std::vector<std::string_view> stored_;
  std::vector<RecordedEvent> events_;
  std::vector<Status> errors_;          // one per worker: [0] scanning thread, [1] helper
  std::atomic<uint64_t> scanned_{0};     // records [0, scanned_) are in stored_
  std::atomic<uint64_t> next_{0};        // next record to claim for decoding
  std::atomic<bool> scan_done_{false};
  std::thread helper_;
};

}  // namespace cairn::engine
