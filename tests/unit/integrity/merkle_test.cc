#include "integrity/merkle.h"

#include <bit>

#include <gtest/gtest.h>

#include "common/bytes.h"
#include "tree_fixture.h"

namespace cairn::integrity {
namespace CAIRN_UNITY_ID {

using testing::GrownTree;
using testing::Hex;

// Reference constants from the shared vectors README (RFC 6962 hashing, transparency-dev).
const char* const kLeafInputsHex[] = {"",         "00",
                                      "10",       "2021",
                                      "3031",     "40414243",
                                      "5051525354555657", "606162636465666768696a6b6c6d6e6f"};
const char* const kRootsHex[] = {
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
};

std::vector<Hash> ReferenceLeaves() {
  std::vector<Hash> leaves;
  for (const char* hex : kLeafInputsHex) leaves.push_back(LeafHash(*HexDecode(hex)));
  return leaves;
}

TEST(MerkleTest, ReferenceRootsByCompactRange) {
  CompactRange range;
  EXPECT_EQ(Hex(range.Root()), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  std::vector<Hash> leaves = ReferenceLeaves();
  for (size_t n = 1; n <= leaves.size(); ++n) {
    range.Append(leaves[n - 1], nullptr);
    EXPECT_EQ(range.size(), n);
    EXPECT_EQ(Hex(range.Root()), kRootsHex[n - 1]) << "size " << n;
  }
}

TEST(MerkleTest, ReferenceRootsByRecursion) {
  std::vector<Hash> leaves = ReferenceLeaves();
  EXPECT_EQ(RootOfLeafHashes({}), EmptyRoot());
  for (size_t n = 1; n <= leaves.size(); ++n) {
    EXPECT_EQ(Hex(RootOfLeafHashes(std::span(leaves).first(n))), kRootsHex[n - 1]) << n;
  }
}

TEST(MerkleTest, CompactRangeMatchesRecursionUpTo1025) {
  CompactRange range;
  std::vector<Hash> leaves;
  for (uint64_t i = 0; i < 1025; ++i) {
    leaves.push_back(LeafHash(std::to_string(i)));
    range.Append(leaves.back(), nullptr);
    ASSERT_EQ(range.hashes().size(), static_cast<size_t>(std::popcount(range.size())));
    if (i < 300 || std::has_single_bit(i) || std::has_single_bit(i + 1) || i == 1024) {
      ASSERT_EQ(range.Root(), RootOfLeafHashes(leaves)) << "size " << leaves.size();
    }
  }
}

TEST(MerkleTest, AppendReportsCompletedNodes) {
  CompactRange range;
  std::vector<std::pair<NodeId, Hash>> completed;
  std::vector<Hash> leaves;
  for (uint64_t i = 0; i < 8; ++i) {
    leaves.push_back(LeafHash(std::to_string(i)));
    completed.clear();
    range.Append(leaves.back(), &completed);
    // Leaf i completes one node per trailing one bit of i, plus the leaf itself.
    ASSERT_EQ(completed.size(), static_cast<size_t>(std::countr_one(i)) + 1) << i;
    for (size_t level = 0; level < completed.size(); ++level) {
      const NodeId id = completed[level].first;
      EXPECT_EQ(id.level, level);
      EXPECT_EQ(id.index, i >> level);
      EXPECT_EQ(id.end(), i + 1);
      std::span<const Hash> covered(leaves.data() + id.begin(), id.end() - id.begin());
      EXPECT_EQ(completed[level].second, RootOfLeafHashes(covered));
    }
  }
  // After 8 leaves the whole tree is one full subtree.
  EXPECT_EQ(completed.back().first, (NodeId{3, 0}));
  EXPECT_EQ(range.hashes().size(), 1u);
}

TEST(MerkleTest, HashesAreRightEdgeLargestFirst) {
  GrownTree tree(13);  // 8 + 4 + 1
  ASSERT_EQ(tree.range.hashes().size(), 3u);
  EXPECT_EQ(tree.range.hashes()[0], RootOfLeafHashes(std::span(tree.leaves).first(8)));
  EXPECT_EQ(tree.range.hashes()[1], RootOfLeafHashes(std::span(tree.leaves).subspan(8, 4)));
  EXPECT_EQ(tree.range.hashes()[2], tree.leaves[12]);
}

TEST(MerkleTest, RangeNodes) {
  auto ids = RangeNodes(0, 13);
  ASSERT_EQ(ids.size(), 3u);
  EXPECT_EQ(ids[0], (NodeId{3, 0}));
  EXPECT_EQ(ids[1], (NodeId{2, 2}));
  EXPECT_EQ(ids[2], (NodeId{0, 12}));
  ids = RangeNodes(8, 11);
  ASSERT_EQ(ids.size(), 2u);
  EXPECT_EQ(ids[0], (NodeId{1, 4}));
  EXPECT_EQ(ids[1], (NodeId{0, 10}));
  EXPECT_EQ(RangeNodes(0, uint64_t{1} << 40).size(), 1u);
  EXPECT_EQ(RangeNodes(0, UINT64_MAX).size(), 64u);
}

TEST(MerkleTest, CreateValidatesHashCount) {
  Hash h{};
  EXPECT_TRUE(CompactRange::Create(0, {}).ok());
  EXPECT_TRUE(CompactRange::Create(5, {h, h}).ok());
  EXPECT_EQ(CompactRange::Create(5, {h}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(CompactRange::Create(4, {h, h}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(CompactRange::Create(0, {h}).status().code(), StatusCode::kInvalidArgument);
}

TEST(MerkleTest, CreatedRangeContinuesLikeTheOriginal) {
  GrownTree tree(11);
  auto copy = CompactRange::Create(tree.range.size(), tree.range.hashes());
  ASSERT_TRUE(copy.ok());
  CompactRange original = tree.range;
  for (int i = 0; i < 7; ++i) {
    Hash leaf = LeafHash("more " + std::to_string(i));
    original.Append(leaf, nullptr);
    copy->Append(leaf, nullptr);
    EXPECT_EQ(copy->Root(), original.Root());
  }
}

TEST(MerkleTest, SerializeRoundTrip) {
  for (uint64_t n : {0, 1, 2, 3, 7, 8, 13, 100}) {
    GrownTree tree(n);
    const std::string bytes = tree.range.Serialize();
    EXPECT_EQ(bytes.size(), 8 + 32 * static_cast<size_t>(std::popcount(n)));
    auto parsed = CompactRange::Deserialize(bytes);
    ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
    EXPECT_EQ(*parsed, tree.range);
    EXPECT_EQ(parsed->Root(), tree.roots[n]);
  }
}

TEST(MerkleTest, DeserializeIsStrict) {
  GrownTree tree(13);
  const std::string bytes = tree.range.Serialize();
  for (size_t n = 0; n < bytes.size(); ++n) {
    EXPECT_EQ(CompactRange::Deserialize(bytes.substr(0, n)).status().code(),
              StatusCode::kDataLoss)
        << n;
  }
  EXPECT_EQ(CompactRange::Deserialize(bytes + "x").status().code(), StatusCode::kDataLoss);
  std::string wrong_size = bytes;
  wrong_size[7] = 14;  // 0b1110 also has three set bits: the layout is valid
  EXPECT_TRUE(CompactRange::Deserialize(wrong_size).ok());
  wrong_size[7] = 12;  // 0b1100: two hashes expected, three given
  EXPECT_EQ(CompactRange::Deserialize(wrong_size).status().code(), StatusCode::kDataLoss);
}

// A stored size of 2^64 - 1 with its 64 hashes is well formed, but the next leaf's index would
// not fit: refused on load, not left for an append to overflow.
TEST(MerkleTest, ASizeAboveTheMaximumIsRefused) {
  std::string bytes;
  PutU64(&bytes, UINT64_MAX);
  bytes.append(64 * 32, '\x07');
  EXPECT_EQ(CompactRange::Deserialize(bytes).status().code(), StatusCode::kDataLoss);
  EXPECT_EQ(CompactRange::Create(UINT64_MAX, std::vector<Hash>(64)).status().code(),
            StatusCode::kInvalidArgument);
  std::string at_max;
  PutU64(&at_max, CompactRange::kSizeMax);
  at_max.append(63 * 32, '\x07');
  EXPECT_TRUE(CompactRange::Deserialize(at_max).ok());
}

}  // namespace
}  // namespace cairn::integrity
