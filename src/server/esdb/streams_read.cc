#include "server/esdb/streams_read.h"

#include <algorithm>
#include <cassert>
#include <deque>
#include <limits>
#include <memory>
#include <optional>
#include <span>
#include <utility>
#include <vector>

#include "server/esdb/esdb_convert.h"
#include "server/esdb/esdb_errors.h"

namespace cairn::server::esdb {

namespace streams = event_store::client::streams;
using Options = streams::ReadReq::Options;
using policy::Action;

Result<ReadSpec> ParseReadSpec(const streams::ReadReq& request) {
  const Options& options = request.options();
  ReadSpec spec;
  switch (options.stream_option_case()) {
    case Options::kStream: {
      const Options::StreamOptions& s = options.stream();
      spec.stream = StreamName(s.stream_identifier());
      if (spec.stream.empty()) return Status::InvalidArgument("read of an unnamed stream");
      if (s.revision_option_case() == Options::StreamOptions::kRevision) {
        spec.from = ReadSpec::From::kAt;
        spec.at = s.revision();
      } else if (s.revision_option_case() == Options::StreamOptions::kEnd) {
        spec.from = ReadSpec::From::kEnd;
      }
      break;
    }
    case Options::kAll: {
      const Options::AllOptions& a = options.all();
      spec.all = true;
      spec.stream = std::string(kAllStream);
      if (a.all_option_case() == Options::AllOptions::kPosition) {
        spec.from = ReadSpec::From::kAt;
        spec.at = a.position().commit_position();
      } else if (a.all_option_case() == Options::AllOptions::kEnd) {
        spec.from = ReadSpec::From::kEnd;
      }
      break;
    }
    case Options::STREAM_OPTION_NOT_SET:
      return Status::InvalidArgument("read of neither a stream nor $all");
  }
  spec.backwards = options.read_direction() == Options::Backwards;
  spec.subscription = options.count_option_case() == Options::kSubscription;
  spec.count = options.count_option_case() == Options::kCount ? options.count() : 0;
  spec.structured_uuid = options.uuid_option().content_case() == Options::UUIDOption::kStructured;
  CAIRN_ASSIGN_OR_RETURN(spec.filter, ReadFilter::Parse(options));
  if (options.filter_option_case() == Options::kFilter) {
    const Options::FilterOptions& filter = options.filter();
    const uint64_t window = filter.window_case() == Options::FilterOptions::kMax && filter.max() > 0
                                ? filter.max()
                                : kCheckpointWindowDefault;
    const uint64_t multiplier = std::max<uint64_t>(1, filter.checkpointintervalmultiplier());
    spec.checkpoint_events = std::min(window * multiplier, kCheckpointEventsMax);
  }
  return spec;
}

namespace {

// `$audit` and `$alerts` are read with audit.read (policy.h); every other stream with read.
Action ReadActionFor(std::string_view stream) {
  return policy::IsAuditReadStream(stream) ? Action::kAuditRead : Action::kRead;
}

// Turns the engine's events into the caller's answers: filter, per-event policy, reveal, count.
class EventWriter {
 public:
  EventWriter(engine::EventStore* store, const CallIdentity* id, const ReadSpec* spec)
      : store_(store), id_(id), spec_(spec), remaining_(spec->count) {}

  // Adds the events of `page` the caller gets, in order, until the count is reached, and
  // returns how many events of `page` it went through (all of them, or up to the one that
  // reached the count). The shown protected events are revealed together first
  // (EventStore::RevealMany: two threads for long runs); its kDataLoss / kUnavailable fail the
  // page before any of it is added.
  Result<size_t> AddPage(std::span<engine::RecordedEvent> page, std::deque<streams::ReadResp>* out) {
    assert(remaining_ > 0);
    std::vector<engine::FieldView> views(page.size(), engine::FieldView::kStored);
    std::vector<size_t> shown;
    bool any_protected = false;
    size_t used = 0;
    while (used < page.size() && shown.size() < remaining_) {
      const integrity::Entry& entry = page[used].entry;
      const size_t i = used++;
      if (!spec_->filter.Matches(entry.stream_id, entry.event_type)) continue;
      if (!id_->Decide(ReadActionFor(entry.stream_id), entry.stream_id, entry.event_type).allowed) {
        continue;
      }
      shown.push_back(i);
      if (!store_->IsProtected(entry.event_type)) continue;
      any_protected = true;
      views[i] = id_->Decide(Action::kReadPii, entry.stream_id, entry.event_type).allowed
                     ? engine::FieldView::kPlain
                     : engine::FieldView::kMasked;
    }
    if (any_protected) {
      CAIRN_RETURN_IF_ERROR(store_->RevealMany(page.first(used), std::span(views).first(used)));
    }
    for (size_t i : shown) {
      streams::ReadResp::ReadEvent* wire = out->emplace_back().mutable_event();
      ToWireRecorded(page[i], spec_->structured_uuid, wire->mutable_event());
      wire->set_commit_position(page[i].entry.position);
    }
    remaining_ -= shown.size();
    return used;
  }

  bool full() const { return remaining_ == 0; }

 private:
  engine::EventStore* store_;
  const CallIdentity* id_;
  const ReadSpec* spec_;
  uint64_t remaining_;
};

// One page of answers at a time. Fill returns false when nothing more follows.
class ReadSource {
 public:
  virtual ~ReadSource() = default;
  virtual Result<bool> Fill(std::deque<streams::ReadResp>* out) = 0;
};

class StreamSource final : public ReadSource {
 public:
  StreamSource(engine::EventStore* store, const CallIdentity* id, const ReadSpec* spec,
               ReadLimits limits)
      : store_(store), spec_(spec), limits_(limits), writer_(store, id, spec) {}

  Result<bool> Fill(std::deque<streams::ReadResp>* out) override {
    if (!started_) return Start(out);
    const auto direction = spec_->backwards ? engine::Direction::kBackwards
                                            : engine::Direction::kForwards;
    CAIRN_ASSIGN_OR_RETURN(engine::ReadStreamResult page,
                           store_->ReadStream(spec_->stream, next_, direction,
                                              limits_.page_events_max));
    if (limits_.read_events != nullptr) limits_.read_events->Increment(page.events.size());
    if (page.events.empty()) return false;
    const uint64_t last = page.events.back().entry.stream_version;
    // Forwards, events appended after the read started are not part of it.
    size_t in_range = page.events.size();
    if (!spec_->backwards) {
      in_range = static_cast<size_t>(
          std::find_if(page.events.begin(), page.events.end(),
                       [&](const engine::RecordedEvent& e) {
                         return e.entry.stream_version > last_version_;
                       }) -
          page.events.begin());
    }
    CAIRN_ASSIGN_OR_RETURN(size_t used,
                           writer_.AddPage(std::span(page.events).first(in_range), out));
    if (writer_.full() || used < in_range || in_range < page.events.size()) return false;
    if (spec_->backwards) {
      if (last == 0) return false;
      next_ = last - 1;
    } else {
      if (last >= last_version_) return false;
      next_ = last + 1;
    }
    return !page.end_of_stream;
  }

 private:
  // The stream as it is when the read starts: missing (stream_not_found), deleted (an error), or
  // the range to read.
  Result<bool> Start(std::deque<streams::ReadResp>* out) {
    started_ = true;
    CAIRN_ASSIGN_OR_RETURN(engine::StreamInfo info, store_->GetStreamInfo(spec_->stream));
    if (info.deleted) return Status::StreamDeleted("stream deleted");
    if (!info.exists) {
      ToWireStream(spec_->stream, out->emplace_back().mutable_stream_not_found()
                                      ->mutable_stream_identifier());
      return false;
    }
    last_version_ = info.last_version;
    if (writer_.full()) return false;
    switch (spec_->from) {
      case ReadSpec::From::kStart: next_ = 0; break;
      case ReadSpec::From::kEnd: next_ = last_version_; break;
      case ReadSpec::From::kAt: next_ = spec_->at; break;
    }
    if (spec_->backwards) {
      next_ = std::min(next_, last_version_);
      return true;
    }
    if (spec_->from == ReadSpec::From::kEnd) return false;  // forwards from the end: nothing
    return next_ <= last_version_;
  }

  engine::EventStore* store_;
  const ReadSpec* spec_;
  const ReadLimits limits_;
  EventWriter writer_;
  bool started_ = false;
  uint64_t next_ = 0;          // the next stream version to read
  uint64_t last_version_ = 0;  // the stream's last version when the read started
};

class AllSource final : public ReadSource {
 public:
  AllSource(engine::EventStore* store, const CallIdentity* id, const ReadSpec* spec,
            ReadLimits limits)
      : store_(store), spec_(spec), limits_(limits), writer_(store, id, spec) {
    auto latest = store_->LatestTreeSize();
    if (!latest.ok()) {  // answered by the first Fill: no end, no read
      end_error_ = latest.status();
      return;
    }
    const uint64_t end = *latest;
    switch (spec_->from) {
      case ReadSpec::From::kStart: lo_ = 0; hi_ = spec_->backwards ? 0 : end; break;
      case ReadSpec::From::kEnd: lo_ = spec_->backwards ? 0 : end; hi_ = end; break;
      case ReadSpec::From::kAt:
        lo_ = spec_->backwards ? 0 : std::min(spec_->at, end);
        hi_ = spec_->backwards ? std::min(spec_->at, end) : end;
        break;
    }
  }

  // The range [lo_, hi_) is still to read: from lo_ up forwards, from hi_ down backwards.
  Result<bool> Fill(std::deque<streams::ReadResp>* out) override {
    CAIRN_RETURN_IF_ERROR(end_error_);
    if (lo_ >= hi_ || writer_.full()) return false;
    CAIRN_ASSIGN_OR_RETURN(std::vector<engine::RecordedEvent> events, ReadPage());
    if (limits_.read_events != nullptr) limits_.read_events->Increment(events.size());
    if (events.empty()) return false;
    if (spec_->backwards) std::reverse(events.begin(), events.end());
    CAIRN_ASSIGN_OR_RETURN(size_t used, writer_.AddPage(events, out));
    if (used > 0) {
      const uint64_t position = events[used - 1].entry.position;
      if (spec_->backwards) {
        hi_ = position;
      } else {
        lo_ = position + 1;
      }
    }
    if (writer_.full()) return false;
    return lo_ < hi_;
  }

 private:
  // The next page of [lo_, hi_): its lowest events forwards, its highest backwards. The engine
  // may end a read early by size (engine::Limits::read_size_bytes_max), which forwards only
  // shortens the page. Backwards it would leave a hole below hi_, so the top of the range is
  // read again with half as many events (at most log2(page_events_max) reads, then one event).
  // The page size that fitted is kept for the next page and doubled after a page that was not
  // cut, so that a run of large events is not read again for every page above it.
  Result<std::vector<engine::RecordedEvent>> ReadPage() {
    if (!spec_->backwards) return store_->ReadAll(lo_, std::min(limits_.page_events_max, hi_ - lo_));
    uint64_t want = std::min(backwards_want_, hi_ - lo_);
    bool cut = false;
    for (;;) {
      assert(want > 0 && hi_ - want >= lo_);
      CAIRN_ASSIGN_OR_RETURN(std::vector<engine::RecordedEvent> events,
                             store_->ReadAll(hi_ - want, want));
      if (events.empty() || events.size() == want) {
        backwards_want_ = cut ? want : std::min(limits_.page_events_max, backwards_want_ * 2);
        return events;
      }
      assert(events.size() < want && events.back().entry.position + 1 < hi_);
      cut = true;
      want = std::max<uint64_t>(1, want / 2);
    }
  }

  engine::EventStore* store_;
  const ReadSpec* spec_;
  const ReadLimits limits_;
  EventWriter writer_;
  Status end_error_;  // the log's end could not be read (a shared store's read failed)
  uint64_t lo_ = 0;
  uint64_t hi_ = 0;
  uint64_t backwards_want_ = limits_.page_events_max;  // events per backwards page (ReadPage)
};

class PagedReadReactor final : public ReadReactor {
 public:
  PagedReadReactor(grpc::CallbackServerContext* context, engine::EventStore* store,
                   CallIdentity id, ReadSpec spec, ReadLimits limits, ReadSlots::Slot slot)
      : context_(context),
        id_(std::move(id)),
        spec_(std::move(spec)),
        slot_(std::move(slot)),
        write_watch_(limits.write_watchdog, [context] { context->TryCancel(); }) {
    if (spec_.all) {
      source_ = std::make_unique<AllSource>(store, &id_, &spec_, limits);
    } else {
      source_ = std::make_unique<StreamSource>(store, &id_, &spec_, limits);
    }
    long_scans_ = limits.long_scans;
    Pump();
  }

  void OnWriteDone(bool ok) override {
    write_watch_.Progress();  // a write completed: the stall clock starts again
    if (!ok) {
      Finish(grpc::Status::CANCELLED);
      return;
    }
    Pump();
  }
  void OnDone() override {
    if (handed_over_) long_scans_->Release(id_.principal.id);
    delete this;
  }

 private:
  // The next turn of the scan on the long-scan runner (see kScanPagesPerTurnMax). The first
  // hand-over takes a slot of kLongScansActiveMax; a read that holds one always gets its next
  // turn queued (at most one per read, and the queue holds kLongScansActiveMax).
  void HandOver() {
    if (!handed_over_) {
      if (!long_scans_->Acquire(id_.principal.id)) {
        Finish(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                            "too many long reads at once; retry later"));
        return;
      }
      handed_over_ = true;
    }
    const bool queued = long_scans_->runner.Post([this] {
      long_scans_->turns.fetch_add(1);
      if (long_scans_->turns_metric != nullptr) long_scans_->turns_metric->Increment();
      Pump();
    });
    // One turn per active read fits the queue; only a stopping runner refuses.
    if (!queued) Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "the server is stopping"));
  }

  // Writes the next answer, reading the next page first when none is queued.
  void Pump() {
    if (queue_.empty() && more_) write_watch_.End();  // reading pages: no write is waiting
    uint64_t pages = 0;
    while (queue_.empty() && more_) {
      if (context_->IsCancelled()) {
        Finish(grpc::Status::CANCELLED);
        return;
      }
      // A long read ends when its credential does (its policy stays the one it started with):
      // checked once answers went out, so that the leeway that admitted the call holds for its
      // first page — or from the third fill (a stream read's first only looks the stream up),
      // so that a filtered scan that writes nothing is checked too.
      const bool check_expiry = answers_started_ > 0 || fills_ >= 2;
      if (grpc::Status s = check_expiry ? CheckNotExpired(&id_) : grpc::Status::OK; !s.ok()) {
        Finish(esdb::Finish(context_, NotAuthenticated(s.error_message())));
        return;
      }
      // No operation is pending while the scan waits in the runner's queue, so no callback of
      // this reactor can run meanwhile: the task is the only one touching it.
      if (pages == kScanPagesPerTurnMax && long_scans_ != nullptr) {
        HandOver();
        return;
      }
      ++pages;
      ++fills_;
      Result<bool> more = source_->Fill(&queue_);
      if (!more.ok()) {
        Finish(esdb::Finish(context_, FromStatus(more.status(), spec_.stream)));
        return;
      }
      more_ = *more;
    }
    // The scan is over for now: its slot goes back until it next scans long (a reader that
    // stops reading must not hold it).
    if (handed_over_) {
      handed_over_ = false;
      long_scans_->Release(id_.principal.id);
    }
    if (queue_.empty()) {
      Finish(grpc::Status::OK);
      return;
    }
    current_ = std::move(queue_.front());
    queue_.pop_front();
    // The watch ends at the latest with the reactor (in OnDone): the context outlives it.
    write_watch_.Begin();
    ++answers_started_;
    StartWrite(&current_);
  }

  grpc::CallbackServerContext* context_;
  CallIdentity id_;  // not const: CheckNotExpired records that it audited the expiry
  uint64_t fills_ = 0;            // source_->Fill calls
  uint64_t answers_started_ = 0;  // StartWrite calls
  const ReadSpec spec_;
  ReadSlots::Slot slot_;  // this read's claim on the read slots, given back with the reactor
  std::unique_ptr<ReadSource> source_;
  std::deque<streams::ReadResp> queue_;  // at most one page of answers
  streams::ReadResp current_;            // the write in flight
  bool more_ = true;
  LongScans* long_scans_ = nullptr;      // may be null
  bool handed_over_ = false;             // holds a slot of long_scans_->active
  WriteWatchdog::RenewedWatch write_watch_;  // while answers are being written
};

class FinishedReactor final : public ReadReactor {
 public:
  explicit FinishedReactor(grpc::Status status) { Finish(std::move(status)); }
  void OnDone() override { delete this; }
};

}  // namespace

ReadReactor* StartRead(grpc::CallbackServerContext* context, engine::EventStore* store,
                       CallIdentity id, ReadSpec spec, ReadLimits limits, ReadSlots::Slot slot) {
  assert(limits.page_events_max > 0);
  return new PagedReadReactor(context, store, std::move(id), std::move(spec), limits,
                              std::move(slot));
}

ReadReactor* FinishedRead(grpc::Status status) { return new FinishedReactor(std::move(status)); }

bool LongScans::Acquire(const std::string& principal) {
  std::lock_guard<std::mutex> lock(mu_);
  if (active.load() >= kLongScansActiveMax) return false;
  if (by_principal_.Of(principal) >= kLongScansPerPrincipalMax) return false;
  by_principal_.Add(principal, 1);
  active.fetch_add(1);
  assert(by_principal_.principals() <= kLongScansActiveMax);
  return true;
}

void LongScans::Release(const std::string& principal) {
  std::lock_guard<std::mutex> lock(mu_);
  assert(active.load() > 0);
  by_principal_.Subtract(principal, 1);
  active.fetch_sub(1);
}

}  // namespace cairn::server::esdb
