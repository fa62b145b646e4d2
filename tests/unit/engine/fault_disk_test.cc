// Disk faults below cairn: a real EventStore over the real RocksDB backend running on FaultFs
// (unit/storage/fault_fs.h), which fails WAL appends, SST appends and fsyncs on demand.
//  - a failed WAL write (an I/O error: kIOError; a full disk: kResourceExhausted) fails the
//    append and nothing of the batch is visible anywhere; RocksDB cannot resume from it in place,
//    so later writes fail with kUnavailable ("restart the server") while reads go on, and after
//    a reopen everything works and verifies;
//  - a full disk met by a flush (SST files) stops writes until there is space again, then the
//    store writes again without a restart (the backend resumes RocksDB) and verifies;
//  - a failed fsync is never acknowledged, writes stop likewise, and the store reopens cleanly
//    with the batch either entirely present or entirely absent.
#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "engine_test_util.h"
#include "storage/rocksdb/rocks_test_hooks.h"
#include "unit/storage/fault_fs.h"

namespace cairn::engine {
namespace CAIRN_UNITY_ID {

using storage::testing::FaultKind;
using storage::testing::FsFaults;

std::vector<ProposedEvent> Batch(size_t n, const std::string& tag) {
  std::vector<ProposedEvent> events;
  for (size_t i = 0; i < n; ++i) {
    events.push_back(Ev("T", "{\"tag\":\"" + tag + "\",\"i\":" + std::to_string(i) + "}", NewUuidV4()));
  }
  return events;
}

std::set<std::string> Ids(const std::vector<ProposedEvent>& events) {
  std::set<std::string> ids;
  for (const auto& e : events) ids.insert(e.event_id);
  return ids;
}

class FaultDiskTest : public EngineTest {
 protected:
  void SetUp() override {
    EngineTest::SetUp();
    ReopenOnFaultFs();
  }
  void ReopenOnFaultFs() {
    Options o;
    o.rocks_env_for_test = storage::testing::NewFaultEnv(faults_);
    Reopen(o);
  }
  // The log as read back: every event id in log order.
  std::vector<std::string> LogIds() {
    auto all = store_->ReadAll(0, 100000);
    EXPECT_TRUE(all.ok()) << all.status().ToString();
    std::vector<std::string> ids;
    if (all.ok()) {
      for (const auto& e : *all) ids.push_back(e.entry.event_id);
    }
    return ids;
  }
  size_t CountPresent(const std::set<std::string>& ids) {
    size_t n = 0;
    for (const std::string& id : LogIds()) n += ids.count(id);
    return n;
  }
  void ExpectVerifies() {
    const VerifyReport full = store_->Verify();
    EXPECT_TRUE(full.ok) << full.failure;
    const VerifyReport range = store_->VerifyRange(0, store_->tree_size());
    EXPECT_TRUE(range.ok) << range.failure;
  }
  // A store with one committed event in "s" and a signed checkpoint over it.
  void SeedOneEvent() {
    ASSERT_TRUE(store_->Append("s", ExpectedVersion::NoStream(), One("T", "{}")).ok());
    ASSERT_TRUE(store_->Checkpoint().ok());
  }
  // Nothing of a refused batch shows: not in $all, not in its stream, not in the stream's info,
  // not in the tree size or the latest checkpoint.
  void ExpectUnchangedAfterRefusal(const std::set<std::string>& refused_ids) {
    EXPECT_EQ(store_->tree_size(), 1u);
    EXPECT_EQ(CountPresent(refused_ids), 0u);
    auto info = store_->GetStreamInfo("s");
    ASSERT_TRUE(info.ok()) << info.status().ToString();
    EXPECT_EQ(info->event_count, 1u);
    EXPECT_EQ(info->last_version, 0u);
    auto other = store_->GetStreamInfo("refused");
    EXPECT_TRUE(!other.ok() || !other->exists);
    auto stream = store_->ReadStream("s", 0, Direction::kForwards, 100);
    ASSERT_TRUE(stream.ok()) << stream.status().ToString();
    EXPECT_EQ(stream->events.size(), 1u);
    auto checkpoint = store_->LatestStoredCheckpoint();
    ASSERT_TRUE(checkpoint.ok()) << checkpoint.status().ToString();
    EXPECT_EQ(checkpoint->size, 1u);
  }
  // Writes work again at once (the backend resumes RocksDB inside the first write).
  void ExpectWritesResume() {
    auto next = store_->Append("s", ExpectedVersion::Exact(0), Batch(3, "after"));
    ASSERT_TRUE(next.ok()) << next.status().ToString();
    EXPECT_EQ(next->first_position, 1u);
    ASSERT_TRUE(store_->Append("t", ExpectedVersion::NoStream(), Batch(2, "t")).ok());
    EXPECT_EQ(store_->tree_size(), 6u);
    auto checkpoint = store_->Checkpoint();
    ASSERT_TRUE(checkpoint.ok()) << checkpoint.status().ToString();
    EXPECT_EQ(checkpoint->size, 6u);
    ExpectVerifies();
  }

  void CheckWalFaultStopsWritesUntilRestart(FaultKind kind, StatusCode want,
                                            const std::string& want_text);

  std::shared_ptr<FsFaults> faults_ = std::make_shared<FsFaults>();
};

// A failed WAL append: the caller learns it, nothing shows; writes stay refused, saying what to
// do, even with the disk working again, and reads go on; after a restart all is well.
void FaultDiskTest::CheckWalFaultStopsWritesUntilRestart(FaultKind kind, StatusCode want,
                                                         const std::string& want_text) {
  SeedOneEvent();
  faults_->wal_appends = kind;
  const std::vector<ProposedEvent> refused = Batch(5, "refused");
  auto failed = store_->Append("refused", ExpectedVersion::NoStream(), refused);
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.status().code(), want) << failed.status().ToString();
  EXPECT_NE(failed.status().message().find("re-send it with the same event ids"), std::string::npos)
      << failed.status().message();
  EXPECT_NE(failed.status().message().find(want_text), std::string::npos) << failed.status().message();
  EXPECT_GT(faults_->injected.load(), 0);
  ExpectUnchangedAfterRefusal(Ids(refused));
  faults_->Clear();
  // /readyz's view: not writable, and no fault cleared changes that before a restart.
  const Status health = store_->log_store()->WriteHealth();
  EXPECT_EQ(health.code(), StatusCode::kUnavailable) << health.ToString();
  EXPECT_NE(health.message().find("restart the server"), std::string::npos) << health.message();
  auto again = store_->Append("s", ExpectedVersion::Exact(0), Batch(1, "again"));
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().code(), StatusCode::kUnavailable) << again.status().ToString();
  EXPECT_NE(again.status().message().find("restart the server"), std::string::npos)
      << again.status().message();
  ExpectUnchangedAfterRefusal(Ids(refused));

  ReopenOnFaultFs();
  EXPECT_EQ(store_->tree_size(), 1u);
  EXPECT_EQ(CountPresent(Ids(refused)), 0u);
  ExpectWritesResume();
  Reopen();  // and the state survives a restart on the plain file system
  EXPECT_EQ(store_->tree_size(), 6u);
  EXPECT_EQ(CountPresent(Ids(refused)), 0u);
  ExpectVerifies();
}

TEST_F(FaultDiskTest, WalWriteErrorFailsTheAppendShowsNothingAndWritesStopUntilRestart) {
  CheckWalFaultStopsWritesUntilRestart(FaultKind::kIOError, StatusCode::kIOError, "commit");
}

TEST_F(FaultDiskTest, FullDiskOnTheWalFailsWithResourceExhaustedAndWritesStopUntilRestart) {
  CheckWalFaultStopsWritesUntilRestart(FaultKind::kNoSpace, StatusCode::kResourceExhausted,
                                       "no space left on device");
}

// A full disk met by a background flush (SST files): RocksDB stops writing; the next append
// fails, and appends work again once the disk has room.
TEST_F(FaultDiskTest, FullDiskDuringFlushStopsWritesUntilSpaceReturns) {
  SeedOneEvent();
  EXPECT_TRUE(store_->log_store()->WriteHealth().ok());
  faults_->sst_appends = FaultKind::kNoSpace;
  EXPECT_FALSE(storage::FlushForTest(store_->log_store()).ok());
  // Writes stopped in the background: the store says so before any write fails.
  EXPECT_EQ(store_->log_store()->WriteHealth().code(), StatusCode::kResourceExhausted);
  const std::vector<ProposedEvent> refused = Batch(5, "refused");
  auto failed = store_->Append("refused", ExpectedVersion::NoStream(), refused);
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.status().code(), StatusCode::kResourceExhausted) << failed.status().ToString();
  ExpectUnchangedAfterRefusal(Ids(refused));
  // Reads keep working from the memtable and the older files.
  EXPECT_EQ(LogIds().size(), 1u);

  EXPECT_EQ(store_->log_store()->WriteHealth().code(), StatusCode::kResourceExhausted);
  faults_->Clear();
  // Asking resumes it: a node that no append reaches (the load balancer stopped sending) still
  // becomes ready again once space is freed.
  const Status resumed = store_->log_store()->WriteHealth();
  EXPECT_TRUE(resumed.ok()) << resumed.ToString();
  ExpectWritesResume();
  ASSERT_TRUE(storage::FlushForTest(store_->log_store()).ok());
  Reopen();
  EXPECT_EQ(store_->tree_size(), 6u);
  ExpectVerifies();
}

// A failed fsync is never acknowledged. After a restart without faults the store opens, verifies,
// and holds the batch entirely or not at all.
TEST_F(FaultDiskTest, FsyncFailureIsNotAcknowledgedAndTheStoreReopensWithAllOrNothing) {
  SeedOneEvent();
  faults_->syncs = true;
  const std::vector<ProposedEvent> batch = Batch(7, "unsynced");
  auto failed = store_->Append("u", ExpectedVersion::NoStream(), batch);
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.status().code(), StatusCode::kIOError) << failed.status().ToString();
  EXPECT_GT(faults_->injected.load(), 0);
  EXPECT_EQ(store_->tree_size(), 1u);

  Close();
  faults_->Clear();
  Reopen();
  const size_t present = CountPresent(Ids(batch));
  EXPECT_TRUE(present == 0 || present == batch.size()) << present << " of " << batch.size();
  EXPECT_EQ(store_->tree_size(), 1u + present);
  auto info = store_->GetStreamInfo("u");
  if (present == 0) {
    EXPECT_TRUE(!info.ok() || !info->exists);
  } else {
    ASSERT_TRUE(info.ok());
    EXPECT_EQ(info->event_count, batch.size());
  }
  ExpectVerifies();
  ASSERT_TRUE(store_->Append("after", ExpectedVersion::NoStream(), Batch(2, "after")).ok());
  ExpectVerifies();
}

// A failed fsync stops writes in place (RocksDB cannot tell what reached the disk): later writes
// are refused with kUnavailable, nothing shows, and after a restart the store works again.
TEST_F(FaultDiskTest, FsyncFailureStopsWritesUntilRestartAndThenAllOrNothing) {
  SeedOneEvent();
  faults_->syncs = true;
  const std::vector<ProposedEvent> refused = Batch(4, "refused");
  ASSERT_FALSE(store_->Append("refused", ExpectedVersion::NoStream(), refused).ok());
  ExpectUnchangedAfterRefusal(Ids(refused));
  faults_->Clear();
  auto again = store_->Append("s", ExpectedVersion::Exact(0), Batch(1, "again"));
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().code(), StatusCode::kUnavailable) << again.status().ToString();
  ExpectUnchangedAfterRefusal(Ids(refused));
  ReopenOnFaultFs();
  const size_t present = CountPresent(Ids(refused));
  EXPECT_TRUE(present == 0 || present == refused.size()) << present;
  EXPECT_EQ(store_->tree_size(), 1u + present);
  ASSERT_TRUE(store_->Append("after", ExpectedVersion::NoStream(), Batch(3, "after")).ok());
  ExpectVerifies();
}

// Concurrent appenders when the WAL starts failing mid-run: every acknowledged event is where its
// answer said (also after the restart), no refused one is anywhere, the log verifies.
TEST_F(FaultDiskTest, ConcurrentAppendsAcrossAWalFailureLoseNothingAcknowledged) {
  constexpr int kThreads = 6, kAppends = 40, kFaultAt = 60;
  std::mutex mu;
  std::map<std::string, uint64_t> acked;  // first event id -> position
  std::set<std::string> refused;
  std::atomic<int> started{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kAppends; ++i) {
        if (++started == kFaultAt) faults_->wal_appends = FaultKind::kIOError;
        std::vector<ProposedEvent> evs = Batch((i % 3 == 0) ? 40 : 2, "c");
        const std::string id = evs[0].event_id;
        auto r = store_->Append("c-" + std::to_string(t), ExpectedVersion::Any(), std::move(evs));
        std::lock_guard<std::mutex> lock(mu);
        if (r.ok()) {
          acked[id] = r->first_position;
        } else {
          refused.insert(id);
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  faults_->Clear();
  EXPECT_GT(faults_->injected.load(), 0);
  EXPECT_GT(refused.size(), 0u);
  EXPECT_GT(acked.size(), 0u);
  for (int round = 0; round < 2; ++round) {  // before and after the restart
    const std::vector<std::string> ids = LogIds();
    for (const auto& [id, pos] : acked) {
      ASSERT_LT(pos, ids.size());
      EXPECT_EQ(ids[pos], id) << "an acknowledged append moved or was lost";
    }
    const std::set<std::string> present(ids.begin(), ids.end());
    for (const auto& id : refused) EXPECT_EQ(present.count(id), 0u) << "a refused append is visible";
    ExpectVerifies();
    ReopenOnFaultFs();
  }
  ASSERT_TRUE(store_->Append("after", ExpectedVersion::NoStream(), One("T", "{}")).ok());
  ExpectVerifies();
}

}  // namespace
}  // namespace cairn::engine
