#include "engine/node_cache.h"

#include <cassert>
#include <mutex>

namespace cairn::engine {

std::optional<crypto::Hash> NodeCache::Get(const integrity::NodeId& id) const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  auto it = map_.find(Key(id));
  if (it == map_.end()) return std::nullopt;
  return it->second;
}

void NodeCache::Put(const integrity::NodeId& id, const crypto::Hash& hash) {
  assert(Cacheable(id));
  assert(id.index < (uint64_t{1} << 58));
  std::unique_lock<std::shared_mutex> lock(mu_);
  if (map_.size() < kEntriesMax) map_.emplace(Key(id), hash);
}

size_t NodeCache::size() const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  return map_.size();
}

}  // namespace cairn::engine
