// Two engines ("nodes") in one process on one PostgreSQL database: they extend one log without
// forking it, detect every expected-version conflict once, answer re-sends idempotently across
// nodes, learn each other's storage epochs, wake each other's commit observers and evict each
// other's forgotten subject keys.
#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include <atomic>
#include <chrono>
#include <map>
#include <thread>

#include "customer_rules.h"
#include "engine_test_util.h"
#include "faulty_store.h"
#include "storage/postgres/pg_stats.h"

namespace cairn::engine {
namespace CAIRN_UNITY_ID {

class MultiNodeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    pg_ = FreshPgDatabase();
    testing::WriteFile(tmp_.Sub("protect.toml"), kCustomerRules);
    InitOptions init;
    init.data_dir = tmp_.Sub("a");
    init.origin = "test.example/multi";
    init.postgres = pg_;
    ASSERT_TRUE(EventStore::Init(init).ok());
    a_ = OpenNode("a");
    b_ = OpenNode("b");
  }

  // Every node has its own data directory (its lock) and the first node's keyring.
  std::unique_ptr<EventStore> OpenNode(const std::string& name, FaultPlan* plan = nullptr) {
    Options o;
    if (plan) {
      o.wrap_store_for_test = [plan](std::unique_ptr<storage::LogStore> inner) {
        return std::unique_ptr<storage::LogStore>(new FaultyStore(std::move(inner), plan));
      };
    }
    o.data_dir = tmp_.Sub(name);
    o.postgres = pg_;
    o.kms.local.keyring_path = tmp_.Sub("a/keyring");
    o.protect_rules_file = tmp_.Sub("protect.toml");
    if (encryptions_max_ > 0) o.storage_key_encryptions_max = encryptions_max_;
    if (key_purge_wait_ms_max_ >= 0) {
      o.postgres->key_purge_wait_ms_max = key_purge_wait_ms_max_;
      o.postgres->key_purge_no_wait_ms = 0;  // every destroy waits, also right after a timeout
    }
    auto s = EventStore::Open(o);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? std::move(s).value() : nullptr;
  }

  // Node a again, behind a FaultyStore that mutes other nodes' commit notifications (plan_).
  void ReopenADeaf() {
    a_.reset();
    plan_.mute_commit_notifications = true;
    a_ = OpenNode("a", &plan_);
  }

  // Both nodes again, with Options::storage_key_encryptions_max = `max`.
  void ReopenWithEncryptionsMax(uint64_t max) {
    a_.reset();
    b_.reset();
    encryptions_max_ = max;
    a_ = OpenNode("a");
    b_ = OpenNode("b");
  }

  static size_t StorageEpochs(EventStore* node) {
    size_t n = 0;
    auto keys = AllKeys(*node);
    EXPECT_TRUE(keys.ok());
    if (keys.ok()) for (const KeyInfo& k : *keys) n += k.kind == "storage";
    return n;
  }

  static bool WaitFor(const std::function<bool()>& done, int timeout_ms = 2000) {
    for (int waited = 0; waited < timeout_ms; waited += 10) {
      if (done()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return done();
  }

  testing::TempDir tmp_;
  int64_t key_purge_wait_ms_max_ = -1;  // >= 0: PgOptions::key_purge_wait_ms_max of nodes opened next
  uint64_t encryptions_max_ = 0;  // > 0: Options::storage_key_encryptions_max of nodes opened next
  FaultPlan plan_;                 // of the nodes opened with it; outlives them
  storage::PgOptions pg_;
  void AppendConcurrentlyAndCheckOneLog();
  std::unique_ptr<EventStore> a_, b_;
};

// Appends from three threads per node to overlapping streams: every one succeeds, and both nodes
// see one gap-free log with gap-free stream versions and the same checkpoint root.
void MultiNodeTest::AppendConcurrentlyAndCheckOneLog() {
  ASSERT_TRUE(a_ && b_);
  constexpr int kThreads = 3, kAppends = 40;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (EventStore* node : {a_.get(), b_.get()}) {
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, node, t] {
        for (int i = 0; i < kAppends; ++i) {
          std::vector<ProposedEvent> evs;
          evs.push_back(Ev("T", "{\"i\":" + std::to_string(i) + "}"));
          evs.push_back(Ev("T", "{\"t\":" + std::to_string(t) + "}"));
          if (!node->Append("s-" + std::to_string((t + i) % 4), ExpectedVersion::Any(), std::move(evs)).ok()) ++failures;
        }
      });
    }
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  const uint64_t total = 2 * kThreads * kAppends * 2;
  for (EventStore* node : {a_.get(), b_.get()}) {
    auto all = node->ReadAll(0, total + 10);
    ASSERT_TRUE(all.ok()) << all.status().ToString();
    ASSERT_EQ(all->size(), total);
    std::map<std::string, uint64_t> next_version;
    for (uint64_t p = 0; p < total; ++p) {
      const RecordedEvent& e = (*all)[p];
      EXPECT_EQ(e.entry.position, p);
      EXPECT_EQ(e.entry.stream_version, next_version[e.entry.stream_id]++) << "stream " << e.entry.stream_id;
    }
    EXPECT_TRUE(node->Verify().ok) << node->Verify().failure;
  }
  auto ca = a_->Checkpoint(), cb = b_->Checkpoint();
  ASSERT_TRUE(ca.ok() && cb.ok());
  EXPECT_EQ(ca->size, total);
  EXPECT_EQ(ca->root, cb->root);
}

TEST_F(MultiNodeTest, ConcurrentAppendsThroughBothNodesFormOneGapFreeLog) {
  AppendConcurrentlyAndCheckOneLog();
}

// The commit lock relies on READ COMMITTED (a node that waited for the tree row sees the other
// node's commit). A database default of SERIALIZABLE must not turn contended appends into
// serialization failures: the sessions set their isolation level themselves.
TEST_F(MultiNodeTest, ADatabaseDefaultOfSerializableChangesNothing) {
  {
    pqxx::connection conn(pg_.conninfo);
    pqxx::nontransaction tx(conn);
    const std::string db = tx.exec("SELECT current_database()")[0][0].as<std::string>();
    tx.exec("ALTER DATABASE " + tx.quote_name(db) +
            " SET default_transaction_isolation = 'serializable'");
  }
  a_.reset();
  b_.reset();
  a_ = OpenNode("a");
  b_ = OpenNode("b");
  AppendConcurrentlyAndCheckOneLog();
}

TEST_F(MultiNodeTest, EveryExpectedVersionConflictIsDetectedExactlyOnce) {
  ASSERT_TRUE(a_ && b_);
  constexpr int kVersions = 20;
  std::atomic<int> wins{0}, conflicts{0}, other{0};
  for (int v = 0; v < kVersions; ++v) {
    const ExpectedVersion expected = v == 0 ? ExpectedVersion::NoStream() : ExpectedVersion::Exact(v - 1);
    std::vector<std::thread> racers;
    for (EventStore* node : {a_.get(), b_.get(), a_.get(), b_.get()}) {
      racers.emplace_back([&, node] {
        auto r = node->Append("contended", expected, One("T", "{}"));
        if (r.ok()) ++wins;
        else if (r.status().code() == StatusCode::kWrongExpectedVersion) ++conflicts;
        else ++other;
      });
    }
    for (auto& th : racers) th.join();
  }
  EXPECT_EQ(wins.load(), kVersions);           // one winner per version
  EXPECT_EQ(conflicts.load(), 3 * kVersions);  // every loser told so, once
  EXPECT_EQ(other.load(), 0);
  auto info = b_->GetStreamInfo("contended");
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->event_count, static_cast<uint64_t>(kVersions));
}

TEST_F(MultiNodeTest, AReSendThroughTheOtherNodeIsIdempotent) {
  ASSERT_TRUE(a_ && b_);
  std::vector<ProposedEvent> batch = {Ev("T", "{\"x\":1}", NewUuidV4()), Ev("T", "{\"x\":2}", NewUuidV4())};
  auto first = a_->Append("orders", ExpectedVersion::NoStream(), batch);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  ASSERT_TRUE(b_->Append("other", ExpectedVersion::Any(), One("T", "{}")).ok());  // b rebases
  auto again = b_->Append("orders", ExpectedVersion::NoStream(), batch);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_TRUE(again->idempotent_replay);
  EXPECT_EQ(again->first_position, first->first_position);
  // The same id in another batch is refused, whichever node it goes through.
  std::vector<ProposedEvent> reuse = {Ev("T", "{}", batch[0].event_id)};
  EXPECT_EQ(b_->Append("elsewhere", ExpectedVersion::Any(), reuse).status().code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(b_->tree_size(), 3u);
}

// A commit of another node is visible under the commit lock before it is durable (the lock is
// released before the flush). a, deaf to b's notifications, learns b's batch in its rebase and
// answers the re-send as a replay without writing anything: it must first make what it learned
// durable (CommitWriter::FinishWithoutWriting), and then counts the rebased log as committed.
TEST_F(MultiNodeTest, AReplayAnsweredFromARebaseWaitsUntilTheRebasedLogIsDurable) {
  ReopenADeaf();
  ASSERT_TRUE(a_ && b_);
  std::vector<ProposedEvent> batch = {Ev("T", "{\"x\":1}", NewUuidV4()), Ev("T", "{\"x\":2}", NewUuidV4())};
  auto first = b_->Append("orders", ExpectedVersion::NoStream(), batch);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  const int durable_calls = plan_.finished_without_writing.load();
  auto again = a_->Append("orders", ExpectedVersion::NoStream(), batch);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_TRUE(again->idempotent_replay);
  EXPECT_EQ(again->first_position, first->first_position);
  EXPECT_GE(plan_.finished_without_writing.load(), durable_calls + 1);
  EXPECT_EQ(a_->tree_size(), 2u);
  // A conflict answered from the rebase alone waits too.
  ASSERT_TRUE(b_->Append("orders", ExpectedVersion::Exact(1), One("T", "{}")).ok());
  const int before_conflict = plan_.finished_without_writing.load();
  auto stale = a_->Append("orders", ExpectedVersion::Exact(1), One("T", "{}"));
  EXPECT_EQ(stale.status().code(), StatusCode::kWrongExpectedVersion) << stale.status().ToString();
  EXPECT_GE(plan_.finished_without_writing.load(), before_conflict + 1);
  EXPECT_EQ(a_->tree_size(), 3u);
}

// If a group that wrote nothing cannot confirm that what it read is durable (its connection was
// lost: the database may have restarted and lost a commit it learned), it fails, and the node
// reloads its state before the next group instead of keeping what it learned.
TEST_F(MultiNodeTest, AGroupThatCannotConfirmWhatItReadFailsAndTheNodeReloads) {
  ReopenADeaf();
  ASSERT_TRUE(a_ && b_);
  std::vector<ProposedEvent> batch = {Ev("T", "{}", NewUuidV4()), Ev("T", "{}", NewUuidV4())};
  ASSERT_TRUE(b_->Append("orders", ExpectedVersion::NoStream(), batch).ok());
  plan_.fail_finish_without_writing = true;
  auto again = a_->Append("orders", ExpectedVersion::NoStream(), batch);  // a replay: writes nothing
  EXPECT_EQ(again.status().code(), StatusCode::kUnavailable) << again.status().ToString();
  EXPECT_EQ(a_->tree_size(), 0u);  // not counted as committed
  plan_.fail_finish_without_writing = false;
  const int reads = plan_.tree_state_reads.load();
  auto retry = a_->Append("orders", ExpectedVersion::NoStream(), batch);
  ASSERT_TRUE(retry.ok()) << retry.status().ToString();
  EXPECT_TRUE(retry->idempotent_replay);
  EXPECT_GT(plan_.tree_state_reads.load(), reads) << "the node kept what the failed group learned";
  auto next = a_->Append("orders", ExpectedVersion::Exact(1), One("T", "{}"));
  ASSERT_TRUE(next.ok()) << next.status().ToString();
  EXPECT_EQ(next->first_version, 2u);
}

// A storage key rotation takes the commit lock and so rebases a node that had not heard of
// another node's commit: like a group that writes nothing, it must confirm that what it learned is
// durable, and when it cannot, the node reloads its state before its next group rather than build
// on a commit a database crash may have lost.
TEST_F(MultiNodeTest, AKeyRotationsRebaseIsConfirmedDurableOrTheNodeReloads) {
  ReopenADeaf();
  ASSERT_TRUE(a_ && b_);
  ASSERT_TRUE(b_->Append("orders", ExpectedVersion::NoStream(),
                         {Ev("T", "{}", NewUuidV4()), Ev("T", "{}", NewUuidV4())})
                  .ok());
  const int durable_calls = plan_.finished_without_writing.load();
  plan_.fail_finish_without_writing = true;
  auto epoch = a_->RotateStorageKey();  // a learns b's two events in the rotation's rebase
  ASSERT_TRUE(epoch.ok()) << epoch.status().ToString();  // the new epoch itself is stored
  EXPECT_GE(plan_.finished_without_writing.load(), durable_calls + 1)
      << "the rotation did not confirm what its rebase read";
  plan_.fail_finish_without_writing = false;
  const int reads = plan_.tree_state_reads.load();
  auto next = a_->Append("orders", ExpectedVersion::Exact(1), One("T", "{}"));
  ASSERT_TRUE(next.ok()) << next.status().ToString();
  EXPECT_EQ(next->first_position, 2u);
  EXPECT_GT(plan_.tree_state_reads.load(), reads) << "the node kept what the rotation learned";
  EXPECT_TRUE(a_->Verify().ok);
}

// A stream read answers from the stream's head as stored, which another node's commit may have
// moved before that commit is durable: a node that has not heard of the commit (a is deaf to
// notifications here) catches up first, which makes it durable, before it answers.
TEST_F(MultiNodeTest, AStreamReadThroughADeafNodeCatchesUpBeforeAnsweringFromTheHead) {
  ReopenADeaf();
  ASSERT_TRUE(a_ && b_);
  std::vector<ProposedEvent> batch = {Ev("T", "{}", NewUuidV4()), Ev("T", "{}", NewUuidV4()), Ev("T", "{}", NewUuidV4())};
  ASSERT_TRUE(b_->Append("s", ExpectedVersion::NoStream(), batch).ok());
  EXPECT_EQ(a_->tree_size(), 0u);
  auto read = a_->ReadStream("s", 0, Direction::kForwards, 100);
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  EXPECT_EQ(read->events.size(), 3u);
  EXPECT_EQ(a_->tree_size(), 3u) << "answered from a head beyond the node's committed log";
  ASSERT_TRUE(b_->Append("s", ExpectedVersion::Exact(2), One("T", "{}")).ok());
  auto info = a_->GetStreamInfo("s");
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->last_version, 3u);
  EXPECT_EQ(a_->tree_size(), 4u);
}

// A node that cannot read the shared tree state does not take its own older view for the end of
// the log: a read that needs the newest end fails (kUnavailable) rather than ending early and
// saying it reached the end.
TEST_F(MultiNodeTest, AReadThatCannotLearnTheLogsEndFailsInsteadOfEndingEarly) {
  ReopenADeaf();
  ASSERT_TRUE(a_ && b_);
  ASSERT_TRUE(a_->Append("mine", ExpectedVersion::NoStream(), One("T", "{}")).ok());
  std::vector<ProposedEvent> batch = {Ev("T", "{}", NewUuidV4()), Ev("T", "{}", NewUuidV4()), Ev("T", "{}", NewUuidV4())};
  ASSERT_TRUE(b_->Append("s", ExpectedVersion::NoStream(), batch).ok());
  plan_.fail_tree_state_summaries = true;
  EXPECT_EQ(a_->LatestTreeSize().status().code(), StatusCode::kUnavailable);
  // What the node knows is committed is served (a short page); what lies beyond is not
  // answered as the end.
  auto known = a_->ReadAll(0, 100);
  ASSERT_TRUE(known.ok()) << known.status().ToString();
  EXPECT_EQ(known->size(), 1u);
  EXPECT_EQ(a_->ReadAll(1, 100).status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(a_->ReadAt(3).status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(a_->ProveInclusion(3, 0).status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(a_->ProveConsistency(1, 4).status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(a_->ReadStream("s", 0, Direction::kForwards, 10).status().code(), StatusCode::kUnavailable);
  plan_.fail_tree_state_summaries = false;
  auto latest = a_->LatestTreeSize();
  ASSERT_TRUE(latest.ok()) << latest.status().ToString();
  EXPECT_EQ(*latest, 4u);
  auto all = a_->ReadAll(0, 100);
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  EXPECT_EQ(all->size(), 4u);
}

// "The latest" through a node that has not heard of another node's acknowledged appends yet
// covers them: a checkpoint on request and a consistency or inclusion proof to the latest tree.
TEST_F(MultiNodeTest, TheLatestCheckpointAndProofsCoverAnotherNodesAcknowledgedAppends) {
  ReopenADeaf();
  ASSERT_TRUE(a_ && b_);
  ASSERT_TRUE(b_->Append("s", ExpectedVersion::Any(), One("T", "{}")).ok());
  ASSERT_TRUE(b_->Checkpoint().ok());  // a stored checkpoint of size 1, ahead of a's view
  ASSERT_TRUE(b_->Append("s", ExpectedVersion::Any(), One("T", "{}")).ok());
  ASSERT_TRUE(b_->Append("s", ExpectedVersion::Any(), One("T", "{}")).ok());
  EXPECT_EQ(a_->tree_size(), 0u);
  auto checkpoint = a_->CheckpointOnRequest();
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status().ToString();
  EXPECT_EQ(checkpoint->size, 3u);
  ASSERT_TRUE(b_->Append("s", ExpectedVersion::Any(), One("T", "{}")).ok());
  auto consistency = a_->ProveConsistency(3, 0);
  ASSERT_TRUE(consistency.ok()) << consistency.status().ToString();
  EXPECT_EQ(consistency->size2, 4u);
  ASSERT_TRUE(b_->Append("s", ExpectedVersion::Any(), One("T", "{}")).ok());
  auto inclusion = a_->ProveInclusion(0, 0);
  ASSERT_TRUE(inclusion.ok()) << inclusion.status().ToString();
  EXPECT_EQ(inclusion->size, 5u);
}

// A read of $all through one node right after an append through the other node was acknowledged
// sees that append, and so do its checkpoint and proofs: no waiting for the commit notification.
TEST_F(MultiNodeTest, AReadAllThroughTheOtherNodeSeesEveryAcknowledgedAppend) {
  ASSERT_TRUE(a_ && b_);
  constexpr uint64_t kRounds = 40;
  for (uint64_t i = 0; i < kRounds; ++i) {
    ASSERT_TRUE(b_->Append("s", ExpectedVersion::Any(), One("T", "{}")).ok());
    auto all = a_->ReadAll(0, 1000);
    ASSERT_TRUE(all.ok()) << all.status().ToString();
    ASSERT_EQ(all->size(), i + 1) << "round " << i;
    auto tail = a_->ReadAll(i, 1);  // a page that starts at the newest event
    ASSERT_TRUE(tail.ok());
    ASSERT_EQ(tail->size(), 1u) << "round " << i;
  }
  ASSERT_TRUE(b_->Append("s", ExpectedVersion::Any(), One("T", "{}")).ok());
  auto checkpoint = a_->Checkpoint();  // signs the tree b has just extended
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status().ToString();
  EXPECT_EQ(checkpoint->size, kRounds + 1);
  ASSERT_TRUE(b_->Append("s", ExpectedVersion::Any(), One("T", "{}")).ok());
  auto proof = a_->ProveInclusion(kRounds + 1, 0);  // the newest event, against the newest tree
  ASSERT_TRUE(proof.ok()) << proof.status().ToString();
  EXPECT_EQ(proof->size, kRounds + 2);
}

// Another node's commits are decoded ahead, as their notification arrives, so that the rebase
// under the commit lock does not read them; what was learned that way still makes a re-send
// through this node idempotent. Every event another node wrote is learned exactly once, ahead or
// under the lock.
TEST_F(MultiNodeTest, ANodeLearnsTheOtherNodesEventsAheadOfTheCommitLock) {
  ASSERT_TRUE(a_ && b_);
  ASSERT_TRUE(a_->Append("warm", ExpectedVersion::Any(), One("T", "{}")).ok());
  ASSERT_TRUE(b_->Append("warm", ExpectedVersion::Any(), One("T", "{}")).ok());  // b rebases once
  ASSERT_TRUE(a_->Append("warm", ExpectedVersion::Any(), One("T", "{}")).ok());  // and a
  const EventStore::RemoteReads start = a_->remote_reads();
  uint64_t learned_by_a = 0;
  bool all_ahead = false;
  std::vector<ProposedEvent> batch;
  for (int round = 0; round < 5 && !all_ahead; ++round) {
    batch.clear();
    for (int i = 0; i < 50; ++i) batch.push_back(Ev("T", "{\"i\":" + std::to_string(i) + "}", NewUuidV4()));
    const EventStore::RemoteReads before = a_->remote_reads();
    ASSERT_TRUE(b_->Append("from-b", ExpectedVersion::Any(), batch).ok());
    const uint64_t size = b_->tree_size();
    ASSERT_TRUE(WaitFor([&] { return a_->tree_size() == size; }));  // a heard of it
    std::this_thread::sleep_for(std::chrono::milliseconds(200 * (round + 1)));
    ASSERT_TRUE(a_->Append("from-a", ExpectedVersion::Any(), One("T", "{}")).ok());  // rebases
    const EventStore::RemoteReads after = a_->remote_reads();
    EXPECT_EQ(after.prefetched - before.prefetched + after.summarized - before.summarized +
                  after.read_under_lock - before.read_under_lock, 50u);
    all_ahead = after.prefetched - before.prefetched == 50;
    learned_by_a += 50;
  }
  EXPECT_TRUE(all_ahead) << "no round found b's 50 events decoded ahead";
  const EventStore::RemoteReads end = a_->remote_reads();
  EXPECT_EQ(end.prefetched - start.prefetched + end.summarized - start.summarized + end.read_under_lock -
                start.read_under_lock,
            learned_by_a);
  auto again = a_->Append("from-b", ExpectedVersion::Any(), batch);  // b's last batch, re-sent via a
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_TRUE(again->idempotent_replay);
  EXPECT_TRUE(a_->Verify().ok);
}

// The node that takes the commit lock right after another node's commit learns that group from
// its sealed summary, which arrives with the locked row (the commit's notification has not been
// heard yet: here a hears none): a re-send of the group through this node is still idempotent,
// and this node's cached head of the stream the other node extended is dropped, so an exact
// expected version is checked against the stream as it is.
TEST_F(MultiNodeTest, ANodeLearnsTheGroupBeforeTheLockFromItsSummary) {
  ReopenADeaf();
  ASSERT_TRUE(a_ && b_);
  bool summarized = false;
  for (int round = 0; round < 20 && !summarized; ++round) {
    const std::string stream = "shared-" + std::to_string(round);
    ASSERT_TRUE(a_->Append(stream, ExpectedVersion::NoStream(), One("T", "{}")).ok());  // a caches the head
    std::vector<ProposedEvent> batch;
    for (int i = 0; i < 30; ++i) batch.push_back(Ev("T", "{\"i\":" + std::to_string(i) + "}", NewUuidV4()));
    ASSERT_TRUE(b_->Append(stream, ExpectedVersion::Exact(0), batch).ok());  // versions 1..30
    const EventStore::RemoteReads before = a_->remote_reads();
    auto again = a_->Append(stream, ExpectedVersion::Any(), batch);  // at once: the re-send, via a
    ASSERT_TRUE(again.ok()) << again.status().ToString();
    EXPECT_TRUE(again->idempotent_replay);
    EXPECT_EQ(again->first_version, 1u);
    auto next = a_->Append(stream, ExpectedVersion::Exact(30), One("T", "{}"));
    ASSERT_TRUE(next.ok()) << "round " << round << ": " << next.status().ToString();
    EXPECT_EQ(next->first_version, 31u);
    const EventStore::RemoteReads after = a_->remote_reads();
    const uint64_t learned = after.prefetched - before.prefetched + after.summarized - before.summarized +
                             after.read_under_lock - before.read_under_lock;
    EXPECT_LE(learned, 30u);  // 0 when a's first group lost an optimistic race and reloaded instead
    summarized = after.summarized - before.summarized == 30;
  }
  EXPECT_TRUE(summarized) << "no round learned b's group from its summary";
  EXPECT_TRUE(a_->Verify().ok);
  EXPECT_TRUE(b_->Verify().ok);
}

// b appends a group of 30 to a stream a has just created. Returns false when a did not learn the
// group ahead from b's summary within a second (b's commit may have been optimistic: no summary).
bool LearnedAheadFromSummary(EventStore* a, EventStore* b, const std::string& stream,
                             std::vector<ProposedEvent>* batch) {
  EXPECT_TRUE(a->Append(stream, ExpectedVersion::NoStream(), One("T", "{}")).ok());
  batch->clear();
  for (int i = 0; i < 30; ++i) batch->push_back(Ev("T", "{\"i\":" + std::to_string(i) + "}", NewUuidV4()));
  const uint64_t before = a->remote_reads().ahead_summarized;
  EXPECT_TRUE(b->Append(stream, ExpectedVersion::Exact(0), *batch).ok());  // versions 1..30
  for (int waited_ms = 0; waited_ms < 1000; waited_ms += 10) {
    if (a->remote_reads().ahead_summarized - before >= 30) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

// A node's read-ahead learns another node's group from the summary in the tree row (one sealed
// value) instead of reading and opening its records; the sequencer then has it all before the lock.
TEST_F(MultiNodeTest, TheReadAheadLearnsAnotherNodesGroupFromItsSummary) {
  ASSERT_TRUE(a_ && b_);
  bool ahead = false;
  std::vector<ProposedEvent> batch;
  for (int round = 0; round < 20 && !ahead; ++round) {
    const std::string stream = "ahead-" + std::to_string(round);
    ahead = LearnedAheadFromSummary(a_.get(), b_.get(), stream, &batch);
    if (!ahead) continue;
    const EventStore::RemoteReads before = a_->remote_reads();
    auto again = a_->Append(stream, ExpectedVersion::Any(), batch);  // the re-send, via a
    ASSERT_TRUE(again.ok()) << again.status().ToString();
    EXPECT_TRUE(again->idempotent_replay);
    EXPECT_EQ(again->first_version, 1u);
    auto next = a_->Append(stream, ExpectedVersion::Exact(30), One("T", "{}"));
    ASSERT_TRUE(next.ok()) << next.status().ToString();
    EXPECT_EQ(next->first_version, 31u);
    const EventStore::RemoteReads after = a_->remote_reads();
    EXPECT_EQ(after.read_under_lock, before.read_under_lock) << "records of b's group read under the lock";
  }
  EXPECT_TRUE(ahead) << "no round learned b's group ahead from its summary";
  // While a locks first (it saw b), it learns what was decoded ahead before waiting for the lock.
  EXPECT_GT(a_->remote_reads().learned_before_lock, 0u);
  EXPECT_TRUE(a_->Verify().ok);
}

// A summary that does not open is not trusted: the read-ahead reads the group's records instead,
// and the node still answers the re-send idempotently and knows the stream's version.
TEST_F(MultiNodeTest, TheReadAheadReadsTheRecordsWhenASummaryDoesNotOpen) {
  ASSERT_TRUE(a_ && b_);
  a_.reset();
  plan_.corrupt_summaries = true;
  a_ = OpenNode("a", &plan_);
  ASSERT_TRUE(a_);
  std::vector<ProposedEvent> batch;
  for (int round = 0; round < 3; ++round) {
    const std::string stream = "bad-summary-" + std::to_string(round);
    EXPECT_FALSE(LearnedAheadFromSummary(a_.get(), b_.get(), stream, &batch));
    auto again = a_->Append(stream, ExpectedVersion::Any(), batch);
    ASSERT_TRUE(again.ok()) << again.status().ToString();
    EXPECT_TRUE(again->idempotent_replay);
    auto next = a_->Append(stream, ExpectedVersion::Exact(30), One("T", "{}"));
    ASSERT_TRUE(next.ok()) << "round " << round << ": " << next.status().ToString();
  }
  EXPECT_GT(plan_.summaries_corrupted.load(), 0) << "b left no summary to corrupt";
  EXPECT_EQ(a_->remote_reads().ahead_summarized, 0u);
  EXPECT_GT(a_->remote_reads().prefetched, 0u) << "the read-ahead read no records either";
  EXPECT_TRUE(a_->Verify().ok);
}

// Automatic storage key rotation on two nodes taking turns: each full epoch is rotated once, not
// once per node (each node loads the other's new epoch when it opens a record sealed under it).
TEST_F(MultiNodeTest, AFullStorageEpochIsRotatedOnceAcrossNodes) {
  ReopenWithEncryptionsMax(4);
  ASSERT_TRUE(a_ && b_);
  for (int i = 0; i < 10; ++i) {  // 2 events each, alternating: rotations at 4, 8, 12 and 16
    EventStore* node = i % 2 == 0 ? a_.get() : b_.get();
    std::vector<ProposedEvent> two;
    two.push_back(Ev("T", "{}"));
    two.push_back(Ev("T", "{}"));
    auto r = node->Append("s", ExpectedVersion::Any(), std::move(two));
    ASSERT_TRUE(r.ok()) << i << ": " << r.status().ToString();
  }
  for (EventStore* node : {a_.get(), b_.get()}) {
    ASSERT_TRUE(node->Append("probe", ExpectedVersion::Any(), One("T", "{}")).ok());  // rotates at 20
    const size_t storage_epochs = StorageEpochs(node);
    EXPECT_LE(storage_epochs, 6u) << "an epoch was rotated twice";
    EXPECT_GE(storage_epochs, 5u);
  }
  auto all = a_->ReadAll(0, 100);
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  EXPECT_EQ(all->size(), 22u);
  EXPECT_TRUE(a_->Verify().ok);
  EXPECT_TRUE(b_->Verify().ok);
}

// A node that has not heard yet of an epoch another node made without a commit (its periodic
// reload is up to 1 s away) checks the store again before it would rotate a full epoch itself.
TEST_F(MultiNodeTest, ANodeLooksForAnotherNodesNewEpochBeforeRotating) {
  ReopenWithEncryptionsMax(4);
  ASSERT_TRUE(a_ && b_);
  ASSERT_TRUE(b_->Append("s", ExpectedVersion::Any(), One("T", "{}")).ok());  // b reloads its epochs
  ASSERT_TRUE(a_->RotateStorageKey().ok());  // epoch 1 from position 1, no commit
  std::vector<ProposedEvent> four;
  for (int i = 0; i < 4; ++i) four.push_back(Ev("T", "{}"));
  // b still believes in epoch 0 (1 used + 4 > 4): due, unless it finds epoch 1 (0 used + 4).
  ASSERT_TRUE(b_->Append("s", ExpectedVersion::Any(), std::move(four)).ok());
  EXPECT_EQ(StorageEpochs(b_.get()), 2u) << "b rotated an epoch a had just started";
  auto all = a_->ReadAll(0, 10);
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  EXPECT_EQ(all->size(), 5u);
  EXPECT_TRUE(a_->Verify().ok);
}

storage::PgCommitStats StatsOf(EventStore* node) {
  auto stats = storage::PgCommitStatsOf(node->log_store());
  EXPECT_TRUE(stats.has_value());
  return stats.value_or(storage::PgCommitStats{});
}

// While other nodes commit too, a node waits for the commit lock first and takes its group then:
// appends that arrive during the wait join the group instead of waiting for a second lock turn.
TEST_F(MultiNodeTest, AppendsQueuedDuringTheLockWaitJoinOneGroup) {
  ASSERT_TRUE(a_ && b_);
  ASSERT_TRUE(a_->Append("warm", ExpectedVersion::Any(), One("T", "{}")).ok());
  ASSERT_TRUE(b_->Append("warm", ExpectedVersion::Any(), One("T", "{}")).ok());
  ASSERT_TRUE(a_->Append("warm", ExpectedVersion::Any(), One("T", "{}")).ok());  // a rebased: contended
  auto held = b_->log_store()->BeginCommit(b_->tree_size());  // the lock, held by "another node"
  ASSERT_TRUE(held.ok()) << held.status().ToString();
  const storage::PgCommitStats before = StatsOf(a_.get());
  constexpr int kAppends = 6;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kAppends; ++i) {
    threads.emplace_back([&, i] {
      if (!a_->Append("q-" + std::to_string(i), ExpectedVersion::NoStream(), One("T", "{}")).ok()) ++failures;
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // the first waits for the lock
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  held->reset();  // rolls back: the lock passes to a
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  const storage::PgCommitStats after = StatsOf(a_.get());
  EXPECT_EQ(after.commits - before.commits, 1u) << "the appends queued during the wait took another turn";
  EXPECT_EQ(after.records - before.records, static_cast<uint64_t>(kAppends));
  EXPECT_TRUE(a_->Verify().ok);
}

// A node alone commits optimistically; when another node has extended the log meanwhile, its
// group loses the race, writes nothing and is sequenced again on the new log (its caller sees one
// answer: the expected version checked against the other node's event); then the node takes the
// lock first.
// Nodes lock first until they have been alone for 2 s (sequencer.cc, kContentionQuietMs).
constexpr int kAloneMs = 2100;

TEST_F(MultiNodeTest, ANodeThatLosesAnOptimisticRaceSequencesTheAppendAgainOnTheNewLog) {
  ASSERT_TRUE(a_ && b_);
  std::this_thread::sleep_for(std::chrono::milliseconds(kAloneMs));
  auto first = a_->Append("s", ExpectedVersion::NoStream(), One("T", "{\"by\":\"a\"}"));
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(StatsOf(a_.get()).optimistic, 1u);
  EXPECT_EQ(StatsOf(b_.get()).races_lost, 0u);
  // b has not heard of a's event when it sequences: its optimistic group is built on size 0.
  auto second = b_->Append("s", ExpectedVersion::Exact(0), One("T", "{\"by\":\"b\"}"));
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_EQ(second->first_position, 1u);
  EXPECT_EQ(second->first_version, 1u);
  EXPECT_EQ(StatsOf(b_.get()).races_lost, 1u);
  // A stale expectation is still refused exactly once, after the re-sequencing.
  auto stale = a_->Append("s", ExpectedVersion::Exact(0), One("T", "{}"));
  EXPECT_EQ(stale.status().code(), StatusCode::kWrongExpectedVersion) << stale.status().ToString();
  // b saw contention: it locks first now, and commits without a race.
  const storage::PgCommitStats before = StatsOf(b_.get());
  ASSERT_TRUE(b_->Append("s", ExpectedVersion::Exact(1), One("T", "{}")).ok());
  const storage::PgCommitStats after = StatsOf(b_.get());
  EXPECT_EQ(after.optimistic, before.optimistic);
  EXPECT_EQ(after.locks, before.locks + 1);
  EXPECT_EQ(after.races_lost, before.races_lost);
  auto all = a_->ReadAll(0, 10);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[1].data, "{\"by\":\"b\"}");
  EXPECT_TRUE(a_->Verify().ok) << a_->Verify().failure;
}

// A node writing alone (optimistic) keeps stream heads cached. Another node extends a stream;
// a client that read the new version appends through the first node expecting it: the first
// node's cached head says "wrong version", but that answer was made on a view the log has left,
// so the group is sequenced again under the lock — and the append succeeds.
TEST_F(MultiNodeTest, AQuietNodeDoesNotRefuseAnExpectationFromAnotherNodesNewerVersion) {
  ASSERT_TRUE(a_ && b_);
  std::this_thread::sleep_for(std::chrono::milliseconds(kAloneMs));
  ASSERT_TRUE(a_->Append("s", ExpectedVersion::NoStream(), One("T", "{\"v\":0}")).ok());
  EXPECT_EQ(StatsOf(a_.get()).optimistic, 1u);  // and s@0 is in a's head cache
  ASSERT_TRUE(b_->Append("s", ExpectedVersion::Exact(0), One("T", "{\"v\":1}")).ok());
  auto info = b_->GetStreamInfo("s");
  ASSERT_TRUE(info.ok());
  ASSERT_EQ(info->last_version, 1u);
  auto next = a_->Append("s", ExpectedVersion::Exact(1), One("T", "{\"v\":2}"));
  ASSERT_TRUE(next.ok()) << next.status().ToString();
  EXPECT_EQ(next->first_version, 2u);
  EXPECT_EQ(next->first_position, 2u);
  // A stale expectation is still refused, exactly once.
  auto stale = a_->Append("s", ExpectedVersion::Exact(1), One("T", "{}"));
  EXPECT_EQ(stale.status().code(), StatusCode::kWrongExpectedVersion) << stale.status().ToString();
  EXPECT_EQ(a_->tree_size(), 3u);
  EXPECT_TRUE(a_->Verify().ok) << a_->Verify().failure;
}

// A node opens while another keeps appending: the log it finds beyond the tree it read at start
// is the other node's commits, not a torn tail (a rolling restart under load must not fail).
TEST_F(MultiNodeTest, ANodeOpensWhileAnotherAppends) {
  ASSERT_TRUE(a_);
  b_.reset();
  std::atomic<bool> stop{false};
  std::atomic<int> appended{0};
  std::thread writer([&] {
    while (!stop.load() && appended.load() < 20000) {
      std::vector<ProposedEvent> batch;
      for (int i = 0; i < 20; ++i) batch.push_back(One("T", "{}")[0]);
      if (a_->Append("busy", ExpectedVersion::Any(), std::move(batch)).ok()) appended += 20;
    }
  });
  int opened = 0;
  for (int i = 0; i < 15; ++i) {
    auto c = OpenNode("c");
    if (c != nullptr) ++opened;
  }
  stop = true;
  writer.join();
  EXPECT_EQ(opened, 15);
  EXPECT_GT(appended.load(), 0);
}

// Many appends through one node: after the first 2 s every group is optimistic, none loses a race.
TEST_F(MultiNodeTest, ALoneNodeLocksFirstAtStartAndThenCommitsEveryGroupOptimistically) {
  ASSERT_TRUE(a_);
  ASSERT_TRUE(a_->Append("lone-0", ExpectedVersion::Any(), One("T", "{}")).ok());
  EXPECT_EQ(StatsOf(a_.get()).optimistic, 0u);  // just started: not known to be alone yet
  std::this_thread::sleep_for(std::chrono::milliseconds(kAloneMs));
  const storage::PgCommitStats before = StatsOf(a_.get());
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        if (!a_->Append("lone-" + std::to_string(t), ExpectedVersion::Any(), One("T", "{}")).ok()) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  const storage::PgCommitStats stats = StatsOf(a_.get());
  EXPECT_EQ(stats.races_lost, 0u);
  EXPECT_EQ(stats.rebased, 0u);
  EXPECT_EQ(stats.optimistic, stats.commits - before.commits);
  EXPECT_GE(stats.optimistic, 1u);
  EXPECT_EQ(a_->tree_size(), 201u);
  EXPECT_TRUE(a_->Verify().ok);
}

// storage.postgres_optimistic_commits = false: a group begins (taking the commit lock) only once
// the previous group's commit has finished, as under contention. A group begun earlier would
// hold the lock that the previous commit needs to resolve an uncertain outcome (a connection
// lost during COMMIT), and that resolution would wait for it until it gave up.
TEST_F(MultiNodeTest, WithoutOptimisticCommitsAGroupBeginsOnlyOnceThePreviousCommitFinished) {
  a_.reset();
  pg_.optimistic_commits = false;
  a_ = OpenNode("a", &plan_);
  ASSERT_TRUE(a_);
  ASSERT_TRUE(a_->Append("warm", ExpectedVersion::Any(), One("T", "{}")).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(kAloneMs));  // alone: no contention seen
  plan_.hold_commits = true;
  std::thread big([&] {
    std::vector<ProposedEvent> events;
    for (int i = 0; i < 64; ++i) events.push_back(Ev("T", "{}"));  // a group the committer takes
    EXPECT_TRUE(a_->Append("big", ExpectedVersion::Any(), std::move(events)).ok());
  });
  ASSERT_TRUE(WaitFor([&] { return plan_.commits_held.load() == 1; }));
  const int begins = plan_.begins.load();
  std::thread small([&] { EXPECT_TRUE(a_->Append("small", ExpectedVersion::Any(), One("T", "{}")).ok()); });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(plan_.begins.load(), begins) << "the next group began while the previous committed";
  plan_.hold_commits = false;
  big.join();
  small.join();
  EXPECT_GT(plan_.begins.load(), begins);
  EXPECT_EQ(a_->tree_size(), 66u);
}

// A storage key rotation on a node that commits optimistically waits for the node's group in
// flight: locking at the size that group is about to extend failed the rotation ("an earlier
// group commit failed") and could fail that group's appends too.
TEST_F(MultiNodeTest, AStorageKeyRotationWaitsForTheGroupThatIsCommitting) {
  a_.reset();
  a_ = OpenNode("a", &plan_);
  ASSERT_TRUE(a_);
  ASSERT_TRUE(a_->Append("warm", ExpectedVersion::Any(), One("T", "{}")).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(kAloneMs));  // alone: optimistic
  plan_.hold_commits = true;
  std::thread big([&] {
    std::vector<ProposedEvent> events;
    for (int i = 0; i < 64; ++i) events.push_back(Ev("T", "{}"));
    EXPECT_TRUE(a_->Append("big", ExpectedVersion::Any(), std::move(events)).ok());
  });
  ASSERT_TRUE(WaitFor([&] { return plan_.commits_held.load() == 1; }));
  const int begins = plan_.begins.load();
  Result<uint32_t> epoch = Status::Unavailable("not run");
  std::thread rotate([&] { epoch = a_->RotateStorageKey(); });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(plan_.begins.load(), begins) << "the rotation locked while a group committed";
  plan_.hold_commits = false;
  big.join();
  rotate.join();
  ASSERT_TRUE(epoch.ok()) << epoch.status().ToString();
  ASSERT_TRUE(a_->Append("after", ExpectedVersion::Any(), One("T", "{}")).ok());
  EXPECT_EQ(a_->tree_size(), 66u);
  EXPECT_TRUE(a_->Verify().ok);
}

TEST_F(MultiNodeTest, TheOtherNodeSeesCommitsAndLearnsNewStorageEpochs) {
  ASSERT_TRUE(a_ && b_);
  std::atomic<uint64_t> seen{0};
  const uint64_t handle = b_->AddCommitObserver([&](uint64_t size) { seen = size; });
  ASSERT_TRUE(a_->Append("s", ExpectedVersion::Any(), One("T", "{}")).ok());
  EXPECT_TRUE(WaitFor([&] { return seen.load() == 1; })) << "b heard of a's commit: " << seen.load();
  auto epoch = a_->RotateStorageKey();
  ASSERT_TRUE(epoch.ok()) << epoch.status().ToString();
  ASSERT_TRUE(a_->Append("s", ExpectedVersion::Any(), One("T", "{\"after\":1}")).ok());
  ASSERT_TRUE(b_->Append("s", ExpectedVersion::Exact(1), One("T", "{\"b\":1}")).ok());
  b_->RemoveCommitObserver(handle);
  EXPECT_EQ(StorageEpochs(b_.get()), 2u);  // b loaded the epoch a created
  auto all = b_->ReadAll(0, 10);
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[1].data, "{\"after\":1}");
  EXPECT_TRUE(a_->Verify().ok);
}

TEST_F(MultiNodeTest, ForgetOnOneNodeErasesOnTheOtherAndRacingKeyCreationsLeaveNoKeyBehind) {
  ASSERT_TRUE(a_ && b_);
  // Both nodes create the first key of "carol" at once: one index wins, the loser's key is
  // destroyed, so a forget finds every key that encrypted her data.
  std::thread ta([&] { ASSERT_TRUE(a_->Append("c", ExpectedVersion::Any(), One("CustomerRegistered", Customer("carol"))).ok()); });
  std::thread tb([&] { ASSERT_TRUE(b_->Append("c", ExpectedVersion::Any(), One("CustomerRegistered", Customer("carol"))).ok()); });
  ta.join();
  tb.join();
  auto before = b_->ReadStream("c", 0, Direction::kForwards, 10);
  ASSERT_TRUE(before.ok());
  ASSERT_EQ(before->events.size(), 2u);
  for (const RecordedEvent& e : before->events) {
    auto shown = b_->Reveal(e, /*may_read_pii=*/true);
    ASSERT_TRUE(shown.ok()) << shown.status().ToString();
    EXPECT_NE(shown->data.find("carol@example.com"), std::string::npos);  // b caches the key now
  }
  ASSERT_TRUE(a_->Forget("carol").ok());
  auto erased_everywhere = [&](EventStore* node) {
    auto events = node->ReadStream("c", 0, Direction::kForwards, 10);
    if (!events.ok()) return false;
    for (const RecordedEvent& e : events->events) {
      auto shown = node->Reveal(e, /*may_read_pii=*/true);
      if (!shown.ok() || shown->erased.empty() || shown->data.find("carol@") != std::string::npos) return false;
    }
    return true;
  };
  EXPECT_TRUE(erased_everywhere(a_.get()));
  // b learns of the destruction by NOTIFY (milliseconds): bounded wait.
  EXPECT_TRUE(WaitFor([&] { return erased_everywhere(b_.get()); }, 1000));
  EXPECT_TRUE(b_->Verify().ok);
}

// A transaction older than the forget outlasts its wait for old snapshots: the keys are gone
// (reads show the erased value) but the answer says that their bytes may still be in the key
// table's files, instead of claiming they are purged.
TEST_F(MultiNodeTest, AForgetThatAnOldTransactionOutlastsSaysThePurgeIsPending) {
  a_.reset();
  key_purge_wait_ms_max_ = 300;
  a_ = OpenNode("a");
  ASSERT_TRUE(a_ && b_);
  ASSERT_TRUE(a_->Append("c-1", ExpectedVersion::Any(), One("CustomerRegistered", Customer("carol"))).ok());
  ASSERT_TRUE(a_->Append("c-2", ExpectedVersion::Any(), One("CustomerRegistered", Customer("dave"))).ok());
  testing::OldSnapshot old_snapshot(pg_.conninfo);

  auto held = a_->Forget("carol");
  ASSERT_TRUE(held.ok()) << held.status().ToString();
  EXPECT_EQ(held->versions_destroyed, 1u);
  EXPECT_TRUE(held->purge_pending);
  auto events = a_->ReadStream("c-1", 0, Direction::kForwards, 10);
  ASSERT_TRUE(events.ok());
  auto shown = a_->Reveal(events->events.at(0), /*may_read_pii=*/true);
  ASSERT_TRUE(shown.ok()) << shown.status().ToString();
  EXPECT_FALSE(shown->erased.empty());

  old_snapshot.End();
  auto free = a_->Forget("dave");
  ASSERT_TRUE(free.ok()) << free.status().ToString();
  EXPECT_EQ(free->versions_destroyed, 1u);
  EXPECT_FALSE(free->purge_pending);
}

}  // namespace
}  // namespace cairn::engine
