#include "integrity/memory_node_store.h"

#include <cassert>

namespace cairn::integrity {

void MemoryNodeStore::Put(const NodeId& id, const Hash& hash) {
  auto [it, inserted] = nodes_.emplace(id, hash);
  assert(inserted || it->second == hash);
}

void MemoryNodeStore::Put(std::span<const std::pair<NodeId, Hash>> nodes) {
  for (const auto& [id, hash] : nodes) Put(id, hash);
}

Status MemoryNodeStore::ReadNodes(std::span<const NodeId> ids, std::vector<Hash>* hashes) {
  hashes->clear();
  hashes->reserve(ids.size());
  for (const NodeId& id : ids) {
    auto it = nodes_.find(id);
    if (it == nodes_.end()) {
      return Status::NotFound("tree node level " + std::to_string(id.level) + " index " +
                              std::to_string(id.index) + " is not stored");
    }
    hashes->push_back(it->second);
  }
  return Status::Ok();
}

}  // namespace cairn::integrity
