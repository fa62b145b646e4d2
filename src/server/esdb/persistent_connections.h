// PersistentConnections: the ESDB consumers connected to each group, for GetInfo's connection
// list and for max_subscriber_count (a per-group bound below cairn's consumers_per_group_max).
//
// A connection registers before it joins the group and unregisters when it ends; its figures
// (ConnectionStats) are atomics the connection updates and GetInfo reads.
//
// Thread safety: every method is safe to call concurrently.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/status.h"

namespace cairn::server::esdb {

struct ConnectionStats {
  std::string from;       // the peer address as gRPC names it
  std::string username;   // the principal id (an API key's id)
  std::string connection_name;  // the client's `connection-name` header, cut to 128 bytes
  uint32_t max_in_flight = 0;
  std::atomic<uint32_t> in_flight{0};
  std::atomic<uint64_t> delivered{0};
};

class PersistentConnections {
 public:
  // kResourceExhausted when `max_count` (> 0) connections of the group are registered.
  Status Add(const std::string& group, uint32_t max_count, std::shared_ptr<ConnectionStats> stats);
  void Remove(const std::string& group, const ConnectionStats* stats);
  std::vector<std::shared_ptr<const ConnectionStats>> Of(const std::string& group) const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::vector<std::shared_ptr<ConnectionStats>>> by_group_;
};

}  // namespace cairn::server::esdb
