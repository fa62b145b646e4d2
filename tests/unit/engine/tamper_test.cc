// Tampering with a closed data directory makes verification fail and name the position.
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <map>

#include "engine_test_util.h"
#include "integrity/merkle.h"
#include "storage/rocksdb/rocks_log_store.h"
#include "storage/rocksdb/rocks_schema.h"
#include "storage/rocksdb/rocks_test_hooks.h"

namespace cairn::engine {
namespace CAIRN_UNITY_ID {

constexpr int kEvents = 20;

std::unique_ptr<storage::LogStore> OpenRaw(const std::string& dir) {
  storage::RocksOptions o;
  o.path = dir + "/db";
  auto s = storage::OpenRocksLogStore(o);
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  return s.ok() ? std::move(s).value() : nullptr;
}

void ExpectVerifyFailureAt(const std::string& dir, uint64_t position, const std::string& words) {
  VerifyReport r = EventStore::VerifyDataDir(dir);
  EXPECT_FALSE(r.ok);
  ASSERT_TRUE(r.bad_position.has_value()) << r.failure;
  EXPECT_EQ(*r.bad_position, position) << r.failure;
  EXPECT_NE(r.failure.find(words), std::string::npos) << r.failure;
}

class TamperTest : public EngineTest {
 protected:
  void SetUp() override {
    EngineTest::SetUp();
    for (int i = 0; i < kEvents; ++i) {
      std::string stream = "s-" + std::to_string(i % 3);
      ASSERT_TRUE(store_->Append(stream, ExpectedVersion::Any(), One("T", "{\"i\":" + std::to_string(i) + "}")).ok());
      if (i == 9) {
        ASSERT_TRUE(store_->Checkpoint().ok());
      }
    }
    ASSERT_TRUE(store_->Checkpoint().ok());
    ASSERT_TRUE(store_->Verify().ok);
    Close();
  }
  std::unique_ptr<storage::LogStore> Raw() { return OpenRaw(dir_); }
  // The compact range of the first `n` stored leaves: what a rolled-back tree state would hold.
  static integrity::CompactRange RangeOfFirstLeaves(storage::LogStore* raw, uint64_t n) {
    integrity::CompactRange cr;
    EXPECT_TRUE(raw->ScanLeafHashes(0, n, [&](uint64_t, std::string_view h) {
      cr.Append(crypto::HashFromBytes(h), nullptr);
      return true;
    }).ok());
    EXPECT_EQ(cr.size(), n);
    return cr;
  }
  void ExpectFailureAt(uint64_t position, const std::string& words) {
    ExpectVerifyFailureAt(dir_, position, words);
  }
};

TEST_F(TamperTest, UntouchedLogVerifies) {
  VerifyReport r = EventStore::VerifyDataDir(dir_);
  EXPECT_TRUE(r.ok) << r.failure;
  EXPECT_EQ(r.records_checked, static_cast<uint64_t>(kEvents));
  EXPECT_EQ(r.streams_checked, 3u);
  EXPECT_EQ(r.checkpoints_checked, 3u);  // sizes 0, 10, 20
  EXPECT_EQ(r.nodes_checked, 18u);        // 20 leaves: 10 + 5 + 2 + 1 interior nodes
  EXPECT_EQ(r.index_entries_checked, static_cast<uint64_t>(kEvents));
}

// Every file under `dir` with its size and modification time.
std::map<std::string, std::pair<uintmax_t, std::filesystem::file_time_type>> Snapshot(const std::string& dir) {
  std::map<std::string, std::pair<uintmax_t, std::filesystem::file_time_type>> files;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    if (e.is_regular_file()) files[e.path().string()] = {e.file_size(), e.last_write_time()};
  }
  return files;
}

// `cairn verify` examines evidence: it must not change the directory (no new MANIFEST, WAL or
// info log, no replayed WAL written back), neither a cleanly closed one nor one a crash left.
TEST_F(TamperTest, VerifyWritesNothingToTheDataDirectory) {
  const auto before = Snapshot(dir_ + "/db");  // (the lock file outside it is the lock)
  EXPECT_TRUE(EventStore::VerifyDataDir(dir_).ok);
  EXPECT_EQ(Snapshot(dir_ + "/db"), before);
  // A crash: the child appends and dies without closing, leaving its WAL to replay.
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    Options o;
    o.data_dir = dir_;
    auto store = EventStore::Open(o);
    if (!store.ok() || !(*store)->Append("s-9", ExpectedVersion::Any(), One("T", "{}")).ok()) _exit(3);
    _exit(0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  const auto crashed = Snapshot(dir_ + "/db");
  VerifyReport r = EventStore::VerifyDataDir(dir_);
  EXPECT_TRUE(r.ok) << r.failure;
  EXPECT_EQ(r.records_checked, static_cast<uint64_t>(kEvents + 1));  // the WAL, replayed in memory
  EXPECT_EQ(Snapshot(dir_ + "/db"), crashed);
}

// The last leaf chunk filed under an index so large that its leaves' indexes wrap (chunk
// 1 + 2^60): read back as chunk 1 it passed verification; now it is corrupt.
TEST_F(TamperTest, ALeafChunkFiledBeyondTheLastIndexIsCorrupt) {
  auto raw = Raw();
  const std::string cf(storage::rocks::kCfMerkle);
  const std::string old_key = storage::rocks::EncodeNodeKey({0, 1});
  std::string chunk;  // leaves 16..19 (kEvents = 20)
  ASSERT_TRUE(raw->ScanLeafHashes(16, kEvents - 16, [&](uint64_t, std::string_view h) {
    chunk.append(h);
    return true;
  }).ok());
  ASSERT_EQ(chunk.size(), (kEvents - 16) * 32u);
  const std::string moved = storage::rocks::EncodeNodeKey({0, 1 + (uint64_t{1} << 60)});
  ASSERT_TRUE(storage::RawWriteKeyForTest(raw.get(), cf, moved, chunk).ok());
  ASSERT_TRUE(storage::RawWriteKeyForTest(raw.get(), cf, old_key, std::nullopt).ok());
  raw.reset();
  VerifyReport r = EventStore::VerifyDataDir(dir_);
  EXPECT_FALSE(r.ok) << "a wrapped chunk was read as the leaves it replaced";
}

// A damaged record in the middle of the write-ahead log (media damage, not the torn last record
// a crash leaves) is not a place to stop replaying: every synced commit after it was
// acknowledged. The store refuses to open instead of silently dropping them.
TEST_F(TamperTest, ADamagedWalRecordInTheMiddleIsNotATornTail) {
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {  // three acknowledged commits, then a crash (no close, no flush)
    Options o;
    o.data_dir = dir_;
    auto store = EventStore::Open(o);
    if (!store.ok()) _exit(3);
    for (int i = 0; i < 3; ++i) {
      if (!(*store)->Append("s-9", ExpectedVersion::Any(), One("T", "{\"i\":" + std::to_string(i) + "}")).ok()) _exit(4);
    }
    _exit(0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  // The newest WAL file holds the three commits; damage the first of them.
  std::string wal;
  for (const auto& e : std::filesystem::directory_iterator(dir_ + "/db")) {
    const std::string p = e.path().string();
    if (p.size() > 4 && p.compare(p.size() - 4, 4, ".log") == 0 && (wal.empty() || p > wal)) wal = p;
  }
  ASSERT_FALSE(wal.empty());
  ASSERT_GT(std::filesystem::file_size(wal), 1000u);
  std::string bytes = testing::ReadFile(wal);
  bytes[40] ^= 0x20;
  testing::WriteFile(wal, bytes);
  Options o;
  o.data_dir = dir_;
  auto opened = EventStore::Open(o);
  EXPECT_FALSE(opened.ok()) << "opened without the commits after the damaged record";
}

// The streams of the fixture: event i is version i / 3 of s-(i % 3), at position i.
std::string IndexKey(int stream, uint64_t version) {
  return storage::rocks::StreamIndexKey("s-" + std::to_string(stream), version);
}
std::string IndexRunTo(uint64_t position) { return storage::rocks::EncodeIndexRun({position, 1}); }

void WriteRaw(const std::string& dir, std::string_view cf, const std::string& key,
              std::optional<std::string> value) {
  auto raw = OpenRaw(dir);
  ASSERT_NE(raw, nullptr);
  ASSERT_TRUE(storage::RawWriteKeyForTest(raw.get(), cf, key, value).ok());
}

TEST_F(TamperTest, IndexEntryNamingAnotherStreamsEvent) {
  // s-0 version 2 is at position 6; point it at position 7 (s-1's version 2), whose record is intact.
  WriteRaw(dir_, storage::rocks::kCfStreamIndex, IndexKey(0, 2), IndexRunTo(7));
  ExpectFailureAt(7, "stream index of 's-0' maps version 2");
}

TEST_F(TamperTest, IndexEntriesSwappedWithinAStream) {
  WriteRaw(dir_, storage::rocks::kCfStreamIndex, IndexKey(0, 1), IndexRunTo(6));
  WriteRaw(dir_, storage::rocks::kCfStreamIndex, IndexKey(0, 2), IndexRunTo(3));
  ExpectFailureAt(6, "stream index of 's-0' maps version 1");
}

TEST_F(TamperTest, IndexEntryMissingAtTheEndOfAStream) {
  WriteRaw(dir_, storage::rocks::kCfStreamIndex, IndexKey(2, 5), std::nullopt);  // position 17
  ExpectFailureAt(17, "stream index of 's-2' has 5 entries for 6 events");
}

TEST_F(TamperTest, IndexEntryMissingInsideAStream) {
  WriteRaw(dir_, storage::rocks::kCfStreamIndex, IndexKey(1, 3), std::nullopt);
  VerifyReport r = EventStore::VerifyDataDir(dir_);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.failure.find("stream index of 's-1' skips version 3"), std::string::npos) << r.failure;
}

TEST_F(TamperTest, IndexEntryAddedPastTheEndOfAStream) {
  // s-2 has versions 0..5; a version 6 naming s-1's last event would be served as s-2's.
  WriteRaw(dir_, storage::rocks::kCfStreamIndex, IndexKey(2, 6), IndexRunTo(19));
  ExpectFailureAt(19, "stream index of 's-2' maps version 6");
}

TEST_F(TamperTest, IndexEntryNamingAPositionBeyondTheLog) {
  WriteRaw(dir_, storage::rocks::kCfStreamIndex, IndexKey(2, 6), IndexRunTo(kEvents + 5));
  ExpectFailureAt(kEvents + 5, "stream index of 's-2' maps version 6 to position 25, beyond the log");
}

// Interior nodes are what inclusion and consistency proofs are built from.
TEST_F(TamperTest, AlteredInteriorMerkleNode) {
  auto raw = Raw();
  const std::string key = storage::rocks::EncodeNodeKey({1, 0});  // level 1, chunk 0: nodes 0..9
  std::vector<std::string> chunk;
  ASSERT_TRUE(raw->ReadNodes(std::vector<storage::NodeKey>{{1, 3}}, &chunk).ok());
  raw.reset();
  // Rewrite the stored chunk with node (1, 3) — the hash of leaves 6 and 7 — altered.
  auto raw2 = Raw();
  std::string bytes;
  for (uint64_t i = 0; i < kEvents / 2; ++i) {
    std::vector<std::string> one;
    ASSERT_TRUE(raw2->ReadNodes(std::vector<storage::NodeKey>{{1, i}}, &one).ok());
    bytes += one[0];
  }
  ASSERT_EQ(bytes.size(), 32u * (kEvents / 2));
  bytes[3 * 32 + 5] ^= 0x01;
  ASSERT_TRUE(storage::RawWriteKeyForTest(raw2.get(), storage::rocks::kCfMerkle, key, bytes).ok());
  raw2.reset();
  ExpectFailureAt(7, "stored Merkle node (level 1, index 3) differs");
}

TEST_F(TamperTest, MissingInteriorMerkleNodes) {
  WriteRaw(dir_, storage::rocks::kCfMerkle, storage::rocks::EncodeNodeKey({2, 0}), std::nullopt);
  ExpectFailureAt(3, "cannot read the stored Merkle node (level 2, index 0)");  // node (2, 0) covers leaves 0..3
}

// The signed note stored under `size`.
std::string StoredNote(storage::LogStore* raw, uint64_t size) {
  std::string note;
  EXPECT_TRUE(raw->ScanCheckpoints([&](uint64_t at, std::string_view text) {
    if (at == size) note = std::string(text);
    return true;
  }).ok());
  EXPECT_FALSE(note.empty());
  return note;
}

TEST_F(TamperTest, CheckpointFiledUnderAnotherSize) {
  auto raw = Raw();
  ASSERT_TRUE(raw->PutCheckpoint(15, StoredNote(raw.get(), 10)).ok());
  raw.reset();
  VerifyReport r = EventStore::VerifyDataDir(dir_);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.failure.find("checkpoint filed under size 15 says size 10"), std::string::npos) << r.failure;
}

TEST_F(TamperTest, CheckpointWithAForgedRoot) {
  auto raw = Raw();
  std::string note = StoredNote(raw.get(), 10);
  // Line 3 is the base64 root: change one character of it; the signature no longer covers it.
  const size_t root_at = note.find('\n', note.find('\n') + 1) + 1;
  note[root_at] = note[root_at] == 'A' ? 'B' : 'A';
  ASSERT_TRUE(raw->PutCheckpoint(10, note).ok());
  raw.reset();
  VerifyReport r = EventStore::VerifyDataDir(dir_);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.failure.find("checkpoint at size 10 does not verify"), std::string::npos) << r.failure;
}

TEST_F(TamperTest, StreamHeadThatDoesNotMatchItsEvents) {
  auto raw = Raw();
  storage::StreamHead head = raw->ReadStreamHead("s-0").value().value();
  raw.reset();
  head.next_version -= 1;  // as if the last event of s-0 (position 18) were not there
  WriteRaw(dir_, storage::rocks::kCfStreamHeads, "s-0", storage::rocks::EncodeStreamHead(head));
  ExpectFailureAt(18, "stream head of 's-0' does not match its events");
}

TEST_F(TamperTest, StreamHeadMarkedDeleted) {
  auto raw = Raw();
  storage::StreamHead head = raw->ReadStreamHead("s-1").value().value();
  raw.reset();
  head.deleted = true;
  WriteRaw(dir_, storage::rocks::kCfStreamHeads, "s-1", storage::rocks::EncodeStreamHead(head));
  ExpectFailureAt(19, "stream head of 's-1' does not match its events");
}

// A head that claims events but holds no chain link (its hash cut off): the store reports it as
// damaged to every append, delete and verification — before, the next append to the stream
// aborted the process on the link's size assertion.
TEST_F(TamperTest, StreamHeadWithoutItsChainLink) {
  auto raw = Raw();
  storage::StreamHead head = raw->ReadStreamHead("s-0").value().value();
  raw.reset();
  ASSERT_GT(head.next_version, 0u);
  head.last_leaf_hash.clear();
  WriteRaw(dir_, storage::rocks::kCfStreamHeads, "s-0", storage::rocks::EncodeStreamHead(head));
  raw = Raw();
  EXPECT_EQ(raw->ReadStreamHead("s-0").status().code(), StatusCode::kDataLoss);
  raw.reset();
  Reopen();
  auto appended = store_->Append("s-0", ExpectedVersion::Any(), One("T", "{}"));
  EXPECT_EQ(appended.status().code(), StatusCode::kDataLoss) << appended.status().ToString();
  auto deleted = store_->DeleteStream("s-0", ExpectedVersion::Any());
  EXPECT_EQ(deleted.status().code(), StatusCode::kDataLoss) << deleted.status().ToString();
  EXPECT_TRUE(store_->Append("s-1", ExpectedVersion::Any(), One("T", "{}")).ok());
  Close();
  VerifyReport r = EventStore::VerifyDataDir(dir_);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.failure.find("stream head of 's-0'"), std::string::npos) << r.failure;
}

TEST_F(TamperTest, FlippedByteInARecord) {
  auto raw = Raw();
  std::string rec = raw->ReadRecord(7).value();
  rec[rec.size() / 2] ^= 0x01;
  ASSERT_TRUE(storage::RawPutRecordForTest(raw.get(), 7, rec).ok());
  raw.reset();
  ExpectFailureAt(7, "authenticate");
}

TEST_F(TamperTest, DeletedRecord) {
  auto raw = Raw();
  ASSERT_TRUE(storage::RawDeleteRecordForTest(raw.get(), 7).ok());
  raw.reset();
  ExpectFailureAt(7, "missing");
}

TEST_F(TamperTest, SwappedRecords) {
  auto raw = Raw();
  std::string a = raw->ReadRecord(5).value(), b = raw->ReadRecord(6).value();
  ASSERT_TRUE(storage::RawPutRecordForTest(raw.get(), 5, b).ok());
  ASSERT_TRUE(storage::RawPutRecordForTest(raw.get(), 6, a).ok());
  raw.reset();
  ExpectFailureAt(5, "authenticate");
}

TEST_F(TamperTest, DroppedLastRecord) {
  auto raw = Raw();
  ASSERT_TRUE(storage::RawDeleteRecordForTest(raw.get(), kEvents - 1).ok());
  raw.reset();
  ExpectFailureAt(kEvents - 1, "missing");
  // And the store refuses to serve such a tail.
  Options o;
  o.data_dir = dir_;
  EXPECT_FALSE(EventStore::Open(o).ok());
}

TEST_F(TamperTest, TreeStateRolledBack) {
  // Roll the tree state back to size 15 while the records stay.
  auto raw = Raw();
  storage::TreeState full = raw->ReadTreeState().value();
  ASSERT_EQ(full.size, static_cast<uint64_t>(kEvents));
  raw.reset();
  // Rebuild the compact range of the first 15 leaves from the stored leaf hashes.
  raw = Raw();
  const integrity::CompactRange cr = RangeOfFirstLeaves(raw.get(), 15);
  ASSERT_TRUE(storage::RawPutTreeStateForTest(raw.get(), {15, cr.Serialize()}).ok());
  raw.reset();
  ExpectFailureAt(15, "behind");
}

TEST_F(TamperTest, WholeTailRolledBackIsCaughtByTheCheckpoint) {
  auto raw = Raw();
  const integrity::CompactRange cr = RangeOfFirstLeaves(raw.get(), 15);
  for (uint64_t p = 15; p < kEvents; ++p) ASSERT_TRUE(storage::RawDeleteRecordForTest(raw.get(), p).ok());
  ASSERT_TRUE(storage::RawPutTreeStateForTest(raw.get(), {15, cr.Serialize()}).ok());
  raw.reset();
  ExpectFailureAt(15, "checkpoint");
  // The records and the tree state agree, but the log signed more: it is not opened (appends
  // would fork the signed log at position 15).
  Options o;
  o.data_dir = dir_;
  auto opened = EventStore::Open(o);
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(opened.status().message().find("tail was cut off"), std::string::npos)
      << opened.status().ToString();
}

// The log's key never signs a fork: after a same-size alteration of the stored tree state (one
// hash of the compact range) the tree is not the one the checkpoint of its size signed, and the
// store is not opened (it used to open, and refused only to sign; appends then extended a tree
// that was never signed).
TEST_F(TamperTest, AnAlteredTreeStateIsNeverSigned) {
  auto raw = Raw();
  std::string state = RangeOfFirstLeaves(raw.get(), kEvents).Serialize();
  state[state.size() - 1] ^= 0x01;  // inside the last hash
  ASSERT_TRUE(storage::RawPutTreeStateForTest(raw.get(), {kEvents, state}).ok());
  raw.reset();
  Options o;
  o.data_dir = dir_;
  auto opened = EventStore::Open(o);
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.status().code(), StatusCode::kDataLoss) << opened.status().ToString();
  EXPECT_NE(opened.status().message().find("does not extend the signed checkpoint"),
            std::string::npos)
      << opened.status().ToString();
}

TEST_F(TamperTest, ForeignRecordFromAnotherPositionWithValidEncryptionStillFailsTheChain) {
  // Re-sealing is impossible without the key; copying a valid record to the end is caught.
  auto raw = Raw();
  std::string rec = raw->ReadRecord(3).value();
  ASSERT_TRUE(storage::RawPutRecordForTest(raw.get(), kEvents, rec).ok());
  raw.reset();
  ExpectFailureAt(kEvents, "authenticate");
}

// A log of several verification chunks (4,096 records each), checked on two threads: with damage
// at more than one place in one chunk, the failure named is the lowest position, whichever thread
// met it.
class LargeTamperTest : public EngineTest {
 protected:
  static constexpr int kLargeEvents = 6000;
  void SetUp() override {
    EngineTest::SetUp();
    for (int b = 0; b < kLargeEvents / 100; ++b) {
      std::vector<ProposedEvent> batch;
      for (int i = 0; i < 100; ++i) {
        const int n = b * 100 + i;
        batch.push_back(One("T", "{\"n\":" + std::to_string(n) + "}")[0]);
      }
      ASSERT_TRUE(store_->Append("s-" + std::to_string(b % 7), ExpectedVersion::Any(), batch).ok());
    }
    ASSERT_TRUE(store_->Checkpoint().ok());
    Close();
  }
  void Flip(uint64_t position) {
    auto raw = OpenRaw(dir_);
    ASSERT_NE(raw, nullptr);
    std::string rec = raw->ReadRecord(position).value();
    rec[rec.size() / 2] ^= 0x01;
    ASSERT_TRUE(storage::RawPutRecordForTest(raw.get(), position, rec).ok());
  }
  void Delete(uint64_t position) {
    auto raw = OpenRaw(dir_);
    ASSERT_NE(raw, nullptr);
    ASSERT_TRUE(storage::RawDeleteRecordForTest(raw.get(), position).ok());
  }
};

TEST_F(LargeTamperTest, TheLowestDamagedPositionIsNamedWhicheverThreadFindsIt) {
  VerifyReport clean = EventStore::VerifyDataDir(dir_);
  ASSERT_TRUE(clean.ok) << clean.failure;
  EXPECT_EQ(clean.records_checked, static_cast<uint64_t>(kLargeEvents));
  EXPECT_EQ(clean.streams_checked, 7u);
  Flip(5990);  // near the end of the second chunk
  ExpectVerifyFailureAt(dir_, 5990, "authenticate");
  Flip(4500);  // lower in the same chunk
  ExpectVerifyFailureAt(dir_, 4500, "authenticate");
  Delete(4200);  // a gap lower still
  ExpectVerifyFailureAt(dir_, 4200, "missing");
  Flip(17);  // in the first chunk
  ExpectVerifyFailureAt(dir_, 17, "authenticate");
}

// 16,384 events: the verification chunk [12288, 16384) completes 4,097 interior nodes, more than
// one batched read (4,096); the node completed last — the root of the whole tree — is in the
// second read.
TEST(TamperLargeTreeTest, NodesBeyondOneBatchedReadAreCompared) {
  testing::TempDir tmp;
  const std::string dir = tmp.Sub("data");
  InitOptions init;
  init.data_dir = dir;
  ASSERT_TRUE(EventStore::Init(init).ok());
  {
    Options o;
    o.data_dir = dir;
    auto store = EventStore::Open(o);
    ASSERT_TRUE(store.ok());
    for (int b = 0; b < 64; ++b) {
      std::vector<ProposedEvent> batch;
      for (int i = 0; i < 256; ++i) batch.push_back(One("T", "{}")[0]);
      ASSERT_TRUE((*store)->Append("s-" + std::to_string(b % 5), ExpectedVersion::Any(), batch).ok());
    }
  }
  VerifyReport clean = EventStore::VerifyDataDir(dir);
  ASSERT_TRUE(clean.ok) << clean.failure;
  EXPECT_EQ(clean.nodes_checked, 16383u);  // a full tree of 2^14 leaves
  EXPECT_EQ(clean.index_entries_checked, 16384u);
  auto raw = OpenRaw(dir);
  std::vector<std::string> root;
  ASSERT_TRUE(raw->ReadNodes(std::vector<storage::NodeKey>{{14, 0}}, &root).ok());
  root[0][0] ^= 0x01;
  ASSERT_TRUE(storage::RawWriteKeyForTest(raw.get(), storage::rocks::kCfMerkle,
                                          storage::rocks::EncodeNodeKey({14, 0}), root[0]).ok());
  raw.reset();
  ExpectVerifyFailureAt(dir, 16383, "stored Merkle node (level 14, index 0) differs");
}

}  // namespace
}  // namespace cairn::engine
