#include "cairn/verifying_subscription.h"

#include <algorithm>
#include <atomic>
#include <cassert>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include "common/steady_clock.h"
#include "integrity/checkpoint.h"
#include "integrity/note.h"

namespace cairn {
namespace {

int64_t NowMs() { return SteadyNowMs(); }

// How long Next() sleeps at most in one wait while nothing is held (it then waits again).
constexpr int64_t kIdleSliceMs = 1000;

// The witnesses' cosigner keys; kInvalidArgument for a malformed key, one given twice (one key is
// one witness, whatever its name: it must not count twice toward the quorum) or a quorum above
// the keys given.
Result<std::vector<integrity::NoteVerifier>> WitnessKeys(const VerifyingSubscriptionOptions& o) {
  if (o.witness_keys.size() > VerifyingSubscriptionOptions::kWitnessKeysMax) {
    return Status::InvalidArgument("more than 64 witness keys");
  }
  std::vector<integrity::NoteVerifier> keys;
  for (const std::string& text : o.witness_keys) {
    auto key = integrity::ParseVerifierKey(text, integrity::kCosignatureAlgorithmEd25519);
    if (!key.ok()) return Status::InvalidArgument("witness key: " + key.status().message());
    for (const integrity::NoteVerifier& seen : keys) {
      if (seen.public_key == key->public_key) {
        return Status::InvalidArgument("a witness key is given twice");
      }
    }
    keys.push_back(std::move(key).value());
  }
  if (o.witnesses_min > keys.size()) {
    return Status::InvalidArgument("witnesses_min is more than the witness keys given");
  }
  return keys;
}

Status ValidateOptions(const VerifyingSubscriptionOptions& o) {
  if (o.checkpoint_every_events < 1 || o.checkpoint_every_events > EventVerifier::kPendingEventsMax) {
    return Status::InvalidArgument("checkpoint_every_events must be 1.." +
                                   std::to_string(EventVerifier::kPendingEventsMax));
  }
  if (o.checkpoint_every_ms < 1 || o.checkpoint_every_ms > 3600 * 1000) {
    return Status::InvalidArgument("checkpoint_every_ms must be 1..3600000");
  }
  if (o.idle_wait_ms < 1 || o.idle_wait_ms > o.checkpoint_every_ms) {
    return Status::InvalidArgument("idle_wait_ms must be 1..checkpoint_every_ms");
  }
  return WitnessKeys(o).status();
}

// kInvalidArgument for a malformed key, or a trusted checkpoint that is not signed by it.
Status ValidateTrusted(const VerifyingSubscriptionOptions& o) {
  if (o.trusted_checkpoint.empty()) return Status::Ok();
  if (o.trusted_checkpoint.size() > VerifyingSubscriptionOptions::kTrustedCheckpointSizeBytesMax) {
    return Status::InvalidArgument("the trusted checkpoint is larger than " +
                                   std::to_string(VerifyingSubscriptionOptions::kTrustedCheckpointSizeBytesMax) +
                                   " bytes");
  }
  CAIRN_ASSIGN_OR_RETURN(integrity::NoteVerifier key,
                         integrity::ParseVerifierKey(o.verifier_key));
  auto trusted = integrity::VerifyCheckpoint(o.trusted_checkpoint, key);
  if (!trusted.ok()) {
    return Status::InvalidArgument("the trusted checkpoint does not verify under the pinned "
                                   "verifier key: " + trusted.status().message());
  }
  return Status::Ok();
}

// What the verifier of a subscription checks, from its options and request.
EventVerifierOptions VerifierOptions(const VerifyingSubscriptionOptions& o,
                                            const v1::SubscribeRequest& request) {
  EventVerifierOptions v;
  v.checkpoint_every_events = o.checkpoint_every_events;
  v.checkpoint_every_ms = o.checkpoint_every_ms;
  v.require_verified_data = o.require_verified_data;
  v.require_stored_form = o.verify_stored_data && !o.accept_missing_stored_form;
  v.check_unseen_predecessors = o.check_unseen_predecessors;
  v.require_chain_links = o.require_chain_links;
  v.scope = ScopeOf(request);
  auto witnesses = WitnessKeys(o);
  assert(witnesses.ok() && "ValidateOptions checked them");
  if (witnesses.ok()) v.witnesses = std::move(witnesses).value();
  v.witnesses_min = o.witnesses_min;
  if (o.witnesses_min > 0) {  // cosigned checkpoints lag: give a slow witness's round time
    v.uncovered_ms_min =
        std::max(v.uncovered_ms_min, VerifyingSubscriptionOptions::kWitnessUncoveredMsMin);
  }
  return v;
}

}  // namespace

class VerifyingSubscription::Impl {
 public:
  Impl(std::unique_ptr<Subscription> inner, std::unique_ptr<IntegritySource> source,
       integrity::NoteVerifier key, const v1::SubscribeRequest& request,
       const VerifyingSubscriptionOptions& options)
      : inner_(std::move(inner)),
        source_(std::move(source)),
        verifier_(source_.get(), std::move(key), VerifierOptions(options, request)),
        options_(options),
        resume_(StartPosition(request)) {
    if (!options.trusted_checkpoint.empty()) {
      [[maybe_unused]] const Status trusted = verifier_.TrustCheckpoint(options.trusted_checkpoint);
      assert(trusted.ok() && "Wrap verified it");
      // From the end: Start() verified this checkpoint before the subscription began, so no event
      // below it is new: such events are dropped unseen (a node behind the one that signed it may
      // start lower), never handed over.
      if (request.start_case() == v1::SubscribeRequest::kFromEnd) {
        start_floor_ = verifier_.last_checkpoint()->size;
        resume_.store(start_floor_);
      }
    }
    verifier_.RaisePositionFloor(resume_.load());
    reader_ = std::thread([this] { ReadLoop(); });
  }

  ~Impl() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    space_.notify_all();
    inner_->Cancel();
    reader_.join();
  }

  Result<v1::SubscribeResponse> Next();
  void Cancel() {
    cancelled_.store(true);
    inner_->Cancel();
    source_->Cancel();  // a Next() proving held events returns soon, too
  }
  bool cancelled() const { return cancelled_.load(); }
  uint64_t resume_position() const { return resume_.load(); }
  const VerifierStats& stats() const { return verifier_.stats(); }
  uint64_t events_before_start_skipped() const { return before_start_skipped_.load(); }
  bool last_event_data_unchecked() const { return last_data_unchecked_; }
  const std::string& checkpoint_note() const { return verifier_.last_checkpoint_note(); }

  static uint64_t StartPosition(const v1::SubscribeRequest& request) {
    return request.start_case() == v1::SubscribeRequest::kFromPosition ? request.from_position()
                                                                        : 0;
  }

 private:

  void ReadLoop();
  // The next message from the reader, waiting at most `wait_ms`; nullopt on timeout.
  std::optional<Result<v1::SubscribeResponse>> Pop(int64_t wait_ms);
  // Checks an arriving message; events are held, the end is remembered.
  Status Accept(Result<v1::SubscribeResponse> message);
  // The front held message if the caller may have it now.
  std::optional<v1::SubscribeResponse> Release();
  Status ProveHeld();
  // A marker's position is the server's word: the resume position follows it only as far as the
  // verified log reaches (a marker far ahead would make a later resume skip events).
  void AdvanceResumeTo(uint64_t marker_position) {
    const auto& verified = verifier_.last_checkpoint();
    const uint64_t bound = verified ? std::min(marker_position, verified->size) : resume_.load();
    resume_.store(std::max(resume_.load(), bound));
  }
  // Proofs are due for held events by count or age, but never more often than idle_wait_ms
  // (an event the last checkpoint did not yet cover is retried after a pause, not in a spin).
  bool ProofDue(int64_t now_ms) const {
    if (held_events_ == 0 || now_ms - last_proof_ms_ < options_.idle_wait_ms) return false;
    return end_ || verifier_.CheckpointDue(now_ms) || held_.size() >= options_.checkpoint_every_events ||
           Full();
  }
  // Both bounds on what waits for a proof: no more is taken from the stream until a proof frees
  // room (CheckEvent would refuse an event beyond kPendingEventsMax and end the subscription).
  bool Full() const {
    return held_bytes_ >= kHeldBytesMax ||
           verifier_.pending_events() >= EventVerifier::kPendingEventsMax;
  }
  Status Fail(Status status) {
    assert(!status.ok());
    failure_ = std::move(status);
    inner_->Cancel();
    return failure_;
  }

  std::unique_ptr<Subscription> inner_;
  std::unique_ptr<IntegritySource> source_;
  EventVerifier verifier_;
  VerifyingSubscriptionOptions options_;
  std::atomic<uint64_t> resume_;
  // From the end: the size of the checkpoint verified at the start; events below it are dropped.
  uint64_t start_floor_ = 0;
  std::atomic<uint64_t> before_start_skipped_{0};
  std::atomic<bool> cancelled_{false};

  std::mutex mu_;
  std::condition_variable ready_;   // queue_ gained a message
  std::condition_variable space_;   // queue_ lost one, or stop_
  std::deque<Result<v1::SubscribeResponse>> queue_;  // guarded by mu_; ≤ kQueuedMessagesMax
  size_t queued_bytes_ = 0;                          // guarded by mu_; ≤ kQueuedBytesMax + one
  bool stop_ = false;                                // guarded by mu_
  std::thread reader_;

  // Owned by the thread that calls Next().
  std::deque<v1::SubscribeResponse> held_;  // in order; events checked, maybe not yet proven
  std::set<uint64_t> data_unchecked_;        // positions in held_ whose data went unchecked
  bool last_data_unchecked_ = false;         // of the last event Next() returned
  uint64_t held_events_ = 0;
  size_t held_bytes_ = 0;  // of held_; ≤ kHeldBytesMax + one message
  int64_t last_proof_ms_ = 0;
  std::optional<Status> end_;  // how the inner subscription ended
  Status failure_;
};

void VerifyingSubscription::Impl::ReadLoop() {
  for (;;) {
    Result<v1::SubscribeResponse> message = inner_->Next();
    const bool end = !message.ok();
    const size_t size_bytes = end ? 0 : message->ByteSizeLong();
    {
      std::unique_lock<std::mutex> lock(mu_);
      space_.wait(lock, [&] {
        return stop_ || (queue_.size() < kQueuedMessagesMax && (queue_.empty() || queued_bytes_ < kQueuedBytesMax));
      });
      if (stop_) return;
      queued_bytes_ += size_bytes;
      queue_.push_back(std::move(message));
      assert(queue_.size() <= kQueuedMessagesMax);
    }
    ready_.notify_one();
    if (end) return;
  }
}

std::optional<Result<v1::SubscribeResponse>> VerifyingSubscription::Impl::Pop(int64_t wait_ms) {
  std::unique_lock<std::mutex> lock(mu_);
  if (!ready_.wait_for(lock, std::chrono::milliseconds(wait_ms), [&] { return !queue_.empty(); })) {
    return std::nullopt;
  }
  Result<v1::SubscribeResponse> message = std::move(queue_.front());
  queue_.pop_front();
  const size_t size_bytes = message.ok() ? message->ByteSizeLong() : 0;
  assert(queued_bytes_ >= size_bytes);
  queued_bytes_ -= size_bytes;
  lock.unlock();
  space_.notify_one();
  return message;
}

Status VerifyingSubscription::Impl::Accept(Result<v1::SubscribeResponse> message) {
  if (!message.ok()) {
    end_ = NotOurViolation(message.status());
    return Status::Ok();
  }
  if (message->has_event() && message->event().position() < start_floor_) {
    ++before_start_skipped_;  // from the end: older than the checkpoint verified at the start
    return Status::Ok();
  }
  if (message->has_event()) {
    const uint64_t skipped_before = verifier_.stats().data_hashes_skipped;
    CAIRN_RETURN_IF_ERROR(verifier_.CheckEvent(message->event(), NowMs()));
    if (verifier_.stats().data_hashes_skipped != skipped_before) {
      data_unchecked_.insert(message->event().position());
    }
    ++held_events_;
  } else if (message->has_checkpoint()) {
    verifier_.RaisePositionFloor(message->checkpoint().next_position());
  } else if (message->has_caught_up()) {
    verifier_.RaisePositionFloor(message->caught_up().next_position());
  } else {  // a batch (cairn::Subscription splits them) or a kind this client does not know
    return verifier_.RefuseMessage(resume_.load(),
                                   "a message that is neither an event nor a position marker");
  }
  held_bytes_ += message->ByteSizeLong();
  held_.push_back(std::move(message).value());
  return Status::Ok();
}

std::optional<v1::SubscribeResponse> VerifyingSubscription::Impl::Release() {
  if (held_.empty()) return std::nullopt;
  v1::SubscribeResponse& front = held_.front();
  const size_t size_bytes = front.ByteSizeLong();  // as counted in, before a marker is clamped
  if (front.has_event()) {
    if (!verifier_.Proven(front.event().position())) return std::nullopt;
    resume_.store(std::max(resume_.load(), front.event().position() + 1));
    last_data_unchecked_ = data_unchecked_.erase(front.event().position()) > 0;
    --held_events_;
  } else if (front.has_checkpoint()) {
    AdvanceResumeTo(front.checkpoint().next_position());
    // The handler may store the marker's position to resume from (docs/consumers.md): never
    // beyond what a verified checkpoint covers.
    front.mutable_checkpoint()->set_next_position(
        std::min(front.checkpoint().next_position(), resume_.load()));
  } else if (front.has_caught_up()) {
    AdvanceResumeTo(front.caught_up().next_position());
    front.mutable_caught_up()->set_next_position(
        std::min(front.caught_up().next_position(), resume_.load()));
  }
  v1::SubscribeResponse out = std::move(front);
  held_.pop_front();
  assert(held_bytes_ >= size_bytes);
  held_bytes_ -= size_bytes;
  return out;
}

Status VerifyingSubscription::Impl::ProveHeld() {
  last_proof_ms_ = NowMs();
  Status s = verifier_.VerifyCheckpoint(last_proof_ms_);
  if (!s.ok()) {
    return Fail(s.code() == StatusCode::kDataLoss
                    ? s
                    : s.Annotate("verifying subscription: cannot prove the held events"));
  }
  return Status::Ok();
}

Result<v1::SubscribeResponse> VerifyingSubscription::Impl::Next() {
  for (;;) {
    if (!failure_.ok()) return failure_;
    if (cancelled_.load()) return Status::Unavailable("subscription cancelled");
    if (auto out = Release()) return std::move(*out);
    if (held_events_ == 0 && end_) return *end_;
    if (ProofDue(NowMs())) {  // enough held, held long enough, or nothing more will arrive
      CAIRN_RETURN_IF_ERROR(ProveHeld());
      continue;
    }
    if (end_ || Full()) {  // nothing more will arrive, or prove before taking more
      std::this_thread::sleep_for(std::chrono::milliseconds(options_.idle_wait_ms));
      continue;
    }
    auto message = Pop(held_events_ > 0 ? options_.idle_wait_ms : kIdleSliceMs);
    if (message) {
      if (Status s = Accept(std::move(*message)); !s.ok()) return Fail(s);
    } else if (held_events_ > 0) {  // quiet: prove what is held now
      CAIRN_RETURN_IF_ERROR(ProveHeld());
    }
  }
}

namespace {

// A checkpoint fetched, signature-checked and (with a trusted one) consistency-checked before a
// from-end subscription starts: the log had at least that many events when it started, so events
// it delivers lie at or after that size. A violation is reported and returned (kDataLoss).
Result<std::string> CheckpointBeforeStart(Client& client, const v1::SubscribeRequest& request,
                                          const VerifyingSubscriptionOptions& options) {
  std::unique_ptr<IntegritySource> source = IntegritySourceFor(&client);
  CAIRN_ASSIGN_OR_RETURN(integrity::NoteVerifier key, integrity::ParseVerifierKey(options.verifier_key));
  // The same options as the subscription's verifier: with witnesses, the floor is a cosigned
  // checkpoint (the held one must never be newer than what that verifier may fetch).
  EventVerifier verifier(source.get(), std::move(key), VerifierOptions(options, request));
  if (!options.trusted_checkpoint.empty()) CAIRN_RETURN_IF_ERROR(verifier.TrustCheckpoint(options.trusted_checkpoint));
  Status s = verifier.VerifyCheckpoint();
  if (!s.ok()) {
    return s.code() == StatusCode::kDataLoss ? s : s.Annotate("verifying subscription: cannot fetch a checkpoint");
  }
  if (options.witnesses_min > 0 && verifier.stats().checkpoints_verified == 0) {
    // Short of the quorum, nothing was fetched to start from (and a kept checkpoint alone is no
    // floor from this server): not a usage error, and not yet a start.
    return Status::Unavailable(
        "verifying subscription: no checkpoint with enough witness cosignatures to start from "
        "the end (the last one fetched had " + std::to_string(verifier.last_cosignatures()) +
        ", " + std::to_string(options.witnesses_min) + " needed)");
  }
  return verifier.last_checkpoint_note();
}

}  // namespace

Result<std::unique_ptr<VerifyingSubscription>> VerifyingSubscription::Start(
    Client& client, const v1::SubscribeRequest& request, VerifyingSubscriptionOptions options) {
  if (options.verifier_key.empty()) {
    return Status::InvalidArgument("a verifying subscription needs the log's verifier key");
  }
  CAIRN_RETURN_IF_ERROR(ValidateOptions(options));
  CAIRN_RETURN_IF_ERROR(integrity::ParseVerifierKey(options.verifier_key).status());
  CAIRN_RETURN_IF_ERROR(ValidateTrusted(options));
  v1::SubscribeRequest asked = request;
  if (options.verify_stored_data) asked.set_include_stored_data(true);
  if (asked.start_case() == v1::SubscribeRequest::kFromEnd) {
    // From the end: the server starts at its end, and a checkpoint verified now is the floor
    // below which nothing is delivered. The request is not rewritten to start at the
    // checkpoint's size: a stale checkpoint (a replayed answer, a lagging node) would then make
    // the server send every event since as new.
    CAIRN_ASSIGN_OR_RETURN(options.trusted_checkpoint, CheckpointBeforeStart(client, asked, options));
  }
  CAIRN_ASSIGN_OR_RETURN(std::unique_ptr<Subscription> inner,
                         Subscription::Start(client, asked, options.subscription));
  return Wrap(std::move(inner), IntegritySourceFor(&client), asked, options);
}

Result<std::unique_ptr<VerifyingSubscription>> VerifyingSubscription::Wrap(
    std::unique_ptr<Subscription> inner, std::unique_ptr<IntegritySource> source,
    const v1::SubscribeRequest& request, const VerifyingSubscriptionOptions& options) {
  assert(inner != nullptr && source != nullptr);
  CAIRN_RETURN_IF_ERROR(ValidateOptions(options));
  CAIRN_RETURN_IF_ERROR(ValidateTrusted(options));
  if (request.start_case() == v1::SubscribeRequest::kFromEnd && options.trusted_checkpoint.empty()) {
    // Without it, "from the end" has no floor: old events could be passed off as new.
    return Status::InvalidArgument(
        "a from-end verifying subscription needs the checkpoint verified at its start "
        "(trusted_checkpoint; Start() fetches one)");
  }
  auto key = integrity::ParseVerifierKey(options.verifier_key);
  if (!key.ok()) return key.status().Annotate("verifier key");
  auto impl = std::make_unique<Impl>(std::move(inner), std::move(source), std::move(key).value(),
                                     request, options);
  return std::unique_ptr<VerifyingSubscription>(new VerifyingSubscription(std::move(impl)));
}

VerifyingSubscription::VerifyingSubscription(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
VerifyingSubscription::~VerifyingSubscription() = default;
Status VerifyingSubscription::NextInto(v1::SubscribeResponse* out) {
  Result<v1::SubscribeResponse> message = impl_->Next();
  if (!message.ok()) return message.status();
  *out = std::move(message).value();
  return Status::Ok();
}
void VerifyingSubscription::Cancel() { impl_->Cancel(); }
bool VerifyingSubscription::cancelled() const { return impl_->cancelled(); }
uint64_t VerifyingSubscription::resume_position() const { return impl_->resume_position(); }
const VerifierStats& VerifyingSubscription::stats() const { return impl_->stats(); }
uint64_t VerifyingSubscription::events_before_start_skipped() const {
  return impl_->events_before_start_skipped();
}
bool VerifyingSubscription::last_event_data_unchecked() const {
  return impl_->last_event_data_unchecked();
}
std::string VerifyingSubscription::checkpoint_note() const { return impl_->checkpoint_note(); }

}  // namespace cairn
