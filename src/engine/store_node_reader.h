// StoreNodeReader: integrity::NodeReader over the LogStore's Merkle nodes (one MultiGet).
// Thread safety: as the LogStore (safe for concurrent use).
#pragma once

#include "integrity/proof.h"
#include "storage/log_store.h"

namespace cairn::engine {

class StoreNodeReader final : public integrity::NodeReader {
 public:
  explicit StoreNodeReader(storage::LogStore* store) : store_(store) {}
  Status ReadNodes(std::span<const integrity::NodeId> ids, std::vector<crypto::Hash>* hashes) override;

 private:
  storage::LogStore* store_;
};

}  // namespace cairn::engine
