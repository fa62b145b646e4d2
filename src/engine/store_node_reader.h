// StoreNodeReader: integrity::NodeReader over the LogStore's Merkle nodes (one MultiGet).
// Thread safety: as the LogStore (safe for concurrent use).
#pragma once

#include "engine/node_cache.h"
#include "integrity/proof.h"
#include "storage/log_store.h"

namespace cairn::engine {

// With a cache, high nodes come from memory and the rest from one storage read.
class StoreNodeReader final : public integrity::NodeReader {
 public:
  explicit StoreNodeReader(storage::LogStore* store, NodeCache* cache = nullptr)
      : store_(store), cache_(cache) {}
  Status ReadNodes(std::span<const integrity::NodeId> ids, std::vector<crypto::Hash>* hashes) override;

 private:
  storage::LogStore* store_;
  NodeCache* cache_;
};

}  // namespace cairn::engine
