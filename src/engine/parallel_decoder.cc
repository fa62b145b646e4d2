#include "engine/parallel_decoder.h"

#include <cassert>
#include <cstdint>

#include "common/parallel_for.h"
#include "common/thread_name.h"
#include "engine/event_codec.h"
#include "engine/record_codec.h"

namespace cairn::engine {

ParallelDecoder::ParallelDecoder(const keys::StorageKeys* keys, uint64_t first_position,
                                 uint64_t count, uint64_t size_bytes_max)
    : keys_(keys), first_position_(first_position), count_(count),
      size_bytes_max_(size_bytes_max), stored_(count), events_(count), errors_(2) {
  assert(size_bytes_max_ > 0);
  // A helper only when one of the process-wide helper slots is free (common/parallel_for.h):
  // many concurrent reads of $all do not start a thread each.
  if (count_ >= kParallelRecordsMin && TryAcquireParallelHelper()) {
    helper_ = std::thread([this] {
      SetCurrentThreadName("cairn-decode");
      DecodeClaimed(1);
      ReleaseParallelHelper();
    });
  }
}

ParallelDecoder::~ParallelDecoder() { StopHelper(); }

void ParallelDecoder::StopHelper() {
  scan_done_.store(true, std::memory_order_release);
  if (helper_.joinable()) helper_.join();
}

bool ParallelDecoder::Add(uint64_t position, std::string_view stored) {
  const uint64_t i = scanned_.load(std::memory_order_relaxed);
  if (full_ || i >= count_ || position != first_position_ + i) return false;
  stored_[i] = arena_.Copy(stored);
  size_bytes_ += stored.size();
  full_ = size_bytes_ >= size_bytes_max_;
  scanned_.store(i + 1, std::memory_order_release);
  return true;
}

void ParallelDecoder::DecodeClaimed(size_t worker) {
  Status& error = errors_[worker];
  RecordCipher cipher(keys_);
  while (error.ok()) {
    const uint64_t i = next_.fetch_add(1, std::memory_order_relaxed);
    if (i >= count_) return;
    // Wait for the scanner to reach record i (or to stop short of it).
    while (scanned_.load(std::memory_order_acquire) <= i) {
      if (scan_done_.load(std::memory_order_acquire) && scanned_.load(std::memory_order_acquire) <= i) return;
      std::this_thread::yield();
    }
    error = DecodeRecordedEvent(cipher, first_position_ + i, stored_[i], &events_[i]);
  }
}

Result<std::vector<RecordedEvent>> ParallelDecoder::Finish(const Status& scan_status) {
  scan_done_.store(true, std::memory_order_release);
  if (scan_status.ok()) DecodeClaimed(0);  // the scanning thread joins the decoding
  StopHelper();
  CAIRN_RETURN_IF_ERROR(scan_status);
  const uint64_t scanned = scanned_.load(std::memory_order_acquire);
  assert(scanned <= count_);
  if (scanned != count_ && !full_) {
    const uint64_t missing = first_position_ + scanned;
    return Status::DataLoss("record at position " + std::to_string(missing) + " is missing",
                            static_cast<int64_t>(missing));
  }
  // Report the failure at the lowest position, whichever worker met it.
  const Status* first = nullptr;
  for (const Status& e : errors_) {
    if (e.ok()) continue;
    if (first == nullptr || e.detail().value_or(INT64_MAX) < first->detail().value_or(INT64_MAX)) first = &e;
  }
  if (first != nullptr) return *first;
  assert(scanned > 0 || count_ == 0);
  events_.resize(scanned);  // short only when the size bound ended the run
  return std::move(events_);
}

}  // namespace cairn::engine
