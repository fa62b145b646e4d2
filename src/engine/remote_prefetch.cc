#include "engine/remote_prefetch.h"

#include <algorithm>
#include <cassert>

#include "common/thread_name.h"
#include "engine/engine_metrics.h"
#include "engine/group_summary.h"
#include "integrity/entry.h"

namespace cairn::engine {

Status DecodeRemoteEntry(RecordCipher& cipher, uint64_t position, std::string_view stored,
                         RemoteEntry* out) {
  OpenedRecord opened;
  CAIRN_RETURN_IF_ERROR(cipher.Open(position, stored, &opened));
  integrity::Entry entry;
  CAIRN_RETURN_IF_ERROR(integrity::DecodeEntry(opened.entry, &entry));
  out->position = position;
  out->id = EventIdKey::From(entry.event_id);
  out->stream_tag = StreamTag(entry.stream_id);
  out->stream_version = entry.stream_version;
  out->content_tag = ContentTag(entry.event_type, entry.content_type, entry.metadata_hash.data(),
                                entry.data_hash.data(), opened.data);
  out->stream_id = std::move(entry.stream_id);
  out->recorded_at_ns = entry.recorded_at_ns;
  return Status::Ok();
}

RemotePrefetcher::RemotePrefetcher(storage::LogStore* store, const keys::StorageKeys* keys)
    : store_(store), cipher_(keys) {
  thread_ = std::thread([this] {
    SetCurrentThreadName("cairn-prefetch");
    Run();
  });
}

RemotePrefetcher::~RemotePrefetcher() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void RemotePrefetcher::Heard(uint64_t tree_size, storage::TreeState* announced) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (tree_size <= heard_) return;
    heard_ = tree_size;
    if (!ActiveLocked()) {  // an idle node keeps nothing: its next rebase may start elsewhere
      entries_.clear();
      summaries_.clear();
      return;
    }
    if (announced != nullptr && !announced->group_summary.empty() &&
        announced->group_from < announced->size && announced->group_from >= std::max(next_, applied_) &&
        announced->size - announced->group_from <= kScanRecordsMax) {
      summaries_[announced->group_from] = {announced->size, std::move(announced->group_summary)};
      if (summaries_.size() > kSummariesMax) summaries_.erase(summaries_.begin());
    }
  }
  wake_.notify_all();
}

bool RemotePrefetcher::ActiveLocked() const {
  return applied_at_ns_ != 0 && MonotonicNowNs() - applied_at_ns_ < kActiveWindowMs * 1'000'000;
}

void RemotePrefetcher::Skip(uint64_t from, uint64_t to) {
  if (from >= to) return;
  std::lock_guard<std::mutex> lock(mu_);
  if (!skips_.empty() && from < skips_.back().second) return;  // out of order: not skipped
  if (skips_.size() == kSkipRangesMax) skips_.pop_front();
  skips_.emplace_back(from, to);
}

void RemotePrefetcher::Applied(uint64_t size) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    applied_ = std::max(applied_, size);
    applied_at_ns_ = MonotonicNowNs();
    while (!entries_.empty() && entries_.front().position < applied_) entries_.pop_front();
  }
  wake_.notify_all();  // room may have been made
}

size_t RemotePrefetcher::Take(uint64_t from, uint64_t to,
                              std::vector<std::optional<RemoteEntry>>* out) {
  assert(from <= to);
  out->assign(to - from, std::nullopt);
  size_t taken = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    while (!entries_.empty() && entries_.front().position < to) {
      RemoteEntry& e = entries_.front();
      if (e.position >= from) {
        (*out)[e.position - from] = std::move(e);
        ++taken;
      }
      entries_.pop_front();
    }
    applied_ = std::max(applied_, to);
    applied_at_ns_ = MonotonicNowNs();
  }
  wake_.notify_all();
  return taken;
}

size_t RemotePrefetcher::TakeConsecutive(uint64_t from, std::vector<RemoteEntry>* out) {
  size_t taken = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    while (!entries_.empty() && entries_.front().position < from) entries_.pop_front();
    while (!entries_.empty() && entries_.front().position == from + taken) {
      out->push_back(std::move(entries_.front()));
      entries_.pop_front();
      ++taken;
    }
    applied_ = std::max(applied_, from + taken);
    applied_at_ns_ = MonotonicNowNs();
  }
  wake_.notify_all();
  return taken;
}

std::optional<std::pair<uint64_t, uint64_t>> RemotePrefetcher::NextRangeLocked() {
  if (entries_.size() >= kEntriesMax || heard_ == failed_at_heard_ || !ActiveLocked()) {
    return std::nullopt;
  }
  uint64_t from = std::max(next_, applied_);
  // Past the own ranges at or before `from` (consecutive own groups are adjacent ranges).
  while (!skips_.empty() && skips_.front().first <= from) {
    from = std::max(from, skips_.front().second);
    skips_.pop_front();
  }
  next_ = from;  // nothing before it is left to read
  if (from >= heard_) return std::nullopt;
  uint64_t to = std::min(heard_, from + kScanRecordsMax);
  if (!skips_.empty()) to = std::min(to, skips_.front().first);  // the next own range
  assert(from < to);
  return std::make_pair(from, to);
}

uint64_t RemotePrefetcher::DecodeFromSummary(uint64_t from, uint64_t* records_to,
                                             std::vector<RemoteEntry>* batch) {
  assert(batch->empty() && from < *records_to);
  uint64_t group_from = 0;
  Summary summary;
  {
    std::lock_guard<std::mutex> lock(mu_);
    while (!summaries_.empty() && summaries_.begin()->second.size <= from) summaries_.erase(summaries_.begin());
    if (summaries_.empty()) return from;
    auto it = summaries_.begin();
    if (it->first > from) {
      *records_to = std::min(*records_to, it->first);
      return from;
    }
    group_from = it->first;
    summary = std::move(it->second);
    summaries_.erase(it);
  }
  std::vector<RemoteEntry> entries;
  // One that does not open is left to the records (and to the sequencer, which refuses it).
  if (!OpenGroupSummary(cipher_, group_from, summary.size, summary.sealed, &entries).ok()) return from;
  for (RemoteEntry& e : entries) {
    if (e.position >= from) batch->push_back(std::move(e));
  }
  assert(!batch->empty() && batch->front().position == from && batch->back().position + 1 == summary.size);
  return summary.size;
}

uint64_t RemotePrefetcher::DecodeRecords(uint64_t from, uint64_t to, std::vector<RemoteEntry>* batch,
                                         bool* failed) {
  uint64_t expected = from;
  Status decoded;
  const Status scanned =
      store_->ScanRecords(from, to - from, [&](uint64_t position, std::string_view stored) {
        if (position != expected) return false;
        RemoteEntry& e = batch->emplace_back();
        decoded = DecodeRemoteEntry(cipher_, position, stored, &e);
        if (!decoded.ok()) {
          batch->pop_back();
          return false;
        }
        ++expected;
        return true;
      });
  *failed = !scanned.ok() || !decoded.ok();
  return expected;
}

void RemotePrefetcher::Run() {
  std::vector<RemoteEntry> batch;
  while (true) {
    std::pair<uint64_t, uint64_t> range;
    {
      std::unique_lock<std::mutex> lock(mu_);
      std::optional<std::pair<uint64_t, uint64_t>> next;
      wake_.wait(lock, [&] { return stopping_ || (next = NextRangeLocked()).has_value(); });
      if (stopping_) return;
      range = *next;
    }
    batch.clear();
    uint64_t expected = DecodeFromSummary(range.first, &range.second, &batch);
    const bool from_summary = expected != range.first;
    bool failed = false;
    if (!from_summary) expected = DecodeRecords(range.first, range.second, &batch, &failed);
    std::lock_guard<std::mutex> lock(mu_);
    // A failed or short read (a storage epoch this node has not loaded yet, an outage) is
    // retried once more is heard; meanwhile the sequencer reads those records itself.
    if (failed || expected < range.second) failed_at_heard_ = heard_;
    for (RemoteEntry& e : batch) {
      if (e.position < applied_ || e.position < next_) continue;
      assert(entries_.empty() || entries_.back().position < e.position);
      entries_.push_back(std::move(e));
      if (from_summary) summarized_.fetch_add(1, std::memory_order_relaxed);
    }
    next_ = std::max(next_, expected);
  }
}

}  // namespace cairn::engine
