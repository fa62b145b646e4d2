// StreamPageSource: the reads of a consumer group or a webhook on ONE stream, through the stream
// index, instead of scanning the whole log and filtering (what one on "$all" does). A consumer of
// a stream of a few events in a log of millions reads those few.
//
// Read(from, want) returns the stream's events at positions >= `from` in log order, and the
// position below which it has returned every event of the stream (`read_to`): the consumer's
// position moves there, also past other streams' positions. It keeps the next stream version
// between calls; a `from` it did not hand out (a restart, or the group stopped reading mid-page)
// finds its version by a binary search over the stream's versions (O(log n) one-event reads).
// A deleted stream (tombstoned) is read as the log is, from `from` up to its tombstone (the
// caller filters), since the stream index no longer answers for it. (A live subscription on a
// stream switches to the log at the stream's end instead: live_cursor.cc; a group may still have
// events before the tombstone to deliver.) Events at or beyond the committed size are not
// returned, as ReadAll returns none: a write whose sync failed is never handed out.
//
// Thread safety: none; one thread at a time (a group's delivery thread, the webhook worker that
// holds the hook). `store` must outlive it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "engine/event_store.h"

namespace cairn::subscribe {

class StreamPageSource {
 public:
  StreamPageSource(engine::EventStore* store, std::string stream)
      : store_(store), stream_(std::move(stream)) {}

  struct Page {
    std::vector<engine::RecordedEvent> events;  // position order, each >= from
    uint64_t read_to = 0;                       // every event of the stream below it returned
    bool at_end = false;                        // nothing more to read now
    bool stream_deleted = false;                // the stream is tombstoned (read via the log)
  };
  Result<Page> Read(uint64_t from, uint64_t want);
  // The caller stopped at an event it read (`position`, stream version `version`) and will ask
  // from there next: that read needs no search.
  void Rewind(uint64_t position, uint64_t version) {
    next_version_ = version;
    next_from_ = position;
  }

  uint64_t version_searches() const { return version_searches_; }  // for tests
  uint64_t index_pages() const { return index_pages_; }  // pages read through the stream index

 private:
  // The first version of the stream at a position >= `from` (one past the last when none).
  Result<uint64_t> FirstVersionFrom(uint64_t from, uint64_t last_version);
  // A deleted stream: the log from `from` up to its tombstone, then nothing (no event follows a
  // tombstone).
  Result<Page> ReadDeleted(uint64_t from, uint64_t want, uint64_t size_before);

  engine::EventStore* store_;
  const std::string stream_;
  // The version to read next, valid while the caller asks from `next_from_`.
  std::optional<uint64_t> next_version_;
  uint64_t next_from_ = 0;
  uint64_t version_searches_ = 0;
  uint64_t index_pages_ = 0;
};

// What a consumer of "$all" reads: the log from `from`, read_to one past the last event.
Result<StreamPageSource::Page> ReadLogPage(engine::EventStore* store, uint64_t from, uint64_t want);

}  // namespace cairn::subscribe
