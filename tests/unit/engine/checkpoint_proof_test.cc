// Checkpoints and proofs served by the engine verify with the integrity verifiers.
#include "common/bytes.h"
#include "engine_test_util.h"
#include "integrity/checkpoint.h"
#include "integrity/note.h"
#include "integrity/proof.h"

namespace cairn::engine {
namespace CAIRN_UNITY_ID {

TEST_P(EngineBackendTest, CheckpointIsASignedNoteForTheCurrentTree) {
  auto empty = store_->Checkpoint();
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->size, 0u);  // signed at init
  for (int i = 0; i < 37; ++i) ASSERT_TRUE(store_->Append("s", ExpectedVersion::Any(), One("T", "{}")).ok());
  auto cp = store_->Checkpoint();
  ASSERT_TRUE(cp.ok()) << cp.status().ToString();
  EXPECT_EQ(cp->size, 37u);
  auto verifier = integrity::ParseVerifierKey(store_->verifier_key());
  ASSERT_TRUE(verifier.ok()) << store_->verifier_key();
  EXPECT_EQ(verifier->name, "test.example/log");
  auto parsed = integrity::VerifyCheckpoint(cp->note, *verifier);
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(parsed->size, 37u);
  EXPECT_EQ(parsed->root, cp->root);
  EXPECT_EQ(cp->note.rfind("test.example/log\n37\n", 0), 0u) << cp->note;
  // Asking again without growth returns the same note instead of signing another.
  EXPECT_EQ(store_->Checkpoint()->note, cp->note);
  // A tampered note fails.
  std::string bad = cp->note;
  bad[bad.find("\n37\n") + 2] = '8';
  EXPECT_FALSE(integrity::VerifyCheckpoint(bad, *verifier).ok());
  Reopen();
  EXPECT_EQ(store_->LatestStoredCheckpoint()->note, cp->note);
}

TEST_P(EngineBackendTest, InclusionAndConsistencyProofsVerify) {
  for (int i = 0; i < 300; ++i) {
    ASSERT_TRUE(store_->Append("s-" + std::to_string(i % 7), ExpectedVersion::Any(), One("T", "{}")).ok());
  }
  auto cp = store_->Checkpoint();
  ASSERT_TRUE(cp.ok());
  for (uint64_t size : {1u, 2u, 3u, 100u, 255u, 256u, 257u, 300u}) {
    for (uint64_t index : {uint64_t{0}, size / 2, size - 1}) {
      auto p = store_->ProveInclusion(index, size);
      ASSERT_TRUE(p.ok()) << p.status().ToString();
      EXPECT_EQ(p->leaf_hash, store_->ReadAt(index)->leaf_hash);
      EXPECT_TRUE(integrity::VerifyInclusion(index, size, p->leaf_hash, p->proof, p->root).ok())
          << index << "/" << size;
      if (size == 300) {
        EXPECT_EQ(p->root, cp->root);
      }
      if (!p->proof.empty()) {
        auto bad = p->proof;
        bad[0][0] ^= 1;
        EXPECT_FALSE(integrity::VerifyInclusion(index, size, p->leaf_hash, bad, p->root).ok());
      }
    }
  }
  for (auto [a, b] : std::vector<std::pair<uint64_t, uint64_t>>{{1, 300}, {7, 8}, {100, 256}, {256, 300}, {300, 300}}) {
    auto p = store_->ProveConsistency(a, b);
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    EXPECT_TRUE(integrity::VerifyConsistency(a, b, p->proof, p->root1, p->root2).ok()) << a << "->" << b;
  }
  EXPECT_EQ(store_->ProveInclusion(300, 300).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->ProveInclusion(0, 301).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->ProveConsistency(0, 10).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->ProveConsistency(20, 10).status().code(), StatusCode::kInvalidArgument);
}

// Proofs made together equal the single ones, in the order asked (repeats allowed), in the tree
// of the size given or the current one; one position beyond it refuses the whole batch.
TEST_P(EngineBackendTest, ProofsMadeTogetherEqualTheSingleOnes) {
  for (int i = 0; i < 300; ++i) {
    ASSERT_TRUE(store_->Append("s-" + std::to_string(i % 5), ExpectedVersion::Any(), One("T", "{}")).ok());
  }
  const std::vector<uint64_t> indexes = {279, 0, 1, 2, 150, 150, 255, 256, 17};
  for (uint64_t size : {uint64_t{0}, uint64_t{300}, uint64_t{280}}) {
    auto batch = store_->ProveInclusions(indexes, size);
    ASSERT_TRUE(batch.ok()) << batch.status().ToString();
    ASSERT_EQ(batch->size(), indexes.size());
    const uint64_t tree = size == 0 ? 300 : size;
    for (size_t i = 0; i < indexes.size(); ++i) {
      auto single = store_->ProveInclusion(indexes[i], tree);
      ASSERT_TRUE(single.ok()) << single.status().ToString();
      const InclusionProof& p = (*batch)[i];
      EXPECT_EQ(p.index, indexes[i]);
      EXPECT_EQ(p.size, tree);
      EXPECT_EQ(p.leaf_hash, single->leaf_hash);
      EXPECT_EQ(p.root, single->root);
      EXPECT_EQ(p.proof, single->proof) << indexes[i] << "/" << tree;
      EXPECT_TRUE(integrity::VerifyInclusion(p.index, tree, p.leaf_hash, p.proof, p.root).ok());
    }
  }
  EXPECT_EQ(store_->ProveInclusions(std::vector<uint64_t>{0, 300}, 0).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->ProveInclusions(std::vector<uint64_t>{0}, 301).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_TRUE(store_->ProveInclusions(std::vector<uint64_t>{}, 0)->empty());
}

// Asked for, a checkpoint covers what was committed before the call, but the log signs no more
// often than its checkpointer would: five requests, each after an append, take at least four
// intervals (a lower bound: waits cannot be shorter).
TEST_P(EngineBackendTest, CheckpointsOnRequestCoverTheCallerAndArePaced) {
  Options o;
  o.checkpoint_interval_ms = 300;
  Reopen(o);
  const auto started = std::chrono::steady_clock::now();
  for (uint64_t i = 1; i <= 5; ++i) {
    ASSERT_TRUE(store_->Append("s", ExpectedVersion::Any(), One("T", "{}")).ok());
    auto cp = store_->CheckpointOnRequest();
    ASSERT_TRUE(cp.ok()) << cp.status().ToString();
    EXPECT_GE(cp->size, i) << "does not cover the caller's append";
  }
  const auto elapsed_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count();
  EXPECT_GE(elapsed_ms, 4 * 300) << "signed more often than every checkpoint_interval_ms";
  // Covered already: answered at once with the stored one.
  auto again = store_->CheckpointOnRequest();
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->size, 5u);
}

TEST_P(EngineBackendTest, BackgroundCheckpointerSignsWhenTheTreeGrows) {
  Options o;
  o.checkpoint_interval_ms = 20;
  Reopen(o);
  ASSERT_TRUE(store_->Append("s", ExpectedVersion::Any(), One("T", "{}")).ok());
  for (int i = 0; i < 200; ++i) {
    auto latest = store_->LatestStoredCheckpoint();
    if (latest.ok() && latest->size == 1) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  FAIL() << "no checkpoint for size 1 within 2 s";
}

}  // namespace
}  // namespace cairn::engine
