// An in-memory NodeReader: a map from NodeId to hash, filled from the nodes that
// CompactRange::Append reports as completed. For tests, benchmarks and offline tools over small
// trees; the server keeps nodes in its LogStore.
//
// Thread safety: none; callers serialise Put and ReadNodes. Nodes are immutable once written, so
// Put of an existing id with a different hash is a bug and asserts.
#pragma once

#include <map>
#include <span>
#include <utility>
#include <vector>

#include "integrity/merkle.h"
#include "integrity/proof.h"

namespace cairn::integrity {

class MemoryNodeStore : public NodeReader {
 public:
  void Put(const NodeId& id, const Hash& hash);
  void Put(std::span<const std::pair<NodeId, Hash>> nodes);
  size_t size() const { return nodes_.size(); }

  Status ReadNodes(std::span<const NodeId> ids, std::vector<Hash>* hashes) override;

 private:
  std::map<NodeId, Hash> nodes_;
};

}  // namespace cairn::integrity
