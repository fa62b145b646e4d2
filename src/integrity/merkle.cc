#include "integrity/merkle.h"

#include <algorithm>
#include <bit>
#include <cassert>

#include "common/bytes.h"

namespace cairn::integrity {

std::vector<NodeId> RangeNodes(uint64_t begin, uint64_t end) {
  assert(begin < end);
  std::vector<NodeId> nodes;
  while (begin < end) {
    int level = std::bit_width(end - begin) - 1;  // largest power of two that fits
    if (begin != 0) level = std::min(level, std::countr_zero(begin));  // ...and is aligned
    assert(level >= 0 && level <= kNodeLevelMax);
    nodes.push_back(NodeId{static_cast<uint8_t>(level), begin >> level});
    begin += uint64_t{1} << level;
  }
  assert(begin == end);
  assert(nodes.size() <= 2 * 64);
  return nodes;
}

Result<CompactRange> CompactRange::Create(uint64_t size, std::vector<Hash> hashes) {
  if (size > kSizeMax) return Status::InvalidArgument("compact range size above the maximum");
  if (hashes.size() != static_cast<size_t>(std::popcount(size))) {
    return Status::InvalidArgument("compact range of size " + std::to_string(size) + " needs " +
                                   std::to_string(std::popcount(size)) + " hashes, got " +
                                   std::to_string(hashes.size()));
  }
  return CompactRange(size, std::move(hashes));
}

void CompactRange::Append(const Hash& leaf_hash,
                          std::vector<std::pair<NodeId, Hash>>* completed) {
  assert(hashes_.size() == static_cast<size_t>(std::popcount(size_)));
  assert(size_ < kSizeMax);
  const uint64_t index = size_;  // the new leaf's index
  Hash node = leaf_hash;
  if (completed != nullptr) completed->emplace_back(NodeId{0, index}, node);
  // Each set low bit of the old size is a left sibling waiting for this subtree.
  uint8_t level = 0;
  while ((index >> level) & 1) {
    assert(!hashes_.empty());
    node = HashChildren(hashes_.back(), node);
    hashes_.pop_back();
    ++level;
    if (completed != nullptr) completed->emplace_back(NodeId{level, index >> level}, node);
  }
  hashes_.push_back(node);
  ++size_;
  assert(hashes_.size() == static_cast<size_t>(std::popcount(size_)));
}

Hash FoldRight(std::span<const Hash> hashes) {
  assert(!hashes.empty());
  Hash root = hashes.back();
  for (size_t i = hashes.size() - 1; i-- > 0;) root = HashChildren(hashes[i], root);
  return root;
}

Hash CompactRange::Root() const {
  if (size_ == 0) return EmptyRoot();
  return FoldRight(hashes_);
}

std::string CompactRange::Serialize() const {
  std::string out;
  out.reserve(8 + hashes_.size() * crypto::kSha256SizeBytes);
  PutU64(&out, size_);
  for (const Hash& h : hashes_) out.append(crypto::HashView(h));
  return out;
}

Result<CompactRange> CompactRange::Deserialize(std::string_view bytes) {
  ByteReader reader(bytes);
  uint64_t size = 0;
  if (!reader.GetU64(&size)) return Status::DataLoss("compact range truncated before its size");
  if (size > kSizeMax) return Status::DataLoss("compact range size " + std::to_string(size) + " is above the maximum");
  const size_t count = static_cast<size_t>(std::popcount(size));
  if (reader.remaining() != count * crypto::kSha256SizeBytes) {
    return Status::DataLoss("compact range of size " + std::to_string(size) + " must hold " +
                            std::to_string(count) + " hashes");
  }
  std::vector<Hash> hashes(count);
  for (Hash& h : hashes) {
    std::string_view b;
    [[maybe_unused]] bool ok = reader.GetBytes(h.size(), &b);
    assert(ok);
    h = crypto::HashFromBytes(b);
  }
  assert(reader.remaining() == 0);
  return CompactRange(size, std::move(hashes));
}

Hash RootOfLeafHashes(std::span<const Hash> leaves) {
  if (leaves.empty()) return EmptyRoot();
  if (leaves.size() == 1) return leaves[0];
  const size_t k = std::bit_floor(leaves.size() - 1);  // largest power of two < n
  assert(k > 0 && k < leaves.size());
  return HashChildren(RootOfLeafHashes(leaves.first(k)), RootOfLeafHashes(leaves.subspan(k)));
}

}  // namespace cairn::integrity
