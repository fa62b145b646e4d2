// SignalCanceller: Ctrl-C and SIGTERM end a subscription cleanly. The signals are blocked in
// every thread (construct it before the client starts any thread: gRPC's threads inherit the
// mask) and a watcher thread cancels the subscription when one arrives.
//
// Thread safety: construct, Watch() and destroy on one thread; interrupted() from any.
#pragma once

#include <atomic>
#include <csignal>
#include <thread>

#include <pthread.h>

#include "cairn/subscriptions.h"

namespace cairn::cli {

class SignalCanceller {
 public:
  static constexpr int64_t kSignalPollMs = 100;

  SignalCanceller() {
    sigemptyset(&signals_);
    sigaddset(&signals_, SIGINT);
    sigaddset(&signals_, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals_, &previous_);
  }
  ~SignalCanceller() {
    StopWatching();
    pthread_sigmask(SIG_SETMASK, &previous_, nullptr);
  }
  // Ends the watcher thread; call before the watched subscription is destroyed (a signal that
  // came later would otherwise cancel a freed subscription). Signals stay blocked until the
  // canceller goes.
  void StopWatching() {
    done_.store(true);
    if (watcher_.joinable()) watcher_.join();
  }
  SignalCanceller(const SignalCanceller&) = delete;
  SignalCanceller& operator=(const SignalCanceller&) = delete;

  void Watch(Subscription* sub) {
    watcher_ = std::thread([this, sub] {
      const timespec poll{0, kSignalPollMs * 1000000};
      while (!done_.load()) {
        if (sigtimedwait(&signals_, nullptr, &poll) > 0) {
          interrupted_.store(true);
          sub->Cancel();
          return;
        }
      }
    });
  }
  bool interrupted() const { return interrupted_.load(); }

 private:
  sigset_t signals_, previous_;
  std::atomic<bool> done_{false}, interrupted_{false};
  std::thread watcher_;
};

}  // namespace cairn::cli
