#include "subscribe/stream_page_source.h"

#include <algorithm>
#include <cassert>

namespace cairn::subscribe {

Result<StreamPageSource::Page> ReadLogPage(engine::EventStore* store, uint64_t from, uint64_t want) {
  StreamPageSource::Page page;
  CAIRN_ASSIGN_OR_RETURN(page.events, store->ReadAll(from, want));
  page.read_to = page.events.empty() ? from : page.events.back().entry.position + 1;
  page.at_end = page.events.size() < want;
  return page;
}

Result<StreamPageSource::Page> StreamPageSource::ReadDeleted(uint64_t from, uint64_t want,
                                                               uint64_t size_before) {
  next_version_.reset();
  CAIRN_ASSIGN_OR_RETURN(engine::StreamInfo info, store_->GetStreamInfo(stream_));
  const uint64_t end = info.exists ? info.last_position + 1 : 0;  // one past the tombstone
  if (from >= end) return Page{{}, std::max(from, size_before), true, true};
  CAIRN_ASSIGN_OR_RETURN(Page page, ReadLogPage(store_, from, std::min(want, end - from)));
  page.at_end = page.at_end && page.read_to >= end;
  page.stream_deleted = true;
  return page;
}

Result<uint64_t> StreamPageSource::FirstVersionFrom(uint64_t from, uint64_t last_version) {
  ++version_searches_;
  uint64_t lo = 0, hi = last_version + 1;  // the answer is in [lo, hi]
  while (lo < hi) {
    const uint64_t mid = lo + (hi - lo) / 2;
    CAIRN_ASSIGN_OR_RETURN(engine::ReadStreamResult one,
                           store_->ReadStream(stream_, mid, engine::Direction::kForwards, 1));
    if (one.events.empty()) return Status::Internal("a stream version below its last one reads empty");
    assert(one.events.front().entry.stream_version == mid);
    if (one.events.front().entry.position >= from) {
      hi = mid;
    } else {
      lo = mid + 1;
    }
  }
  return lo;
}

Result<StreamPageSource::Page> StreamPageSource::Read(uint64_t from, uint64_t want) {
  assert(want > 0);
  // Taken first: every event of the stream below it is in the index when it is read below.
  const uint64_t size_before = store_->tree_size();
  if (!next_version_ || next_from_ != from) {
    CAIRN_ASSIGN_OR_RETURN(engine::StreamInfo info, store_->GetStreamInfo(stream_));
    if (info.deleted) return ReadDeleted(from, want, size_before);
    if (!info.exists) {
      next_version_ = 0;  // its first event, when it comes, is beyond size_before
    } else {
      auto first = FirstVersionFrom(from, info.last_version);
      if (!first.ok() && first.status().code() == StatusCode::kStreamDeleted) {
        return ReadDeleted(from, want, size_before);  // deleted during the search
      }
      if (!first.ok()) return first.status();
      next_version_ = *first;
    }
    next_from_ = from;
  }
  Page page;
  auto read = store_->ReadStream(stream_, *next_version_, engine::Direction::kForwards, want);
  if (!read.ok() && read.status().code() == StatusCode::kStreamDeleted) {
    return ReadDeleted(from, want, size_before);
  }
  const bool missing = !read.ok() && read.status().code() == StatusCode::kNotFound;
  if (!read.ok() && !missing) return read.status();
  ++index_pages_;
  bool at_end = missing || read->end_of_stream || read->events.empty();
  if (!missing) page.events = std::move(read->events);
  // Only what is committed, as ReadAll: the index may show a write whose sync has not returned.
  const uint64_t committed = store_->tree_size();
  while (!page.events.empty() && page.events.back().entry.position >= committed) {
    page.events.pop_back();
    at_end = false;
  }
  for (const engine::RecordedEvent& e : page.events) {
    assert(e.entry.position >= from);  // versions from next_version_ are at or after `from`
    (void)e;
  }
  if (!page.events.empty()) {
    next_version_ = page.events.back().entry.stream_version + 1;
    page.read_to = page.events.back().entry.position + 1;
  } else {
    page.read_to = from;
  }
  if (at_end) page.read_to = std::max(page.read_to, size_before);
  page.at_end = at_end;
  next_from_ = page.read_to;
  return page;
}

}  // namespace cairn::subscribe
