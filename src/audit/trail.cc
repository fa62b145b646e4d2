#include "audit/trail.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <cassert>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "common/log.h"
#include "common/wall_clock.h"
#include "crypto/secure.h"
#include "common/thread_name.h"

namespace cairn::audit {
namespace {

// A batch is retried until it is written; each round of this many failed attempts is counted
// (write_errors) and logged. Once stopping, one more round, then the batch is given up (lost).
constexpr uint32_t kWriteAttemptsMax = 5;
constexpr int64_t kWriteBackoffInitialMs = 20;
constexpr int64_t kWriteBackoffMaxMs = 1000;
constexpr int64_t kBackoffSliceMs = 20;  // a backoff sleep checks for Stop() this often
constexpr int64_t kGiveUpBackoffMaxMs = 30000;  // the pause after batches given up in a row
// Stop() waits this long for reserved admin slots to be submitted or released.
constexpr int64_t kStopReservedWaitMs = 5000;

class TrailImpl final : public AuditTrail {
 public:
  TrailImpl(const AuditTrailOptions& options, AuditWriter writer)
      : options_(options), writer_(std::move(writer)) {}
  ~TrailImpl() override {
    Stop();
    // An AdminSlot holds a pointer to the trail: none may outlive it.
    assert(reserved_ == 0);
  }

  void Run() {
    thread_ = std::thread([this] {
      SetCurrentThreadName("cairn-audit");
      WriterLoop();
    });
  }

  void AddListener(AuditListener* listener) override {
    assert(listener != nullptr);
    listeners_.push_back(listener);
  }

  bool Submit(AuditRecord record) override {
    assert(record.kind != AuditKind::kAdmin && record.kind != AuditKind::kDataPlane);
    Stamp(&record);
    Notify(record);
    std::lock_guard<std::mutex> lock(mu_);
    if (!HasRoomLocked(/*admin=*/false)) {
      ++stats_.dropped_security;
      NoteDropLocked(record.time_unix_ns, /*security=*/true);
      return false;
    }
    PushLocked(std::move(record));
    return true;
  }

  Result<AdminSlot> ReserveAdmin() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (failing_) {  // the act could not be audited now: it does not happen
        ++stats_.admin_refused;
        return Status::Unavailable("the audit trail cannot be written");
      }
    }
    std::lock_guard<std::mutex> lock(mu_);
    if (closing_) {
      ++stats_.admin_refused;
      return Status::Unavailable("the audit trail is stopping");
    }
    if (!HasRoomLocked(/*admin=*/true)) {
      ++stats_.admin_refused;
      return Status::Unavailable("audit queue full");
    }
    ++reserved_;
    return MakeAdminSlot();
  }

  bool SubmitDataPlane(AuditRecord record, bool is_write) override {
    assert(record.kind == AuditKind::kDataPlane);
    if (options_.data_plane == DataPlaneAudit::kNone) return false;
    if (options_.data_plane == DataPlaneAudit::kWrites && !is_write) return false;
    Stamp(&record);
    std::lock_guard<std::mutex> lock(mu_);
    if (!HasRoomLocked(/*admin=*/false)) {
      ++stats_.dropped_data_plane;
      NoteDropLocked(record.time_unix_ns, /*security=*/false);
      return false;
    }
    PushLocked(std::move(record));
    return true;
  }

  DataPlaneAudit data_plane() const override { return options_.data_plane; }

  void Flush() override {
    std::unique_lock<std::mutex> lock(mu_);
    const uint64_t target = pushed_;
    const uint64_t rounds_retrying = rounds_retrying_;
    done_cv_.wait(lock, [&] { return finished_ >= target || writer_exited_ || rounds_retrying_ > rounds_retrying; });
  }

  void Stop() override {
    {
      // A reserved act is always audited: no new reservations, and the ones held are waited
      // for (bounded) before the queue closes.
      std::unique_lock<std::mutex> lock(mu_);
      closing_ = true;
      done_cv_.wait_for(lock, std::chrono::milliseconds(kStopReservedWaitMs),
                        [&] { return reserved_ == 0; });
      stopping_ = true;
    }
    work_cv_.notify_all();
    std::lock_guard<std::mutex> join_lock(join_mu_);
    if (thread_.joinable()) thread_.join();
  }

  AuditTrailStats stats() const override {
    std::lock_guard<std::mutex> lock(mu_);
    AuditTrailStats s = stats_;
    s.queue_depth = queue_.size();
    return s;
  }

 protected:
  void SubmitReserved(AuditRecord record) override {
    assert(record.kind == AuditKind::kAdmin);
    Stamp(&record);
    Notify(record);
    {
      std::lock_guard<std::mutex> lock(mu_);
      assert(reserved_ > 0);
      --reserved_;
      if (!writer_exited_) {
        PushLocked(std::move(record));  // the reservation guarantees the room
        done_cv_.notify_all();  // Stop() may wait for the reservation
        return;
      }
      ++stats_.lost;  // held past Stop()'s wait: nothing writes it any more
    }
    done_cv_.notify_all();
    log::Error("an admin act's audit record arrived after the trail stopped (counted lost)",
               {.action = "audit.write", .outcome = "failure"});
  }

  void ReleaseReserved() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      assert(reserved_ > 0);
      --reserved_;
    }
    done_cv_.notify_all();
  }

 private:
  // Records that never reach `$audit`, to be told in a `$audit.gap` record.
  struct Gap {
    uint64_t security = 0;
    uint64_t data_plane = 0;
    uint64_t lost = 0;  // records of batches given up (refused for good)
    std::string lost_error_code;  // the status code name of the last such refusal
    int64_t first_ns = 0;
    int64_t last_ns = 0;
    uint64_t after_enqueued = 0;  // enqueued_ at the last drop
  };

  static void Stamp(AuditRecord* record) {
    if (record->time_unix_ns == 0) record->time_unix_ns = NowUnixNs();
    if (record->event_id.empty()) record->event_id = NewEventId();
    CutAuditRecordFields(record);  // bounded in bytes while queued, not only when encoded
  }

  // A random (version 4) UUID: the record's event id in `$audit`, so that a retried write of a
  // batch the store took in part appends nothing twice.
  static std::string NewEventId() {
    std::array<uint8_t, 16> id{};
    if (!crypto::RandomPublicBytes(id).ok()) {  // never expected; unique by time and count
      static std::atomic<uint64_t> fallback_count{0};
      const uint64_t t = static_cast<uint64_t>(NowUnixNs());
      const uint64_t n = fallback_count.fetch_add(1, std::memory_order_relaxed);
      for (size_t i = 0; i < 8; ++i) {
        id[i] = static_cast<uint8_t>(t >> (8 * i));
        id[8 + i] = static_cast<uint8_t>(n >> (8 * i));
      }
    }
    id[6] = static_cast<uint8_t>((id[6] & 0x0F) | 0x40);
    id[8] = static_cast<uint8_t>((id[8] & 0x3F) | 0x80);
    return std::string(reinterpret_cast<const char*>(id.data()), id.size());
  }

  void Notify(const AuditRecord& record) {
    for (AuditListener* listener : listeners_) listener->OnAuditRecord(record);
  }

  // Records dropped since the last `$audit.gap` record (mu_ held). Not while stopping: those
  // are refused because the trail is closing, and would have no later batch to be told in.
  void NoteDropLocked(int64_t time_unix_ns, bool security) {
    if (stopping_) return;
    if (!GapLocked()) {  // a new gap: told after every record queued before its first drop
      gap_.first_ns = time_unix_ns;
      gap_.after_enqueued = enqueued_;
    }
    (security ? gap_.security : gap_.data_plane) += 1;
    gap_.last_ns = time_unix_ns;
    work_cv_.notify_one();
  }

  // A batch given up (refused for good) while running: its records become part of the next
  // `$audit.gap` record, which goes out at once, so that the hole shows in the trail and raises
  // the audit_gap alert. `taken` is the gap record the batch carried, if it did: its counts are
  // told again (mu_ held).
  void NoteLostLocked(uint64_t records, const Gap& taken, const Status& status) {
    if (stopping_) return;
    const int64_t now_ns = NowUnixNs();
    if (!GapLocked()) {
      gap_.first_ns = taken.first_ns != 0 ? taken.first_ns : now_ns;
      gap_.after_enqueued = dequeued_;  // the lost records were taken already: tell it next
    }
    gap_.security += taken.security;
    gap_.data_plane += taken.data_plane;
    gap_.lost += taken.lost + records;
    gap_.last_ns = std::max(now_ns, taken.last_ns);
    gap_.lost_error_code = StatusCodeName(status.code());
    work_cv_.notify_one();
  }

  // The `$audit.gap` record of the drops noted so far, which it resets (mu_ held).
  // `taken` receives the counts, so that a gap record that is itself given up is told again.
  AuditRecord TakeGapLocked(Gap* taken) {
    assert(GapLocked());
    AuditRecord r;
    r.kind = AuditKind::kAuditGap;
    r.action = "audit.drop";
    r.resource = "$audit";
    r.outcome = "failure";
    const bool dropped = gap_.security + gap_.data_plane > 0;
    r.error_code = dropped ? "RESOURCE_EXHAUSTED" : gap_.lost_error_code;
    r.reason = dropped ? (gap_.lost > 0 ? "audit queue full; audit records could not be written"
                                        : "audit queue full")
                       : "audit records could not be written";
    r.details = {{"dropped_security", std::to_string(gap_.security)},
                 {"dropped_data_plane", std::to_string(gap_.data_plane)},
                 {"first_dropped", FormatRfc3339Ns(gap_.first_ns)},
                 {"last_dropped", FormatRfc3339Ns(gap_.last_ns)}};
    if (gap_.lost > 0) r.details.push_back({"not_written", std::to_string(gap_.lost)});
    *taken = gap_;
    gap_ = Gap{};
    Stamp(&r);
    return r;  // not counted in pushed_/finished_: Flush waits for queued records only
  }

  // The last 1/kAdminRoomDivisor of the queue is for admin acts only: a flood of denials or
  // data-plane records (which any caller can cause) cannot make a policy reload or a forget
  // fail for want of room.
  bool HasRoomLocked(bool admin) const {
    const size_t limit = admin ? options_.queue_records_max
                               : options_.queue_records_max - AdminRoom(options_.queue_records_max);
    return !stopping_ && queue_.size() + reserved_ < limit;
  }

  void PushLocked(AuditRecord record) {
    queue_.push_back(std::move(record));
    ++pushed_;
    ++enqueued_;
    assert(queue_.size() <= options_.queue_records_max);
    work_cv_.notify_one();
  }

  void WriterLoop() {
    std::vector<AuditRecord> batch;
    for (;;) {
      Gap taken;
      {
        std::unique_lock<std::mutex> lock(mu_);
        work_cv_.wait(lock, [&] { return !queue_.empty() || GapLocked() || stopping_; });
        if (queue_.empty() && !GapLocked()) {  // stopping, and everything queued is written
          writer_exited_ = true;  // in the same lock: a later admin record is counted lost
          break;
        }
        const size_t n = std::min(queue_.size(), options_.batch_records_max);
        batch.clear();
        batch.reserve(n + 1);
        for (size_t i = 0; i < n; ++i) {
          batch.push_back(std::move(queue_.front()));
          queue_.pop_front();
          ++dequeued_;
        }
        // After the records queued before the last drop: the hole is told where it is.
        if (GapLocked() && dequeued_ >= gap_.after_enqueued) batch.push_back(TakeGapLocked(&taken));
        assert(!batch.empty());  // with nothing queued, every record before the gap is taken
      }
      // After batches given up in a row (a store that refuses every write for good), wait
      // longer before the next one, up to kGiveUpBackoffMaxMs: the gap record that tells of them
      // is retried, but paced.
      if (give_up_streak_ > 0) {
        const uint32_t doublings = std::min<uint32_t>(give_up_streak_ - 1, 16);
        SleepUnlessStopping(std::min(kWriteBackoffMaxMs << doublings, kGiveUpBackoffMaxMs));
      }
      const bool has_gap = batch.back().kind == AuditKind::kAuditGap;
      if (has_gap) Notify(batch.back());  // logged, counted, alerted
      Status status;
      const bool written = WriteWithRetries(batch, &status);
      {
        std::lock_guard<std::mutex> lock(mu_);
        const uint64_t records = batch.size() - (has_gap ? 1 : 0);  // the gap record is ours
        if (written) {
          stats_.written += batch.size();
          give_up_streak_ = 0;
        } else {
          stats_.lost += records;
          NoteLostLocked(records, taken, status);
          ++give_up_streak_;
        }
        finished_ += records;
        assert(finished_ <= pushed_);
      }
      done_cv_.notify_all();
    }
    done_cv_.notify_all();
  }

  // Failures that a later attempt may not see: the store unavailable, a disk error or a full
  // disk (RocksDB's no-space error is RESOURCE_EXHAUSTED: writes resume once space is freed), a
  // lost race, damaged data an operator repairs. Only a refusal of the batch itself (invalid,
  // already used ids, ...) is for good. Audit batches are bounded (records, and fields cut to
  // 1 KiB), so "too large to commit" cannot be why a batch is refused.
  static bool IsTransient(const Status& status) {
    const StatusCode code = status.code();
    return code == StatusCode::kUnavailable || code == StatusCode::kIOError ||
           code == StatusCode::kAborted || code == StatusCode::kResourceExhausted ||
           code == StatusCode::kDataLoss;
  }

  // Until written, while the failure is transient: meanwhile admin acts are refused
  // (ReserveAdmin) and the queue fills (security and data-plane records beyond it are dropped
  // and counted). A batch the store refuses for good (an invalid or conflicting append) is given
  // up after one round, so that it cannot wedge the trail; its records are told in a
  // `$audit.gap` record (NoteLostLocked), and admin acts stay refused until a write succeeds
  // (that gap record's, at the latest). Stopping gives up after one more round of attempts, and
  // after one attempt once a batch was given up at stop. `last` receives the last failure.
  bool WriteWithRetries(const std::vector<AuditRecord>& batch, Status* last) {
    int64_t backoff_ms = kWriteBackoffInitialMs;
    bool stopping_seen = false;
    for (uint32_t attempt = 1;; ++attempt) {
      const Status status = writer_(batch);
      SetFailing(!status.ok());
      if (status.ok()) return true;
      *last = status;
      if (given_up_at_stop_) return false;
      if (attempt % kWriteAttemptsMax == 0) {
        const bool give_up = stopping_seen || !IsTransient(status);
        RoundFailed(batch.size(), status, /*retrying=*/!give_up);
        if (stopping_seen) given_up_at_stop_ = true;
        if (give_up) return false;  // failing_ stays set: admin acts wait for a good write
      }
      stopping_seen = stopping_seen || SleepUnlessStopping(backoff_ms);
      backoff_ms = std::min(backoff_ms * 2, kWriteBackoffMaxMs);
    }
  }

  void SetFailing(bool failing) {
    std::lock_guard<std::mutex> lock(mu_);
    failing_ = failing;
  }

  // Counted and logged; when `retrying`, Flush() returns (the records are not written yet; a
  // batch given up instead is finished by the writer loop, which then wakes Flush()).
  void RoundFailed(size_t records, const Status& status, bool retrying) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++stats_.write_errors;
      if (retrying) ++rounds_retrying_;
    }
    if (retrying) done_cv_.notify_all();
    log::Error(retrying ? "audit records not written; retrying (admin acts are refused meanwhile)"
                        : "audit records not written and given up (counted lost)",
               {.action = "audit.write",
                .outcome = "failure",
                .extra = {{"cairn.records", std::to_string(records)}, {"error.message", status.ToString()}}});
  }

  // Sleeps backoff_ms, in slices; true when Stop() was called (before or during the sleep).
  bool SleepUnlessStopping(int64_t backoff_ms) {
    for (int64_t slept_ms = 0; slept_ms < backoff_ms; slept_ms += kBackoffSliceMs) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (stopping_) return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(std::min(kBackoffSliceMs, backoff_ms - slept_ms)));
    }
    std::lock_guard<std::mutex> lock(mu_);
    return stopping_;
  }

  const AuditTrailOptions options_;
  const AuditWriter writer_;
  std::vector<AuditListener*> listeners_;

  mutable std::mutex mu_;
  std::condition_variable work_cv_;
  std::condition_variable done_cv_;
  std::deque<AuditRecord> queue_;
  size_t reserved_ = 0;
  uint64_t pushed_ = 0;
  uint64_t finished_ = 0;
  bool stopping_ = false;
  bool writer_exited_ = false;
  bool failing_ = false;  // the last write attempt failed
  bool closing_ = false;  // Stop() began: no new admin reservations
  uint64_t rounds_retrying_ = 0;  // failed rounds after which the batch is retried (Flush wakes)
  bool given_up_at_stop_ = false;  // the writer thread's: a batch was given up while stopping
  uint32_t give_up_streak_ = 0;    // the writer thread's: batches given up in a row
  AuditTrailStats stats_;
  uint64_t enqueued_ = 0;  // records ever queued (not the trail's own gap records)
  uint64_t dequeued_ = 0;  // of them, taken by the writer
  Gap gap_;  // drops not yet told in a `$audit.gap` record
  bool GapLocked() const { return gap_.security + gap_.data_plane + gap_.lost > 0; }

  std::mutex join_mu_;
  std::thread thread_;
};

}  // namespace

AuditTrail::AdminSlot::AdminSlot(AdminSlot&& other) noexcept : trail_(other.trail_) {
  other.trail_ = nullptr;
}

AuditTrail::AdminSlot& AuditTrail::AdminSlot::operator=(AdminSlot&& other) noexcept {
  if (this != &other) {
    if (trail_ != nullptr) trail_->ReleaseReserved();
    trail_ = other.trail_;
    other.trail_ = nullptr;
  }
  return *this;
}

AuditTrail::AdminSlot::~AdminSlot() {
  if (trail_ != nullptr) trail_->ReleaseReserved();
}

void AuditTrail::AdminSlot::Submit(AuditRecord record) {
  assert(trail_ != nullptr);
  assert(record.kind == AuditKind::kAdmin);
  AuditTrail* trail = trail_;
  trail_ = nullptr;
  trail->SubmitReserved(std::move(record));
}

Result<std::unique_ptr<AuditTrail>> AuditTrail::Start(const AuditTrailOptions& options,
                                                      AuditWriter writer) {
  if (options.queue_records_max < 1 || options.queue_records_max > kAuditQueueRecordsMax) {
    return Status::InvalidArgument("audit queue_records_max out of range");
  }
  if (options.batch_records_max < 1 || options.batch_records_max > kAuditBatchRecordsMax) {
    return Status::InvalidArgument("audit batch_records_max out of range");
  }
  if (!writer) return Status::InvalidArgument("audit trail without a writer");
  auto trail = std::make_unique<TrailImpl>(options, std::move(writer));
  trail->Run();
  return std::unique_ptr<AuditTrail>(std::move(trail));
}

}  // namespace cairn::audit
