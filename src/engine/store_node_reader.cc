#include "engine/store_node_reader.h"

namespace cairn::engine {

Status StoreNodeReader::ReadNodes(std::span<const integrity::NodeId> ids,
                                  std::vector<crypto::Hash>* hashes) {
  std::vector<storage::NodeKey> keys;
  keys.reserve(ids.size());
  for (const auto& id : ids) keys.push_back({id.level, id.index});
  std::vector<std::string> raw;
  CAIRN_RETURN_IF_ERROR(store_->ReadNodes(keys, &raw));
  if (raw.size() != ids.size()) return Status::Internal("node read returned a wrong count");
  hashes->clear();
  hashes->reserve(raw.size());
  for (size_t i = 0; i < raw.size(); ++i) {
    if (raw[i].size() != crypto::kSha256SizeBytes) {
      return Status::DataLoss("stored Merkle node (level " + std::to_string(ids[i].level) +
                              ", index " + std::to_string(ids[i].index) + ") is not 32 bytes");
    }
    hashes->push_back(crypto::HashFromBytes(raw[i]));
  }
  return Status::Ok();
}

}  // namespace cairn::engine
