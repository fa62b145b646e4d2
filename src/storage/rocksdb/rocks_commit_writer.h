// RocksCommitWriter: one group commit as one rocksdb::WriteBatch.
//
// Put* only append to the batch; Commit() hands it to RocksLogStore::CommitBatch, which applies
// it with one synced write if the committed tree size is still the writer's base size. A commit
// that puts anything must put the new tree state (assert): the tree state is what makes the rest
// of the batch reachable. Asserts that everything put lies inside the new tree: positions in
// [base size, new size), nodes of full subtrees only. Exceeding kCommitSizeBytesMax (a parameter
// for tests only) makes Commit() fail with kResourceExhausted, writing nothing.
// Not thread-safe; the store must outlive the writer.
#pragma once

#include <rocksdb/write_batch.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "storage/log_store.h"
#include "storage/rocksdb/rocks_store.h"

namespace cairn::storage::rocks {

class RocksCommitWriter final : public CommitWriter {
 public:
  RocksCommitWriter(RocksLogStore* store, uint64_t base_tree_size,
                    size_t commit_size_bytes_max = kCommitSizeBytesMax);
  ~RocksCommitWriter() override;

  void PutRecord(uint64_t position, std::string_view stored_record) override;
  void PutStreamIndex(std::string_view stream_id, uint64_t version, uint64_t position) override;
  void PutStreamHead(std::string_view stream_id, const StreamHead& head) override;
  void PutNode(NodeKey key, std::string_view hash) override;
  void PutTreeState(const TreeState& state) override;
  Status Commit() override;
  size_t buffered_size_bytes() const override;

 private:
  void Put(CfIndex index, std::string_view key, std::string_view value);
  void PutIndexRuns();
  void PutChunks();
  void PublishChunks(uint64_t tree_size);

  // Merkle chunks being filled, per level (see kNodeChunkWidth): nodes of a level arrive in
  // index order, so each level has one open chunk; a full or left chunk goes to the batch.
  struct OpenChunk {
    uint64_t chunk = 0;
    std::string hashes;
  };
  std::map<uint8_t, OpenChunk> chunks_;
  bool committed_ = false;
  Status chunk_status_;  // first failure to extend a chunk (a node out of order, a read error)

  // Index runs of this commit, in first-put order; `open_runs_` maps a stream to its last run.
  struct PendingRun {
    std::string stream_id;
    uint64_t first_version;
    IndexRun run;
  };
  std::vector<PendingRun> runs_;
  std::unordered_map<std::string, size_t> open_runs_;

  RocksLogStore* const store_;
  const uint64_t base_tree_size_;
  rocksdb::WriteBatch batch_;
  std::optional<uint64_t> new_tree_size_;
  uint64_t puts_count_ = 0;
  // Every position and leaf put lies below this; full subtrees put end at or below it.
  unsigned __int128 leaves_end_ = 0;
  const size_t commit_size_bytes_max_;
  Status put_status_;  // first failed Put (batch over its size limit)
  bool spent_ = false;
};

}  // namespace cairn::storage::rocks
