// Optimistic commits on PostgreSQL (LogStore::BeginOptimisticCommit, CommitWriter::Stage), against
// a real server (tests/pg/pg_test_server.h): staged rows stay invisible and let the next group's
// rows travel while the previous group commits; a writer that another node pre-empted — by
// writing the same positions, or by extending the log elsewhere — fails with kAborted and writes
// nothing; in a deadlock with a locked writer of another node the optimistic writer gives way
// quickly;
// the wait for the lock is not cut by the statement timeout; the counters tell races.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <future>
#include <memory>
#include <string>
#include <thread>

#include "pg_test_support.h"
#include "rocks_test_support.h"
#include "storage/postgres/pg_stats.h"
#include "test_util.h"

namespace cairn::storage {
namespace CAIRN_UNITY_ID {

using testing::OpenPg;
using testing::PgOpts;
using testing::ReadyWithin;
using testing::Sql;
using testing::TestHash;
using testing::WaitFor;

std::unique_ptr<CommitWriter> Begin(LogStore* store, uint64_t base, bool optimistic) {
  auto writer = optimistic ? store->BeginOptimisticCommit(base) : store->BeginCommit(base);
  EXPECT_TRUE(writer.ok()) << writer.status().ToString();
  return writer.ok() ? std::move(writer).value() : nullptr;
}

// Puts `count` records of `tag` from position `from`, their index entries and leaf nodes, the
// head of stream `tag` and the tree state after them.
void PutGroup(CommitWriter* w, const std::string& tag, uint64_t from, uint64_t count) {
  for (uint64_t p = from; p < from + count; ++p) {
    w->PutRecord(p, tag + std::to_string(p));
    w->PutStreamIndex(tag, p - from, p);
    w->PutNode(NodeKey{0, p}, TestHash(p));
  }
  w->PutStreamHead(tag, StreamHead{count, from + count - 1, TestHash(from + count - 1), false});
  w->PutTreeState(TreeState{from + count, "range-" + std::to_string(from + count)});
}

PgCommitStats StatsOf(LogStore* store) {
  std::optional<PgCommitStats> stats = PgCommitStatsOf(store);
  EXPECT_TRUE(stats.has_value());
  return stats.value_or(PgCommitStats{});
}

class PgOptimisticTest : public testing::TwoPgStoresTest {
 protected:
  // Nothing of a writer that lost: no record at `position`, no index entry or head of `stream`.
  void ExpectAbsent(uint64_t position, const std::string& stream) {
    EXPECT_EQ(a_->ReadRecord(position).status().code(), StatusCode::kNotFound);
    EXPECT_TRUE(a_->ReadStreamIndex(stream, 0, false, 10)->empty());
    EXPECT_FALSE(a_->ReadStreamHead(stream)->has_value());
  }
};

TEST_F(PgOptimisticTest, StagedRowsAreInvisibleAndTheNextGroupStagesWhileThePreviousCommits) {
  auto first = Begin(a_.get(), 0, true);
  auto second = Begin(a_.get(), 3, true);
  ASSERT_TRUE(first && second);
  PutGroup(first.get(), "one", 0, 3);
  ASSERT_TRUE(first->Stage().ok());
  PutGroup(second.get(), "two", 3, 2);
  ASSERT_TRUE(second->Stage().ok());  // before the first group commits
  EXPECT_EQ(b_->ReadTreeState()->size, 0u);
  EXPECT_EQ(b_->ReadRecord(0).status().code(), StatusCode::kNotFound);  // staged, not committed
  EXPECT_EQ(b_->ReadRecord(3).status().code(), StatusCode::kNotFound);

  ASSERT_TRUE(first->Commit().ok());
  const Status s = second->Commit();
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(b_->ReadTreeState()->size, 5u);
  EXPECT_EQ(b_->ReadTreeState()->compact_range, "range-5");
  EXPECT_EQ(*b_->ReadRecord(2), "one2");
  EXPECT_EQ(*b_->ReadRecord(4), "two4");
  EXPECT_EQ((*b_->ReadStreamHead("two"))->next_version, 2u);
  const PgCommitStats stats = StatsOf(a_.get());
  EXPECT_EQ(stats.optimistic, 2u);
  EXPECT_EQ(stats.locks, 2u);
  EXPECT_EQ(stats.commits, 2u);
  EXPECT_EQ(stats.races_lost, 0u);
}

TEST_F(PgOptimisticTest, RowsOnPositionsAnotherNodeWroteFirstAbortAndWriteNothing) {
  auto mine = Begin(a_.get(), 0, true);
  ASSERT_NE(mine, nullptr);
  PutGroup(mine.get(), "mine", 0, 2);
  auto theirs = Begin(b_.get(), 0, false);  // the other node, under the lock
  ASSERT_NE(theirs, nullptr);
  PutGroup(theirs.get(), "theirs", 0, 1);
  ASSERT_TRUE(theirs->Commit().ok());

  const Status staged = mine->Stage();
  EXPECT_EQ(staged.code(), StatusCode::kAborted) << staged.ToString();
  const Status committed = mine->Commit();  // the failure sticks
  EXPECT_EQ(committed.code(), StatusCode::kAborted) << committed.ToString();
  EXPECT_EQ(a_->ReadTreeState()->size, 1u);
  EXPECT_EQ(*a_->ReadRecord(0), "theirs0");
  ExpectAbsent(1, "mine");
  EXPECT_EQ(StatsOf(a_.get()).races_lost, 1u);
  EXPECT_EQ(StatsOf(a_.get()).commits, 0u);
}

// The connection lost while the rows travel: Commit() answers that failure (UNAVAILABLE, which
// clients retry), not "commit writer already used", and nothing is written.
TEST_F(PgOptimisticTest, AConnectionLostWhileStagingIsAnsweredAsUnavailable) {
  auto mine = Begin(a_.get(), 0, true);
  ASSERT_NE(mine, nullptr);
  PutGroup(mine.get(), "mine", 0, 2);
  ASSERT_EQ(testing::Sql(db_, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                              "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                              "AND state LIKE 'idle in transaction%'"),
            "1");
  const Status staged = mine->Stage();
  EXPECT_EQ(staged.code(), StatusCode::kUnavailable) << staged.ToString();
  const Status committed = mine->Commit();
  EXPECT_EQ(committed.code(), StatusCode::kUnavailable) << committed.ToString();
  EXPECT_EQ(a_->ReadTreeState()->size, 0u);
  ExpectAbsent(0, "mine");
}

TEST_F(PgOptimisticTest, ALogExtendedElsewhereFailsTheConditionalTreeUpdateAndWritesNothing) {
  auto mine = Begin(a_.get(), 0, true);
  ASSERT_NE(mine, nullptr);
  PutGroup(mine.get(), "mine", 0, 2);
  ASSERT_TRUE(mine->Stage().ok());
  auto theirs = Begin(b_.get(), 0, false);
  ASSERT_NE(theirs, nullptr);
  // The other node moves the tree without a record (no row of its collides with mine): only the
  // conditional tree update can refuse mine.
  theirs->PutTreeState(TreeState{1, "range-1"});
  ASSERT_TRUE(theirs->Commit().ok());

  const Status s = mine->Commit();  // its base, 0, is no longer the tree size
  EXPECT_EQ(s.code(), StatusCode::kAborted) << s.ToString();
  EXPECT_EQ(a_->ReadTreeState()->size, 1u);
  EXPECT_EQ(a_->ReadTreeState()->compact_range, "range-1");
  ExpectAbsent(0, "mine");
  EXPECT_EQ(StatsOf(a_.get()).races_lost, 1u);
}

// The conditional tree update waits only while another transaction holds the row it matched:
// here a locked writer of another node that ends without writing (as a key rotation does). That
// wait is not cut by the statement timeout; it is cut after 200 ms (the writer gives way,
// kAborted, nothing written).
TEST_F(PgOptimisticTest, TheLockWaitInCommitIsNotCutByTheStatementTimeout) {
  PgOptions quick = PgOpts(db_);
  quick.statement_timeout_ms = 20;
  auto b = OpenPg(quick);
  ASSERT_NE(b, nullptr);
  auto holder = Begin(a_.get(), 0, false);
  ASSERT_NE(holder, nullptr);
  auto mine = Begin(b.get(), 0, true);
  ASSERT_NE(mine, nullptr);
  PutGroup(mine.get(), "mine", 0, 1);
  ASSERT_TRUE(mine->Stage().ok());
  auto commit = std::async(std::launch::async, [&] { return mine->Commit(); });
  // Queued on the lock once PostgreSQL shows a request not granted; then held longer than the
  // statement timeout (and well short of the 200 ms after which the writer gives way).
  ASSERT_TRUE(WaitFor([&] { return Sql(db_, "SELECT count(*) FROM pg_locks WHERE NOT granted") != "0"; },
                      10000));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(ReadyWithin(commit, 0));
  holder.reset();
  ASSERT_TRUE(ReadyWithin(commit, 10000));
  const Status s = commit.get();
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(a_->ReadTreeState()->size, 1u);
  EXPECT_EQ(*a_->ReadRecord(0), "mine0");
  const PgCommitStats stats = StatsOf(b.get());
  EXPECT_GE(stats.lock_wait_ns, 40'000'000u);  // counted as the optimistic writer's lock wait
  EXPECT_EQ(stats.races_lost, 0u);
  EXPECT_EQ(stats.row_waits_cut, 0u);
}

TEST_F(PgOptimisticTest, AWaitForTheLockLongerThan200MsIsCutAndTheWriterGivesWay) {
  auto holder = Begin(a_.get(), 0, false);
  ASSERT_NE(holder, nullptr);
  auto mine = Begin(b_.get(), 0, true);
  ASSERT_NE(mine, nullptr);
  PutGroup(mine.get(), "mine", 0, 1);
  ASSERT_TRUE(mine->Stage().ok());
  const auto start = std::chrono::steady_clock::now();
  auto commit = std::async(std::launch::async, [&] { return mine->Commit(); });
  if (!ReadyWithin(commit, 5000)) {  // the holder does not let go by itself
    holder.reset();  // lets the uncut wait end before the test does
    FAIL() << "the lock wait was not cut";
  }
  const auto elapsed_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::steady_clock::now() - start).count();
  const Status s = commit.get();
  EXPECT_EQ(s.code(), StatusCode::kAborted) << s.ToString();
  EXPECT_GE(elapsed_ms, 150);
  EXPECT_LT(elapsed_ms, 5000);
  EXPECT_EQ(StatsOf(b_.get()).row_waits_cut, 1u);
  holder.reset();
  EXPECT_EQ(a_->ReadTreeState()->size, 0u);
  ExpectAbsent(0, "mine");
}

TEST_F(PgOptimisticTest, ACommitWaitingForTheLockLosesWhenTheHolderExtendsTheLog) {
  auto holder = Begin(a_.get(), 0, false);
  ASSERT_NE(holder, nullptr);
  auto mine = Begin(b_.get(), 0, true);
  ASSERT_NE(mine, nullptr);
  PutGroup(mine.get(), "mine", 0, 1);
  ASSERT_TRUE(mine->Stage().ok());
  auto commit = std::async(std::launch::async, [&] { return mine->Commit(); });
  EXPECT_FALSE(ReadyWithin(commit, 50));  // waits for the lock (and gives way after 200 ms)
  holder->PutTreeState(TreeState{1, "range-1"});  // no record: no row in common with mine
  ASSERT_TRUE(holder->Commit().ok());
  ASSERT_TRUE(ReadyWithin(commit, 10000));
  EXPECT_EQ(commit.get().code(), StatusCode::kAborted);
  EXPECT_EQ(a_->ReadTreeState()->size, 1u);
  ExpectAbsent(0, "mine");
}

// An optimistic writer's staged row blocks a locked writer of another node on the same position,
// while the optimistic writer waits for that node's lock: a deadlock, which PostgreSQL would break
// only after its deadlock_timeout (1 s), and perhaps by failing the locked writer. The optimistic
// writer gives way after its lock wait (200 ms): it fails with kAborted having written nothing,
// and the locked writer commits — well inside the deadlock_timeout.
TEST_F(PgOptimisticTest, AnOptimisticWriterInADeadlockGivesWayLongBeforeTheDeadlockTimeout) {
  auto mine = Begin(b_.get(), 0, true);
  ASSERT_NE(mine, nullptr);
  PutGroup(mine.get(), "mine", 0, 2);
  ASSERT_TRUE(mine->Stage().ok());
  auto holder = Begin(a_.get(), 0, false);
  ASSERT_NE(holder, nullptr);
  PutGroup(holder.get(), "holder", 0, 1);
  const auto start = std::chrono::steady_clock::now();
  auto theirs = std::async(std::launch::async, [&] { return holder->Commit(); });  // waits on row 0
  auto ours = std::async(std::launch::async, [&] { return mine->Commit(); });      // waits on the lock
  ASSERT_TRUE(ReadyWithin(theirs, 15000));
  ASSERT_TRUE(ReadyWithin(ours, 15000));
  const auto elapsed_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::steady_clock::now() - start).count();
  const Status t = theirs.get(), o = ours.get();
  EXPECT_TRUE(t.ok()) << t.ToString();
  EXPECT_EQ(o.code(), StatusCode::kAborted) << o.ToString();
  // Resolved by the optimistic writer's lock wait, not by PostgreSQL's deadlock detector (which
  // would have failed one of them, and no wait would have been cut). No bound on elapsed_ms: a
  // loaded machine under ASan may take long for reasons of its own.
  EXPECT_EQ(StatsOf(b_.get()).row_waits_cut, 1u);
  EXPECT_EQ(StatsOf(a_.get()).lock_victims, 0u);
  std::printf("deadlock resolved in %lld ms\n", static_cast<long long>(elapsed_ms));
  EXPECT_EQ(a_->ReadTreeState()->size, 1u);
  EXPECT_EQ(*a_->ReadRecord(0), "holder0");
  EXPECT_EQ(a_->ReadRecord(1).status().code(), StatusCode::kNotFound);
  EXPECT_FALSE(a_->ReadStreamHead("mine")->has_value());
}

// Two nodes stage groups at the same positions: the second one's rows wait for the first one's
// uncommitted rows for 50 ms at most, then it gives way (kAborted, nothing written); the first
// one commits.
TEST_F(PgOptimisticTest, StagingOverAnotherNodesStagedRowsGivesWayAfterTheRowWait) {
  auto first = Begin(a_.get(), 0, true);
  ASSERT_NE(first, nullptr);
  PutGroup(first.get(), "first", 0, 2);
  ASSERT_TRUE(first->Stage().ok());
  auto second = Begin(b_.get(), 0, true);
  ASSERT_NE(second, nullptr);
  PutGroup(second.get(), "second", 0, 2);
  const auto start = std::chrono::steady_clock::now();
  auto staged = std::async(std::launch::async, [&] { return second->Stage(); });
  if (!ReadyWithin(staged, 5000)) {
    first.reset();  // rolls back: lets the stuck insert finish before the test ends
    FAIL() << "the row wait was not cut";
  }
  const auto elapsed_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::steady_clock::now() - start).count();
  const Status s = staged.get();
  EXPECT_EQ(s.code(), StatusCode::kAborted) << s.ToString();
  EXPECT_GE(elapsed_ms, 40);
  EXPECT_EQ(second->Commit().code(), StatusCode::kAborted);
  EXPECT_EQ(StatsOf(b_.get()).row_waits_cut, 1u);
  const Status c = first->Commit();
  ASSERT_TRUE(c.ok()) << c.ToString();
  EXPECT_EQ(*a_->ReadRecord(1), "first1");
  EXPECT_FALSE(a_->ReadStreamHead("second")->has_value());
}

TEST_F(PgOptimisticTest, ADroppedOptimisticWriterLeavesNoRowsAndNoLock) {
  {
    auto dropped = Begin(a_.get(), 0, true);
    ASSERT_NE(dropped, nullptr);
    PutGroup(dropped.get(), "dropped", 0, 2);
    ASSERT_TRUE(dropped->Stage().ok());
  }
  auto next = Begin(b_.get(), 0, false);  // the lock is free at once
  ASSERT_NE(next, nullptr);
  EXPECT_FALSE(next->rebased().has_value());
  PutGroup(next.get(), "next", 0, 2);  // the same positions: the staged rows are gone
  const Status s = next->Commit();
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(*a_->ReadRecord(1), "next1");
  EXPECT_FALSE(a_->ReadStreamHead("dropped")->has_value());
}

// A three-way wait: node B's next group queues for the lock that B's committing group holds;
// that group needs a row that node A's optimistic writer staged; A's commit queues for the lock
// behind B's next group. A gives way after its lock wait (kAborted, nothing written); B's group
// commits; B's next group gets the lock, sees that commit, writes nothing and lets go. Nothing is
// lost or forked, and no lock wait becomes a deadlock victim.
TEST_F(PgOptimisticTest, AThreeWayWaitThroughTheLockQueueEndsWithoutLossOrFork) {
  auto staged = Begin(a_.get(), 0, true);
  ASSERT_NE(staged, nullptr);
  PutGroup(staged.get(), "staged", 0, 2);
  ASSERT_TRUE(staged->Stage().ok());
  auto holder = Begin(b_.get(), 0, false);
  ASSERT_NE(holder, nullptr);
  PutGroup(holder.get(), "holder", 0, 1);
  auto next = std::async(std::launch::async, [&] { return b_->BeginCommit(0); });
  EXPECT_FALSE(ReadyWithin(next, 200));  // queued for the lock, first in line
  auto holder_commit = std::async(std::launch::async, [&] { return holder->Commit(); });
  EXPECT_FALSE(ReadyWithin(holder_commit, 100));  // waits for the staged row 0
  auto staged_commit = std::async(std::launch::async, [&] { return staged->Commit(); });
  ASSERT_TRUE(ReadyWithin(staged_commit, 20000));
  const Status a = staged_commit.get();
  EXPECT_EQ(a.code(), StatusCode::kAborted) << a.ToString();
  ASSERT_TRUE(ReadyWithin(holder_commit, 20000));
  const Status b = holder_commit.get();
  EXPECT_TRUE(b.ok()) << b.ToString();
  ASSERT_TRUE(ReadyWithin(next, 20000));
  Result<std::unique_ptr<CommitWriter>> next_writer = next.get();
  ASSERT_TRUE(next_writer.ok()) << next_writer.status().ToString();
  ASSERT_TRUE((*next_writer)->rebased().has_value());
  EXPECT_EQ((*next_writer)->rebased()->size, 1u);  // B's own commit, nothing else
  next_writer->reset();
  EXPECT_EQ(a_->ReadTreeState()->size, 1u);
  EXPECT_EQ(*a_->ReadRecord(0), "holder0");
  EXPECT_EQ(a_->ReadRecord(1).status().code(), StatusCode::kNotFound);
  EXPECT_FALSE(a_->ReadStreamHead("staged")->has_value());
  EXPECT_EQ(StatsOf(a_.get()).row_waits_cut, 1u);
  EXPECT_EQ(StatsOf(b_.get()).lock_victims, 0u);
}

// storage.postgres_optimistic_commits = false: an optimistic begin locks first, as BeginCommit.
TEST_F(PgOptimisticTest, WithOptimisticCommitsOffTheWriterLocksFirst) {
  PgOptions lock_first = PgOpts(db_);
  lock_first.optimistic_commits = false;
  auto b = OpenPg(lock_first);
  ASSERT_NE(b, nullptr);
  auto mine = Begin(b.get(), 0, true);
  ASSERT_NE(mine, nullptr);
  auto other = std::async(std::launch::async, [&] { return a_->BeginCommit(0); });
  EXPECT_FALSE(ReadyWithin(other, 300));  // mine holds the lock already
  mine.reset();
  ASSERT_TRUE(ReadyWithin(other, 10000));
  EXPECT_TRUE(other.get().ok());
  EXPECT_EQ(StatsOf(b.get()).optimistic, 0u);
  EXPECT_EQ(StatsOf(b.get()).locks, 1u);
}

}  // namespace
}  // namespace cairn::storage
