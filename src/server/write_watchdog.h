// WriteWatchdog: ends streaming calls whose client stopped reading (or sending).
//
// A synchronous handler's ServerWriter::Write blocks while HTTP/2 flow control holds the
// message, that is for as long as the client does not read. A caller with a read grant could so
// hold one of the server's threads (a 256-thread quota serves every synchronous call) per call,
// forever. A handler wraps each Write in a Watch; a thread checks every poll_ms and runs the
// watch's cancel function (grpc::ServerContext::TryCancel) once a write has been blocked for
// longer than stall_ms_max. The Write then returns false and the handler ends the call. Callback
// reactors, which hold memory rather than a thread while they wait, use a RenewedWatch.
//
// Bounds: one entry per watched call; the thread only walks them. Counts the calls it cancelled
// (cancelled()).
//
// Thread safety: Watch and cancelled() may be called from any thread. A cancel function runs on
// the watchdog's thread, without the watchdog's lock, while its Watch is alive: a Watch that
// ends meanwhile waits for the cancels under way to return (unless it ends on the watchdog's
// thread, from within a cancel function), so what a cancel function touches outlives it.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include "audit/metrics.h"

namespace cairn::server {

inline constexpr int64_t kWriteStallMsMax = 60000;

class WriteWatchdog {
 public:
  // `cancelled_metric` (may be null) counts the calls it cancelled, as cancelled() does.
  explicit WriteWatchdog(int64_t stall_ms_max = kWriteStallMsMax, int64_t poll_ms = 1000,
                         audit::Counter* cancelled_metric = nullptr);
  ~WriteWatchdog();  // stops and joins the thread
  WriteWatchdog(const WriteWatchdog&) = delete;
  WriteWatchdog& operator=(const WriteWatchdog&) = delete;

  // Watches one write from construction to destruction (scope it around the Write call).
  class Watch {
   public:
    Watch(WriteWatchdog* watchdog, std::function<void()> cancel);  // watchdog may be null
    ~Watch();
    Watch(const Watch&) = delete;
    Watch& operator=(const Watch&) = delete;

   private:
    WriteWatchdog* const watchdog_;
    uint64_t id_ = 0;
  };

  // One watch over a run of operations of a callback reactor (a read call's answers, an append
  // call's messages): the call is cancelled when none has completed for the stall limit.
  // Begin() before starting an operation; Progress() when one completes (restarts the clock, at
  // most every kRenewMs: each renewal costs the watchdog's lock twice); End() when the reactor
  // waits on nothing of the client's. Used from one reactor's callbacks, never two at once.
  // `cancel` (grpc::ServerContext::TryCancel) runs no reaction on the watchdog's thread (gRPC
  // runs them on its own), so no reaction waits on the watchdog's lock it holds.
  class RenewedWatch {
   public:
    static constexpr int64_t kRenewMs = 100;
    RenewedWatch(WriteWatchdog* watchdog, std::function<void()> cancel)  // watchdog may be null
        : watchdog_(watchdog), cancel_(std::move(cancel)) {}
    void Begin();
    void Progress();
    void End() { watch_.reset(); }

   private:
    WriteWatchdog* const watchdog_;
    const std::function<void()> cancel_;
    std::optional<Watch> watch_;
    int64_t started_ms_ = 0;  // SteadyNowMs() when watch_ began
  };

  uint64_t cancelled() const { return cancelled_.load(std::memory_order_relaxed); }

 private:
  struct Entry {
    std::function<void()> cancel;
    int64_t started_ms = 0;
    bool cancelled = false;
  };
  void Run();

  const int64_t stall_ms_max_;
  const int64_t poll_ms_;
  audit::Counter* const cancelled_metric_;
  std::mutex mu_;  // guards everything below
  std::condition_variable stop_cv_;
  std::condition_variable cancels_done_cv_;
  bool cancelling_ = false;  // the thread is running cancel functions (without mu_)
  bool stop_ = false;
  uint64_t next_id_ = 1;
  std::map<uint64_t, Entry> watched_;
  std::atomic<uint64_t> cancelled_{0};
  std::thread thread_;
};

}  // namespace cairn::server
