#include "engine/memo_node_reader.h"

#include <cassert>

namespace cairn::engine {

Status MemoNodeReader::ReadNodes(std::span<const integrity::NodeId> ids,
                                 std::vector<crypto::Hash>* hashes) {
  hashes->assign(ids.size(), crypto::Hash{});
  std::vector<integrity::NodeId> missing;
  std::vector<size_t> slots;  // missing[k] fills (*hashes)[slots[k]]
  for (size_t i = 0; i < ids.size(); ++i) {
    auto it = memo_.find(Key(ids[i]));
    if (it != memo_.end()) {
      (*hashes)[i] = it->second;
      continue;
    }
    missing.push_back(ids[i]);
    slots.push_back(i);
  }
  if (missing.empty()) return Status::Ok();
  std::vector<crypto::Hash> read;
  CAIRN_RETURN_IF_ERROR(inner_->ReadNodes(missing, &read));
  if (read.size() != missing.size()) return Status::Internal("node read returned a wrong count");
  nodes_read_ += missing.size();
  if (memo_.size() + missing.size() > kEntriesMax) memo_.clear();
  for (size_t k = 0; k < missing.size(); ++k) {
    (*hashes)[slots[k]] = read[k];
    memo_.emplace(Key(missing[k]), read[k]);
  }
  assert(memo_.size() <= kEntriesMax);
  return Status::Ok();
}

}  // namespace cairn::engine
