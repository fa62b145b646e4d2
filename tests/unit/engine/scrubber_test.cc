// Scrubber over a real store: incremental steps follow commits in order and in bounded steps, the
// full run covers what came before, corruption (record bytes, stored leaf hash, stream chain) is
// reported once with its position, and Stop() ends a long run promptly without a verdict.
#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

#include "engine/scrubber.h"
#include "engine_test_util.h"
#include "faulty_store.h"
#include "forge_record.h"

namespace cairn::engine {
namespace CAIRN_UNITY_ID {

constexpr auto kWaitMax = std::chrono::seconds(20);

class RecordingListener final : public ScrubListener {
 public:
  void OnScrubRun(const ScrubRun& run) override {
    std::lock_guard<std::mutex> lock(mu_);
    runs_.push_back(run);
  }
  std::vector<ScrubRun> runs(ScrubKind kind) const {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<ScrubRun> out;
    for (const ScrubRun& r : runs_) {
      if (r.kind == kind) out.push_back(r);
    }
    return out;
  }

 private:
  mutable std::mutex mu_;
  std::vector<ScrubRun> runs_;
};

class ScrubberTest : public EngineTest {
 protected:
  void OpenFaulty() {
    Options o;
    o.wrap_store_for_test = [this](std::unique_ptr<storage::LogStore> inner) {
      return std::make_unique<FaultyStore>(std::move(inner), &plan_);
    };
    Reopen(std::move(o));
  }
  void AppendBatches(int batches, int per_batch) {
    for (int b = 0; b < batches; ++b) {
      std::vector<ProposedEvent> events;
      for (int i = 0; i < per_batch; ++i) events.push_back(Ev("T", "{\"b\":" + std::to_string(b) + "}"));
      ASSERT_TRUE(store_->Append("s-" + std::to_string(b % 4), ExpectedVersion::Any(), std::move(events)).ok());
    }
  }
  void StartScrubber(ScrubberOptions o) {
    auto s = Scrubber::Start(store_.get(), o, &listener_);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    scrubber_ = std::move(s).value();
  }
  // Polls (bounded) until `done` holds for the scrubber's status.
  template <typename Pred>
  bool WaitFor(Pred done) {
    const auto deadline = std::chrono::steady_clock::now() + kWaitMax;
    while (std::chrono::steady_clock::now() < deadline) {
      if (done(scrubber_->status())) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }
  // Polls (bounded) until the listener has heard of the incremental run that reached `size`: the
  // scrubber reports a run to its listener after its status shows it.
  bool WaitForIncrementalRun(uint64_t size) {
    return WaitFor([&](const ScrubStatus&) {
      const std::vector<ScrubRun> runs = listener_.runs(ScrubKind::kIncremental);
      return !runs.empty() && runs.back().verified_size == size;
    });
  }
  void TearDown() override {
    if (scrubber_) scrubber_->Stop();  // before the store
    scrubber_.reset();
  }
  static ScrubberOptions Quick(uint64_t per_step = 4096) {
    ScrubberOptions o;
    o.delay_ms = 0;
    o.full_interval_ms = 3600 * 1000;
    o.records_per_step_max = per_step;
    return o;
  }

  FaultPlan plan_;
  RecordingListener listener_;
  std::unique_ptr<Scrubber> scrubber_;
};

using ScrubberBackendTest = OnBothBackends<ScrubberTest>;
CAIRN_ON_BOTH_BACKENDS(ScrubberBackendTest);

TEST_P(ScrubberBackendTest, OptionsOutsideTheirBoundsAreRefused) {
  ScrubberOptions o = Quick();
  o.records_per_step_max = 0;
  EXPECT_FALSE(Scrubber::Start(store_.get(), o, nullptr).ok());
  o = Quick();
  o.full_interval_ms = 0;
  EXPECT_FALSE(Scrubber::Start(store_.get(), o, nullptr).ok());
  o = Quick();
  o.delay_ms = kScrubDelayMsMax + 1;
  EXPECT_FALSE(Scrubber::Start(store_.get(), o, nullptr).ok());
  for (int percent : {0, 101, -1}) {
    o = Quick();
    o.busy_percent_max = percent;
    EXPECT_FALSE(Scrubber::Start(store_.get(), o, nullptr).ok()) << percent;
  }
}

TEST(ScrubPauseTest, ThePauseKeepsTheThreadWithinItsShare) {
  using std::chrono::microseconds;
  EXPECT_EQ(ScrubPause(microseconds(10000), 10), microseconds(90000));
  EXPECT_EQ(ScrubPause(microseconds(10000), 50), microseconds(10000));
  EXPECT_EQ(ScrubPause(microseconds(10000), 1), microseconds(990000));
  EXPECT_EQ(ScrubPause(microseconds(10000), 100), microseconds(0));
  EXPECT_EQ(ScrubPause(microseconds(0), 10), microseconds(0));
  EXPECT_EQ(ScrubPause(microseconds(-5), 10), microseconds(0));
}

// Under a small budget the thread pauses after every step (19 × the step at 5 %), falls behind
// the appends, reports how far, and still verifies every record in order.
TEST_P(ScrubberBackendTest, UnderItsBudgetTheIncrementalFallsBehindAndCatchesUp) {
  ScrubberOptions o = Quick(/*per_step=*/64);
  o.busy_percent_max = 5;
  StartScrubber(o);
  AppendBatches(60, 10);
  ASSERT_TRUE(WaitFor([](const ScrubStatus& s) { return s.incremental_verified_size == 600; }));
  ASSERT_TRUE(WaitForIncrementalRun(600));
  // 19 × every finished step. The last step's pause may still be running when the size shows
  // (and a step preempted for long may outweigh the others): wait for the pauses to catch up.
  EXPECT_TRUE(WaitFor([](const ScrubStatus& s) {
    return s.busy_us_total > 0 && s.paused_us_total >= 10 * s.busy_us_total;
  })) << scrubber_->status().busy_us_total << " µs busy, " << scrubber_->status().paused_us_total
      << " µs paused";
  const ScrubStatus s = scrubber_->status();
  const std::vector<ScrubRun> runs = listener_.runs(ScrubKind::kIncremental);
  ASSERT_FALSE(runs.empty());
  bool lagged = false;
  uint64_t next = 0;
  uint64_t busy_us_reported = 0;
  for (const ScrubRun& r : runs) {
    EXPECT_TRUE(r.ok) << r.failure;
    EXPECT_EQ(r.verified_size, next + r.records_checked);
    next = r.verified_size;
    lagged = lagged || r.incremental_lag_records > 0;
    busy_us_reported += r.busy_us;
  }
  EXPECT_TRUE(lagged);  // the first step starts after the first commit, then pauses ≥ 19 × its time
  EXPECT_EQ(runs.back().incremental_lag_records, 0u);
  EXPECT_GT(busy_us_reported, 0u);
  EXPECT_LE(busy_us_reported, s.busy_us_total);
}

TEST_P(ScrubberBackendTest, AtOneHundredPercentTheThreadNeverPauses) {
  ScrubberOptions o = Quick(/*per_step=*/16);
  o.busy_percent_max = 100;
  StartScrubber(o);
  AppendBatches(10, 10);
  ASSERT_TRUE(WaitFor([](const ScrubStatus& s) { return s.incremental_verified_size == 100; }));
  const ScrubStatus s = scrubber_->status();
  EXPECT_GT(s.busy_us_total, 0u);
  EXPECT_EQ(s.paused_us_total, 0u);
}

TEST_P(ScrubberBackendTest, IncrementalCatchesUpInOrderInBoundedSteps) {
  AppendBatches(5, 10);  // before Start: the full run's part
  StartScrubber(Quick(/*per_step=*/7));
  AppendBatches(20, 10);
  ASSERT_TRUE(WaitFor([](const ScrubStatus& s) { return s.incremental_verified_size == 250; }));
  ASSERT_TRUE(WaitForIncrementalRun(250));
  uint64_t next = 50;  // the incremental starts at the tree size of Start()
  for (const ScrubRun& r : listener_.runs(ScrubKind::kIncremental)) {
    EXPECT_TRUE(r.ok) << r.failure;
    EXPECT_GE(r.records_checked, 1u);
    EXPECT_LE(r.records_checked, 7u);
    EXPECT_EQ(r.verified_size, next + r.records_checked);  // contiguous, in order
    next = r.verified_size;
  }
  EXPECT_EQ(next, 250u);
  ASSERT_TRUE(WaitFor([](const ScrubStatus& s) { return s.last_full.has_value(); }));
  const ScrubStatus s = scrubber_->status();
  EXPECT_TRUE(s.last_full->ok) << s.last_full->failure;
  EXPECT_GE(s.last_full->records_checked, 50u);
  EXPECT_EQ(s.failures_total, 0u);
  EXPECT_FALSE(s.first_failure.has_value());
  EXPECT_FALSE(s.incremental_halted);
  EXPECT_GT(s.last_full->finished_unix_s, 0);
  // The full run reached the incremental part's start: together they verify the whole log.
  ASSERT_TRUE(WaitFor([](const ScrubStatus& s) { return s.verified_prefix_size == 250; }));
}

TEST_P(ScrubberBackendTest, CorruptedNewRecordIsReportedOnceAndHaltsTheIncrementalThere) {
  OpenFaulty();
  StartScrubber(Quick(/*per_step=*/4));
  ASSERT_TRUE(WaitFor([](const ScrubStatus& s) { return s.last_full.has_value(); }));
  plan_.corrupt_record_at = 5;  // bit rot under the store: every read of record 5 is wrong
  AppendBatches(3, 4);
  ASSERT_TRUE(WaitFor([](const ScrubStatus& s) { return s.incremental_halted; }));
  AppendBatches(3, 4);  // later commits do not restart it
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const ScrubStatus s = scrubber_->status();
  ASSERT_TRUE(s.first_failure.has_value());
  EXPECT_EQ(s.first_failure->kind, ScrubKind::kIncremental);
  EXPECT_EQ(s.first_failure->bad_position, std::optional<uint64_t>(5));
  EXPECT_NE(s.first_failure->failure.find("authenticate"), std::string::npos) << s.first_failure->failure;
  EXPECT_EQ(s.incremental_verified_size, 5u);
  EXPECT_EQ(s.verified_prefix_size, 5u);
  EXPECT_EQ(s.failures_total, 1u);
  int failed = 0;
  for (const ScrubRun& r : listener_.runs(ScrubKind::kIncremental)) failed += !r.ok;
  EXPECT_EQ(failed, 1);
}

TEST_P(ScrubberBackendTest, CorruptedStoredLeafHashIsReported) {
  OpenFaulty();
  plan_.corrupt_leaf_at = 9;
  StartScrubber(Quick());
  AppendBatches(4, 5);
  ASSERT_TRUE(WaitFor([](const ScrubStatus& s) { return s.incremental_halted; }));
  const ScrubStatus s = scrubber_->status();
  EXPECT_EQ(s.first_failure->bad_position, std::optional<uint64_t>(9));
  EXPECT_NE(s.first_failure->failure.find("leaf hash"), std::string::npos) << s.first_failure->failure;
}

TEST_P(ScrubberBackendTest, BrokenStreamChainIsReported) {
  ScrubberOptions o = Quick();
  // Time to forge the record before the incremental step reads it: generous, since on a loaded
  // machine appending and forging on PostgreSQL took longer than 300 ms (a CI run missed it).
  o.delay_ms = 3000;
  StartScrubber(o);
  AppendBatches(4, 5);  // positions 0..19; stream s-1 holds 5..9
  ForgeBrokenChain(store_.get(), 7);
  ASSERT_TRUE(WaitFor([](const ScrubStatus& s) { return s.first_failure.has_value(); }));
  const ScrubStatus s = scrubber_->status();
  EXPECT_EQ(s.first_failure->bad_position, std::optional<uint64_t>(7));
  EXPECT_NE(s.first_failure->failure.find("stream chain"), std::string::npos) << s.first_failure->failure;
}

TEST_P(ScrubberBackendTest, FullRunCoversOldRecordsAndRepeatsOnItsInterval) {
  OpenFaulty();
  AppendBatches(5, 10);
  plan_.corrupt_record_at = 12;  // before Start: only the full run reads it
  ScrubberOptions o = Quick(/*per_step=*/8);
  o.full_interval_ms = 50;
  StartScrubber(o);
  ASSERT_TRUE(WaitFor([](const ScrubStatus& s) { return s.failures_total >= 2; }));
  const ScrubStatus s = scrubber_->status();
  ASSERT_TRUE(s.last_full.has_value());
  EXPECT_FALSE(s.last_full->ok);
  EXPECT_EQ(s.last_full->bad_position, std::optional<uint64_t>(12));
  EXPECT_EQ(s.first_failure->kind, ScrubKind::kFull);
  EXPECT_FALSE(s.incremental_halted);  // the incremental part never read record 12
  EXPECT_EQ(s.verified_prefix_size, 12u);
}

// Commits that keep coming make an incremental step due again after every pause; the full run,
// due meanwhile, must still start (it checks what the steps never do: records from before the
// start, every checkpoint, the stream heads).
TEST_P(ScrubberBackendTest, ATrickleOfCommitsDoesNotPutOffTheFullRun) {
  OpenFaulty();
  AppendBatches(5, 10);
  plan_.corrupt_record_at = 12;  // before Start: only the full run reads it
  // Steps of 8 records with pauses of 99 times a step: the incremental part falls behind the
  // commits and always has a step due. The full run's second chunk holds record 12: it reports
  // after two chunks (and their pauses), well within the wait even under a sanitizer.
  ScrubberOptions o = Quick(/*per_step=*/8);
  o.busy_percent_max = 1;
  o.delay_ms = 100;  // the first full run and the first step are due together, with commits waiting
  o.full_interval_ms = 200;
  std::atomic<bool> stop{false};
  std::atomic<int> appended{0};
  // Bounded in count and time, and longer than the wait below: without the fix the full run would
  // start only once the commits stop.
  const auto trickle_end = std::chrono::steady_clock::now() + kWaitMax + std::chrono::seconds(5);
  std::thread trickle([&] {
    for (int i = 0; i < 1000000 && !stop && std::chrono::steady_clock::now() < trickle_end; ++i) {
      EXPECT_TRUE(store_->Append("trickle", ExpectedVersion::Any(), {Ev("T", "{}")}).ok());
      ++appended;
    }
  });
  for (int i = 0; i < 5000 && appended < 10; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  StartScrubber(o);
  const bool full_ran = WaitFor([](const ScrubStatus& s) { return s.last_full.has_value(); });
  stop = true;
  trickle.join();
  ASSERT_TRUE(full_ran) << "no full run while commits kept coming";
  EXPECT_EQ(scrubber_->status().last_full->bad_position, std::optional<uint64_t>(12));
}

// The scrub's full run leaves heads that moved past its pinned size to a later run, but a head
// that names a position beyond the log, or that "moved" without gaining a version, is tampering
// (reads trust the head: a stream's tail would be hidden, or it would read as deleted).
TEST_P(ScrubberBackendTest, AHeadPastThePinnedSizeMustBeWithinTheLogAndMovedForward) {
  OpenFaulty();
  AppendBatches(4, 3);  // s-0 .. s-3, three events each
  VerifyPacing pacing;
  ASSERT_TRUE(store_->VerifyPaced(pacing).ok);
  plan_.rewrite_head = [](std::string_view stream, storage::StreamHead* head) {
    if (stream == "s-0") {
      head->last_position = uint64_t{1} << 62;
      head->next_version = 100;
    }
  };
  VerifyReport r = store_->VerifyPaced(pacing);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.failure.find("stream head of 's-0' names position 4611686018427387904, beyond the log"),
            std::string::npos) << r.failure;
  plan_.rewrite_head = [](std::string_view stream, storage::StreamHead* head) {
    if (stream == "s-1") {
      head->last_position = 12;  // past the 12 events, as if an append had just landed...
      head->deleted = true;      // ...yet no version more: the stream's tail would be hidden
    }
  };
  r = store_->VerifyPaced(pacing);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.failure.find("stream head of 's-1' names a later event the stream cannot have"),
            std::string::npos) << r.failure;
  plan_.rewrite_head = nullptr;
  EXPECT_TRUE(store_->VerifyPaced(pacing).ok);
}

TEST_P(ScrubberBackendTest, CleanLogStaysClean) {
  ScrubberOptions o = Quick(/*per_step=*/16);
  o.full_interval_ms = 30;
  StartScrubber(o);
  AppendBatches(30, 10);
  ASSERT_TRUE(WaitFor([](const ScrubStatus& s) {
    return s.incremental_verified_size == 300 && s.last_full && s.last_full->records_checked == 300;
  }));
  const ScrubStatus s = scrubber_->status();
  EXPECT_EQ(s.failures_total, 0u);
  EXPECT_TRUE(s.last_full->ok);
  EXPECT_TRUE(s.last_incremental->ok);
  EXPECT_GE(s.records_checked_total, 600u);
}

TEST_P(ScrubberBackendTest, StopEndsALongFullRunWithoutAVerdict) {
  AppendBatches(40, 100);  // 4000 records, checked one per chunk with a pause after each: seconds
  StartScrubber(Quick(/*per_step=*/1));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const auto t0 = std::chrono::steady_clock::now();
  scrubber_->Stop();
  const auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_LT(took, std::chrono::seconds(2));  // one bounded step, not the rest of the run
  EXPECT_FALSE(scrubber_->status().last_full.has_value());
  EXPECT_TRUE(listener_.runs(ScrubKind::kFull).empty());
}

}  // namespace
}  // namespace cairn::engine
