#include "subscribe/live_cursor.h"

#include <algorithm>
#include <cassert>
#include <utility>


namespace cairn::subscribe {

LiveCursor::LiveCursor(engine::EventStore* store, const LiveRing* ring, LiveRequest request,
                       LiveAccess access, LiveCursorLimits limits)
    : store_(store),
      ring_(ring),
      request_(std::move(request)),
      access_(std::move(access)),
      limits_(limits),
      stream_mode_(request_.start == LiveRequest::Start::kVersion) {
  assert(store_ != nullptr && ring_ != nullptr);
  assert(limits_.batch_events_max > 0 && limits_.read_events_max > 0);
  assert(limits_.scan_events_max >= limits_.read_events_max);
  uint64_t start = 0;
  if (request_.start == LiveRequest::Start::kPosition) start = request_.from;
  if (request_.start == LiveRequest::Start::kEnd) start = store_->tree_size();
  if (stream_mode_) stream_version_next_ = request_.from;
  next_position_.store(start, std::memory_order_release);
  reported_position_ = start;
}

void LiveCursor::Advance(uint64_t next) {
  assert(next >= next_position());
  next_position_.store(next, std::memory_order_release);
}

Result<LiveBatch> LiveCursor::Next(int64_t now_ms, int64_t now_unix_s) {
  CAIRN_RETURN_IF_ERROR(access_.Refresh(now_unix_s));
  LiveBatch batch;
  size_t batch_bytes = 0;
  size_t scanned = 0;
  std::vector<SharedEvent> chunk;
  const auto full = [&] {
    return batch.events.size() >= limits_.batch_events_max || batch_bytes >= limits_.batch_bytes_max;
  };
  while (scanned < limits_.scan_events_max && !full()) {
    chunk.clear();
    CAIRN_ASSIGN_OR_RETURN(Source source, ReadChunk(&chunk));
    if (source == Source::kFellBehind) {
      // The hub names the position to resume from (LiveSubscription::WithResumePosition): the
      // one delivered up to, not next_position(), which counts the batch being dropped.
      return Status(StatusCode::kResourceExhausted, "the subscriber fell behind the live log");
    }
    if (source == Source::kWait) {
      if (!batch.events.empty()) break;
      if (!batch.checkpoints.empty()) return Marker(LiveBatch::Kind::kCheckpoint, now_ms);
      if (!live()) {
        live_.store(true, std::memory_order_release);
        return Marker(LiveBatch::Kind::kCaughtUp, now_ms);
      }
      if (CheckpointDue(now_ms)) return Marker(LiveBatch::Kind::kCheckpoint, now_ms);
      return batch;  // kNone, more = false: wait for the log to grow
    }
    size_t consumed = 0;
    for (const SharedEvent& event : chunk) {
      assert(event->entry.position >= next_position());
      CAIRN_RETURN_IF_ERROR(Consider(event, &batch, &batch_bytes));
      Advance(event->entry.position + 1);
      if (stream_mode_) stream_version_next_ = event->entry.stream_version + 1;
      ++scanned;
      ++consumed;
      CountCheckpoint(&batch);
      if (full()) break;
    }
    if (switch_to_log_at_ && consumed == chunk.size()) {  // the stream read reached its end
      Advance(std::max(next_position(), *switch_to_log_at_));
      stream_mode_ = false;
    }
    switch_to_log_at_.reset();  // when not all was consumed, the next stream read decides again
  }
  if (!batch.events.empty()) {
    batch.kind = LiveBatch::Kind::kEvents;
    batch.next_position = next_position();
    reported_position_ = batch.events.back()->entry.position + 1;
    if (!batch.checkpoints.empty()) {
      reported_position_ = std::max(reported_position_, batch.checkpoints.back().next_position);
    }
    last_report_ms_ = now_ms;
    return batch;
  }
  if (!batch.checkpoints.empty() || CheckpointDue(now_ms)) {
    return Marker(LiveBatch::Kind::kCheckpoint, now_ms);
  }
  batch.more = true;  // the scan budget ran out: yield to other subscribers, then continue
  return batch;
}

Result<LiveCursor::Source> LiveCursor::ReadChunk(std::vector<SharedEvent>* chunk) {
  if (stream_mode_) return ReadStreamChunk(chunk);
  const uint64_t next = next_position();
  if (ring_->Read(next, limits_.read_events_max, chunk)) {
    return chunk->empty() ? Source::kWait : Source::kEvents;
  }
  if (live()) return Source::kFellBehind;  // a live subscriber never goes back to storage
  CAIRN_ASSIGN_OR_RETURN(std::vector<engine::RecordedEvent> events,
                         store_->ReadAll(next, limits_.read_events_max));
  if (events.empty()) return Source::kWait;
  assert(events.front().entry.position == next);
  chunk->reserve(events.size());
  for (auto& event : events) {
    chunk->push_back(std::make_shared<const LiveEvent>(std::move(event)));
  }
  return Source::kEvents;
}

Result<LiveCursor::Source> LiveCursor::ReadStreamChunk(std::vector<SharedEvent>* chunk) {
  // Every event of the stream below this size is returned by a read to the stream's end.
  const uint64_t size_before = store_->tree_size();
  auto page = store_->ReadStream(request_.stream, stream_version_next_, engine::Direction::kForwards,
                                 limits_.read_events_max);
  if (!page.ok() && page.status().code() != StatusCode::kNotFound) return page.status();
  const bool at_end = !page.ok() || page->end_of_stream || page->events.empty();
  if (page.ok()) {
    for (auto& event : page->events) {
      chunk->push_back(std::make_shared<const LiveEvent>(std::move(event)));
    }
  }
  if (at_end) switch_to_log_at_ = size_before;
  return Source::kEvents;
}

// The stored form goes to a reader only when every field it was shown otherwise is encrypted
// in it: a field masked although stored in clear (a rule added after the event was written)
// would show that reader the plaintext the mask hides. Such an event goes without it (its data
// stays unchecked by a verifying client). protect/ counts those fields itself, on whichever path
// (splice or DOM) revealed the event, so documents the scanner declines are decided alike.
namespace {
bool StoredFormShowsNoPlaintext(const engine::RecordedEvent& view) {
  const size_t listed = view.masked.size() + view.erased.size() + view.revealed.size();
  assert(view.masked_in_clear <= view.masked.size());
  return listed != 0 && view.masked_in_clear == 0;  // listed == 0: shown as stored
}
}  // namespace

Status LiveCursor::Consider(const SharedEvent& event, LiveBatch* batch, size_t* batch_bytes) {
  const integrity::Entry& entry = event->entry;
  if (!MatchesRequest(request_, *event)) return Status::Ok();
  if (!access_.MaySubscribe(entry.stream_id, entry.event_type)) return Status::Ok();
  ++considered_since_checkpoint_;
  // The transport's filter before Reveal: an unwanted event is never decrypted.
  if (request_.filter != nullptr && !(*request_.filter)(entry.stream_id, entry.event_type)) {
    return Status::Ok();
  }
  SharedEvent view = event;
  if (store_->IsProtected(entry.event_type)) {
    // Plaintext with read.pii, the mask otherwise, the erased value after forget; a field that
    // fails to decrypt ends the subscription (never ciphertext shown as plaintext).
    auto revealed =
        store_->Reveal(*event, access_.MayReadPii(entry.stream_id, entry.event_type));
    if (!revealed.ok()) return revealed.status();
    if (request_.include_stored_data && StoredFormShowsNoPlaintext(*revealed)) {
      revealed->stored_data = event->data;
    }
    view = std::make_shared<const LiveEvent>(std::move(revealed).value());
  }
  *batch_bytes += EventCostBytes(*view);
  batch->events.push_back(std::move(view));
  return Status::Ok();
}

// After each event considered: a checkpoint at next_position() once checkpoint_every_events
// were considered since the last one. Several with no event between collapse into the latest.
void LiveCursor::CountCheckpoint(LiveBatch* batch) {
  if (request_.checkpoint_every_events == 0 ||
      considered_since_checkpoint_ < request_.checkpoint_every_events) {
    return;
  }
  considered_since_checkpoint_ = 0;
  const LiveBatch::Checkpoint at{batch->events.size(), next_position()};
  if (!batch->checkpoints.empty() && batch->checkpoints.back().events_before == at.events_before) {
    assert(batch->checkpoints.back().next_position < at.next_position);
    batch->checkpoints.back() = at;
    return;
  }
  batch->checkpoints.push_back(at);
  assert(batch->checkpoints.size() <= batch->events.size() + 1);
}

bool LiveCursor::CheckpointDue(int64_t now_ms) const {
  return next_position() > reported_position_ &&
         now_ms - last_report_ms_ >= request_.checkpoint_interval_ms;
}

LiveBatch LiveCursor::Marker(LiveBatch::Kind kind, int64_t now_ms) {
  LiveBatch batch;
  batch.kind = kind;
  batch.next_position = next_position();
  reported_position_ = batch.next_position;
  last_report_ms_ = now_ms;
  if (kind == LiveBatch::Kind::kCheckpoint) considered_since_checkpoint_ = 0;
  return batch;
}

}  // namespace cairn::subscribe
