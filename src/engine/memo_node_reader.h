// MemoNodeReader: a NodeReader that remembers every node it read through another reader, for
// proofs made together (Integrity.GetInclusionProofs): a batch of proofs of nearby positions
// shares most of its nodes, so each is read from storage once per batch instead of once per
// proof.
//
// Bounded: at most kEntriesMax nodes are kept; when full, the memo is emptied and refilled. Only
// for one batch of proofs of ONE tree (nodes of full subtrees never change, so a memo is never
// stale; it is dropped with the batch so that memory stays bounded).
// Thread safety: none; one batch uses it on one thread. `inner` must outlive it.
#pragma once

#include <cassert>
#include <cstdint>
#include <unordered_map>
#include <vector>

#include "integrity/proof.h"

namespace cairn::engine {

class MemoNodeReader final : public integrity::NodeReader {
 public:
  static constexpr size_t kEntriesMax = 1 << 16;  // 2 MiB of hashes, plus map overhead

  explicit MemoNodeReader(integrity::NodeReader* inner) : inner_(inner) {}
  Status ReadNodes(std::span<const integrity::NodeId> ids, std::vector<crypto::Hash>* hashes) override;

  size_t size() const { return memo_.size(); }
  uint64_t nodes_read() const { return nodes_read_; }  // asked of the inner reader

 private:
  static uint64_t Key(const integrity::NodeId& id) {
    assert(id.index < (uint64_t{1} << 58));  // far beyond any log: leaves are positions
    return (uint64_t{id.level} << 58) ^ id.index;
  }

  integrity::NodeReader* inner_;
  std::unordered_map<uint64_t, crypto::Hash> memo_;
  uint64_t nodes_read_ = 0;
};

}  // namespace cairn::engine
