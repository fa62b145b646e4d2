// QueuedBidiReactor: the outgoing half of a bidirectional gRPC callback call fed from another
// thread — a bounded queue of responses with one write in flight, and an end that waits for it.
//
// Group consumers (cairn.v1 Groups.Connect and the EventStoreDB protocol's persistent Read) are
// fed by a group's delivery thread while the call's own reads arrive on gRPC's threads. Both
// push responses with PushLocked() (under mu()), which starts a write unless one is in flight;
// OnWriteDone starts the next. End()/EndLocked() finishes the call once the write in flight (if
// any) completes; responses still queued then are dropped, and nothing is queued after the end.
// A failed write (the client went away) ends the call with CANCELLED: gRPC follows it with
// OnReadDone(false) or OnCancel, which the subclass handles.
//
// The call is finished only through End()/EndLocked(), also when the constructor refuses the
// call: gRPC aborts the process on a second Finish, which a Finish of the subclass's own followed
// by an End (say from OnCancel) would be. So grpc's Finish is private here.
//
// Each response may carry a Tag (say the delivery it is): WithdrawLocked takes back the queued
// responses whose tags match — not the one being written, which is already on its way — and
// hands their tags to the caller. Group consumers use it to take back deliveries of event types a
// policy reload has revoked, so that what is only queued is never sent.
//
// A client that stops reading leaves the write in flight waiting on HTTP/2 flow control:
// WriteStalledLocked tells how long, and a reactor given its call's context arms an EndGrace on
// the end, so that 5 s later a call still not done is cancelled (which completes the stuck write).
//
// Limits: the queue holds at most the bound set by set_queue_max_locked (initially
// kQueueMarginMessages); TryPushLocked refuses beyond it, so a slow client never grows memory.
//
// Thread safety: mu() guards the queue and whatever state the subclass puts under it; every
// *Locked method must be called with it held. End() takes it.
#pragma once

#include <cassert>
#include <cstddef>
#include <cstdint>
#include <list>
#include <mutex>
#include <optional>
#include <utility>
#include <variant>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "common/steady_clock.h"
#include "server/end_grace.h"

namespace cairn::server {

template <typename Request, typename Response, typename Tag = std::monostate>
class QueuedBidiReactor : public grpc::ServerBidiReactor<Request, Response> {
 public:
  // Responses a consumer may have queued beyond its in-flight limit (the join confirmation,
  // markers) before pushing is refused.
  static constexpr size_t kQueueMarginMessages = 16;

  // `context` (optional; the call's) is cancelled when the call has not finished kEndGraceMs
  // after its end, as when the client stopped reading.
  // A client must send its first message (a join, the options) within this long of the call's
  // start, or the call is cancelled: a call that never says what it wants would hold memory and
  // an HTTP/2 stream for nothing, as many times as its connections allow.
  static constexpr int64_t kFirstMessageMsMax = 10000;

  // `context` (optional; the call's) is cancelled when the call has not finished kEndGraceMs
  // after its end, as when the client stopped reading, and when FirstMessageArrived() has not
  // come kFirstMessageMsMax after the start.
  explicit QueuedBidiReactor(grpc::CallbackServerContext* context = nullptr) {
    if (context == nullptr) return;
    end_grace_.emplace(context);
    first_message_.emplace(context);
    first_message_->Arm(kFirstMessageMsMax);
  }
  ~QueuedBidiReactor() override {
    // From OnDone's delete: the context is still valid.
    if (end_grace_) end_grace_->Done();
    if (first_message_) first_message_->Done();
  }

  // Finishes the call with `status` once the write in flight is done. Idempotent: the first end
  // wins.
  void End(grpc::Status status) {
    std::lock_guard<std::mutex> lock(mu_);
    EndLocked(std::move(status));
  }

  void OnWriteDone(bool ok) override {
    std::lock_guard<std::mutex> lock(mu_);
    assert(writing_ && !out_.empty());
    writing_ = false;
    if (!out_.empty()) out_.pop_front();
    if (!ok && !finishing_) {  // the client is gone; OnReadDone(false) or OnCancel follows
      finishing_ = true;
      final_status_ = grpc::Status(grpc::StatusCode::CANCELLED, "the client went away");
    }
    if (!ok) out_.clear();
    if (!out_.empty() && !finishing_) {
      StartNextWriteLocked();
    } else if (finishing_ && !finished_) {
      finished_ = true;
      Base::Finish(final_status_);
    }
  }

 protected:
  std::mutex& mu() { return mu_; }
  // The client's first message arrived (from the reactor's OnReadDone): the call is no longer
  // cancelled for the lack of it. Idempotent.
  void FirstMessageArrived() {
    if (first_message_) first_message_->Done();
  }

  // Queues `message` (written after those before it). The caller makes sure the call is not
  // finishing, or uses TryPushLocked.
  void PushLocked(Response message, Tag tag = Tag()) {
    out_.push_back(Queued{std::move(message), std::move(tag)});
    if (!writing_) StartNextWriteLocked();
  }
  // Queues `message` unless the call is finishing or the queue is full; false then.
  bool TryPushLocked(Response message, Tag tag = Tag()) {
    if (finishing_ || queue_full_locked()) return false;
    PushLocked(std::move(message), std::move(tag));
    return true;
  }
  // Removes the queued responses whose tag `withdraw(const Tag&)` accepts, except the one being
  // written; returns their tags in queue order. The others keep their order.
  template <typename Predicate>
  std::vector<Tag> WithdrawLocked(Predicate&& withdraw) {
    std::vector<Tag> taken;
    auto it = out_.begin();
    if (writing_ && it != out_.end()) ++it;  // on its way: its address is gRPC's now
    while (it != out_.end()) {
      if (!withdraw(static_cast<const Tag&>(it->tag))) {
        ++it;
        continue;
      }
      taken.push_back(std::move(it->tag));
      it = out_.erase(it);
    }
    return taken;
  }
  void EndLocked(grpc::Status status) {
    if (finishing_) return;
    finishing_ = true;
    final_status_ = std::move(status);
    if (end_grace_) end_grace_->Arm();
    if (!writing_) {
      finished_ = true;
      out_.clear();
      Base::Finish(final_status_);
    }
  }
  bool finishing_locked() const { return finishing_; }
  bool queue_full_locked() const { return out_.size() >= queue_max_; }
  size_t queued_locked() const { return out_.size(); }
  // The tag of the response being written; nullptr when none is.
  const Tag* writing_tag_locked() const { return writing_ ? &out_.front().tag : nullptr; }
  // Whether the write in flight has waited longer than `stall_ms_max` for the client.
  bool WriteStalledLocked(int64_t now_ms, int64_t stall_ms_max) const {
    return writing_ && now_ms - write_started_ms_ > stall_ms_max;
  }
  void set_queue_max_locked(size_t messages) {
    assert(messages > 0);
    queue_max_ = messages;
  }

 private:
  using Base = grpc::ServerBidiReactor<Request, Response>;
  using Base::Finish;  // private: End() and EndLocked() are the only ways to finish

  struct Queued {
    Response message;
    Tag tag;
  };

  void StartNextWriteLocked() {
    assert(!writing_ && !out_.empty());
    writing_ = true;
    write_started_ms_ = SteadyNowMs();
    this->StartWrite(&out_.front().message);
  }

  std::mutex mu_;
  // Front: being written. A list, so that withdrawing from the middle leaves the front's address
  // (which gRPC holds during the write) where it is.
  std::list<Queued> out_;
  size_t queue_max_ = kQueueMarginMessages;
  bool writing_ = false;
  int64_t write_started_ms_ = 0;  // of the write in flight (SteadyNowMs)
  std::optional<EndGrace> end_grace_;
  std::optional<EndGrace> first_message_;  // cancels a call whose first message never comes
  bool finishing_ = false;
  bool finished_ = false;
  grpc::Status final_status_;
};

}  // namespace cairn::server
