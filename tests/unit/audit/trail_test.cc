#include "audit/trail.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>

#include <gtest/gtest.h>

namespace cairn::audit {
namespace CAIRN_UNITY_ID {

using namespace std::chrono_literals;

// A writer that records what it is given and can be held (blocked) or made to fail.
class FakeWriter {
 public:
  AuditWriter writer() {
    return [this](const std::vector<AuditRecord>& records) {
      std::unique_lock<std::mutex> lock(mu_);
      ++calls_;
      in_write_ = true;
      cv_.notify_all();
      const bool has_hold_on = std::any_of(records.begin(), records.end(), [&](const AuditRecord& r) {
        return !hold_on_.empty() && r.resource == hold_on_;
      });
      cv_.wait(lock, [&] { return !held_ && (!has_hold_on || hold_on_.empty()); });
      in_write_ = false;
      if (fail_) return fail_status_;
      for (const auto& r : records) written_.push_back(r);
      batches_.push_back(records.size());
      return Status::Ok();
    };
  }
  void Hold() { std::lock_guard<std::mutex> l(mu_); held_ = true; }
  // Holds any batch with a record of this resource until ReleaseHoldOn().
  void HoldOn(std::string resource) { std::lock_guard<std::mutex> l(mu_); hold_on_ = std::move(resource); }
  void ReleaseHoldOn() {
    std::lock_guard<std::mutex> l(mu_);
    hold_on_.clear();
    cv_.notify_all();
  }
  void Release() {
    std::lock_guard<std::mutex> l(mu_);
    held_ = false;
    cv_.notify_all();
  }
  void SetFail(bool fail, Status with = Status::IOError("disk on fire")) {
    std::lock_guard<std::mutex> l(mu_);
    fail_ = fail;
    fail_status_ = std::move(with);
  }
  // Waits (bounded) until the writer is inside a held write.
  bool WaitInWrite() {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, 10s, [&] { return in_write_; });
  }
  std::vector<AuditRecord> written() { std::lock_guard<std::mutex> l(mu_); return written_; }
  std::vector<size_t> batches() { std::lock_guard<std::mutex> l(mu_); return batches_; }
  int calls() { std::lock_guard<std::mutex> l(mu_); return calls_; }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool held_ = false;
  std::string hold_on_;
  bool fail_ = false;
  Status fail_status_;
  bool in_write_ = false;
  int calls_ = 0;
  std::vector<AuditRecord> written_;
  std::vector<size_t> batches_;
};

AuditRecord Security(std::string resource) {
  AuditRecord r;
  r.kind = AuditKind::kAccessDenied;
  r.resource = std::move(resource);
  return r;
}

AuditRecord Admin(std::string resource) {
  AuditRecord r;
  r.kind = AuditKind::kAdmin;
  r.resource = std::move(resource);
  return r;
}

AuditRecord Data(std::string action) {
  AuditRecord r;
  r.kind = AuditKind::kDataPlane;
  r.action = std::move(action);
  return r;
}

std::unique_ptr<AuditTrail> StartTrail(FakeWriter* w, size_t queue, size_t batch,
                                       DataPlaneAudit mode = DataPlaneAudit::kAll) {
  AuditTrailOptions options;
  options.queue_records_max = queue;
  options.batch_records_max = batch;
  options.data_plane = mode;
  auto trail = AuditTrail::Start(options, w->writer());
  EXPECT_TRUE(trail.ok());
  return std::move(trail).value();
}

class CountingListener : public AuditListener {
 public:
  void OnAuditRecord(const AuditRecord& r) override {
    seen.push_back(r.kind);
  }
  std::vector<AuditKind> seen;
};

TEST(AuditTrailTest, StartRejectsOutOfRangeOptions) {
  FakeWriter w;
  AuditTrailOptions options;
  options.queue_records_max = 0;
  EXPECT_EQ(AuditTrail::Start(options, w.writer()).status().code(), StatusCode::kInvalidArgument);
  options.queue_records_max = kAuditQueueRecordsMax + 1;
  EXPECT_EQ(AuditTrail::Start(options, w.writer()).status().code(), StatusCode::kInvalidArgument);
  options.queue_records_max = 10;
  options.batch_records_max = kAuditBatchRecordsMax + 1;
  EXPECT_EQ(AuditTrail::Start(options, w.writer()).status().code(), StatusCode::kInvalidArgument);
}

TEST(AuditTrailTest, WritesEveryRecordInOrderInBatches) {
  FakeWriter w;
  auto trail = StartTrail(&w, 1000, 7);
  w.Hold();
  trail->Submit(Security("first"));
  ASSERT_TRUE(w.WaitInWrite());
  for (int i = 0; i < 100; ++i) {
    if (i % 3 == 0) {
      auto slot = trail->ReserveAdmin();
      ASSERT_TRUE(slot.ok());
      slot->Submit(Admin(std::to_string(i)));
    } else {
      ASSERT_TRUE(trail->Submit(Security(std::to_string(i))));
    }
  }
  w.Release();
  trail->Flush();
  auto written = w.written();
  ASSERT_EQ(written.size(), 101u);
  EXPECT_EQ(written[0].resource, "first");
  for (int i = 0; i < 100; ++i) EXPECT_EQ(written[i + 1].resource, std::to_string(i));
  for (size_t n : w.batches()) EXPECT_LE(n, 7u);
  EXPECT_GT(written[5].time_unix_ns, 0);  // stamped on submit
  EXPECT_EQ(trail->stats().written, 101u);
}

TEST(AuditTrailTest, SubmitNeverBlocksOnABlockedWriter) {
  FakeWriter w;
  auto trail = StartTrail(&w, 8, 4);
  w.Hold();
  trail->Submit(Security("taken by the writer"));
  ASSERT_TRUE(w.WaitInWrite());
  // The writer is blocked: these calls return (the test would hang otherwise), the first 8
  // queued, the rest dropped and counted.
  int accepted = 0;
  for (int i = 0; i < 20; ++i) accepted += trail->Submit(Security("x")) ? 1 : 0;
  for (int i = 0; i < 5; ++i) EXPECT_FALSE(trail->SubmitDataPlane(Data("append"), true));
  EXPECT_EQ(accepted, 8);
  auto stats = trail->stats();
  EXPECT_EQ(stats.dropped_security, 12u);
  EXPECT_EQ(stats.dropped_data_plane, 5u);
  EXPECT_EQ(stats.queue_depth, 8u);
  w.Release();
  trail->Flush();
  // The 9 records, and then one `$audit.gap` telling what was dropped and when: the trail
  // itself shows its hole, not only a metric.
  auto written = w.written();
  ASSERT_EQ(written.size(), 10u);
  const AuditRecord& gap = written.back();
  EXPECT_EQ(gap.kind, AuditKind::kAuditGap);
  EXPECT_EQ(AuditEventType(gap.kind), "$audit.gap");
  auto detail = [&](const std::string& name) {
    for (const auto& [k, v] : gap.details) {
      if (k == name) return v;
    }
    return std::string("missing");
  };
  EXPECT_EQ(detail("dropped_security"), "12");
  EXPECT_EQ(detail("dropped_data_plane"), "5");
  EXPECT_NE(detail("first_dropped"), "missing");
  EXPECT_LE(detail("first_dropped"), detail("last_dropped"));
  EXPECT_EQ(trail->stats().written, 10u);
  // Told once: a later record comes without another gap.
  ASSERT_TRUE(trail->Submit(Security("after")));
  trail->Flush();
  ASSERT_EQ(w.written().size(), 11u);
  EXPECT_EQ(w.written().back().resource, "after");
}

// A denied caller chooses the stream name: a queued record holds at most kAuditFieldBytesMax
// bytes of it (cut at a character boundary when submitted, as encoding cuts), not megabytes.
TEST(AuditTrailTest, QueuedRecordsHoldBoundedFields) {
  FakeWriter w;
  auto trail = StartTrail(&w, 8, 4);
  AuditRecord big = Security(std::string(1 << 20, 'x') + "\xC3\xA9");
  big.event_type = std::string(kAuditFieldBytesMax - 1, 'y') + "\xC3\xA9";  // é across the cut
  big.details.assign(kAuditDetailsMax + 5, {std::string(5000, 'n'), std::string(5000, 'v')});
  ASSERT_TRUE(trail->Submit(std::move(big)));
  trail->Flush();
  const std::vector<AuditRecord> written = w.written();
  ASSERT_EQ(written.size(), 1u);
  const AuditRecord& r = written[0];
  EXPECT_EQ(r.resource.size(), kAuditFieldBytesMax);
  EXPECT_EQ(r.event_type.size(), kAuditFieldBytesMax - 1) << "never half a character";
  EXPECT_EQ(r.details.size(), kAuditDetailsMax);
  EXPECT_EQ(r.details[0].first.size(), kAuditFieldBytesMax);
  EXPECT_EQ(r.details[0].second.size(), kAuditFieldBytesMax);
}

TEST(AuditTrailTest, FullQueueRefusesAdminActsUntilThereIsRoom) {
  FakeWriter w;
  auto trail = StartTrail(&w, 2, 1);
  w.Hold();
  trail->Submit(Security("taken"));
  ASSERT_TRUE(w.WaitInWrite());
  auto slot1 = trail->ReserveAdmin();
  ASSERT_TRUE(slot1.ok());
  ASSERT_TRUE(trail->Submit(Security("fills the queue")));
  auto refused = trail->ReserveAdmin();
  EXPECT_EQ(refused.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(trail->stats().admin_refused, 1u);
  // A reserved slot is room that other records cannot take.
  EXPECT_FALSE(trail->Submit(Security("no room")));
  // A slot dropped without Submit gives its room back.
  { auto dropped = std::move(slot1).value(); }
  auto slot2 = trail->ReserveAdmin();
  ASSERT_TRUE(slot2.ok());
  slot2->Submit(Admin("done"));
  w.Release();
  trail->Flush();
  auto written = w.written();
  ASSERT_EQ(written.size(), 4u);
  EXPECT_EQ(written[1].resource, "fills the queue");
  EXPECT_EQ(written[2].kind, AuditKind::kAuditGap);  // after what was queued before the drop
  EXPECT_EQ(written[3].resource, "done");
}

// Records any caller can cause (denials here) fill the queue only up to the admin room: a flood
// of them cannot make a policy reload fail for want of a slot.
TEST(AuditTrailTest, AFloodOfSecurityRecordsLeavesRoomForAdminActs) {
  FakeWriter w;
  constexpr size_t kQueue = 64;
  auto trail = StartTrail(&w, kQueue, 1);
  w.Hold();
  trail->Submit(Security("taken"));
  ASSERT_TRUE(w.WaitInWrite());
  size_t queued = 0;
  while (trail->Submit(Security("flood"))) ++queued;
  EXPECT_EQ(queued, kQueue - AdminRoom(kQueue));
  EXPECT_EQ(trail->stats().dropped_security, 1u);
  std::vector<AuditTrail::AdminSlot> slots;
  for (size_t i = 0; i < AdminRoom(kQueue); ++i) {
    auto slot = trail->ReserveAdmin();
    ASSERT_TRUE(slot.ok()) << i << ": " << slot.status().ToString();
    slots.push_back(std::move(slot).value());
  }
  EXPECT_EQ(trail->ReserveAdmin().status().code(), StatusCode::kUnavailable) << "the room is bounded";
  for (AuditTrail::AdminSlot& slot : slots) slot.Submit(Admin("reload"));
  w.Release();
  trail->Flush();
  size_t admin = 0;
  for (const AuditRecord& r : w.written()) admin += r.kind == AuditKind::kAdmin;
  EXPECT_EQ(admin, AdminRoom(kQueue));
}

// The trail's own gap record is not a queued record: a Flush (an admin act's durable finish)
// still waits for the records submitted before it, here the admin record queued behind the gap.
TEST(AuditTrailTest, AGapRecordDoesNotLetFlushReturnBeforeTheRecordsItWaitsFor) {
  FakeWriter w;
  auto trail = StartTrail(&w, 2, 1);
  w.Hold();
  trail->Submit(Security("A"));
  ASSERT_TRUE(w.WaitInWrite());
  ASSERT_TRUE(trail->Submit(Security("B")));
  auto slot = trail->ReserveAdmin();
  ASSERT_TRUE(slot.ok());
  EXPECT_FALSE(trail->Submit(Security("dropped")));  // the gap, told after B
  slot->Submit(Admin("admin"));
  w.HoldOn("admin");
  std::atomic<bool> flushed{false};
  std::thread flusher([&] {
    trail->Flush();
    flushed = true;
  });
  w.Release();
  std::this_thread::sleep_for(100ms);
  EXPECT_FALSE(flushed.load()) << "Flush returned with the admin record still unwritten";
  w.ReleaseHoldOn();
  flusher.join();
  auto written = w.written();
  ASSERT_EQ(written.size(), 4u);
  EXPECT_EQ(written[2].kind, AuditKind::kAuditGap);
  EXPECT_EQ(written[3].resource, "admin");
}

TEST(AuditTrailTest, DataPlaneModes) {
  for (auto mode : {DataPlaneAudit::kNone, DataPlaneAudit::kWrites, DataPlaneAudit::kAll}) {
    FakeWriter w;
    auto trail = StartTrail(&w, 100, 10, mode);
    EXPECT_EQ(trail->data_plane(), mode);
    const bool write_kept = trail->SubmitDataPlane(Data("append"), true);
    const bool read_kept = trail->SubmitDataPlane(Data("read"), false);
    trail->Flush();
    EXPECT_EQ(write_kept, mode != DataPlaneAudit::kNone);
    EXPECT_EQ(read_kept, mode == DataPlaneAudit::kAll);
    EXPECT_EQ(w.written().size(), (write_kept ? 1u : 0u) + (read_kept ? 1u : 0u));
    EXPECT_EQ(trail->stats().dropped_data_plane, 0u);  // not kept by mode is not "dropped"
  }
}

TEST(AuditTrailTest, ListenersSeeSecurityAndAdminRecordsEvenWhenDropped) {
  FakeWriter w;
  CountingListener listener;
  AuditTrailOptions options;
  options.queue_records_max = 1;
  options.data_plane = DataPlaneAudit::kAll;
  auto trail = AuditTrail::Start(options, w.writer()).value();
  trail->AddListener(&listener);
  w.Hold();
  trail->Submit(Security("taken"));
  ASSERT_TRUE(w.WaitInWrite());
  trail->Submit(Security("queued"));
  EXPECT_FALSE(trail->Submit(Security("dropped")));
  trail->SubmitDataPlane(Data("append"), true);
  w.Release();
  trail->Flush();
  auto slot = trail->ReserveAdmin();
  ASSERT_TRUE(slot.ok());
  slot->Submit(Admin("a"));
  trail->Flush();
  ASSERT_EQ(listener.seen.size(), 5u);
  EXPECT_EQ(listener.seen[3], AuditKind::kAuditGap);  // logged and counted like the others
  EXPECT_EQ(listener.seen[4], AuditKind::kAdmin);
}

// A failed write is never given up while the server runs: the batch is retried (each round of
// attempts counted) until the store takes it, in order; meanwhile admin acts fail closed.
TEST(AuditTrailTest, FailedWritesAreRetriedUntilWrittenAndAdminActsFailClosedMeanwhile) {
  FakeWriter w;
  auto trail = StartTrail(&w, 100, 100);
  w.SetFail(true);
  trail->Submit(Security("kept"));
  trail->Flush();  // returns after a failed round of attempts
  EXPECT_GT(w.calls(), 1);
  EXPECT_GE(trail->stats().write_errors, 1u);
  EXPECT_EQ(trail->stats().written, 0u);
  auto refused = trail->ReserveAdmin();
  EXPECT_EQ(refused.status().code(), StatusCode::kUnavailable);
  EXPECT_GE(trail->stats().admin_refused, 1u);
  w.SetFail(false);
  trail->Submit(Security("a"));
  trail->Submit(Security("b"));
  trail->Flush();
  auto written = w.written();
  ASSERT_EQ(written.size(), 3u);
  EXPECT_EQ(written[0].resource, "kept");
  EXPECT_EQ(written[1].resource, "a");
  EXPECT_EQ(written[2].resource, "b");
  EXPECT_EQ(trail->stats().lost, 0u);
  EXPECT_TRUE(trail->ReserveAdmin().ok()) << "writable again";
  // Each record has its own event id (a retried write appends nothing twice).
  EXPECT_EQ(written[0].event_id.size(), 16u);
  EXPECT_NE(written[0].event_id, written[1].event_id);
}

// A full disk (RocksDB's no-space error is RESOURCE_EXHAUSTED) and damaged data are not reasons
// to give audit records up: they are retried, and admin acts fail closed until they are written.
TEST(AuditTrailTest, AFullDiskOrDamagedDataIsRetriedNotGivenUp) {
  for (const Status& failure : {Status::ResourceExhausted("no space left on device"),
                                Status::DataLoss("corrupt block")}) {
    SCOPED_TRACE(failure.ToString());
    FakeWriter w;
    auto trail = StartTrail(&w, 100, 100);
    w.SetFail(true, failure);
    trail->Submit(Security("kept"));
    trail->Flush();  // returns after a failed round of attempts
    EXPECT_EQ(trail->stats().lost, 0u);
    EXPECT_GE(trail->stats().write_errors, 1u);
    EXPECT_EQ(trail->ReserveAdmin().status().code(), StatusCode::kUnavailable);
    w.SetFail(false);
    trail->Submit(Security("after"));
    trail->Flush();
    auto written = w.written();
    ASSERT_EQ(written.size(), 2u);
    EXPECT_EQ(written[0].resource, "kept");
    EXPECT_EQ(trail->stats().lost, 0u);
    EXPECT_TRUE(trail->ReserveAdmin().ok());
  }
}

// A batch the store refuses for good (not a transient failure) is given up after one round and
// counted lost: it cannot wedge the trail, and admin acts are not refused for it.
// Waits (bounded) until the writer has written a record of `kind`; returns it.
std::optional<AuditRecord> WaitForWritten(FakeWriter* w, AuditKind kind) {
  for (int i = 0; i < 1000; ++i) {
    for (const AuditRecord& r : w->written()) {
      if (r.kind == kind) return r;
    }
    std::this_thread::sleep_for(10ms);
  }
  return std::nullopt;
}

std::string Detail(const AuditRecord& r, const std::string& key) {
  for (const auto& [k, v] : r.details) {
    if (k == key) return v;
  }
  return "";
}

// A batch the store refuses for good is given up after one round, so that it cannot wedge the
// trail, but not silently: a `$audit.gap` record tells it at once (and raises the audit_gap
// alert), and admin acts stay refused until a write succeeds.
TEST(AuditTrailTest, ABatchRefusedForGoodIsToldInAGapRecordAndAdminActsWaitForAGoodWrite) {
  FakeWriter w;
  auto trail = StartTrail(&w, 100, 100);
  CountingListener listener;
  trail->AddListener(&listener);
  w.SetFail(true, Status::AlreadyExists("event ids already used"));
  trail->Submit(Security("refused"));
  trail->Flush();
  EXPECT_EQ(trail->stats().lost, 1u);
  EXPECT_GE(trail->stats().write_errors, 1u);
  // The trail still cannot write (the gap record fails too): an admin act would go unrecorded.
  EXPECT_EQ(trail->ReserveAdmin().status().code(), StatusCode::kUnavailable);
  w.SetFail(false);
  std::optional<AuditRecord> gap = WaitForWritten(&w, AuditKind::kAuditGap);
  ASSERT_TRUE(gap.has_value());
  EXPECT_EQ(Detail(*gap, "not_written"), "1");
  EXPECT_EQ(gap->error_code, "ALREADY_EXISTS");
  EXPECT_EQ(gap->reason, "audit records could not be written");
  EXPECT_EQ(trail->stats().lost, 1u);  // the gap record is the trail's own: not counted lost
  EXPECT_TRUE(trail->ReserveAdmin().ok());
  trail->Submit(Security("next"));
  trail->Flush();
  auto written = w.written();
  ASSERT_EQ(written.size(), 2u);
  EXPECT_EQ(written[0].kind, AuditKind::kAuditGap);
  EXPECT_EQ(written[1].resource, "next");
  trail->Stop();
  EXPECT_NE(std::find(listener.seen.begin(), listener.seen.end(), AuditKind::kAuditGap),
            listener.seen.end());
}

// A store that refuses every write for good: the gap record that tells of the lost batch is
// retried, but with a growing pause between give-ups (not every 300 ms forever).
TEST(AuditTrailTest, BatchesGivenUpInARowArePaced) {
  FakeWriter w;
  auto trail = StartTrail(&w, 100, 100);
  w.SetFail(true, Status::Internal("refused"));
  trail->Submit(Security("refused"));
  std::this_thread::sleep_for(2500ms);
  // One round of 5 attempts takes ~300 ms; unpaced that is ~40 calls in 2.5 s. Paced: the first
  // round, a 1 s pause, the second round, a 2 s pause.
  EXPECT_GE(w.calls(), 5);
  EXPECT_LE(w.calls(), 15);
  trail->Stop();
}

// A reserved admin act is always audited, also across Stop(): Stop() waits for the reservation
// and refuses new ones meanwhile.
TEST(AuditTrailTest, StopWaitsForAReservedAdminSlotAndRefusesNewOnes) {
  FakeWriter w;
  auto trail = StartTrail(&w, 100, 100);
  auto slot = trail->ReserveAdmin();
  ASSERT_TRUE(slot.ok());
  std::thread stopper([&] { trail->Stop(); });
  // Stop() has begun once new reservations are refused.
  bool refused = false;
  for (int i = 0; i < 1000 && !refused; ++i) {
    refused = trail->ReserveAdmin().status().code() == StatusCode::kUnavailable;
    if (!refused) std::this_thread::sleep_for(1ms);
  }
  EXPECT_TRUE(refused);
  slot->Submit(Admin("forget"));
  stopper.join();
  auto written = w.written();
  ASSERT_EQ(written.size(), 1u);
  EXPECT_EQ(written[0].resource, "forget");
  EXPECT_EQ(trail->stats().lost, 0u);
}

TEST(AuditTrailTest, StopGivesUpABatchThatKeepsFailingAndCountsItLost) {
  FakeWriter w;
  auto trail = StartTrail(&w, 100, 100);
  w.SetFail(true);
  trail->Submit(Security("x"));
  trail->Submit(Security("y"));
  trail->Flush();
  trail->Stop();  // bounded: one more round, then given up
  EXPECT_EQ(trail->stats().lost, 2u);
  EXPECT_TRUE(w.written().empty());
}

TEST(AuditTrailTest, StopWritesWhatIsQueuedAndRefusesAfterwards) {
  FakeWriter w;
  auto trail = StartTrail(&w, 100, 2);
  for (int i = 0; i < 9; ++i) trail->Submit(Security(std::to_string(i)));
  trail->Stop();
  EXPECT_EQ(w.written().size(), 9u);
  EXPECT_FALSE(trail->Submit(Security("late")));
  EXPECT_EQ(trail->ReserveAdmin().status().code(), StatusCode::kUnavailable);
  trail->Stop();  // idempotent
}

TEST(AuditTrailTest, ConcurrentSubmittersAllWritten) {
  FakeWriter w;
  auto trail = StartTrail(&w, 100000, 50);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 500; ++i) trail->Submit(Security("c"));
    });
  }
  for (auto& t : threads) t.join();
  trail->Flush();
  EXPECT_EQ(w.written().size(), 2000u);
}

}  // namespace
}  // namespace cairn::audit
