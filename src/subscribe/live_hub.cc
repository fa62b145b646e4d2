#include "subscribe/live_hub.h"

#include <algorithm>
#include <cassert>
#include <chrono>
#include <utility>

#include "common/steady_clock.h"
#include "common/thread_name.h"
#include "common/wall_clock.h"

namespace cairn::subscribe {
namespace {


bool ResumableCode(StatusCode code) {
  return code == StatusCode::kResourceExhausted || code == StatusCode::kUnavailable;
}

}  // namespace

// ---- LiveSubscription ----

LiveSubscription::LiveSubscription(LiveHub* hub, std::unique_ptr<LiveCursor> cursor, LiveSink* sink,
                                   std::string principal_id)
    : hub_(hub), cursor_(std::move(cursor)), sink_(sink), principal_id_(std::move(principal_id)) {
  assert(hub_ != nullptr && cursor_ != nullptr && sink_ != nullptr);
  delivered_position_ = cursor_->next_position();
}

void LiveSubscription::Start() { hub_->Schedule(shared_from_this()); }

uint64_t LiveSubscription::delivered_position() const {
  std::lock_guard<std::mutex> lock(mu_);
  return delivered_position_;
}

// The position in the message and the detail is the one delivered up to: a cursor that fell
// behind may have read further, into a batch it then dropped.
Status LiveSubscription::WithResumePosition(const Status& status) const {
  if (!ResumableCode(status.code())) return status;
  return Status(status.code(),
                status.message() + "; resume from position " + std::to_string(delivered_position_),
                static_cast<int64_t>(delivered_position_));
}

void LiveSubscription::EndLocked(std::unique_lock<std::mutex>& lock, const Status& status) {
  assert(!ended_ && !closed_);
  assert(!status.ok());
  ended_ = true;
  running_ = true;
  lock.unlock();
  sink_->End(status);
  lock.lock();
  running_ = false;
  idle_cv_.notify_all();
}

void LiveSubscription::RequestEnd(StatusCode code, const std::string& reason) {
  std::unique_lock<std::mutex> lock(mu_);
  if (ended_ || closed_) return;
  const Status status = WithResumePosition(Status(code, reason));
  if (running_) {  // the running delivery ends it instead of delivering
    if (!end_wanted_) end_wanted_ = status;
    return;
  }
  EndLocked(lock, status);
}

void LiveSubscription::WriteDone(bool ok) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    assert(write_in_flight_);
    write_in_flight_ = false;
  }
  if (!ok) {
    RequestEnd(StatusCode::kUnavailable, "the subscription's stream broke");
    return;
  }
  hub_->Schedule(shared_from_this());
}

void LiveSubscription::Cancel() {
  RequestEnd(StatusCode::kUnavailable, "the subscription was cancelled");
}

void LiveSubscription::Close() {
  {
    std::unique_lock<std::mutex> lock(mu_);
    if (closed_) return;
    closed_ = true;
    idle_cv_.wait(lock, [&] { return !running_; });
  }
  hub_->Remove(this);
}

bool LiveSubscription::TryQueue() {
  std::lock_guard<std::mutex> lock(mu_);
  if (closed_ || ended_ || write_in_flight_ || queued_) return false;
  if (running_) {
    dirty_ = true;
    return false;
  }
  queued_ = true;
  return true;
}

bool LiveSubscription::WriteStalled(int64_t now_ms, int64_t max_ms) const {
  std::lock_guard<std::mutex> lock(mu_);
  return write_in_flight_ && !ended_ && now_ms - write_started_ms_ > max_ms;
}

bool LiveSubscription::RunOnce(int64_t now_ms, int64_t now_unix_s) {
  std::unique_lock<std::mutex> lock(mu_);
  queued_ = false;
  if (closed_ || ended_ || write_in_flight_ || running_) return false;
  if (end_wanted_) {
    EndLocked(lock, *end_wanted_);
    return false;
  }
  running_ = true;
  dirty_ = false;
  lock.unlock();
  Result<LiveBatch> batch = cursor_->Next(now_ms, now_unix_s);  // the only caller of Next()
  lock.lock();
  running_ = false;
  if (closed_) {
    idle_cv_.notify_all();
    return false;
  }
  if (end_wanted_ || !batch.ok()) {
    EndLocked(lock, end_wanted_ ? *end_wanted_ : WithResumePosition(batch.status()));
    return false;
  }
  bool again = batch->kind == LiveBatch::Kind::kNone && batch->more;
  if (batch->kind != LiveBatch::Kind::kNone) {
    assert(batch->next_position >= delivered_position_);
    delivered_position_ = batch->next_position;
    write_in_flight_ = true;
    write_started_ms_ = now_ms;
    running_ = true;
    lock.unlock();
    sink_->Deliver(std::move(batch).value());
    lock.lock();
    running_ = false;
    if (end_wanted_ && !ended_ && !closed_) {
      EndLocked(lock, *end_wanted_);
      return false;
    }
  }
  again = again || (dirty_ && !write_in_flight_);
  dirty_ = false;
  idle_cv_.notify_all();
  return again && !ended_ && !closed_;
}

// ---- LiveHub ----

LiveHub::LiveHub(engine::EventStore* store, const policy::PolicyHolder* policies,
                 LiveHubOptions options)
    : store_(store),
      policies_(policies),
      options_(options),
      ring_(store->tree_size(), options.ring_events_max, options.ring_bytes_max) {
  committed_size_ = ring_.end();
}

Result<std::unique_ptr<LiveHub>> LiveHub::Start(engine::EventStore* store,
                                                const policy::PolicyHolder* policies,
                                                LiveHubOptions options) {
  if (store == nullptr || policies == nullptr) return Status::InvalidArgument("no store or policy");
  if (options.subscribers_max == 0 || options.subscribers_per_principal_max == 0 ||
      options.ring_events_max == 0 || options.ring_bytes_max == 0 || options.lag_events_max == 0 || options.delivery_threads == 0 ||
      options.delivery_threads > 64 || options.hub_read_events_max == 0 || options.tick_ms <= 0) {
    return Status::InvalidArgument("live subscription limits must be positive");
  }
  std::unique_ptr<LiveHub> hub(new LiveHub(store, policies, options));
  LiveHub* raw = hub.get();
  hub->observer_ = store->AddCommitObserver([raw](uint64_t size) { raw->OnCommit(size); });
  if (hub->observer_ == 0) return Status::ResourceExhausted("too many commit observers");
  hub->reader_ = std::thread([raw] {
    SetCurrentThreadName("cairn-hub-read");
    raw->RunReader();
  });
  for (size_t i = 0; i < options.delivery_threads; ++i) {
    hub->deliverers_.emplace_back([raw] {
      SetCurrentThreadName("cairn-hub-send");
      raw->RunDelivery();
    });
  }
  return hub;
}

LiveHub::~LiveHub() {
  Shutdown();
  assert(subscribers_.empty() && "every sink must be closed before the hub is destroyed");
}

void LiveHub::Shutdown() {
  std::call_once(shutdown_once_, [this] {
    if (observer_ != 0) store_->RemoveCommitObserver(observer_);
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
      run_queue_.Clear();
    }
    reader_cv_.notify_all();
    delivery_cv_.notify_all();
    if (reader_.joinable()) reader_.join();
    for (auto& t : deliverers_) t.join();
    std::vector<std::shared_ptr<LiveSubscription>> subs;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (const auto& [raw, sub] : subscribers_) subs.push_back(sub);
    }
    for (const auto& sub : subs) {
      sub->RequestEnd(StatusCode::kUnavailable, "the server is shutting down");
    }
  });
}

Result<std::shared_ptr<LiveSubscription>> LiveHub::Subscribe(const LiveRequest& request,
                                                             const Principal& principal,
                                                             LiveSink* sink) {
  assert(sink != nullptr);
  CAIRN_RETURN_IF_ERROR(ValidateLiveRequest(request));
  LiveAccess access(policies_, principal, request.stream);
  access.set_credential_check(options_.credential_check);
  CAIRN_RETURN_IF_ERROR(access.Refresh(NowUnixSeconds()));
  auto cursor = std::make_unique<LiveCursor>(store_, &ring_, request, std::move(access),
                                             options_.cursor);
  std::shared_ptr<LiveSubscription> sub(new LiveSubscription(this, std::move(cursor), sink, principal.id));
  std::lock_guard<std::mutex> lock(mu_);
  if (stopping_) return Status::Unavailable("the server is shutting down");
  if (subscribers_.size() >= options_.subscribers_max) {
    return Status::ResourceExhausted("too many live subscriptions (subscriptions.subscribers_max = " +
                                     std::to_string(options_.subscribers_max) + ")");
  }
  size_t& mine = per_principal_[principal.id];
  if (mine >= options_.subscribers_per_principal_max) {
    assert(mine > 0);
    return Status::ResourceExhausted("too many live subscriptions of this principal "
                                     "(subscriptions.subscribers_per_principal_max = " +
                                     std::to_string(options_.subscribers_per_principal_max) + ")");
  }
  ++mine;
  assert(per_principal_.size() <= subscribers_.size() + 1);
  // The first subscriber: the ring may lag the log (commits did not wake the reader while nobody
  // subscribed). Restart it at the committed size, as the reader would, unless the reader is
  // reading into it right now; earlier positions come from storage.
  if (subscribers_.empty() && !reading_ && ring_.end() < committed_size_) ring_.Restart(committed_size_);
  subscribers_.emplace(sub.get(), sub);
  if (request.wire_form) ++wire_form_subscribers_;
  reader_cv_.notify_one();
  return sub;
}

size_t LiveHub::subscriber_count() const {
  std::lock_guard<std::mutex> lock(mu_);
  return subscribers_.size();
}

void LiveHub::Remove(LiveSubscription* sub) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = subscribers_.find(sub);
  if (it == subscribers_.end()) return;
  if (it->second->cursor_->request().wire_form) {
    assert(wire_form_subscribers_ > 0);
    --wire_form_subscribers_;
  }
  auto owner = per_principal_.find(sub->principal_id_);
  assert(owner != per_principal_.end() && owner->second > 0);
  if (owner != per_principal_.end() && --owner->second == 0) per_principal_.erase(owner);
  subscribers_.erase(it);
  assert(wire_form_subscribers_ <= subscribers_.size());
}

void LiveHub::OnCommit(uint64_t tree_size) {
  bool anyone;
  {
    std::lock_guard<std::mutex> lock(mu_);
    committed_size_ = std::max(committed_size_, tree_size);
    anyone = !subscribers_.empty();
  }
  // This runs on the commit thread after every group. With nobody subscribed the reader has
  // nothing to read: it restarts its ring at its next tick, or when a subscriber comes
  // (Subscribe), instead of being woken per commit.
  if (anyone) reader_cv_.notify_one();
}

void LiveHub::RunReader() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    const uint64_t target = committed_size_;
    if (target <= ring_.end()) {
      const bool woken = reader_cv_.wait_for(lock, std::chrono::milliseconds(options_.tick_ms), [&] {
        return stopping_ || committed_size_ > ring_.end();
      });
      if (!woken) {  // idle: let subscribers re-check policy, expiry and checkpoints
        lock.unlock();
        WakeSubscribers(/*check_lag=*/false);
        lock.lock();
      }
      continue;
    }
    if (subscribers_.empty()) {
      // Nobody to send to: skip the reading and decryption. Under mu_, so a subscriber added
      // later finds the restarted ring; it catches up on earlier positions from storage.
      ring_.Restart(target);
      continue;
    }
    reading_ = true;
    const bool wire_form = wire_form_subscribers_ > 0;
    lock.unlock();
    if (Status s = ReadCommitted(target, wire_form); !s.ok()) {
      // A failing read of committed events: retry after a tick; subscribers wait meanwhile.
      std::this_thread::sleep_for(std::chrono::milliseconds(options_.tick_ms));
    }
    lock.lock();
    reading_ = false;
  }
}

Status LiveHub::ReadCommitted(uint64_t target, bool wire_form) {
  while (ring_.end() < target) {
    const uint64_t from = ring_.end();
    CAIRN_ASSIGN_OR_RETURN(std::vector<engine::RecordedEvent> events,
                           store_->ReadAll(from, std::min<uint64_t>(target - from,
                                                                    options_.hub_read_events_max)));
    if (events.empty()) return Status::Internal("committed events are not readable yet");
    std::vector<SharedEvent> shared;
    shared.reserve(events.size());
    for (auto& event : events) {
      std::string wire;
      if (wire_form && options_.wire_encoder && !store_->IsProtected(event.entry.event_type)) {
        wire = options_.wire_encoder(event);
      }
      shared.push_back(std::make_shared<const LiveEvent>(std::move(event), std::move(wire)));
    }
    ring_.Append(std::move(shared));
    WakeSubscribers(/*check_lag=*/true);
  }
  return Status::Ok();
}

void LiveHub::WakeSubscribers(bool check_lag) {
  std::vector<std::shared_ptr<LiveSubscription>> subs;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return;
    subs.reserve(subscribers_.size());
    for (const auto& [raw, sub] : subscribers_) subs.push_back(sub);
  }
  const uint64_t begin = ring_.begin();
  const uint64_t end = ring_.end();
  const int64_t now_ms = SteadyNowMs();
  for (const auto& sub : subs) {
    if (sub->WriteStalled(now_ms, options_.write_stall_ms_max)) {
      sub->RequestEnd(StatusCode::kResourceExhausted,
                      "the subscriber has not read for " +
                          std::to_string(options_.write_stall_ms_max / 1000) + " s");
      continue;
    }
    if (check_lag && sub->cursor_->live()) {
      const uint64_t next = sub->cursor_->next_position();
      if (next < begin || (next < end && end - next > options_.lag_events_max)) {
        sub->RequestEnd(StatusCode::kResourceExhausted,
                        "the subscriber fell behind the live log (more than " +
                            std::to_string(std::min<uint64_t>(options_.lag_events_max,
                                                              end - begin)) +
                            " events)");
        continue;
      }
    }
    Schedule(sub);
  }
}

void LiveHub::Schedule(const std::shared_ptr<LiveSubscription>& sub) {
  if (!sub->TryQueue()) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return;  // Shutdown ends every subscription
    assert(run_queue_.size() < options_.subscribers_max + 1);
    run_queue_.Push(sub, sub->cursor_->live());
  }
  delivery_cv_.notify_one();
}

void LiveHub::RunDelivery() {
  for (;;) {
    RunQueues<std::shared_ptr<LiveSubscription>>::Turn turn;
    {
      std::unique_lock<std::mutex> lock(mu_);
      delivery_cv_.wait(lock, [&] { return stopping_ || !run_queue_.empty(); });
      if (stopping_) return;
      turn = run_queue_.Pop();
    }
    const std::shared_ptr<LiveSubscription> sub = std::move(turn.item);
    const int64_t started_ns = SteadyNowNs();
    const bool again = sub->RunOnce(SteadyNowMs(), NowUnixSeconds());
    {
      std::lock_guard<std::mutex> lock(mu_);
      run_queue_.Served(turn, SteadyNowNs() - started_ns);
    }
    if (again) Schedule(sub);
  }
}

}  // namespace cairn::subscribe
