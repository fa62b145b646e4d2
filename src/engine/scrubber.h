// Scrubber: continuous verification of a live log inside `cairn serve` (DESIGN.md, Verification:
// "the server runs the same check in the background").
//
// One background thread does two jobs, each in bounded steps:
//  - incremental: a commit observer records the new tree size and wakes the thread; delay_ms
//    later the thread verifies the newly committed records in order, at most
//    records_per_step_max per step (EventStore::VerifyRange: decrypt, data hashes, leaf hashes,
//    stream chains, Merkle nodes, root against the tree state and latest checkpoint). It starts at
//    the tree size of Start(): the full scrub covers what came before.
//  - full: EventStore::VerifyPaced over the whole log, first delay_ms after Start() and then every
//    full_interval_ms, in chunks of records_per_step_max records; between two chunks the thread
//    runs the due incremental steps. It never holds a lock appends need.
//
// A budget bounds what the scrub takes from the appends it checks: after every step or chunk that
// took t of wall time, the thread pauses t * (100 - busy_percent_max) / busy_percent_max, so it is
// busy at most busy_percent_max % of the time (of one core at most). Under a load the budget
// cannot follow, the incremental part falls behind (ScrubRun::incremental_lag_records) and catches
// up, in order, when the load eases; nothing is skipped.
//
// A mismatch is never benign: the incremental check halts at its first failure (the verified size
// stops there until a restart) and reports it once; each failed full run reports again. Every
// completed step or run goes to the ScrubListener (metrics, audit, alerts); reports carry
// positions and short texts naming what failed, never payloads.
//
// Thread safety: Start/Stop from one owner thread; status() from any thread. The listener runs on
// the scrub thread, must be quick, and must not call Stop(). The store must outlive the scrubber;
// Stop() (also run by the destructor) returns promptly — within one bounded step — and removes the
// commit observer.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "engine/event_store.h"

namespace cairn::engine {

inline constexpr uint64_t kScrubRecordsPerStepMax = kVerifyChunkRecordsMax;
inline constexpr int64_t kScrubIntervalMsMax = int64_t{7} * 24 * 3600 * 1000;
inline constexpr int64_t kScrubDelayMsMax = 600000;

struct ScrubberOptions {
  int64_t full_interval_ms = 3600 * 1000;  // 1 .. kScrubIntervalMsMax
  int64_t delay_ms = 1000;                 // 0 .. kScrubDelayMsMax: after a commit, and at start
  uint64_t records_per_step_max = 4096;    // 1 .. kScrubRecordsPerStepMax
  int busy_percent_max = 10;               // 1 .. 100: the thread's share of wall time
};

// The pause after `took` of work under a budget of busy_percent_max (1 .. 100) percent.
std::chrono::microseconds ScrubPause(std::chrono::microseconds took, int busy_percent_max);

enum class ScrubKind : uint8_t { kIncremental = 0, kFull };
const char* ScrubKindName(ScrubKind kind);  // "incremental" | "full"

// One completed incremental step or full run.
struct ScrubRun {
  ScrubKind kind = ScrubKind::kIncremental;
  bool ok = false;
  uint64_t records_checked = 0;
  // Incremental: the records [0, verified_size) are verified (the step's end, or where it
  // failed). Full: the tree size the run covered.
  uint64_t verified_size = 0;
  int64_t finished_unix_s = 0;
  std::optional<uint64_t> bad_position;  // when !ok and the failure has a position
  std::string failure;                   // when !ok: what failed
  // After this run: [0, verified_prefix_size) has been verified (the last full run together with
  // the incremental steps after it), up to the first failure seen.
  uint64_t verified_prefix_size = 0;
  // Committed records the incremental part has not verified yet when this run was reported.
  uint64_t incremental_lag_records = 0;
  // Wall time the thread worked (steps and chunks) since the previous reported run.
  uint64_t busy_us = 0;
};

class ScrubListener {
 public:
  virtual ~ScrubListener() = default;
  virtual void OnScrubRun(const ScrubRun& run) = 0;
};

// What the scrub has done so far (a snapshot).
struct ScrubStatus {
  uint64_t incremental_verified_size = 0;   // incremental position: [start size, this) verified
  uint64_t verified_prefix_size = 0;        // as ScrubRun::verified_prefix_size
  bool incremental_halted = false;          // after a failure
  std::optional<ScrubRun> last_incremental;
  std::optional<ScrubRun> last_full;
  std::optional<ScrubRun> first_failure;    // the first failed step or run since Start()
  uint64_t records_checked_total = 0;
  uint64_t failures_total = 0;
  uint64_t busy_us_total = 0;    // wall time spent in steps and chunks
  uint64_t paused_us_total = 0;  // wall time spent in the budget's pauses
};

class Scrubber {
 public:
  // kInvalidArgument for options outside their bounds. `listener` may be null; not owned.
  static Result<std::unique_ptr<Scrubber>> Start(EventStore* store, const ScrubberOptions& options,
                                                 ScrubListener* listener);
  ~Scrubber();
  Scrubber(const Scrubber&) = delete;
  Scrubber& operator=(const Scrubber&) = delete;

  void Stop();
  ScrubStatus status() const;

 private:
  using Clock = std::chrono::steady_clock;

  Scrubber(EventStore* store, const ScrubberOptions& options, ScrubListener* listener);
  void Run();
  bool RunDueIncremental(std::unique_lock<std::mutex>& lock);
  void Rest(std::unique_lock<std::mutex>& lock, Clock::duration took);
  void IncrementalStep(std::unique_lock<std::mutex>& lock);
  void FullRun(std::unique_lock<std::mutex>& lock);
  bool BetweenFullChunks();
  void Record(std::unique_lock<std::mutex>& lock, ScrubRun run);

  EventStore* const store_;
  const ScrubberOptions options_;
  ScrubListener* const listener_;
  uint64_t observer_ = 0;
  std::atomic<uint64_t> committed_size_{0};  // written by the commit observer
  std::atomic<bool> awaiting_commits_{false};  // the thread waits for committed_size_ to grow
  uint64_t start_size_ = 0;                  // the incremental part starts here
  uint64_t full_verified_size_ = 0;          // guarded by mu_: the last full run's prefix
  uint64_t reported_busy_us_ = 0;            // guarded by mu_: busy_us_total at the last report

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;                                 // guarded by mu_
  std::optional<Clock::time_point> incremental_due_;  // guarded by mu_
  Clock::time_point full_due_;                        // guarded by mu_
  Clock::time_point chunk_started_;                   // scrub thread only
  ScrubStatus status_;                                // guarded by mu_
  std::thread thread_;
};

}  // namespace cairn::engine
