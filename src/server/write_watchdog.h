// WriteWatchdog: ends synchronous server-streaming calls whose client stopped reading.
//
// A synchronous handler's ServerWriter::Write blocks while HTTP/2 flow control holds the
// message, that is for as long as the client does not read. A caller with a read grant could so
// hold one of the server's threads (a 256-thread quota serves every synchronous call) per call,
// forever. A handler wraps each Write in a Watch; a thread checks every poll_ms and runs the
// watch's cancel function (grpc::ServerContext::TryCancel) once a write has been blocked for
// longer than stall_ms_max. The Write then returns false and the handler ends the call.
//
// Bounds: one entry per write in progress (at most one per server thread); the thread only
// walks them. Counts the calls it cancelled (cancelled()).
//
// Thread safety: Watch and cancelled() may be called from any thread. A cancel function runs on
// the watchdog's thread while its Watch is alive (with the watchdog's lock held: it must be
// quick and must not call back into the watchdog), so what it touches outlives it.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
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
  bool stop_ = false;
  uint64_t next_id_ = 1;
  std::map<uint64_t, Entry> watched_;
  std::atomic<uint64_t> cancelled_{0};
  std::thread thread_;
};

}  // namespace cairn::server
