// AppendAsync protects the events of protected types on the engine's protect threads: its caller
// (a gRPC callback thread, shared by every callback-API call of the server) does not wait while a
// new subject's key is wrapped and made durable; unprotected appends go on meanwhile; the queue
// of appends waiting for protection is bounded and refuses one more at once.
#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "audit/metrics.h"
#include "customer_rules.h"
#include "engine/protect_queue.h"
#include "engine_test_util.h"
#include "faulty_store.h"

namespace cairn::engine {
namespace CAIRN_UNITY_ID {

// Waits (bounded, ~10 s) until `done` holds.
template <class Pred>
bool WaitUntil(Pred done) {
  for (int i = 0; i < 10000 && !done(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return done();
}

class ProtectQueueEngineTest : public EngineTest {
 protected:
  void SetUp() override {
    EngineTest::SetUp();
    plan_.before_put_key_material_if_absent = [this](std::string_view) {
      ++puts_held_;
      while (hold_puts_.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    };
    Options o = WithFaults(&plan_);
    o.protect_threads = 1;
    o.protect_queue_appends_max = 1;
    o.metrics = &metrics_;
    ReopenProtected(kCustomerRules, o);
    puts_held_ = 0;  // from here on: what the open put is neither held nor counted
    hold_puts_ = true;
  }
  void TearDown() override {
    hold_puts_ = false;  // never leave a protect thread held
    store_.reset();
  }

  // Records the answers of async appends.
  AppendCallback Record() {
    return [this](Result<AppendResult> r) {
      std::lock_guard<std::mutex> lock(mu_);
      answers_.push_back(r.status());
    };
  }
  size_t Answers() {
    std::lock_guard<std::mutex> lock(mu_);
    return answers_.size();
  }

  // The first append of a new subject `who` to "c", made on another thread: whether its key's put
  // is reached (and held) and AppendAsync returned meanwhile. A caller still blocked after the
  // wait is released (so the test fails instead of hanging).
  struct HeldAppend {
    bool in_put = false;
    bool caller_free = false;
  };
  // Lets the held key puts go, waits for `n` answers in all and expects each to be a success.
  void ReleaseAndExpectAnswered(size_t n) {
    hold_puts_ = false;
    ASSERT_TRUE(WaitUntil([&] { return Answers() == n; }));
    std::lock_guard<std::mutex> lock(mu_);
    for (const Status& s : answers_) EXPECT_TRUE(s.ok()) << s.ToString();
  }
  HeldAppend AppendHeldNewSubject(const std::string& who, ExpectedVersion expected) {
    std::atomic<bool> returned{false};
    std::thread caller([&] {
      store_->AppendAsync("c", expected, One("CustomerRegistered", Customer(who)), Record());
      returned = true;
    });
    HeldAppend held;
    held.in_put = WaitUntil([&] { return puts_held_.load() >= 1; });
    held.caller_free = WaitUntil([&] { return returned.load(); });
    if (!held.caller_free) hold_puts_ = false;
    caller.join();
    return held;
  }

  audit::MetricsRegistry metrics_;  // outlives the store: TearDown resets store_ first
  FaultPlan plan_;
  std::atomic<bool> hold_puts_{false};
  std::atomic<int> puts_held_{0};
  std::mutex mu_;
  std::vector<Status> answers_;
};

TEST_F(ProtectQueueEngineTest, ACallerNeverWaitsForANewSubjectsKeyAndTheQueueIsBounded) {
  // The first append of a new subject: its key's put is held, on the protect thread.
  const HeldAppend alice = AppendHeldNewSubject("alice", ExpectedVersion::Any());
  ASSERT_TRUE(alice.in_put) << "the subject key was never put";
  ASSERT_TRUE(alice.caller_free) << "AppendAsync waited for the key's put on the caller's thread";
  EXPECT_EQ(Answers(), 0u);

  // One more waits in the queue (its bound is 1); the next is refused at once.
  store_->AppendAsync("c", ExpectedVersion::Any(), One("CustomerRegistered", Customer("bob")),
                      Record());
  bool answered_at_once = false;
  Status refused;
  store_->AppendAsync("c", ExpectedVersion::Any(), One("CustomerRegistered", Customer("carol")),
                      [&](Result<AppendResult> r) {
                        answered_at_once = true;
                        refused = r.status();
                      });
  ASSERT_TRUE(answered_at_once);
  EXPECT_EQ(refused.code(), StatusCode::kUnavailable) << refused.ToString();
  EXPECT_NE(refused.message().find("waiting to be encrypted"), std::string::npos);
  EXPECT_NE(metrics_.RenderPrometheus().find("\ncairn_protect_queue_full_total 1\n"),
            std::string::npos)
      << "counted";

  // Unprotected appends do not queue behind them.
  store_->AppendAsync("plain", ExpectedVersion::Any(), One("T", "{\"n\":1}"), Record());
  ASSERT_TRUE(WaitUntil([&] { return Answers() == 1; }));
  {
    std::lock_guard<std::mutex> lock(mu_);
    EXPECT_TRUE(answers_[0].ok()) << answers_[0].ToString();
  }
  EXPECT_EQ(store_->GetStreamInfo("c")->exists, false) << "nothing protected committed yet";

  ReleaseAndExpectAnswered(3);
  auto read = store_->ReadStream("c", 0, Direction::kForwards, 10);
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(read->events.size(), 2u) << "alice and bob, not the refused carol";
  EXPECT_TRUE(store_->Verify().ok);
}

// A stream's appends reach the log in the order they were made: an unprotected append made
// while the stream's protected append waits for its key goes behind it (a client may pipeline
// appends with exact expected versions).
TEST_F(ProtectQueueEngineTest, AStreamsAppendsKeepTheirOrderAcrossProtection) {
  const HeldAppend fay = AppendHeldNewSubject("fay", ExpectedVersion::NoStream());
  ASSERT_TRUE(fay.in_put && fay.caller_free);
  // Made after the protected one (whose key is being put): it must not go ahead of it.
  store_->AppendAsync("c", ExpectedVersion::Exact(0), One("Note", "{\"n\":1}"), Record());
  store_->AppendAsync("other", ExpectedVersion::Any(), One("Note", "{}"), Record());
  ASSERT_TRUE(WaitUntil([&] { return Answers() == 1; })) << "another stream goes ahead";
  ReleaseAndExpectAnswered(3);
  auto read = store_->ReadStream("c", 0, Direction::kForwards, 10);
  ASSERT_TRUE(read.ok());
  ASSERT_EQ(read->events.size(), 2u);
  EXPECT_EQ(read->events[0].entry.event_type, "CustomerRegistered");
  EXPECT_EQ(read->events[1].entry.event_type, "Note");
}

// Closing the store protects and commits what still waits for protection (each caller is
// answered once), before the sequencer stops.
TEST_F(ProtectQueueEngineTest, ClosingTheStoreFinishesTheQueuedAppends) {
  const HeldAppend dan = AppendHeldNewSubject("dan", ExpectedVersion::Any());
  ASSERT_TRUE(dan.in_put && dan.caller_free);
  store_->AppendAsync("c", ExpectedVersion::Any(), One("CustomerRegistered", Customer("eve")),
                      Record());
  std::thread release([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    hold_puts_ = false;
  });
  store_.reset();
  release.join();
  ASSERT_EQ(Answers(), 2u);
  for (const Status& s : answers_) EXPECT_TRUE(s.ok()) << s.ToString();
  Reopen();
  auto read = store_->ReadStream("c", 0, Direction::kForwards, 10);
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(read->events.size(), 2u);
}

TEST(ProtectQueue, BoundsByBytesButLetsOneLargeAppendThroughAnEmptyQueue) {
  std::atomic<bool> hold{true};
  std::atomic<int> ran{0};
  {
    ProtectQueue queue(/*threads=*/1, /*appends_max=*/8, /*bytes_max=*/100);
    const auto work = [&] {
      while (hold.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
      ++ran;
    };
    ASSERT_TRUE(queue.Post("s", 500, work)) << "larger than the bound, into an empty queue";
    ASSERT_TRUE(WaitUntil([&] { return queue.queued_bytes() == 0; }));  // taken by the thread
    EXPECT_TRUE(queue.Post("s", 60, work));
    EXPECT_TRUE(queue.Busy("s"));
    EXPECT_FALSE(queue.Busy("t"));
    EXPECT_FALSE(queue.Post("t", 41, work)) << "60 + 41 > 100";
    EXPECT_TRUE(queue.Post("t", 40, work));
    EXPECT_EQ(queue.queued_bytes(), 100u);
    EXPECT_FALSE(queue.Post("u", 500, work)) << "a large one waits for an empty queue";
    hold = false;
  }  // the destructor runs what was queued
  EXPECT_EQ(ran.load(), 3);
}

// The work of one stream runs in order of posting, whatever the number of lanes; a stream is
// busy until its last work has run.
TEST(ProtectQueue, OneStreamsWorkRunsInOrder) {
  std::mutex mu;
  std::vector<int> order;
  {
    ProtectQueue queue(/*lanes=*/4, /*appends_max=*/1000, /*bytes_max=*/1 << 20);
    for (int i = 0; i < 200; ++i) {
      ASSERT_TRUE(queue.Post("orders-7", 1, [&, i] {
        std::lock_guard<std::mutex> lock(mu);
        order.push_back(i);
      }));
    }
    ASSERT_TRUE(WaitUntil([&] { return !queue.Busy("orders-7"); }));
  }
  ASSERT_EQ(order.size(), 200u);
  for (int i = 0; i < 200; ++i) EXPECT_EQ(order[i], i);
}

}  // namespace CAIRN_UNITY_ID
}  // namespace cairn::engine
