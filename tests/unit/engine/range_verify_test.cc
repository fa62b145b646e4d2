// The scrub's verification entry points on a live store: VerifyRange (incremental: a range of
// committed records, their chains, stored leaves and nodes, the root) and VerifyPaced (the full
// check over the prefix committed when it starts, in chunks, stoppable).
#include <atomic>
#include <thread>

#include "engine_test_util.h"
#include "faulty_store.h"
#include "forge_record.h"

namespace cairn::engine {
namespace CAIRN_UNITY_ID {

constexpr int kEvents = 30;

class RangeVerifyTest : public EngineTest {
 protected:
  // kEvents events over three streams (stream i % 3), a checkpoint after event 10 and at the end.
  void AppendEvents() {
    for (int i = 0; i < kEvents; ++i) {
      ASSERT_TRUE(store_->Append("s-" + std::to_string(i % 3), ExpectedVersion::Any(),
                                 One("T", "{\"i\":" + std::to_string(i) + "}")).ok());
      if (i == 9) {
        ASSERT_TRUE(store_->Checkpoint().ok());
      }
    }
    ASSERT_TRUE(store_->Checkpoint().ok());
  }
  void OpenFaulty() {
    Options o;
    o.wrap_store_for_test = [this](std::unique_ptr<storage::LogStore> inner) {
      return std::make_unique<FaultyStore>(std::move(inner), &plan_);
    };
    Reopen(std::move(o));
  }
  static void ExpectFailure(const VerifyReport& r, uint64_t position, const std::string& words) {
    EXPECT_FALSE(r.ok);
    EXPECT_FALSE(r.stopped);
    ASSERT_TRUE(r.bad_position.has_value()) << r.failure;
    EXPECT_EQ(*r.bad_position, position) << r.failure;
    EXPECT_NE(r.failure.find(words), std::string::npos) << r.failure;
  }

  FaultPlan plan_;
};

using RangeVerifyBackendTest = OnBothBackends<RangeVerifyTest>;
CAIRN_ON_BOTH_BACKENDS(RangeVerifyBackendTest);

TEST_P(RangeVerifyBackendTest, CleanRangesVerifyWithTheirCounts) {
  AppendEvents();
  for (auto [from, to] : {std::pair<uint64_t, uint64_t>{0, 30}, {5, 17}, {10, 10}, {17, 30}, {29, 30}, {0, 1}}) {
    VerifyReport r = store_->VerifyRange(from, to);
    EXPECT_TRUE(r.ok) << from << ".." << to << ": " << r.failure;
    EXPECT_EQ(r.records_checked, to - from);
  }
  // The latest checkpoint (size 30) takes part in every range: root to root when the range ends
  // there, by a consistency proof when it ends before.
  EXPECT_EQ(store_->VerifyRange(20, 30).checkpoints_checked, 1u);
  EXPECT_EQ(store_->VerifyRange(3, 10).checkpoints_checked, 1u);
}

TEST_P(RangeVerifyBackendTest, BoundsAreEnforced) {
  AppendEvents();
  EXPECT_FALSE(store_->VerifyRange(0, kEvents + 1).ok);  // beyond the committed log
  EXPECT_FALSE(store_->VerifyRange(7, 6).ok);
  EXPECT_FALSE(store_->VerifyRange(0, kVerifyChunkRecordsMax + 1).ok);
}

TEST_P(RangeVerifyBackendTest, FlippedRecordBytesAreNamed) {
  AppendEvents();
  std::string rec = store_->log_store()->ReadRecord(7).value();
  rec[rec.size() / 2] ^= 0x01;
  ASSERT_TRUE(RawPutRecordOnAnyBackend(store_->log_store(), 7, rec).ok());
  ExpectFailure(store_->VerifyRange(5, 12), 7, "authenticate");
  EXPECT_TRUE(store_->VerifyRange(8, 10).ok);  // ranges that neither hold it nor follow it are fine
  // Event 10 (s-1) follows it in its stream: a range holding 10 opens it and names it.
  ExpectFailure(store_->VerifyRange(8, 12), 7, "authenticate");
  ExpectFailure(store_->VerifyPaced({}), 7, "authenticate");
}

TEST_P(RangeVerifyBackendTest, BrokenStreamChainIsNamed) {
  AppendEvents();
  ForgeBrokenChain(store_.get(), 13);  // decrypts fine; its stream_prev no longer links
  ExpectFailure(store_->VerifyRange(13, 20), 13, "stream chain");  // predecessor from the index
  ExpectFailure(store_->VerifyRange(0, 20), 13, "stream chain");   // predecessor in the range
  ExpectFailure(store_->VerifyPaced({}), 13, "stream chain");
}

// A tombstone before the range: the event after it is caught by a range that starts after it.
TEST_P(RangeVerifyBackendTest, AnEventAfterATombstoneBeforeTheRangeIsNamed) {
  AppendEvents();
  // Event 4 is version 1 of s-1; event 7, version 2, follows it. Make event 4 a tombstone.
  crypto::Hash forged_leaf{};
  ForgeRecord(store_.get(), 4, [&](integrity::Entry* e) {
    e->event_type = std::string(kTombstoneEventType);
    forged_leaf = integrity::LeafHash(integrity::EncodeEntry(*e));
  });
  // Its stored leaf still names the original: the record is named, from any range that opens it.
  ExpectFailure(store_->VerifyRange(5, 12), 4, "stored leaf hash differs");
  ExpectFailure(store_->VerifyRange(0, 12), 4, "stored leaf hash differs");
  // With the stored leaf hash rewritten to match (as in a store that really holds a tombstone at
  // 4), a range after it that opens it as a predecessor names the event after it. (Ranges that
  // recompute node (1, 2) over leaves 4 and 5 name that node first: only the leaf was rewritten.)
  OpenFaulty();
  plan_.replacement_leaf = crypto::HashString(forged_leaf);
  plan_.replace_leaf_at = 4;
  ExpectFailure(store_->VerifyRange(6, 8), 7, "after its tombstone");
  ExpectFailure(store_->VerifyRange(7, 8), 7, "after its tombstone");
  EXPECT_TRUE(store_->VerifyRange(8, 10).ok);  // s-2 and s-0 only
}

TEST_P(RangeVerifyBackendTest, AlteredEntryFieldIsCaughtByTheStoredLeafHash) {
  AppendEvents();
  ForgeRecord(store_.get(), 20, [](integrity::Entry* e) { e->recorded_at_ns += 1; });
  ExpectFailure(store_->VerifyRange(18, 25), 20, "leaf hash");
}

TEST_P(RangeVerifyBackendTest, CorruptedStoredLeafHashIsNamed) {
  AppendEvents();
  OpenFaulty();
  plan_.corrupt_leaf_at = 8;
  ExpectFailure(store_->VerifyRange(0, 20), 8, "stored leaf hash differs");
  // Event 11 (stream s-2) follows event 8, whose record and stored leaf a range starting after 8
  // opens and compares: the damage is named where it is.
  ExpectFailure(store_->VerifyRange(10, 12), 8, "stored leaf hash differs");
}

TEST_P(RangeVerifyBackendTest, CorruptedPrefixNodeIsCaughtByTheRange) {
  AppendEvents();
  OpenFaulty();
  plan_.corrupt_leaf_at = 8;  // the prefix [0, 9) is seeded from stored nodes (leaf 8 among them)
  // Leaf 9 completes node (1, 4) over leaves 8 and 9: its stored hash differs from the recomputed.
  ExpectFailure(store_->VerifyRange(9, 10), 9, "Merkle node (level 1, index 4)");
}

// A range seeded from a damaged stored node that it never completes again (node (2, 2) over leaves
// 8..11, the prefix of [12, 14)): its recomputed root at 14 is wrong. No checkpoint and no tree
// state ends at 14; the tree state and the checkpoint at 30, which must extend that root, show it.
TEST_P(RangeVerifyBackendTest, ADamagedPrefixNodeIsCaughtByTheLaterSignedRoot) {
  AppendEvents();
  OpenFaulty();
  plan_.corrupt_node_level = 2;
  plan_.corrupt_node_index = 2;
  const VerifyReport r = store_->VerifyRange(12, 14);
  EXPECT_FALSE(r.ok);
  EXPECT_FALSE(r.bad_position.has_value()) << "the damage is not in [12, 14): no position is blamed";
  EXPECT_NE(r.failure.find("does not extend the recomputed tree at 14"), std::string::npos) << r.failure;
  plan_.corrupt_node_level = -1;
  EXPECT_TRUE(store_->VerifyRange(12, 14).ok);
}

TEST_P(RangeVerifyBackendTest, AStreamIndexThatDisagreesWithTheRecordIsNamed) {
  AppendEvents();
  // A later failure in the same ranges, which must not hide the index's.
  std::string rec = store_->log_store()->ReadRecord(22).value();
  rec[rec.size() / 2] ^= 0x01;
  ASSERT_TRUE(RawPutRecordOnAnyBackend(store_->log_store(), 22, rec).ok());
  OpenFaulty();
  plan_.corrupt_index_at = 16;  // event 16 is version 5 of s-1; its predecessor is event 13
  // Its predecessor in the range: checked with the stream's other index entries after the scan.
  ExpectFailure(store_->VerifyRange(10, 25), 16, "stream index of 's-1' disagrees");
  ExpectFailure(store_->VerifyRange(0, 30), 16, "stream index of 's-1' disagrees");
  // The first event of its stream in the range: checked at once, with the predecessor's leaf.
  ExpectFailure(store_->VerifyRange(15, 20), 16, "stream index of 's-1' disagrees");
  // Event 19 (s-1) first in its range: its predecessor's entry, read through the index, is 16's.
  ExpectFailure(store_->VerifyRange(17, 21), 19, "stream index of 's-1' disagrees");
  EXPECT_TRUE(store_->VerifyRange(10, 16).ok);
  plan_.corrupt_index_at = -1;
  ExpectFailure(store_->VerifyRange(10, 25), 22, "authenticate");
}

TEST_P(RangeVerifyBackendTest, PacedRunStopsWhenAsked) {
  AppendEvents();
  int chunks = 0;
  VerifyPacing pacing;
  pacing.chunk_records = 4;
  pacing.between_chunks = [&] { return ++chunks < 3; };
  VerifyReport r = store_->VerifyPaced(pacing);
  EXPECT_FALSE(r.ok);
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(chunks, 3);
  EXPECT_EQ(r.records_checked, 12u);
  pacing.between_chunks = [&] { return true; };
  r = store_->VerifyPaced(pacing);
  EXPECT_TRUE(r.ok) << r.failure;
  EXPECT_EQ(r.records_checked, static_cast<uint64_t>(kEvents));
}

TEST_P(RangeVerifyBackendTest, PacedRunAndRangesStayCleanWhileAppendsContinue) {
  AppendEvents();
  std::atomic<bool> done{false};
  std::thread writer([&] {
    for (int i = 0; i < 400 && !done; ++i) {
      ASSERT_TRUE(store_->Append("w-" + std::to_string(i % 5), ExpectedVersion::Any(), One("T", "{}")).ok());
      if (i % 50 == 0) {
        ASSERT_TRUE(store_->Checkpoint().ok());
      }
    }
  });
  VerifyPacing pacing;
  pacing.chunk_records = 16;
  for (int round = 0; round < 20; ++round) {
    VerifyReport full = store_->VerifyPaced(pacing);
    ASSERT_TRUE(full.ok) << full.failure;
    const uint64_t size = store_->tree_size();
    VerifyReport tail = store_->VerifyRange(size > 16 ? size - 16 : 0, size);
    ASSERT_TRUE(tail.ok) << tail.failure;
  }
  done = true;
  writer.join();
}

}  // namespace
}  // namespace cairn::engine
