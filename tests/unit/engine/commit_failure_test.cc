// Failed group commits (injected): the callers get errors, nothing of their appends is visible,
// the sequencer's state rolls back (no phantom idempotent replays, no versions from state that
// never landed), later appends succeed, and the log verifies.
#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "engine_test_util.h"
#include "faulty_store.h"

namespace cairn::engine {
namespace CAIRN_UNITY_ID {

class CommitFailureTest : public EngineTest {
 protected:
  void SetUp() override {
    EngineTest::SetUp();
    Reopen(WithFaults(&plan_));
  }
  FaultPlan plan_;
};

using CommitFailureBackendTest = OnBothBackends<CommitFailureTest>;
CAIRN_ON_BOTH_BACKENDS(CommitFailureBackendTest);

TEST_P(CommitFailureBackendTest, FailedAppendWritesNothingAndIsNotRememberedAsAppended) {
  ASSERT_TRUE(store_->Append("s", ExpectedVersion::NoStream(), One("T", "{\"a\":1}")).ok());
  std::vector<ProposedEvent> b;
  b.push_back(Ev("T", "{\"b\":1}", std::string(16, '\x0b')));
  plan_.fail_next_commits = 1;
  auto failed = store_->Append("s", ExpectedVersion::Exact(0), b);
  ASSERT_FALSE(failed.ok());
  EXPECT_NE(failed.status().message().find("re-send it with the same event ids"), std::string::npos);
  EXPECT_EQ(store_->tree_size(), 1u);
  EXPECT_EQ(store_->GetStreamInfo("s")->last_version, 0u);  // the failed version never landed

  // The retry of the same ids is appended for real, not answered as a replay.
  auto retry = store_->Append("s", ExpectedVersion::Exact(0), b);
  ASSERT_TRUE(retry.ok()) << retry.status().ToString();
  EXPECT_FALSE(retry->idempotent_replay);
  EXPECT_EQ(retry->first_position, 1u);
  EXPECT_EQ(store_->ReadAt(1)->entry.event_id, std::string(16, '\x0b'));
  VerifyReport r = store_->Verify();
  EXPECT_TRUE(r.ok) << r.failure;
}

TEST_P(CommitFailureBackendTest, ConcurrentLoadWithFailingCommitsLosesNothingAcknowledged) {
  plan_.fail_every = 4;
  constexpr int kThreads = 8, kAppends = 30;
  std::mutex mu;
  std::map<std::string, uint64_t> acked;  // first event id -> position
  std::set<std::string> refused;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kAppends; ++i) {
        std::vector<ProposedEvent> evs;
        const size_t n = (i % 2 == 0) ? 80 : 3;  // both pipelined and inline groups
        for (size_t k = 0; k < n; ++k) evs.push_back(Ev("T", "{}", NewUuidV4()));
        const std::string id = evs[0].event_id;
        auto r = store_->Append("s-" + std::to_string(t % 3), ExpectedVersion::Any(), std::move(evs));
        std::lock_guard<std::mutex> lock(mu);
        if (r.ok()) {
          EXPECT_FALSE(r->idempotent_replay);
          acked[id] = r->first_position;
        } else {
          refused.insert(id);
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_GT(plan_.failed.load(), 0);
  EXPECT_GT(acked.size(), 0u);
  EXPECT_GT(refused.size(), 0u);
  auto all = store_->ReadAll(0, store_->tree_size());
  ASSERT_TRUE(all.ok());
  std::set<std::string> present;
  for (const auto& e : *all) present.insert(e.entry.event_id);
  for (const auto& [id, pos] : acked) {
    ASSERT_LT(pos, all->size());
    EXPECT_EQ((*all)[pos].entry.event_id, id) << "acknowledged append moved or lost";
  }
  for (const auto& id : refused) EXPECT_EQ(present.count(id), 0u) << "a refused append is visible";
  VerifyReport r = store_->Verify();
  EXPECT_TRUE(r.ok) << r.failure;
  // After the faults stop, the store works normally and survives a reopen.
  plan_.fail_every = 0;
  ASSERT_TRUE(store_->Append("after", ExpectedVersion::NoStream(), One("T", "{}")).ok());
  Reopen();
  EXPECT_TRUE(store_->Verify().ok);
}

// The append queue is bounded: while the sequencer is stuck in a commit, Append() waits for room
// (back-pressure) but AppendAsync() (the server's callback threads) is refused at once with
// kUnavailable and writes nothing; what was queued commits once the store moves again.
TEST_F(CommitFailureTest, AFullAppendQueueRefusesAsyncAppendsAtOnceAndMakesSyncAppendsWait) {
  Options o;
  o.queue_appends_max = 2;
  o.wrap_store_for_test = [this](std::unique_ptr<storage::LogStore> inner) {
    return std::unique_ptr<storage::LogStore>(new FaultyStore(std::move(inner), &plan_));
  };
  Reopen(o);
  plan_.hold_commits = true;
  std::mutex mu;
  std::vector<Status> answers;  // of the queued async appends
  const auto record = [&](Result<AppendResult> r) {
    std::lock_guard<std::mutex> lock(mu);
    answers.push_back(r.status());
  };
  store_->AppendAsync("s", ExpectedVersion::Any(), One("T", "{\"n\":0}"), record);
  for (int i = 0; i < 5000 && plan_.commits_held.load() == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ASSERT_EQ(plan_.commits_held.load(), 1);  // the sequencer holds the first append's group
  store_->AppendAsync("s", ExpectedVersion::Any(), One("T", "{\"n\":1}"), record);
  store_->AppendAsync("s", ExpectedVersion::Any(), One("T", "{\"n\":2}"), record);

  bool answered_at_once = false;
  Status refused;
  store_->AppendAsync("s", ExpectedVersion::Any(), One("T", "{\"n\":3}"),
                      [&](Result<AppendResult> r) {
                        answered_at_once = true;
                        refused = r.status();
                      });
  ASSERT_TRUE(answered_at_once);
  EXPECT_EQ(refused.code(), StatusCode::kUnavailable);
  EXPECT_NE(refused.message().find("append queue is full"), std::string::npos);

  std::atomic<bool> sync_done{false};
  std::thread sync([&] {
    auto r = store_->Append("s", ExpectedVersion::Any(), One("T", "{\"n\":4}"));
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    sync_done = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_FALSE(sync_done.load());  // waits for room instead of failing
  plan_.hold_commits = false;
  sync.join();
  EXPECT_TRUE(sync_done.load());
  for (int i = 0; i < 5000; ++i) {
    {
      std::lock_guard<std::mutex> lock(mu);
      if (answers.size() == 3) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  {
    std::lock_guard<std::mutex> lock(mu);
    ASSERT_EQ(answers.size(), 3u);
    for (const Status& a : answers) EXPECT_TRUE(a.ok()) << a.ToString();
  }
  EXPECT_EQ(store_->tree_size(), 4u);  // n = 0, 1, 2, 4; the refused one was never written
  for (uint64_t p = 0; p < 4; ++p) {
    EXPECT_EQ(store_->ReadAt(p)->data.find("\"n\":3"), std::string::npos);
  }
  EXPECT_TRUE(store_->Verify().ok);
}

// A client's synchronous append (a Delete's tombstone, on a request thread the server needs
// back) waits for room in a full queue at most queue_wait_ms_max, then is refused with
// kUnavailable and writes nothing; cairn's own appends ('$' streams: audit, alerts) wait for as
// long as it takes; the queued appends commit once the store moves again.
TEST_F(CommitFailureTest, ASyncAppendWaitsForRoomOnlyUpToItsBound) {
  Options o = WithFaults(&plan_);
  o.queue_appends_max = 1;
  o.queue_wait_ms_max = 300;
  Reopen(o);
  plan_.hold_commits = true;
  std::atomic<int> answered{0};
  const auto count = [&](Result<AppendResult> r) {
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    ++answered;
  };
  store_->AppendAsync("s", ExpectedVersion::Any(), One("T", "{\"n\":0}"), count);
  for (int i = 0; i < 5000 && plan_.commits_held.load() == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ASSERT_EQ(plan_.commits_held.load(), 1);  // the first append's group is being committed
  store_->AppendAsync("s", ExpectedVersion::Any(), One("T", "{\"n\":1}"), count);  // queued: full
  const auto started = std::chrono::steady_clock::now();
  auto refused = store_->Append("s", ExpectedVersion::Any(), One("T", "{\"n\":2}"));
  const auto waited = std::chrono::steady_clock::now() - started;
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(refused.status().message().find("stayed full for 300 ms"), std::string::npos)
      << refused.status().ToString();
  EXPECT_GE(waited, std::chrono::milliseconds(290)) << "it waited for room first";
  std::atomic<bool> system_done{false};
  std::thread system([&] {
    std::vector<ProposedEvent> record;
    record.push_back(Ev("$T", "{\"audit\":1}"));
    auto r = store_->AppendSystem("$audit", ExpectedVersion::Any(), std::move(record));
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    system_done = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(900));  // three times the bound
  EXPECT_FALSE(system_done.load()) << "a system append gave up waiting for room";
  plan_.hold_commits = false;
  system.join();
  for (int i = 0; i < 5000 && answered.load() < 2; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_EQ(answered.load(), 2);
  EXPECT_EQ(store_->tree_size(), 3u) << "n = 0, 1 and $audit; the refused one was never written";
  EXPECT_TRUE(store_->Append("s", ExpectedVersion::Any(), One("T", "{\"n\":3}")).ok());
  EXPECT_EQ(store_->GetStreamInfo("s")->last_version, 2u);
  EXPECT_TRUE(store_->Verify().ok);
}

// A stream index entry that went missing (a deleted run entry, a shortened run) makes a read of
// the stream fail with kDataLoss instead of returning the stream without that event, in both
// directions and at the page's end.
TEST_F(CommitFailureTest, AReadOfAStreamWithAMissingIndexEntryFailsInsteadOfSkippingIt) {
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(store_->Append("s", ExpectedVersion::Any(), One("T", "{\"i\":" + std::to_string(i) + "}")).ok());
  }
  ASSERT_TRUE(store_->ReadStream("s", 0, Direction::kForwards, 10).ok());
  plan_.drop_index_at = 2;  // version 2
  auto forwards = store_->ReadStream("s", 0, Direction::kForwards, 10);
  EXPECT_EQ(forwards.status().code(), StatusCode::kDataLoss) << forwards.status().ToString();
  EXPECT_NE(forwards.status().message().find("version 2"), std::string::npos);
  EXPECT_EQ(store_->ReadStream("s", 4, Direction::kBackwards, 10).status().code(), StatusCode::kDataLoss);
  plan_.drop_index_at = 4;  // the last version: the page ends short
  EXPECT_EQ(store_->ReadStream("s", 3, Direction::kForwards, 10).status().code(), StatusCode::kDataLoss);
  plan_.drop_index_at = 0;  // the first version: a backwards read ends short
  EXPECT_EQ(store_->ReadStream("s", 4, Direction::kBackwards, 10).status().code(), StatusCode::kDataLoss);
  plan_.drop_index_at = -1;
  auto whole = store_->ReadStream("s", 1, Direction::kForwards, 2);
  ASSERT_TRUE(whole.ok()) << whole.status().ToString();
  EXPECT_EQ(whole->events.size(), 2u);
}

}  // namespace
}  // namespace cairn::engine
