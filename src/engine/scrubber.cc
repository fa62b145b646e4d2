#include "engine/scrubber.h"

#include <algorithm>
#include <cassert>
#include <chrono>

#include "common/thread_name.h"
#include "common/wall_clock.h"

namespace cairn::engine {
namespace {

// Incremental steps run between two chunks of a full run, at most this many.
constexpr int kIncrementalStepsBetweenChunksMax = 4;

uint64_t Micros(std::chrono::steady_clock::duration d) {
  const int64_t us = std::chrono::duration_cast<std::chrono::microseconds>(d).count();
  return us > 0 ? static_cast<uint64_t>(us) : 0;
}

Status CheckOptions(const ScrubberOptions& o) {
  if (o.full_interval_ms < 1 || o.full_interval_ms > kScrubIntervalMsMax) {
    return Status::InvalidArgument("scrub interval must be 1 ms .. 7 days");
  }
  if (o.delay_ms < 0 || o.delay_ms > kScrubDelayMsMax) {
    return Status::InvalidArgument("scrub delay must be 0 .. " + std::to_string(kScrubDelayMsMax) + " ms");
  }
  if (o.records_per_step_max < 1 || o.records_per_step_max > kScrubRecordsPerStepMax) {
    return Status::InvalidArgument("scrub records per step must be 1 .. " + std::to_string(kScrubRecordsPerStepMax));
  }
  if (o.busy_percent_max < 1 || o.busy_percent_max > 100) {
    return Status::InvalidArgument("scrub busy percent must be 1 .. 100");
  }
  return Status::Ok();
}

}  // namespace

std::chrono::microseconds ScrubPause(std::chrono::microseconds took, int busy_percent_max) {
  assert(busy_percent_max >= 1 && busy_percent_max <= 100);
  if (took.count() <= 0) return std::chrono::microseconds(0);
  return took * (100 - busy_percent_max) / busy_percent_max;
}

const char* ScrubKindName(ScrubKind kind) {
  return kind == ScrubKind::kFull ? "full" : "incremental";
}

Result<std::unique_ptr<Scrubber>> Scrubber::Start(EventStore* store, const ScrubberOptions& options,
                                                  ScrubListener* listener) {
  assert(store != nullptr);
  CAIRN_RETURN_IF_ERROR(CheckOptions(options));
  std::unique_ptr<Scrubber> s(new Scrubber(store, options, listener));
  const uint64_t size = store->tree_size();
  s->committed_size_ = size;
  s->start_size_ = size;
  s->status_.incremental_verified_size = size;
  s->full_due_ = Clock::now() + std::chrono::milliseconds(options.delay_ms);
  Scrubber* self = s.get();
  s->observer_ = store->AddCommitObserver([self](uint64_t tree_size) {
    // Only records the size and wakes the thread if it waits for commits (this runs on the
    // commit thread after every group; a pausing or busy thread is not disturbed). Both atomics
    // are sequentially consistent: either the thread's predicate sees the new size, or this
    // sees the thread waiting.
    uint64_t seen = self->committed_size_.load();
    while (seen < tree_size && !self->committed_size_.compare_exchange_weak(seen, tree_size)) {
    }
    if (!self->awaiting_commits_.load()) return;
    { std::lock_guard<std::mutex> lock(self->mu_); }  // orders the store with the thread's wait
    self->cv_.notify_one();
  });
  if (s->observer_ == 0) return Status::FailedPrecondition("the store does not report commits to the scrub");
  s->thread_ = std::thread([self] {
    SetCurrentThreadName("cairn-scrub");
    self->Run();
  });
  return s;
}

Scrubber::Scrubber(EventStore* store, const ScrubberOptions& options, ScrubListener* listener)
    : store_(store), options_(options), listener_(listener) {}

Scrubber::~Scrubber() { Stop(); }

void Scrubber::Stop() {
  if (observer_ != 0) {  // first: no commit wakes a scrubber that is going away
    store_->RemoveCommitObserver(observer_);
    observer_ = 0;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

ScrubStatus Scrubber::status() const {
  std::lock_guard<std::mutex> lock(mu_);
  return status_;
}

void Scrubber::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    // A due full run first: while commits keep coming, an incremental step is due again at once
    // after every pause, and a full run waiting behind them would never start. Its chunks let the
    // due incremental steps in between (BetweenFullChunks).
    if (Clock::now() >= full_due_) {
      FullRun(lock);
      full_due_ = Clock::now() + std::chrono::milliseconds(options_.full_interval_ms);
      continue;
    }
    if (RunDueIncremental(lock)) continue;
    const Clock::time_point until = incremental_due_ ? std::min(full_due_, *incremental_due_) : full_due_;
    awaiting_commits_ = !incremental_due_ && !status_.incremental_halted;
    cv_.wait_until(lock, until, [&] {
      return stop_ || (!incremental_due_ && !status_.incremental_halted &&
                       committed_size_.load() > status_.incremental_verified_size);
    });
    awaiting_commits_ = false;
  }
}

// One incremental step if one is due; false when none was (nothing new, halted, or not yet due).
bool Scrubber::RunDueIncremental(std::unique_lock<std::mutex>& lock) {
  assert(lock.owns_lock());
  if (status_.incremental_halted || committed_size_.load() <= status_.incremental_verified_size) {
    incremental_due_.reset();
    return false;
  }
  const Clock::time_point now = Clock::now();
  if (!incremental_due_) incremental_due_ = now + std::chrono::milliseconds(options_.delay_ms);
  if (now < *incremental_due_) return false;
  IncrementalStep(lock);  // more left: the next step is due at once, in order
  return true;
}

void Scrubber::IncrementalStep(std::unique_lock<std::mutex>& lock) {
  const uint64_t from = status_.incremental_verified_size;
  const uint64_t to = std::min(committed_size_.load(), from + options_.records_per_step_max);
  assert(from < to);
  lock.unlock();
  const Clock::time_point started = Clock::now();
  const VerifyReport r = store_->VerifyRange(from, to);
  const Clock::duration took = Clock::now() - started;
  ScrubRun run{ScrubKind::kIncremental, r.ok, r.records_checked, to, NowUnixSeconds(),
               r.bad_position, r.failure};
  if (!r.ok) run.verified_size = std::clamp(r.bad_position.value_or(from), from, to);
  lock.lock();
  assert(run.verified_size >= from && run.verified_size <= to);
  status_.incremental_verified_size = run.verified_size;
  if (!run.ok) status_.incremental_halted = true;
  status_.busy_us_total += Micros(took);
  Record(lock, run);
  Rest(lock, took);
}

// The budget's pause after `took` of work; only Stop() ends it early.
void Scrubber::Rest(std::unique_lock<std::mutex>& lock, Clock::duration took) {
  assert(lock.owns_lock());
  const auto pause =
      ScrubPause(std::chrono::duration_cast<std::chrono::microseconds>(took), options_.busy_percent_max);
  if (pause.count() == 0 || stop_) return;
  const Clock::time_point started = Clock::now();
  cv_.wait_for(lock, pause, [&] { return stop_; });
  status_.paused_us_total += Micros(Clock::now() - started);
}

void Scrubber::FullRun(std::unique_lock<std::mutex>& lock) {
  lock.unlock();
  VerifyPacing pacing;
  pacing.chunk_records = options_.records_per_step_max;
  pacing.between_chunks = [this] { return BetweenFullChunks(); };
  chunk_started_ = Clock::now();
  const VerifyReport r = store_->VerifyPaced(pacing);
  const Clock::duration tail = Clock::now() - chunk_started_;  // the last chunk and the checkpoints
  lock.lock();
  if (r.stopped) return;  // shutting down: no verdict
  status_.busy_us_total += Micros(tail);
  Record(lock, {ScrubKind::kFull, r.ok, r.records_checked, r.records_checked, NowUnixSeconds(),
                r.bad_position, r.failure});
  Rest(lock, tail);
}

// Between two chunks of a full run: the budget's pause for the chunk, then the due incremental
// steps (each with its own pause).
bool Scrubber::BetweenFullChunks() {
  const Clock::duration took = Clock::now() - chunk_started_;
  std::unique_lock<std::mutex> lock(mu_);
  status_.busy_us_total += Micros(took);
  Rest(lock, took);
  for (int i = 0; i < kIncrementalStepsBetweenChunksMax && !stop_; ++i) {
    if (!RunDueIncremental(lock)) break;
  }
  chunk_started_ = Clock::now();
  return !stop_;
}

void Scrubber::Record(std::unique_lock<std::mutex>& lock, ScrubRun run) {
  assert(lock.owns_lock());
  status_.records_checked_total += run.records_checked;
  if (!run.ok) {
    ++status_.failures_total;
    if (!status_.first_failure) status_.first_failure = run;
  }
  if (run.kind == ScrubKind::kFull) {
    full_verified_size_ = run.ok ? run.verified_size : run.bad_position.value_or(0);
  }
  // The incremental steps extend the verified prefix once a full run has reached where they
  // started; a failure ends it at its position (0 when it has none).
  uint64_t prefix = full_verified_size_;
  if (prefix >= start_size_) prefix = std::max(prefix, status_.incremental_verified_size);
  if (status_.first_failure) prefix = std::min(prefix, status_.first_failure->bad_position.value_or(0));
  run.verified_prefix_size = status_.verified_prefix_size = prefix;
  const uint64_t committed = committed_size_.load();
  run.incremental_lag_records =
      committed > status_.incremental_verified_size ? committed - status_.incremental_verified_size : 0;
  assert(status_.busy_us_total >= reported_busy_us_);
  run.busy_us = status_.busy_us_total - reported_busy_us_;
  reported_busy_us_ = status_.busy_us_total;
  (run.kind == ScrubKind::kFull ? status_.last_full : status_.last_incremental) = run;
  if (listener_ == nullptr) return;
  lock.unlock();  // the listener runs without the lock (it may read status())
  listener_->OnScrubRun(run);
  lock.lock();
}

}  // namespace cairn::engine
