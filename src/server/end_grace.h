// EndGrace: an ended streaming call must end even when its client stopped reading. Its last write
// (and the Finish queued behind it) would wait on HTTP/2 flow control forever, holding whatever
// the call holds (a live hub slot: subscribers_max). Arm() after Finish(): kEndGraceMs later a
// call not yet done is cancelled (ServerContext::TryCancel), which completes the stuck write and
// brings OnDone.
//
// The same alarm bounds the wait for a call's first message (QueuedBidiReactor): armed at the
// start, Done() when the message arrives.
//
// Thread safety: Arm() once, from any thread; Done() from OnDone, before the reactor is deleted.
// The alarm's callback may run after the reactor is gone (it then touches only shared state).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>

#include <grpcpp/alarm.h>
#include <grpcpp/server_context.h>

namespace cairn::server {

class EndGrace {
 public:
  static constexpr int64_t kEndGraceMs = 5000;

  explicit EndGrace(grpc::CallbackServerContext* context) : shared_(std::make_shared<Shared>()) {
    shared_->context = context;
  }

  // Cancels the call `delay_ms` from now unless Done() came first. Once per EndGrace.
  void Arm(int64_t delay_ms = kEndGraceMs) {
    alarm_.Set(std::chrono::system_clock::now() + std::chrono::milliseconds(delay_ms),
               [shared = shared_](bool fired) {
                 if (!fired) return;  // cancelled: the reactor is gone
                 std::lock_guard<std::mutex> lock(shared->mu);
                 if (shared->context != nullptr) shared->context->TryCancel();
               });
  }

  void Done() {
    std::lock_guard<std::mutex> lock(shared_->mu);
    shared_->context = nullptr;
  }

 private:
  struct Shared {
    std::mutex mu;
    grpc::CallbackServerContext* context = nullptr;  // null once the call is done
  };
  const std::shared_ptr<Shared> shared_;
  grpc::Alarm alarm_;  // set once, by Arm
};

}  // namespace cairn::server
