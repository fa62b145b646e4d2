// The RFC 6962/9162 Merkle tree over leaf hashes: node ids, the compact range that the
// sequencer keeps, and a reference root computation.
//
// A full subtree is named by NodeId{level, index}: it covers the 2^level leaves
// [index << level, (index + 1) << level). Only full subtrees are ever stored; a tree of any
// size is described by its compact range, the full subtrees along its right edge, largest
// (leftmost) first, one per set bit of the size. Its root folds them right to left with
// HashChildren; odd nodes are never duplicated.
//
// Thread safety: CompactRange is a value; concurrent const use is safe, mutation is not.
#pragma once

#include <compare>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"
#include "integrity/entry.h"

namespace cairn::integrity {

inline constexpr uint8_t kNodeLevelMax = 63;

struct NodeId {
  uint8_t level = 0;
  uint64_t index = 0;

  uint64_t begin() const { return index << level; }
  uint64_t end() const { return (index + 1) << level; }
  auto operator<=>(const NodeId&) const = default;
};

// The aligned full subtrees that exactly cover the leaves [begin, end), in order from left to
// right, in a tree of at least `end` leaves. When `end` is the tree size and `begin` is aligned
// as in RFC 9162's recursion, their sizes are descending powers of two and folding their hashes
// right to left gives MTH(D[begin:end]). Requires begin < end.
std::vector<NodeId> RangeNodes(uint64_t begin, uint64_t end);

class CompactRange {
 public:
  CompactRange() = default;  // the empty tree

  // The largest size a tree may have: leaf indexes are u64 and the next leaf's index is the size.
  static constexpr uint64_t kSizeMax = UINT64_MAX - 1;

  // kInvalidArgument unless hashes.size() == popcount(size) and size <= kSizeMax.
  static Result<CompactRange> Create(uint64_t size, std::vector<Hash> hashes);

  uint64_t size() const { return size_; }
  const std::vector<Hash>& hashes() const { return hashes_; }

  // Appends a leaf; requires size() < kSizeMax (callers check, e.g. the sequencer refuses an
  // append that would pass it). When `completed` is not null, appends to it every full subtree
  // this leaf completes, bottom up: the leaf itself at level 0, then each parent it merges into.
  void Append(const Hash& leaf_hash, std::vector<std::pair<NodeId, Hash>>* completed);
  Hash Root() const;

  // u64 size, then popcount(size) hashes of 32 bytes. Deserialize is strict (kDataLoss),
  // including for a size above kSizeMax.
  std::string Serialize() const;
  static Result<CompactRange> Deserialize(std::string_view bytes);

  bool operator==(const CompactRange&) const = default;

 private:
  CompactRange(uint64_t size, std::vector<Hash> hashes) : size_(size), hashes_(std::move(hashes)) {}

  uint64_t size_ = 0;
  std::vector<Hash> hashes_;
};

// Reference MTH of RFC 9162 §2.1.1 by recursion (split at the largest power of two < n).
// O(n) hashes: for tests and cross-checks, not for the hot path.
Hash RootOfLeafHashes(std::span<const Hash> leaf_hashes);

// Folds full-subtree hashes given left to right (as RangeNodes orders them) from the right.
// Requires a non-empty span.
Hash FoldRight(std::span<const Hash> hashes);

}  // namespace cairn::integrity
