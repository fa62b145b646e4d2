// MemoNodeReader: proofs through it equal proofs read directly, nodes shared by nearby proofs
// are read once, and the memo stays within its bound.
#include "engine/memo_node_reader.h"

#include <gtest/gtest.h>

#include "unit/integrity/tree_fixture.h"

namespace cairn::engine {
namespace CAIRN_UNITY_ID {

class CountingReader final : public integrity::NodeReader {
 public:
  explicit CountingReader(integrity::NodeReader& inner) : inner_(inner) {}
  Status ReadNodes(std::span<const integrity::NodeId> ids, std::vector<crypto::Hash>* hashes) override {
    ids_read += ids.size();
    return inner_.ReadNodes(ids, hashes);
  }
  uint64_t ids_read = 0;

 private:
  integrity::NodeReader& inner_;
};

TEST(MemoNodeReader, NearbyProofsReadSharedNodesOnce) {
  integrity::testing::GrownTree tree(1000);
  CountingReader direct(tree.store), below_memo(tree.store);
  MemoNodeReader memo(&below_memo);
  for (uint64_t index = 200; index < 456; ++index) {
    auto want = integrity::InclusionProofBundle(direct, index, 1000);
    auto got = integrity::InclusionProofBundle(memo, index, 1000);
    ASSERT_TRUE(want.ok() && got.ok());
    EXPECT_EQ(got->proof, want->proof) << index;
    EXPECT_EQ(got->leaf_hash, tree.leaves[index]);
    EXPECT_EQ(got->root, tree.roots[1000]);
  }
  EXPECT_EQ(memo.nodes_read(), below_memo.ids_read);
  // 256 proofs of ~10 path nodes, a leaf and the root's nodes each: read directly every time,
  // through the memo each distinct node once.
  EXPECT_LT(below_memo.ids_read * 4, direct.ids_read)
      << below_memo.ids_read << " vs " << direct.ids_read;
  EXPECT_LE(memo.size(), below_memo.ids_read);  // an id asked twice in one call is read twice
}

TEST(MemoNodeReader, AMissingNodeIsTheInnerReadersErrorAndNothingIsKept) {
  integrity::testing::GrownTree tree(10);
  MemoNodeReader memo(&tree.store);
  std::vector<crypto::Hash> hashes;
  const integrity::NodeId absent{0, 99};
  EXPECT_EQ(memo.ReadNodes(std::span<const integrity::NodeId>(&absent, 1), &hashes).code(),
            StatusCode::kNotFound);
  EXPECT_EQ(memo.size(), 0u);
}

TEST(MemoNodeReader, StaysWithinItsBound) {
  integrity::testing::GrownTree tree(2);
  // A reader that makes up a hash per id: enough distinct ids to pass the bound.
  struct Any final : integrity::NodeReader {
    Status ReadNodes(std::span<const integrity::NodeId> ids, std::vector<crypto::Hash>* hashes) override {
      hashes->assign(ids.size(), crypto::Hash{});
      return Status::Ok();
    }
  } any;
  MemoNodeReader memo(&any);
  std::vector<integrity::NodeId> ids;
  for (uint64_t i = 0; i < 1000; ++i) ids.push_back({0, i});
  std::vector<crypto::Hash> hashes;
  for (uint64_t round = 0; round < 2 * MemoNodeReader::kEntriesMax / 1000; ++round) {
    for (auto& id : ids) id.index += 1000;
    ASSERT_TRUE(memo.ReadNodes(ids, &hashes).ok());
    ASSERT_LE(memo.size(), MemoNodeReader::kEntriesMax);
  }
  EXPECT_GT(memo.size(), 0u);
}

}  // namespace
}  // namespace cairn::engine
