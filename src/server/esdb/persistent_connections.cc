#include "server/esdb/persistent_connections.h"

#include <algorithm>

namespace cairn::server::esdb {

Status PersistentConnections::Add(const std::string& group, uint32_t max_count,
                                  std::shared_ptr<ConnectionStats> stats) {
  std::lock_guard<std::mutex> lock(mu_);
  auto& list = by_group_[group];
  if (max_count > 0 && list.size() >= max_count) {
    return Status::ResourceExhausted("the group has its maximum number of subscribers");
  }
  list.push_back(std::move(stats));
  return Status::Ok();
}

void PersistentConnections::Remove(const std::string& group, const ConnectionStats* stats) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = by_group_.find(group);
  if (it == by_group_.end()) return;
  auto& list = it->second;
  list.erase(std::remove_if(list.begin(), list.end(),
                            [stats](const auto& s) { return s.get() == stats; }),
             list.end());
  if (list.empty()) by_group_.erase(it);
}

std::vector<std::shared_ptr<const ConnectionStats>> PersistentConnections::Of(
    const std::string& group) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = by_group_.find(group);
  if (it == by_group_.end()) return {};
  return {it->second.begin(), it->second.end()};
}

}  // namespace cairn::server::esdb
