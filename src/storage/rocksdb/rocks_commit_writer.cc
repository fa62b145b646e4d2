#include "storage/rocksdb/rocks_commit_writer.h"

#include <algorithm>
#include <cassert>

#include "storage/rocksdb/rocks_schema.h"
#include "storage/rocksdb/rocks_status.h"

namespace cairn::storage::rocks {

RocksCommitWriter::RocksCommitWriter(RocksLogStore* store, uint64_t base_tree_size,
                                     size_t commit_size_bytes_max)
    : store_(store),
      base_tree_size_(base_tree_size),
      batch_(/*reserved_bytes=*/0, /*max_bytes=*/commit_size_bytes_max),
      commit_size_bytes_max_(commit_size_bytes_max) {
  assert(store_ != nullptr);
  assert(commit_size_bytes_max_ > 0 && commit_size_bytes_max_ <= kCommitSizeBytesMax);
}

void RocksCommitWriter::Put(CfIndex index, std::string_view key, std::string_view value) {
  assert(!spent_ && "CommitWriter used after Commit()");
  puts_count_ += 1;
  if (!put_status_.ok()) return;
  const rocksdb::Status s = batch_.Put(store_->cf(index), rocksdb::Slice(key.data(), key.size()),
                                       rocksdb::Slice(value.data(), value.size()));
  put_status_ = FromRocks(s, "buffering commit");
}

void RocksCommitWriter::PutRecord(uint64_t position, std::string_view stored_record) {
  assert(stored_record.size() <= kRecordSizeBytesMax);
  assert(position >= base_tree_size_ && "a commit never rewrites a committed record");
  leaves_end_ = std::max(leaves_end_, static_cast<unsigned __int128>(position) + 1);
  Put(CfIndex::kRecords, RecordKey(position), stored_record);
}

void RocksCommitWriter::PutStreamIndex(std::string_view stream_id, uint64_t version,
                                       uint64_t position) {
  assert(IsValidStreamId(stream_id));
  assert(position >= base_tree_size_);
  leaves_end_ = std::max(leaves_end_, static_cast<unsigned __int128>(position) + 1);
  puts_count_ += 1;
  auto [it, fresh] = open_runs_.try_emplace(std::string(stream_id), runs_.size());
  if (!fresh) {
    PendingRun& last = runs_[it->second];
    if (last.first_version + last.run.count == version &&
        last.run.first_position + last.run.count == position) {
      last.run.count += 1;  // the next version at the next position: extend the run
      return;
    }
    assert(version >= last.first_version + last.run.count && "versions increase within a commit");
    it->second = runs_.size();
  }
  runs_.push_back({std::string(stream_id), version, IndexRun{position, 1}});
}

void RocksCommitWriter::PutIndexRuns() {
  for (const PendingRun& r : runs_) {
    Put(CfIndex::kStreamIndex, StreamIndexKey(r.stream_id, r.first_version), EncodeIndexRun(r.run));
  }
  runs_.clear();
  open_runs_.clear();
}

void RocksCommitWriter::PutStreamHead(std::string_view stream_id, const StreamHead& head) {
  assert(IsValidStreamId(stream_id));
  assert(head.last_leaf_hash.size() == kHashSizeBytes ||
         (head.last_leaf_hash.empty() && head.next_version == 0));
  Put(CfIndex::kStreamHeads, stream_id, EncodeStreamHead(head));
}

void RocksCommitWriter::PutNode(NodeKey key, std::string_view hash) {
  assert(key.level <= kNodeLevelMax);
  assert(hash.size() == kHashSizeBytes);
  const unsigned __int128 subtree_end = (static_cast<unsigned __int128>(key.index) + 1)
                                        << key.level;
  leaves_end_ = std::max(leaves_end_, subtree_end);
  Put(CfIndex::kMerkle, EncodeNodeKey(key), hash);
}

void RocksCommitWriter::PutTreeState(const TreeState& state) {
  assert(state.size >= base_tree_size_ && "the tree never shrinks");
  assert(!new_tree_size_.has_value() && "one tree state per commit");
  new_tree_size_ = state.size;
  Put(CfIndex::kMerkle, kTreeStateKey, EncodeTreeState(state));
}

Status RocksCommitWriter::Commit() {
  assert(!spent_ && "CommitWriter committed twice");
  PutIndexRuns();
  spent_ = true;
  if (!put_status_.ok()) {
    return Status::ResourceExhausted("commit exceeds " + std::to_string(commit_size_bytes_max_) +
                                     " bytes (" + put_status_.message() + ")");
  }
  assert((puts_count_ == 0 || new_tree_size_.has_value()) && "commit without PutTreeState");
  assert(leaves_end_ <= new_tree_size_.value_or(base_tree_size_) && "put beyond the new tree size");
  return store_->CommitBatch(base_tree_size_, new_tree_size_.value_or(base_tree_size_), &batch_);
}

size_t RocksCommitWriter::buffered_size_bytes() const { return batch_.GetDataSize(); }

}  // namespace cairn::storage::rocks
