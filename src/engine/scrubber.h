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
//    full_interval_ms, in chunks of records_per_step_max records; after each chunk the thread
//    runs the due incremental steps and pauses as long as the chunk took (so it uses at most about
//    half of one core and never holds a lock appends need).
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
};

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
  Scrubber(EventStore* store, const ScrubberOptions& options, ScrubListener* listener);
  void Run();
  bool RunDueIncremental(std::unique_lock<std::mutex>& lock);
  void IncrementalStep(std::unique_lock<std::mutex>& lock);
  void FullRun(std::unique_lock<std::mutex>& lock);
  bool BetweenFullChunks();
  void Record(std::unique_lock<std::mutex>& lock, ScrubRun run);

  using Clock = std::chrono::steady_clock;

  EventStore* const store_;
  const ScrubberOptions options_;
  ScrubListener* const listener_;
  uint64_t observer_ = 0;
  std::atomic<uint64_t> committed_size_{0};  // written by the commit observer
  uint64_t start_size_ = 0;                  // the incremental part starts here
  uint64_t full_verified_size_ = 0;          // guarded by mu_: the last full run's prefix

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
