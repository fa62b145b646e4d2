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

// RFC 9162: the tree of `size` with root `root` is a prefix of the tree of `later_size` with root
// `later_root`, by a consistency proof built from the store's nodes. OK, or why not (a proof that
// does not lead to a root, or a node that cannot be read). Requires 0 < size <= later_size.
Status CheckStoredConsistency(storage::LogStore* store, uint64_t size, const crypto::Hash& root,
                              uint64_t later_size, const crypto::Hash& later_root);

}  // namespace cairn::engine
