// NodeCache: hashes of high Merkle subtrees, kept in memory for proofs.
//
// A full subtree's hash never changes once written, so caching is always correct. Only nodes of
// level >= kLevelMin are cached (a tree of n leaves has fewer than n / 2^kLevelMin of them), at
// most kEntriesMax in all; a proof at one million events then reads about ten nodes from storage
// instead of forty. Filled lazily by reads.
//
// Thread safety: safe for concurrent use (a reader-writer lock).
#pragma once

#include <cstdint>
#include <optional>
#include <shared_mutex>
#include <unordered_map>

#include "crypto/sha256.h"
#include "integrity/merkle.h"

namespace cairn::engine {

class NodeCache {
 public:
  static constexpr uint8_t kLevelMin = 6;
  static constexpr size_t kEntriesMax = 1 << 20;  // 32 MiB of hashes, plus map overhead

  static bool Cacheable(const integrity::NodeId& id) { return id.level >= kLevelMin; }
  std::optional<crypto::Hash> Get(const integrity::NodeId& id) const;
  void Put(const integrity::NodeId& id, const crypto::Hash& hash);
  size_t size() const;

 private:
  static uint64_t Key(const integrity::NodeId& id) { return (uint64_t{id.level} << 58) ^ id.index; }
  mutable std::shared_mutex mu_;
  std::unordered_map<uint64_t, crypto::Hash> map_;
};

}  // namespace cairn::engine
