// PgCommitStatsOf (storage/postgres/pg_stats.h): the commit-lock counters of a PostgreSQL store,
// against a real server (tests/pg/pg_test_server.h).
#include <gtest/gtest.h>

#include <chrono>
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
using testing::PgServer;
using testing::ReadyWithin;
using testing::Sql;
using testing::TestHash;
using testing::WaitFor;

std::unique_ptr<CommitWriter> MustBegin(LogStore* store, uint64_t base_tree_size) {
  Result<std::unique_ptr<CommitWriter>> writer = store->BeginCommit(base_tree_size);
  EXPECT_TRUE(writer.ok()) << writer.status().ToString();
  return writer.ok() ? std::move(writer).value() : nullptr;
}

// Puts `count` records from position `from` and the tree state after them.
void PutRecords(CommitWriter* w, uint64_t from, uint64_t count) {
  for (uint64_t p = from; p < from + count; ++p) {
    w->PutRecord(p, "record-" + std::to_string(p));
    w->PutNode(NodeKey{0, p}, TestHash(p));
  }
  w->PutTreeState(TreeState{from + count, "range-" + std::to_string(from + count)});
}

PgCommitStats StatsOf(LogStore* store) {
  std::optional<PgCommitStats> stats = PgCommitStatsOf(store);
  EXPECT_TRUE(stats.has_value());
  return stats.value_or(PgCommitStats{});
}

TEST(PgStatsTest, OnlyPostgresStoresHaveStats) {
  EXPECT_FALSE(PgCommitStatsOf(nullptr).has_value());
  cairn::testing::TempDir dir;
  std::unique_ptr<LogStore> rocks = testing::OpenStore(dir.path() + "/db");
  ASSERT_NE(rocks, nullptr);
  EXPECT_FALSE(PgCommitStatsOf(rocks.get()).has_value());
}

TEST(PgStatsTest, CommitsAndRollbacksAreCounted) {
  std::unique_ptr<LogStore> store = OpenPg(PgOpts(PgServer().CreateDatabase()));
  ASSERT_NE(store, nullptr);
  const PgCommitStats fresh = StatsOf(store.get());
  EXPECT_EQ(fresh.locks, 0u);
  EXPECT_EQ(fresh.commits, 0u);
  EXPECT_EQ(fresh.hold_ns, 0u);

  auto w = MustBegin(store.get(), 0);
  ASSERT_NE(w, nullptr);
  PutRecords(w.get(), 0, 3);
  ASSERT_TRUE(w->Commit().ok());
  const PgCommitStats one = StatsOf(store.get());
  EXPECT_EQ(one.locks, 1u);
  EXPECT_EQ(one.commits, 1u);
  EXPECT_EQ(one.records, 3u);
  EXPECT_EQ(one.rebased, 0u);
  EXPECT_GT(one.lock_wait_ns, 0u);  // at least one round trip
  EXPECT_GT(one.commit_ns, 0u);
  // Commit() runs while the lock is held up to its COMMIT, then waits for durability (a barrier):
  // the durability wait lies inside Commit()'s time. (Commit() also notes the new durable size
  // after that wait, so hold + wait need not cover all of it: under ASan that took 0.5 ms.)
  EXPECT_EQ(one.durable_waits, 1u);
  EXPECT_GT(one.durable_wait_ns, 0u);
  EXPECT_GE(one.barriers, 1u);
  EXPECT_GT(one.hold_ns, 0u);
  EXPECT_GE(one.commit_ns, one.durable_wait_ns);

  // A writer dropped without Commit() took and held the lock but committed nothing.
  auto dropped = MustBegin(store.get(), 3);
  ASSERT_NE(dropped, nullptr);
  PutRecords(dropped.get(), 3, 2);
  dropped.reset();
  const PgCommitStats two = StatsOf(store.get());
  EXPECT_EQ(two.locks, 2u);
  EXPECT_EQ(two.commits, 1u);
  EXPECT_EQ(two.records, 3u);
  EXPECT_GT(two.hold_ns, one.hold_ns);
  EXPECT_EQ(two.commit_ns, one.commit_ns);
}

// Node B waits for node A's lock: B's wait covers the time A held the lock after B queued, and
// B's lock is counted as rebased (A extended the log).
TEST(PgStatsTest, WaitBehindAnotherNodeIsCountedAsWaitAndRebase) {
  const std::string db = PgServer().CreateDatabase();
  std::unique_ptr<LogStore> a = OpenPg(PgOpts(db));
  std::unique_ptr<LogStore> b = OpenPg(PgOpts(db));
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  auto wa = MustBegin(a.get(), 0);
  ASSERT_NE(wa, nullptr);
  auto fb = std::async(std::launch::async, [&] { return b->BeginCommit(0); });
  // B is queued on the row lock once PostgreSQL shows a lock request not granted.
  ASSERT_TRUE(WaitFor([&] { return Sql(db, "SELECT count(*) FROM pg_locks WHERE NOT granted") != "0"; },
                      10000));
  constexpr int64_t kHeldAfterQueuedMs = 150;
  std::this_thread::sleep_for(std::chrono::milliseconds(kHeldAfterQueuedMs));
  PutRecords(wa.get(), 0, 2);
  ASSERT_TRUE(wa->Commit().ok());
  ASSERT_TRUE(ReadyWithin(fb, 10000));
  Result<std::unique_ptr<CommitWriter>> wb = fb.get();
  ASSERT_TRUE(wb.ok()) << wb.status().ToString();
  ASSERT_TRUE((*wb)->rebased().has_value());
  PutRecords(wb->get(), 2, 1);
  ASSERT_TRUE((*wb)->Commit().ok());

  const PgCommitStats sa = StatsOf(a.get());
  const PgCommitStats sb = StatsOf(b.get());
  EXPECT_EQ(sa.rebased, 0u);
  EXPECT_EQ(sb.rebased, 1u);
  EXPECT_EQ(sb.locks, 1u);
  EXPECT_EQ(sb.commits, 1u);
  EXPECT_EQ(sb.records, 1u);
  // A lower bound, not a performance figure: B was queued before A's deliberate pause began.
  EXPECT_GE(sb.lock_wait_ns, static_cast<uint64_t>(kHeldAfterQueuedMs) * 1000000u);
  EXPECT_GE(sa.hold_ns, static_cast<uint64_t>(kHeldAfterQueuedMs) * 1000000u);
}

}  // namespace
}  // namespace cairn::storage
