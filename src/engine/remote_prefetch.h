// RemotePrefetcher: on a shared store, reads what other nodes commit as soon as their commit
// notification arrives, so that the sequencer's rebase under the commit lock finds it decoded.
//
// Why: with several nodes nearly every commit finds the log extended by the others, and the
// sequencer must learn those events (their ids for idempotency, the streams whose cached heads
// went stale) before it builds on them. Reading and decrypting them under the commit lock made
// every commit of every node longer by the time to read ~800 records; the lock serialises all
// nodes, so that time came straight off the aggregate.
//
// A commit notification comes with the tree row as read right after it, and so with the summary
// of the group that brought the log to that size when that group left one (group_summary.h).
// Such a group is decoded from that one sealed value instead of from a record per event — on a
// busy cluster, where nodes take turns under the lock, nearly every group — which spares every
// node reading and decrypting all the other nodes' records.
//
// Correctness does not depend on it: records below a committed tree size never change, so an
// entry decoded early is the same as one decoded under the lock, and Take() returns only what it
// has; the sequencer reads the rest itself.
//
// Thread safety: every public member is thread-safe. One background thread does the reading;
// the destructor stops and joins it.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "common/status.h"
#include "engine/id_window.h"
#include "engine/record_codec.h"
#include "keys/storage_keys.h"
#include "storage/log_store.h"

namespace cairn::engine {

// What the sequencer learns from one record committed by another node.
struct RemoteEntry {
  uint64_t position = 0;
  EventIdKey id;
  uint64_t stream_tag = 0;
  uint64_t stream_version = 0;
  uint64_t content_tag = 0;  // ContentTag (id_window.h)
  std::string stream_id;
  int64_t recorded_at_ns = 0;
};

// Opens and decodes one stored record into *out. kDataLoss when it does not authenticate.
Status DecodeRemoteEntry(RecordCipher& cipher, uint64_t position, std::string_view stored,
                         RemoteEntry* out);

class RemotePrefetcher {
 public:
  // Decoded entries kept at most (beyond it, reading pauses until the sequencer takes them).
  static constexpr size_t kEntriesMax = 100'000;
  // Records read per store scan.
  static constexpr uint64_t kScanRecordsMax = 4096;
  // Own commit ranges remembered for skipping (older ones are forgotten: at worst re-read).
  static constexpr size_t kSkipRangesMax = 64;
  // Reads only while the node appends: within this long of its last commit or rebase. A node
  // that only serves reads decodes nothing and keeps nothing.
  static constexpr int64_t kActiveWindowMs = 5000;

  // `store` and `keys` must outlive this object.
  RemotePrefetcher(storage::LogStore* store, const keys::StorageKeys* keys);
  ~RemotePrefetcher();
  RemotePrefetcher(const RemotePrefetcher&) = delete;
  RemotePrefetcher& operator=(const RemotePrefetcher&) = delete;

  // Summaries of announced groups kept for the reading thread (the oldest are dropped).
  static constexpr size_t kSummariesMax = 16;

  // The log is known to be committed up to `tree_size`: read what is not read yet. `announced`:
  // the tree row read with it (ReadTreeStateWithSummary); its group summary, if any, is used
  // instead of the records of that group.
  void Heard(uint64_t tree_size, storage::TreeState* announced = nullptr);
  // This node is committing [from, to) itself: no need to read it (a range that then does not
  // land is simply not prefetched; Take() misses it and the caller reads it).
  void Skip(uint64_t from, uint64_t to);
  // The caller's state covers [0, size): drops everything below and never reads below it.
  void Applied(uint64_t size);
  // Moves the prefetched entries of [from, to) into *out: (*out)[i] is position from + i, or
  // nullopt when it was not prefetched. Returns how many were.
  size_t Take(uint64_t from, uint64_t to, std::vector<std::optional<RemoteEntry>>* out);
  // Moves the prefetched entries from position `from` on into *out, as long as they are
  // consecutive; returns how many (0 when `from` is not prefetched).
  size_t TakeConsecutive(uint64_t from, std::vector<RemoteEntry>* out);
  // Entries decoded from group summaries rather than records and kept, since construction.
  uint64_t summarized() const { return summarized_.load(std::memory_order_relaxed); }

 private:
  void Run();
  // Under mu_: the next range to read, [from, to), or nullopt when there is nothing to read.
  std::optional<std::pair<uint64_t, uint64_t>> NextRangeLocked();
  bool ActiveLocked() const;
  // Reading thread: decodes [from, …) into *batch from an announced group's summary that covers
  // `from`; returns the end of what it decoded, or `from` (then *records_to is lowered to where
  // the next announced group starts, so that its summary is used after the records before it).
  uint64_t DecodeFromSummary(uint64_t from, uint64_t* records_to, std::vector<RemoteEntry>* batch);
  // Reading thread: decodes the records of [from, to) into *batch, stopping at the first that is
  // missing or does not open (then *failed is set if it did not open); returns the end of what it decoded.
  uint64_t DecodeRecords(uint64_t from, uint64_t to, std::vector<RemoteEntry>* batch, bool* failed);

  storage::LogStore* const store_;
  RecordCipher cipher_;  // the reading thread only

  std::mutex mu_;  // guards everything below
  std::condition_variable wake_;
  bool stopping_ = false;
  uint64_t heard_ = 0;      // committed size last heard of
  uint64_t next_ = 0;       // first position not read yet
  uint64_t applied_ = 0;    // the caller's state covers [0, applied_)
  int64_t applied_at_ns_ = 0;  // MonotonicNowNs() of the last Applied() or Take(); 0: never
  uint64_t failed_at_heard_ = 0;  // heard_ when a read failed: retry only after more is heard
  std::deque<std::pair<uint64_t, uint64_t>> skips_;  // [from, to), ascending
  std::deque<RemoteEntry> entries_;                  // ascending positions, all ≥ applied_
  struct Summary {
    uint64_t size = 0;  // the group is [key, size)
    std::string sealed;
  };
  std::map<uint64_t, Summary> summaries_;  // by first position; at most kSummariesMax
  std::atomic<uint64_t> summarized_{0};
  std::thread thread_;
};

}  // namespace cairn::engine
