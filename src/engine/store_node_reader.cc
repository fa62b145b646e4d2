#include "engine/store_node_reader.h"

#include <cassert>

namespace cairn::engine {

Status StoreNodeReader::ReadNodes(std::span<const integrity::NodeId> ids,
                                  std::vector<crypto::Hash>* hashes) {
  hashes->assign(ids.size(), crypto::Hash{});
  std::vector<storage::NodeKey> keys;
  std::vector<size_t> slots;  // keys[k] fills (*hashes)[slots[k]]
  keys.reserve(ids.size());
  slots.reserve(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    if (cache_ != nullptr && NodeCache::Cacheable(ids[i])) {
      if (auto h = cache_->Get(ids[i])) {
        (*hashes)[i] = *h;
        continue;
      }
    }
    keys.push_back({ids[i].level, ids[i].index});
    slots.push_back(i);
  }
  if (keys.empty()) return Status::Ok();
  std::vector<std::string> raw;
  CAIRN_RETURN_IF_ERROR(store_->ReadNodes(keys, &raw));
  if (raw.size() != keys.size()) return Status::Internal("node read returned a wrong count");
  for (size_t k = 0; k < raw.size(); ++k) {
    const integrity::NodeId& id = ids[slots[k]];
    if (raw[k].size() != crypto::kSha256SizeBytes) {
      return Status::DataLoss("stored Merkle node (level " + std::to_string(id.level) +
                              ", index " + std::to_string(id.index) + ") is not 32 bytes");
    }
    (*hashes)[slots[k]] = crypto::HashFromBytes(raw[k]);
    if (cache_ != nullptr && NodeCache::Cacheable(id)) cache_->Put(id, (*hashes)[slots[k]]);
  }
  return Status::Ok();
}

Status CheckStoredConsistency(storage::LogStore* store, uint64_t size, const crypto::Hash& root,
                              uint64_t later_size, const crypto::Hash& later_root) {
  assert(size > 0 && size <= later_size);
  StoreNodeReader reader(store);
  auto proof = integrity::ConsistencyProof(reader, size, later_size);
  if (!proof.ok()) return proof.status();
  return integrity::VerifyConsistency(size, later_size, *proof, root, later_root);
}

}  // namespace cairn::engine
