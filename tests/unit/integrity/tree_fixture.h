// Test helpers for the integrity tests: hex hashes and an in-memory tree of N leaves.
#pragma once

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "common/bytes.h"
#include "integrity/entry.h"
#include "integrity/memory_node_store.h"
#include "integrity/merkle.h"

namespace cairn::integrity::testing {

inline Hash HashFromHex(const std::string& hex) {
  std::optional<std::string> bytes = HexDecode(hex);
  EXPECT_TRUE(bytes && bytes->size() == 32) << hex;
  return crypto::HashFromBytes(bytes && bytes->size() == 32 ? *bytes : std::string(32, '\0'));
}

inline std::string Hex(const Hash& h) { return HexEncode(crypto::HashView(h)); }

inline Hash FlipBit(Hash h, size_t bit) {
  h[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
  return h;
}

// A tree grown leaf by leaf: every completed node in `store`, and the root at every size.
struct GrownTree {
  explicit GrownTree(uint64_t size) {
    roots.push_back(range.Root());
    std::vector<std::pair<NodeId, Hash>> completed;
    for (uint64_t i = 0; i < size; ++i) {
      leaves.push_back(LeafHash("leaf " + std::to_string(i)));
      completed.clear();
      range.Append(leaves.back(), &completed);
      store.Put(completed);
      roots.push_back(range.Root());
    }
  }

  std::vector<Hash> leaves;
  std::vector<Hash> roots;  // roots[n] = root of the first n leaves
  CompactRange range;
  MemoryNodeStore store;
};

}  // namespace cairn::integrity::testing
