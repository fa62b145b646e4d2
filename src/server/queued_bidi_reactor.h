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
// Limits: the queue holds at most the bound set by set_queue_max_locked (initially
// kQueueMarginMessages); TryPushLocked refuses beyond it, so a slow client never grows memory.
//
// Thread safety: mu() guards the queue and whatever state the subclass puts under it; every
// *Locked method must be called with it held. End() takes it.
#pragma once

#include <cassert>
#include <cstddef>
#include <deque>
#include <mutex>
#include <utility>

#include <grpcpp/grpcpp.h>

namespace cairn::server {

template <typename Request, typename Response>
class QueuedBidiReactor : public grpc::ServerBidiReactor<Request, Response> {
 public:
  // Responses a consumer may have queued beyond its in-flight limit (the join confirmation,
  // markers) before pushing is refused.
  static constexpr size_t kQueueMarginMessages = 16;

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

  // Queues `message` (written after those before it). The caller makes sure the call is not
  // finishing, or uses TryPushLocked.
  void PushLocked(Response message) {
    out_.push_back(std::move(message));
    if (!writing_) StartNextWriteLocked();
  }
  // Queues `message` unless the call is finishing or the queue is full; false then.
  bool TryPushLocked(Response message) {
    if (finishing_ || queue_full_locked()) return false;
    PushLocked(std::move(message));
    return true;
  }
  void EndLocked(grpc::Status status) {
    if (finishing_) return;
    finishing_ = true;
    final_status_ = std::move(status);
    if (!writing_) {
      finished_ = true;
      out_.clear();
      Base::Finish(final_status_);
    }
  }
  bool finishing_locked() const { return finishing_; }
  bool queue_full_locked() const { return out_.size() >= queue_max_; }
  void set_queue_max_locked(size_t messages) {
    assert(messages > 0);
    queue_max_ = messages;
  }

 private:
  using Base = grpc::ServerBidiReactor<Request, Response>;
  using Base::Finish;  // private: End() and EndLocked() are the only ways to finish

  void StartNextWriteLocked() {
    assert(!writing_ && !out_.empty());
    writing_ = true;
    this->StartWrite(&out_.front());
  }

  std::mutex mu_;
  std::deque<Response> out_;  // front: being written
  size_t queue_max_ = kQueueMarginMessages;
  bool writing_ = false;
  bool finishing_ = false;
  bool finished_ = false;
  grpc::Status final_status_;
};

}  // namespace cairn::server
