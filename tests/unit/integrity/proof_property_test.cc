// Proofs generated from stored nodes, checked against the verifiers for every tree shape up to
// 300 leaves, with tampering of every kind the verifier must catch.
#include <bit>

#include <gtest/gtest.h>

#include "integrity/proof.h"
#include "tree_fixture.h"

namespace cairn::integrity {
namespace CAIRN_UNITY_ID {

using testing::FlipBit;
using testing::GrownTree;

constexpr uint64_t kTreeSizeMax = 300;
constexpr size_t kHashBits = 256;

const GrownTree& Tree() {
  static const GrownTree* tree = new GrownTree(kTreeSizeMax);
  return *tree;
}

// Counts batches to prove that proofs cost one round trip of O(log n) node reads.
class CountingReader : public NodeReader {
 public:
  explicit CountingReader(NodeReader& inner) : inner_(inner) {}
  Status ReadNodes(std::span<const NodeId> ids, std::vector<Hash>* hashes) override {
    ++calls;
    ids_last = ids.size();
    return inner_.ReadNodes(ids, hashes);
  }
  void Reset() { calls = 0, ids_last = 0; }

  int calls = 0;
  size_t ids_last = 0;

 private:
  NodeReader& inner_;
};

size_t IdsBound(uint64_t n) { return 2 * static_cast<size_t>(std::bit_width(n - 1)) + 2; }

// Flips the bits of every proof element, the leaf and the root: each must be rejected.
// `every_bit` false checks one bit per 32-bit word (chosen from the seed) instead of all 256.
void ExpectInclusionTamperingFails(uint64_t index, uint64_t n, const std::vector<Hash>& proof,
                                   bool every_bit) {
  const GrownTree& tree = Tree();
  const Hash& leaf = tree.leaves[index];
  const Hash& root = tree.roots[n];
  for (size_t bit = 0; bit < kHashBits; ++bit) {
    if (!every_bit && bit % 32 != (index * 7 + n) % 32) continue;
    for (size_t e = 0; e < proof.size(); ++e) {
      std::vector<Hash> bad = proof;
      bad[e] = FlipBit(bad[e], bit);
      ASSERT_FALSE(VerifyInclusion(index, n, leaf, bad, root).ok()) << e << " bit " << bit;
    }
    ASSERT_FALSE(VerifyInclusion(index, n, FlipBit(leaf, bit), proof, root).ok());
    ASSERT_FALSE(VerifyInclusion(index, n, leaf, proof, FlipBit(root, bit)).ok());
  }
}

TEST(ProofPropertyTest, InclusionEverySizeEveryLeaf) {
  const GrownTree& tree = Tree();
  CountingReader reader(const_cast<MemoryNodeStore&>(tree.store));
  size_t proofs = 0;
  for (uint64_t n = 1; n <= kTreeSizeMax; ++n) {
    const Hash& root = tree.roots[n];
    for (uint64_t i = 0; i < n; ++i) {
      SCOPED_TRACE("index " + std::to_string(i) + " size " + std::to_string(n));
      reader.Reset();
      auto proof = InclusionProof(reader, i, n);
      ASSERT_TRUE(proof.ok()) << proof.status().ToString();
      ASSERT_EQ(reader.calls, n == 1 ? 0 : 1);
      ASSERT_LE(reader.ids_last, IdsBound(n));
      ASSERT_TRUE(VerifyInclusion(i, n, tree.leaves[i], *proof, root).ok());
      ++proofs;

      // Every bit of every hash for the smaller trees; a sample of bits for the rest.
      ExpectInclusionTamperingFails(i, n, *proof, /*every_bit=*/n <= 64);
      // Wrong index.
      if (i > 0) {
        ASSERT_FALSE(VerifyInclusion(i - 1, n, tree.leaves[i], *proof, root).ok());
      }
      if (i + 1 < n) {
        ASSERT_FALSE(VerifyInclusion(i + 1, n, tree.leaves[i], *proof, root).ok());
      }
      ASSERT_EQ(VerifyInclusion(n, n, tree.leaves[i], *proof, root).code(),
                StatusCode::kInvalidArgument);
      // Wrong size, with the root of that size.
      for (uint64_t m : {n - 1, n + 1, 2 * n, n / 2}) {
        if (m == n || m <= i || m > kTreeSizeMax) continue;
        ASSERT_FALSE(VerifyInclusion(i, m, tree.leaves[i], *proof, tree.roots[m]).ok()) << m;
      }
      // Missing, extra or duplicated elements.
      if (!proof->empty()) {
        std::vector<Hash> shorter(proof->begin(), proof->end() - 1);
        ASSERT_FALSE(VerifyInclusion(i, n, tree.leaves[i], shorter, root).ok());
        std::vector<Hash> preceded = *proof;
        preceded.insert(preceded.begin(), proof->front());
        ASSERT_FALSE(VerifyInclusion(i, n, tree.leaves[i], preceded, root).ok());
      }
      std::vector<Hash> longer = *proof;
      longer.push_back(root);
      Status s = VerifyInclusion(i, n, tree.leaves[i], longer, root);
      ASSERT_EQ(s.code(), StatusCode::kDataLoss);
      ASSERT_NE(s.message().find("number of elements"), std::string::npos) << s.message();
    }
  }
  EXPECT_EQ(proofs, kTreeSizeMax * (kTreeSizeMax + 1) / 2);
}

TEST(ProofPropertyTest, ConsistencyEveryPair) {
  const GrownTree& tree = Tree();
  CountingReader reader(const_cast<MemoryNodeStore&>(tree.store));
  size_t proofs = 0, tampered = 0;
  for (uint64_t n = 1; n <= kTreeSizeMax; ++n) {
    for (uint64_t m = 1; m <= n; ++m) {
      SCOPED_TRACE("sizes " + std::to_string(m) + " -> " + std::to_string(n));
      reader.Reset();
      auto proof = ConsistencyProof(reader, m, n);
      ASSERT_TRUE(proof.ok()) << proof.status().ToString();
      ASSERT_EQ(reader.calls, m == n ? 0 : 1);
      ASSERT_LE(reader.ids_last, IdsBound(n));
      ASSERT_EQ(proof->empty(), m == n);
      ASSERT_TRUE(VerifyConsistency(m, n, *proof, tree.roots[m], tree.roots[n]).ok());
      ++proofs;

      if (m != n) {
        ASSERT_FALSE(VerifyConsistency(m, n, *proof, tree.roots[n], tree.roots[m]).ok());
      }
      if (m > 1) {
        ASSERT_FALSE(VerifyConsistency(m - 1, n, *proof, tree.roots[m - 1], tree.roots[n]).ok());
      }
      if (m < n) {
        ASSERT_FALSE(VerifyConsistency(m + 1, n, *proof, tree.roots[m + 1], tree.roots[n]).ok());
        ASSERT_FALSE(VerifyConsistency(m, n - 1, *proof, tree.roots[m], tree.roots[n - 1]).ok());
        std::vector<Hash> shorter(proof->begin(), proof->end() - 1);
        ASSERT_FALSE(VerifyConsistency(m, n, shorter, tree.roots[m], tree.roots[n]).ok());
        std::vector<Hash> preceded = *proof;
        preceded.insert(preceded.begin(), tree.roots[m]);
        ASSERT_FALSE(VerifyConsistency(m, n, preceded, tree.roots[m], tree.roots[n]).ok());
      }
      if (n < kTreeSizeMax) {
        ASSERT_FALSE(VerifyConsistency(m, n + 1, *proof, tree.roots[m], tree.roots[n + 1]).ok());
      }
      std::vector<Hash> longer = *proof;
      longer.push_back(tree.roots[n]);
      Status s = VerifyConsistency(m, n, longer, tree.roots[m], tree.roots[n]);
      ASSERT_EQ(s.code(), StatusCode::kDataLoss);
      ASSERT_NE(s.message().find("number of elements"), std::string::npos) << s.message();

      // All bits of all elements for a deterministic sample of pairs (every pair up to 40).
      if (n <= 40 || (m * 131 + n * 17) % 29 == 0) {
        for (size_t e = 0; e < proof->size(); ++e) {
          for (size_t bit = 0; bit < kHashBits; ++bit) {
            std::vector<Hash> bad = *proof;
            bad[e] = FlipBit(bad[e], bit);
            ASSERT_FALSE(VerifyConsistency(m, n, bad, tree.roots[m], tree.roots[n]).ok())
                << "element " << e << " bit " << bit;
          }
        }
        for (size_t bit = 0; bit < kHashBits; ++bit) {
          ASSERT_FALSE(
              VerifyConsistency(m, n, *proof, FlipBit(tree.roots[m], bit), tree.roots[n]).ok());
          ASSERT_FALSE(
              VerifyConsistency(m, n, *proof, tree.roots[m], FlipBit(tree.roots[n], bit)).ok());
        }
        ++tampered;
      }
    }
  }
  EXPECT_EQ(proofs, kTreeSizeMax * (kTreeSizeMax + 1) / 2);
  std::cout << "consistency: " << proofs << " pairs, " << tampered << " with every bit flipped\n";
}

// A proof longer than any proof of a u64-sized tree is refused before its elements are copied.
TEST(ProofPropertyTest, AnOverlongWireProofIsRefusedUpFront) {
  const std::string h(32, 'a');
  std::vector<std::string> proof(kProofElementsMax + 1, h);
  auto parsed = ProofFromWire(proof);
  EXPECT_EQ(parsed.status().code(), StatusCode::kDataLoss);
  EXPECT_EQ(VerifyInclusion(0, 2, h, proof, h).code(), StatusCode::kDataLoss);
  EXPECT_EQ(VerifyConsistency(1, 2, proof, h, h).code(), StatusCode::kDataLoss);
  proof.resize(kProofElementsMax);
  EXPECT_TRUE(ProofFromWire(proof).ok());
}

TEST(ProofPropertyTest, RootAtEverySize) {
  const GrownTree& tree = Tree();
  CountingReader reader(const_cast<MemoryNodeStore&>(tree.store));
  for (uint64_t n = 0; n <= kTreeSizeMax; ++n) {
    reader.Reset();
    auto root = RootAt(reader, n);
    ASSERT_TRUE(root.ok());
    EXPECT_EQ(*root, tree.roots[n]) << n;
    EXPECT_EQ(*root, RootOfLeafHashes(std::span(tree.leaves).first(n))) << n;
    EXPECT_EQ(reader.calls, n == 0 ? 0 : 1);
    EXPECT_EQ(reader.ids_last, static_cast<size_t>(std::popcount(n)));
  }
}

TEST(ProofPropertyTest, ImpossibleParameters) {
  const GrownTree& tree = Tree();
  MemoryNodeStore& store = const_cast<MemoryNodeStore&>(tree.store);
  EXPECT_EQ(InclusionProof(store, 5, 5).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(InclusionProof(store, 0, 0).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ConsistencyProof(store, 0, 5).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ConsistencyProof(store, 6, 5).status().code(), StatusCode::kInvalidArgument);
  const Hash& r = tree.roots[5];
  EXPECT_EQ(VerifyConsistency(0, 5, {}, EmptyRoot(), r).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(VerifyConsistency(0, 0, {}, EmptyRoot(), EmptyRoot()).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(VerifyConsistency(6, 5, {}, r, r).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(VerifyConsistency(5, 5, {}, r, tree.roots[4]).code(), StatusCode::kDataLoss);
  EXPECT_EQ(VerifyConsistency(5, 5, std::vector<Hash>{r}, r, r).code(), StatusCode::kDataLoss);
  EXPECT_TRUE(VerifyConsistency(5, 5, {}, r, r).ok());
}

TEST(ProofPropertyTest, MissingNodeIsNotFound) {
  GrownTree small(10);
  MemoryNodeStore empty;
  EXPECT_EQ(InclusionProof(empty, 3, 10).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(ConsistencyProof(empty, 3, 10).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(RootAt(empty, 10).status().code(), StatusCode::kNotFound);
  // Nodes of a tree of 10 cannot prove anything about size 11.
  EXPECT_EQ(InclusionProof(small.store, 3, 11).status().code(), StatusCode::kNotFound);
}

TEST(ProofPropertyTest, WireFormsRejectWrongLengths) {
  const GrownTree& tree = Tree();
  MemoryNodeStore& store = const_cast<MemoryNodeStore&>(tree.store);
  auto proof = InclusionProof(store, 6, 13);
  ASSERT_TRUE(proof.ok());
  std::vector<std::string> wire;
  for (const Hash& h : *proof) wire.push_back(crypto::HashString(h));
  const std::string leaf = crypto::HashString(tree.leaves[6]);
  const std::string root = crypto::HashString(tree.roots[13]);
  EXPECT_TRUE(VerifyInclusion(6, 13, leaf, wire, root).ok());
  for (size_t e = 0; e < wire.size(); ++e) {
    for (size_t cut : {size_t{0}, size_t{31}, size_t{33}}) {
      std::vector<std::string> bad = wire;
      bad[e] = (wire[e] + "x").substr(0, cut);
      EXPECT_EQ(VerifyInclusion(6, 13, leaf, bad, root).code(), StatusCode::kDataLoss);
    }
  }
  EXPECT_EQ(VerifyInclusion(6, 13, leaf.substr(1), wire, root).code(), StatusCode::kDataLoss);
  EXPECT_EQ(VerifyInclusion(6, 13, leaf, wire, root + "x").code(), StatusCode::kDataLoss);

  auto consistency = ConsistencyProof(store, 6, 13);
  ASSERT_TRUE(consistency.ok());
  std::vector<std::string> cwire;
  for (const Hash& h : *consistency) cwire.push_back(crypto::HashString(h));
  const std::string root6 = crypto::HashString(tree.roots[6]);
  EXPECT_TRUE(VerifyConsistency(6, 13, cwire, root6, root).ok());
  cwire.back().pop_back();
  EXPECT_EQ(VerifyConsistency(6, 13, cwire, root6, root).code(), StatusCode::kDataLoss);
}

// The bundles give the same proof, leaf hash and roots as the separate calls, in ONE batch.
TEST(ProofBundles, MatchSeparateCallsWithOneRead) {
  const GrownTree& tree = Tree();
  CountingReader reader(const_cast<MemoryNodeStore&>(tree.store));
  for (uint64_t n = 1; n <= 70; ++n) {
    for (uint64_t i = 0; i < n; ++i) {
      reader.Reset();
      auto b = InclusionProofBundle(reader, i, n);
      ASSERT_TRUE(b.ok()) << b.status().ToString();
      EXPECT_EQ(reader.calls, 1);
      EXPECT_EQ(b->leaf_hash, tree.leaves[i]);
      EXPECT_EQ(b->root, tree.roots[n]);
      EXPECT_EQ(b->proof, InclusionProof(const_cast<MemoryNodeStore&>(tree.store), i, n).value());
      EXPECT_TRUE(VerifyInclusion(i, n, b->leaf_hash, b->proof, b->root).ok());
    }
    for (uint64_t m = 1; m <= n; ++m) {
      reader.Reset();
      auto c = ConsistencyProofBundle(reader, m, n);
      ASSERT_TRUE(c.ok()) << c.status().ToString();
      EXPECT_EQ(reader.calls, 1);
      EXPECT_EQ(c->root1, tree.roots[m]);
      EXPECT_EQ(c->root2, tree.roots[n]);
      EXPECT_TRUE(VerifyConsistency(m, n, c->proof, c->root1, c->root2).ok()) << m << "->" << n;
    }
  }
  EXPECT_FALSE(InclusionProofBundle(reader, 5, 5).ok());
  EXPECT_FALSE(ConsistencyProofBundle(reader, 0, 5).ok());
}

}  // namespace
}  // namespace cairn::integrity
