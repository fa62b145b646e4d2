#include "subscribe/group_runner.h"

#include "subscribe/undeliverable.h"

#include <algorithm>
#include <cassert>
#include <chrono>

#include "common/log.h"
#include "common/steady_clock.h"
#include "common/thread_name.h"
#include "subscribe/group_parked.h"

namespace cairn::subscribe {
namespace {

constexpr uint64_t kReplayBit = uint64_t{1} << 63;
// One AppendSystem of parked references: well below the engine's batch limit.
constexpr size_t kParkBatchEventsMax = 500;
constexpr char kUnreadableReasonPrefix[] = "unreadable: ";

int64_t NowMs() { return SteadyNowMs(); }

size_t EventSizeBytes(const engine::RecordedEvent& e) { return e.data.size() + e.metadata.size(); }

}  // namespace

struct GroupRunner::Pending {
  engine::RecordedEvent event;
  uint64_t ack_id = 0;
  uint32_t attempts = 0;    // deliveries so far
  uint64_t consumer = 0;    // holding it now; 0: ready
  uint64_t last_consumer = 0;  // the latest it was delivered to (a late ack after a timeout)
  uint64_t previous_consumer = 0;  // last_consumer before the latest delivery (undone: withdrawn)
  int64_t deadline_ms = 0;  // redelivered after it when not acked
  bool parking = false;     // a park job is under way
  std::string park_reason;  // non-empty: park in the next round
};

struct GroupRunner::Slot {
  std::shared_ptr<GroupConsumer> consumer;
  uint32_t requested_in_flight = 0;  // 0: the group's
  InFlightBound bound = InFlightBound::kGroup;
  uint32_t in_flight = 0;
  bool ready = false;  // BeginRound succeeded at least once
};

struct GroupRunner::Assignment {
  std::shared_ptr<GroupConsumer> consumer;
  uint64_t consumer_id = 0;
  GroupDelivery delivery;
  uint64_t previous_consumer = 0;  // the event's last_consumer before this assignment
  uint64_t prior_previous_consumer = 0;  // and its previous_consumer: both restored if refused
};

struct GroupRunner::ParkJob {
  uint64_t ack_id = 0;
  ParkedRef ref;
};

GroupRunner::GroupRunner(engine::EventStore* store, GroupStore* groups, GroupLimits limits,
                         GroupSettings settings, GroupPosition position)
    : store_(store), groups_(groups), limits_(limits), settings_(std::move(settings)) {
  assert(store_ != nullptr && groups_ != nullptr);
  done_below_ = std::max(position.done_below, settings_.start_position);
  read_cursor_ = done_below_;
  if (settings_.source != kGroupAllStreams) stream_source_.emplace(store_, settings_.source);
  for (uint64_t p : position.done_above) {
    if (p > done_below_) done_above_.insert(p);
  }
  replay_next_ = position.replay_next;
  replay_end_ = std::max(position.replay_end, position.replay_next);
  saved_at_ms_ = NowMs();
}

GroupRunner::~GroupRunner() {
  if (thread_.joinable()) Stop(Status::Unavailable("the group engine is stopping"), true);
}

void GroupRunner::Start() {
  assert(!thread_.joinable());
  thread_ = std::thread([this] {
    SetCurrentThreadName("cairn-group");
    Run();
  });
}

void GroupRunner::Stop(const Status& why, bool save) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  // Acks settled up to here are in the saved position; none is taken after it.
  std::vector<std::shared_ptr<GroupConsumer>> ended;
  {
    std::lock_guard<std::mutex> lock(mu_);
    closed_ = true;
    for (auto& [id, slot] : consumers_) ended.push_back(slot.consumer);
    consumers_.clear();
  }
  if (save) MaybeSave(true);
  for (auto& consumer : ended) consumer->Closed(why);
}

void GroupRunner::Wake() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    wake_ = true;
  }
  cv_.notify_one();
}

Result<JoinResult> GroupRunner::Join(std::shared_ptr<GroupConsumer> consumer,
                                     uint32_t max_in_flight, InFlightBound bound) {
  assert(consumer != nullptr);
  JoinResult result;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return Status::Unavailable("the group is stopping");
    if (!settings_.Admits(consumer->principal_id())) {
      return Status::PermissionDenied("not one of group '" + settings_.name + "''s consumers");
    }
    if (consumers_.size() >= limits_.consumers_per_group_max) {
      return Status::ResourceExhausted("group '" + settings_.name + "' has its maximum of " +
                                       std::to_string(limits_.consumers_per_group_max) +
                                       " consumers");
    }
    result.consumer_id = ++consumer_id_last_;
    Slot slot{std::move(consumer), max_in_flight, bound, 0, false};
    result.max_in_flight = MaxInFlightLocked(slot);
    consumers_[result.consumer_id] = std::move(slot);
    wake_ = true;
  }
  cv_.notify_one();
  return result;
}

void GroupRunner::Leave(uint64_t consumer_id) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto* map : {&main_, &replay_}) {
      for (auto& [key, p] : *map) {
        if (p.consumer == consumer_id) Release(&p);
      }
    }
    consumers_.erase(consumer_id);
    wake_ = true;
  }
  cv_.notify_one();
}

void GroupRunner::Ack(uint64_t consumer_id, const std::vector<uint64_t>& ack_ids) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (closed_) return;
    for (uint64_t ack_id : ack_ids) {
      Pending* p = Find(ack_id);
      if (p == nullptr || p->parking || !DeliveredTo(*p, consumer_id)) continue;
      Release(p);
      MarkDone(ack_id);
      counters_.acked++;
    }
    wake_ = true;
  }
  cv_.notify_one();
}

void GroupRunner::Nack(uint64_t consumer_id, const std::vector<uint64_t>& ack_ids,
                       NackAction action, std::string_view reason) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (closed_) return;
    for (uint64_t ack_id : ack_ids) {
      Pending* p = Find(ack_id);
      if (p == nullptr || p->parking || !DeliveredTo(*p, consumer_id)) continue;
      Release(p);
      if (action == NackAction::kSkip) {
        MarkDone(ack_id);
        counters_.skipped++;
      } else if (action == NackAction::kPark) {
        p->park_reason = reason.empty() ? "nacked with park" : CleanParkReason(reason);
      }
      // kRetry: ready again; its deliveries count towards the retry limit.
    }
    wake_ = true;
  }
  cv_.notify_one();
}

Result<uint64_t> GroupRunner::ReplayParked(std::optional<uint64_t> count_max) {
  CAIRN_ASSIGN_OR_RETURN(engine::StreamInfo info,
                         store_->GetStreamInfo(ParkedStreamId(settings().name)));
  uint64_t pending = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return Status::Unavailable("the group is stopping");
    if (info.exists) {
      uint64_t end = info.event_count;
      const uint64_t queued_end = std::max(replay_next_, replay_end_);
      if (count_max) end = std::min(end, queued_end + std::min(*count_max, end));
      replay_end_ = std::max(replay_end_, end);
    }
    const GroupPosition position = PositionLocked();
    pending = position.replay_end - position.replay_next;
    changes_unsaved_ += limits_.checkpoint_changes_max;  // saved in the next round
    wake_ = true;
  }
  cv_.notify_one();
  return pending;
}

void GroupRunner::Update(const GroupSettings& settings) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    settings_.max_in_flight = settings.max_in_flight;
    settings_.retry_limit = settings.retry_limit;
    settings_.ack_timeout_ms = settings.ack_timeout_ms;
    settings_.consumers = settings.consumers;
    wake_ = true;
  }
  cv_.notify_one();
}

GroupSettings GroupRunner::settings() const {
  std::lock_guard<std::mutex> lock(mu_);
  return settings_;
}

GroupCounters GroupRunner::counters() const {
  std::lock_guard<std::mutex> lock(mu_);
  GroupCounters c = counters_;
  c.done_below = done_below_;
  c.read_position = read_cursor_;
  c.consumers = static_cast<uint32_t>(consumers_.size());
  c.in_flight = 0;
  for (const auto& [id, slot] : consumers_) c.in_flight += slot.in_flight;
  const GroupPosition position = PositionLocked();
  c.replay_pending = position.replay_end - position.replay_next;
  c.replay_next = position.replay_next;
  return c;
}

// --- the delivery thread ---

void GroupRunner::Run() {
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait_for(lock, std::chrono::milliseconds(limits_.tick_ms),
                   [this] { return stopping_ || wake_; });
      if (stopping_) return;
      wake_ = false;
    }
    Round();
  }
}

void GroupRunner::Round() {
  BeginRounds();
  const bool read_more = Fill();
  FillReplay();
  Dispatch();
  MaybeSave(false);
  // Catching up: the next round at once, not a tick later — for a bounded number of rounds in a
  // row, so that a group far behind leaves the machine to appends between bursts.
  immediate_rounds_ = read_more ? immediate_rounds_ + 1 : 0;
  if (read_more && immediate_rounds_ < kImmediateRoundsMax) {
    std::lock_guard<std::mutex> lock(mu_);
    wake_ = true;
  } else {
    immediate_rounds_ = 0;
  }
}

// Re-takes every consumer's policy; drops those that lost access or stopped reading, and takes
// back the queued deliveries of types a consumer lost.
void GroupRunner::BeginRounds() {
  std::vector<std::pair<uint64_t, std::shared_ptr<GroupConsumer>>> all;
  int64_t stall_ms_max = 0;
  std::vector<std::string> admitted;  // settings_.consumers
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [id, slot] : consumers_) all.emplace_back(id, slot.consumer);
    admitted = settings_.consumers;
    // A consumer may take up to its ack timeout over an event before it reads the next.
    stall_ms_max = std::max<int64_t>(limits_.write_stall_ms_max, settings_.ack_timeout_ms);
  }
  const ConsumerPatterns admits(admitted);  // compiled once a round, matched per consumer
  for (auto& [id, consumer] : all) {
    Status s = consumer->BeginRound();
    if (s.ok() && !admits.Admits(consumer->principal_id())) {
      s = Status::PermissionDenied(std::string(kNotAGroupConsumerMessage));
    }
    if (s.ok() && consumer->WriteStalled(stall_ms_max)) {
      s = Status::ResourceExhausted("the consumer took no message for " +
                                    std::to_string(stall_ms_max) + " ms; it left the group");
      log::Warn("a consumer that stopped reading left its consumer group",
                {.action = "group.consumer_stalled",
                 .outcome = "failure",
                 .extra = {{"cairn.group", settings().name},
                           {"cairn.consumer_id", std::to_string(id)}}});
      std::lock_guard<std::mutex> lock(mu_);
      counters_.stalled++;
    }
    if (s.ok()) {
      const std::vector<WithdrawnDelivery> withdrawn = consumer->Withdraw();
      std::lock_guard<std::mutex> lock(mu_);
      auto it = consumers_.find(id);
      if (it != consumers_.end()) it->second.ready = true;
      for (const WithdrawnDelivery& w : withdrawn) WithdrawnLocked(id, w);
      continue;
    }
    Leave(id);
    consumer->Closed(s);
  }
}

// The consumer never had the delivery: its assignment is undone (ready again, the attempt not
// counted, the consumer before it may still settle it), unless the event has since been given
// out again (to another consumer, or as a later attempt).
void GroupRunner::WithdrawnLocked(uint64_t consumer_id, const WithdrawnDelivery& withdrawn) {
  counters_.withdrawn++;
  Pending* p = Find(withdrawn.ack_id);
  if (p == nullptr || p->attempts != withdrawn.attempt) return;
  if (p->consumer == consumer_id) {
    Release(p);
  } else if (p->consumer != 0 || p->last_consumer != consumer_id) {
    return;  // given to another meanwhile
  }  // else: its ack timeout passed first; it is ready already
  assert(p->attempts > 0);
  p->attempts--;
  p->last_consumer = p->previous_consumer;
  wake_ = true;
}

// Reading stops while done_above_max done events wait above an undone one: that one is in the
// buffer, and times out, is retried or parked. With nothing buffered (a restart restored a full
// done_above) the undone one is not read yet, and must be: reading is allowed.
bool GroupRunner::FillAllowedLocked() const {
  return !consumers_.empty() && main_.size() < limits_.buffer_events_max &&
         buffered_bytes_ < limits_.buffer_bytes_max &&
         (done_above_.size() < limits_.done_above_max || main_.empty());
}

bool GroupRunner::Fill() {
  uint64_t from = 0;
  size_t want = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!FillAllowedLocked()) return false;
    from = read_cursor_;
    want = std::min(limits_.read_batch_events_max, limits_.buffer_events_max - main_.size());
    // Allowed only because nothing is buffered (FillAllowedLocked): read just the undone event
    // at the cursor, so done_above does not grow by a batch on every restart.
    if (done_above_.size() >= limits_.done_above_max) want = 1;
  }
  if (from >= store_->tree_size()) return false;
  // A group on one stream reads it through the stream index; on "$all", the log.
  auto events = stream_source_ ? stream_source_->Read(from, want)
                               : ReadLogPage(store_, from, want);
  if (!events.ok()) {
    log::Error("consumer group cannot read the log",
               {.action = "group.read",
                .outcome = "failure",
                .extra = {{"cairn.group", settings().name},
                          {"cairn.position", std::to_string(from)},
                          {"error.message", events.status().ToString()}}});
    return false;
  }
  std::lock_guard<std::mutex> lock(mu_);
  assert(read_cursor_ == from);  // only this thread moves it
  assert(events->read_to >= from);
  if (stream_source_) counters_.index_pages = stream_source_->index_pages();  // this thread's
  uint64_t next = events->read_to;  // every event the group could take below it was read
  for (engine::RecordedEvent& e : events->events) {
    const uint64_t position = e.entry.position;
    assert(position < kReplayBit);
    if (buffered_bytes_ >= limits_.buffer_bytes_max) {  // full: the rest is read again later
      next = position;
      if (stream_source_) stream_source_->Rewind(position, e.entry.stream_version);
      break;
    }
    if (!settings_.Passes(e.entry.stream_id, e.entry.event_type)) continue;
    if (done_above_.count(position) > 0) continue;  // done before a restart
    buffered_bytes_ += EventSizeBytes(e);
    Pending& p = main_[position];
    p.event = std::move(e);
    p.ack_id = position;
  }
  assert(next > read_cursor_ || events->events.empty());  // room for at least one event
  const bool moved = next > read_cursor_;
  read_cursor_ = next;
  AdvanceDoneBelow();
  // More of the log to read and room to buffer it: a group catching up (or passing over events
  // its filter drops) reads on without waiting for the next tick — while each read moves on.
  return moved && !events->at_end && read_cursor_ < store_->tree_size() && FillAllowedLocked();
}

void GroupRunner::FillReplay() {
  uint64_t from = 0;
  uint64_t want = 0;
  size_t bytes_budget = 0;
  GroupSettings settings;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (consumers_.empty() || replay_next_ >= replay_end_) return;
    if (replay_.size() >= limits_.replay_batch_events_max) return;
    if (replay_bytes_ >= limits_.replay_buffer_bytes_max) return;
    bytes_budget = limits_.replay_buffer_bytes_max - replay_bytes_;
    from = replay_next_;
    want = std::min<uint64_t>(limits_.replay_batch_events_max - replay_.size(),
                              replay_end_ - replay_next_);
    settings = settings_;
  }
  auto page = store_->ReadStream(ParkedStreamId(settings.name), from, engine::Direction::kForwards, want);
  if (!page.ok() || page->events.empty()) return;
  std::vector<std::pair<uint64_t, std::optional<engine::RecordedEvent>>> loaded;
  size_t loaded_bytes = 0;
  for (const engine::RecordedEvent& ref_event : page->events) {
    // The event that reaches the budget is the last: the rest is loaded once these are done.
    if (loaded_bytes >= bytes_budget) break;
    std::optional<engine::RecordedEvent> target;
    auto ref = DecodeParkedRef(ref_event);
    Status unreadable = ref.status();
    if (ref.ok()) {
      auto event = store_->ReadAt(ref->position);
      // A read that may pass (the store away for now) ends the page: this reference is read
      // again next round, not passed over as unreadable.
      if (!event.ok() && FailurePasses(event.status().code())) break;
      if (!event.ok()) {
        unreadable = event.status();
      } else if (event->entry.event_id != ref->event_id) {
        unreadable = Status::DataLoss("the parked reference names another event at its position");
      } else if (!settings.Passes(event->entry.stream_id, event->entry.event_type)) {
        unreadable = Status::Ok();  // outside this group's filter: never parked by this group
      } else {
        target = std::move(event).value();
      }
    }
    if (!target && !unreadable.ok()) {
      // Passed over for good (replay moves on): said once, with the reference's place.
      log::Error("a parked event of a consumer group cannot be replayed",
                 {.action = "group.replay",
                  .outcome = "failure",
                  .extra = {{"cairn.group", settings.name},
                            {"cairn.parked_version", std::to_string(ref_event.entry.stream_version)},
                            {"error.message", unreadable.ToString()}}});
    }
    if (target) loaded_bytes += EventSizeBytes(*target);
    loaded.emplace_back(ref_event.entry.stream_version, std::move(target));
  }
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& [version, target] : loaded) {
    assert(version >= replay_next_);
    replay_next_ = version + 1;
    changes_unsaved_++;
    if (!target) continue;  // an unreadable reference: nothing to replay
    replay_bytes_ += EventSizeBytes(*target);
    Pending& p = replay_[version];
    p.event = std::move(*target);
    p.ack_id = kReplayBit | version;
  }
}

void GroupRunner::Dispatch() {
  std::vector<Assignment> assignments;
  std::vector<ParkJob> parks;
  {
    std::lock_guard<std::mutex> lock(mu_);
    ExpireLocked(NowMs());
    AssignLocked(&assignments, &parks);
  }
  for (Assignment& a : assignments) {
    const uint64_t ack_id = a.delivery.ack_id;
    const uint32_t attempt = a.delivery.attempt;
    const GroupConsumer::DeliverResult result = a.consumer->Deliver(std::move(a.delivery));
    if (result.kind == GroupConsumer::DeliverResult::Kind::kHandedOver) continue;
    std::lock_guard<std::mutex> lock(mu_);
    Pending* p = Find(ack_id);
    if (p == nullptr || p->attempts != attempt) continue;  // settled or assigned again meanwhile
    // Still this assignment: held by the consumer, or released by its Leave() while Deliver ran
    // (then the attempt must be given back too: it never reached anyone).
    const bool left_meanwhile = p->consumer == 0 && p->last_consumer == a.consumer_id;
    if (p->consumer != a.consumer_id && !left_meanwhile) continue;
    Release(p);
    assert(p->attempts > 0);
    p->attempts--;
    p->last_consumer = a.previous_consumer;  // it never had it: it may not settle it
    p->previous_consumer = a.prior_previous_consumer;
    if (result.kind == GroupConsumer::DeliverResult::Kind::kUnreadable &&
        !FailurePasses(result.unreadable_code) &&
        !p->parking) {
      // It would fail the same way every round, and never time out: park it now. (A KMS that
      // is away is waited for instead: the group holds until the event can be shown.)
      p->parking = true;
      parks.push_back({p->ack_id,
                       {p->event.entry.position, p->event.entry.stream_id, p->event.entry.event_id,
                        std::string(kUnreadableReasonPrefix) + StatusCodeName(result.unreadable_code),
                        p->attempts}});
    }
    // kNotTaken (the consumer's queue is full or it is going away): not an attempt, so that an
    // event is never parked for retries it never had.
  }
  if (!parks.empty()) Park(std::move(parks));
}

void GroupRunner::Park(std::vector<ParkJob> jobs) {
  const std::string stream = ParkedStreamId(settings().name);
  for (size_t begin = 0; begin < jobs.size(); begin += kParkBatchEventsMax) {
    const size_t end = std::min(jobs.size(), begin + kParkBatchEventsMax);
    std::vector<engine::ProposedEvent> refs;
    for (size_t i = begin; i < end; ++i) refs.push_back(EncodeParkedRef(jobs[i].ref));
    auto appended = store_->AppendSystem(stream, engine::ExpectedVersion::Any(), std::move(refs));
    if (!appended.ok()) {
      log::Error("consumer group parking failed",
                 {.action = "group.park",
                  .outcome = "failure",
                  .extra = {{"cairn.group", settings().name},
                            {"error.message", appended.status().ToString()}}});
    }
    std::lock_guard<std::mutex> lock(mu_);
    for (size_t i = begin; i < end; ++i) {
      Pending* p = Find(jobs[i].ack_id);
      if (p == nullptr) continue;
      if (!appended.ok()) {
        p->parking = false;  // tried again in a later round
        continue;
      }
      MarkDone(jobs[i].ack_id);
      counters_.parked++;
    }
  }
}

void GroupRunner::MaybeSave(bool force) {
  GroupPosition position;
  uint64_t changes = 0;
  std::string name;
  const int64_t now_ms = NowMs();
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (changes_unsaved_ == 0) return;
    const bool due = changes_unsaved_ >= limits_.checkpoint_changes_max ||
                     now_ms - saved_at_ms_ >= limits_.checkpoint_interval_ms;
    if (!force && !due) return;
    position = PositionLocked();
    changes = changes_unsaved_;
    name = settings_.name;
  }
  Status s = groups_->SavePosition(name, position);
  std::lock_guard<std::mutex> lock(mu_);
  if (!s.ok()) {
    log::Error("saving a consumer group's position failed",
               {.action = "group.save",
                .outcome = "failure",
                .extra = {{"cairn.group", name}, {"error.message", s.ToString()}}});
    return;
  }
  changes_unsaved_ -= std::min(changes_unsaved_, changes);
  saved_at_ms_ = now_ms;
}

// --- under mu_ ---

GroupRunner::Pending* GroupRunner::Find(uint64_t ack_id) {
  auto& map = (ack_id & kReplayBit) != 0 ? replay_ : main_;
  auto it = map.find(ack_id & ~kReplayBit);
  return it == map.end() ? nullptr : &it->second;
}

// Only the consumer an event was delivered to settles it: while it holds it, or after its ack
// timeout until the event is delivered to another (a late ack). An id never delivered to the
// caller — guessable: positions — is ignored, so no consumer can ack, skip or park events it was
// not given (events of types it may not even receive).
bool GroupRunner::DeliveredTo(const Pending& p, uint64_t consumer_id) const {
  if (p.consumer != 0) return p.consumer == consumer_id;
  return p.last_consumer == consumer_id && consumers_.contains(consumer_id);
}

void GroupRunner::Release(Pending* p) {
  if (p->consumer == 0) return;
  auto it = consumers_.find(p->consumer);
  if (it != consumers_.end()) {
    assert(it->second.in_flight > 0);
    it->second.in_flight--;
  }
  p->consumer = 0;
}

void GroupRunner::MarkDone(uint64_t ack_id) {
  changes_unsaved_++;
  if ((ack_id & kReplayBit) != 0) {
    auto it = replay_.find(ack_id & ~kReplayBit);
    assert(it != replay_.end());
    replay_bytes_ -= std::min(replay_bytes_, EventSizeBytes(it->second.event));
    replay_.erase(it);
    return;
  }
  auto it = main_.find(ack_id);
  assert(it != main_.end());
  assert(it->second.consumer == 0);
  buffered_bytes_ -= std::min(buffered_bytes_, EventSizeBytes(it->second.event));
  main_.erase(it);
  done_above_.insert(ack_id);
  AdvanceDoneBelow();
}

void GroupRunner::AdvanceDoneBelow() {
  const uint64_t first_undone = main_.empty() ? read_cursor_ : main_.begin()->first;
  assert(first_undone >= done_below_);
  if (first_undone == done_below_) return;
  done_below_ = first_undone;
  done_above_.erase(done_above_.begin(), done_above_.lower_bound(done_below_));
  changes_unsaved_++;
}

void GroupRunner::ExpireLocked(int64_t now_ms) {
  for (auto* map : {&replay_, &main_}) {
    for (auto& [key, p] : *map) {
      if (p.consumer != 0 && p.deadline_ms <= now_ms) Release(&p);
    }
  }
}

uint32_t GroupRunner::MaxInFlightLocked(const Slot& slot) const {
  if (slot.requested_in_flight == 0) return settings_.max_in_flight;
  const uint32_t bound =
      slot.bound == InFlightBound::kGroup ? settings_.max_in_flight : limits_.in_flight_max;
  return std::min(slot.requested_in_flight, bound);
}

GroupRunner::Slot* GroupRunner::PickLocked(const Pending& p, bool* anyone_may) {
  if (consumers_.empty()) return nullptr;
  auto start = consumers_.upper_bound(rr_last_);
  for (size_t n = 0; n < consumers_.size(); ++n) {
    if (start == consumers_.end()) start = consumers_.begin();
    auto& [id, slot] = *start++;
    if (!slot.ready) {  // joining: whether it may receive is judged next round, not parked now
      *anyone_may = true;
      continue;
    }
    if (!slot.consumer->MayReceive(p.event.entry.stream_id, p.event.entry.event_type)) continue;
    *anyone_may = true;
    if (slot.in_flight < MaxInFlightLocked(slot)) {
      rr_last_ = id;
      return &slot;
    }
  }
  return nullptr;
}

void GroupRunner::AssignLocked(std::vector<Assignment>* out, std::vector<ParkJob>* parks) {
  const int64_t deadline_ms = NowMs() + settings_.ack_timeout_ms;
  bool ready_consumers = false;
  uint64_t room = 0;  // free in-flight places: none left, only parking remains to do
  for (const auto& [id, slot] : consumers_) {
    if (!slot.ready) continue;
    ready_consumers = true;
    const uint32_t max = MaxInFlightLocked(slot);
    room += max > slot.in_flight ? max - slot.in_flight : 0;
  }
  uint64_t unauthorized_waiting = 0;
  bool judged_all = ready_consumers;  // every pending event was judged this round
  auto visit = [&](Pending& p, bool replay) {
    if (p.consumer != 0 || p.parking) return;
    const bool exhausted = p.attempts >= settings_.retry_limit;
    if (!p.park_reason.empty() || exhausted) {
      p.parking = true;
      std::string reason = !p.park_reason.empty() ? p.park_reason : "retry limit reached";
      parks->push_back({p.ack_id,
                        {p.event.entry.position, p.event.entry.stream_id, p.event.entry.event_id,
                         std::move(reason), p.attempts}});
      return;
    }
    if (!ready_consumers) return;
    if (room == 0) {
      judged_all = false;
      return;
    }
    bool anyone_may = false;
    Slot* slot = PickLocked(p, &anyone_may);
    if (slot == nullptr) {
      // Every consumer that may receive it is busy, or no connected consumer may: then it waits
      // for one that may. It is never parked or skipped for that: a consumer that may not receive
      // it (one with a narrower grant, joined while the group's own consumers are away) must not
      // be able to move the group past events it never saw.
      if (!anyone_may) ++unauthorized_waiting;
      return;
    }
    const uint64_t previous_consumer = p.last_consumer;
    const uint64_t prior_previous_consumer = p.previous_consumer;
    p.previous_consumer = previous_consumer;
    p.consumer = rr_last_;
    p.last_consumer = rr_last_;
    p.attempts++;
    p.deadline_ms = deadline_ms;
    slot->in_flight++;
    room--;
    out->push_back(
        {slot->consumer, rr_last_, {p.event, p.ack_id, p.attempts, replay}, previous_consumer,
         prior_previous_consumer});
  };
  for (auto& [version, p] : replay_) visit(p, true);
  for (auto& [position, p] : main_) visit(p, false);
  if (!ready_consumers) counters_.unauthorized_waiting = 0;  // nothing is judged without them
  if (judged_all) counters_.unauthorized_waiting = unauthorized_waiting;
}

GroupPosition GroupRunner::PositionLocked() const {
  GroupPosition position;
  position.done_below = done_below_;
  position.done_above.assign(done_above_.begin(), done_above_.end());
  position.replay_next = replay_.empty() ? replay_next_ : replay_.begin()->first;
  position.replay_end = replay_end_;
  return position;
}

}  // namespace cairn::subscribe
