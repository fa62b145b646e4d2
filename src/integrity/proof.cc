#include "integrity/proof.h"

#include <algorithm>
#include <bit>
#include <cassert>
#include <tuple>
#include <utility>

namespace cairn::integrity {
namespace {

// A range of leaves [begin, end) whose MTH is one proof element.
struct LeafRange {
  uint64_t begin;
  uint64_t end;
};

// Largest power of two strictly less than n (n >= 2): RFC 9162's split point.
uint64_t SplitPoint(uint64_t n) {
  assert(n >= 2);
  return std::bit_floor(n - 1);
}

// RFC 9162 §2.1.3.1 PATH(m, D[0:size]), as ranges, leaf to root.
std::vector<LeafRange> InclusionRanges(uint64_t index, uint64_t size) {
  assert(index < size);
  std::vector<LeafRange> ranges;
  uint64_t begin = 0, end = size;
  while (end - begin > 1) {
    const uint64_t mid = begin + SplitPoint(end - begin);
    if (index < mid) {
      ranges.push_back({mid, end});
      end = mid;
    } else {
      ranges.push_back({begin, mid});
      begin = mid;
    }
  }
  assert(begin == index && end == index + 1);
  std::reverse(ranges.begin(), ranges.end());
  return ranges;
}

// RFC 9162 §2.1.4.1 SUBPROOF(size1, D[0:size2], true), as ranges, in proof order.
std::vector<LeafRange> ConsistencyRanges(uint64_t size1, uint64_t size2) {
  assert(0 < size1 && size1 < size2);
  std::vector<LeafRange> ranges;
  uint64_t begin = 0, end = size2;
  bool whole_old_tree = true;  // RFC's `b`: the subtree so far is the entire size1 tree
  while (size1 != end) {
    const uint64_t mid = begin + SplitPoint(end - begin);
    if (size1 <= mid) {
      ranges.push_back({mid, end});
      end = mid;
    } else {
      ranges.push_back({begin, mid});
      begin = mid;
      whole_old_tree = false;
    }
  }
  if (!whole_old_tree) ranges.push_back({begin, end});
  std::reverse(ranges.begin(), ranges.end());
  return ranges;
}

// Reads every node the ranges need in one batch and folds each range into its MTH.
Result<std::vector<Hash>> HashRanges(NodeReader& reader, std::span<const LeafRange> ranges,
                                     uint64_t size) {
  std::vector<NodeId> ids;
  std::vector<size_t> firsts;  // ranges[i] uses ids[firsts[i] .. firsts[i + 1])
  firsts.reserve(ranges.size() + 1);
  for (const LeafRange& range : ranges) {
    firsts.push_back(ids.size());
    std::vector<NodeId> nodes = RangeNodes(range.begin, range.end);
    // One aligned full subtree, the partial right edge of the tree, or a whole smaller tree.
    assert(nodes.size() == 1 || range.end == size || range.begin == 0);
    for (size_t i = 1; i < nodes.size(); ++i) assert(nodes[i].level < nodes[i - 1].level);
    ids.insert(ids.end(), nodes.begin(), nodes.end());
  }
  firsts.push_back(ids.size());
  std::vector<Hash> hashes;
  if (!ids.empty()) {
    Status status = reader.ReadNodes(ids, &hashes);
    if (!status.ok()) return status.Annotate("reading tree nodes");
    if (hashes.size() != ids.size()) return Status::Internal("node reader returned a short batch");
  }
  std::vector<Hash> out;
  out.reserve(ranges.size());
  for (size_t i = 0; i < ranges.size(); ++i) {
    std::span<const Hash> group(hashes.data() + firsts[i], firsts[i + 1] - firsts[i]);
    out.push_back(FoldRight(group));
  }
  return out;
}

Status CheckLeafIndex(uint64_t index, uint64_t size) {
  if (index < size) return Status::Ok();
  return Status::InvalidArgument("leaf index " + std::to_string(index) +
                                 " is not below tree size " + std::to_string(size));
}

Status CheckTreeSizes(uint64_t size1, uint64_t size2) {
  if (size1 != 0 && size1 <= size2) return Status::Ok();
  return Status::InvalidArgument("consistency proof needs 0 < size1 <= size2, got " +
                                 std::to_string(size1) + " and " + std::to_string(size2));
}

// Splits the hashes of a bundle's ranges: the proof, then the two trailing hashes.
std::pair<Hash, Hash> TakeLastTwo(std::vector<Hash>* hashes) {
  assert(hashes->size() >= 2);
  const std::pair<Hash, Hash> last{(*hashes)[hashes->size() - 2], hashes->back()};
  hashes->resize(hashes->size() - 2);
  return last;
}

}  // namespace

Result<std::vector<Hash>> InclusionProof(NodeReader& reader, uint64_t index, uint64_t size) {
  CAIRN_RETURN_IF_ERROR(CheckLeafIndex(index, size));
  std::vector<LeafRange> ranges = InclusionRanges(index, size);
  return HashRanges(reader, ranges, size);
}

Result<std::vector<Hash>> ConsistencyProof(NodeReader& reader, uint64_t size1, uint64_t size2) {
  CAIRN_RETURN_IF_ERROR(CheckTreeSizes(size1, size2));
  if (size1 == size2) return std::vector<Hash>{};
  std::vector<LeafRange> ranges = ConsistencyRanges(size1, size2);
  return HashRanges(reader, ranges, size2);
}

Result<InclusionBundle> InclusionProofBundle(NodeReader& reader, uint64_t index, uint64_t size) {
  CAIRN_RETURN_IF_ERROR(CheckLeafIndex(index, size));
  std::vector<LeafRange> ranges = InclusionRanges(index, size);
  ranges.push_back({index, index + 1});
  ranges.push_back({0, size});
  CAIRN_ASSIGN_OR_RETURN(std::vector<Hash> hashes, HashRanges(reader, ranges, size));
  InclusionBundle b;
  std::tie(b.leaf_hash, b.root) = TakeLastTwo(&hashes);
  b.proof = std::move(hashes);
  return b;
}

Result<ConsistencyBundle> ConsistencyProofBundle(NodeReader& reader, uint64_t size1,
                                                 uint64_t size2) {
  CAIRN_RETURN_IF_ERROR(CheckTreeSizes(size1, size2));
  std::vector<LeafRange> ranges;
  if (size1 < size2) ranges = ConsistencyRanges(size1, size2);
  ranges.push_back({0, size1});
  ranges.push_back({0, size2});
  CAIRN_ASSIGN_OR_RETURN(std::vector<Hash> hashes, HashRanges(reader, ranges, size2));
  ConsistencyBundle b;
  std::tie(b.root1, b.root2) = TakeLastTwo(&hashes);
  b.proof = std::move(hashes);
  return b;
}

Result<Hash> RootAt(NodeReader& reader, uint64_t size) {
  if (size == 0) return EmptyRoot();
  const LeafRange whole{0, size};
  CAIRN_ASSIGN_OR_RETURN(std::vector<Hash> hashes,
                         HashRanges(reader, std::span<const LeafRange>(&whole, 1), size));
  assert(hashes.size() == 1);
  return hashes[0];
}

}  // namespace cairn::integrity
