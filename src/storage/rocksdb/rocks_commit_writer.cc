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

RocksCommitWriter::~RocksCommitWriter() {
  // Chunks this writer published never landed: later writers must read the committed ones.
  if (!committed_ && !chunks_.empty()) store_->InvalidateTailChunks();
}

void RocksCommitWriter::PutNode(NodeKey key, std::string_view hash) {
  assert(!spent_ && "CommitWriter used after Commit()");
  assert(key.level <= kNodeLevelMax);
  assert(hash.size() == kHashSizeBytes);
  const unsigned __int128 subtree_end = (static_cast<unsigned __int128>(key.index) + 1)
                                        << key.level;
  leaves_end_ = std::max(leaves_end_, subtree_end);
  puts_count_ += 1;
  const uint64_t chunk = key.index / kNodeChunkWidth;
  const size_t slot = key.index % kNodeChunkWidth;
  auto [it, fresh] = chunks_.try_emplace(key.level);
  OpenChunk& open = it->second;
  if (fresh || open.chunk != chunk) {
    if (!fresh) Put(CfIndex::kMerkle, EncodeNodeKey(NodeKey{key.level, open.chunk}), open.hashes);
    open.chunk = chunk;
    open.hashes.clear();
    if (slot > 0) {  // the chunk's earlier nodes were put by an earlier commit
      Result<std::string> prefix = store_->TailChunk(key.level, chunk, base_tree_size_);
      if (!prefix.ok()) {
        if (chunk_status_.ok()) chunk_status_ = prefix.status();
        return;
      }
      open.hashes = std::move(prefix).value();
    }
  }
  if (open.hashes.size() != slot * kHashSizeBytes) {
    if (chunk_status_.ok()) {
      chunk_status_ = Status::DataLoss("Merkle node (level " + std::to_string(key.level) + ", index " +
                                     std::to_string(key.index) + ") does not extend its chunk");
    }
    return;
  }
  open.hashes.append(hash);
}

void RocksCommitWriter::PutChunks() {
  for (const auto& [level, open] : chunks_) {
    Put(CfIndex::kMerkle, EncodeNodeKey(NodeKey{level, open.chunk}), open.hashes);
  }
}

void RocksCommitWriter::PublishChunks(uint64_t tree_size) {
  std::map<uint8_t, std::pair<uint64_t, std::string>> published;
  for (const auto& [level, open] : chunks_) published[level] = {open.chunk, open.hashes};
  store_->PublishTailChunks(tree_size, published);
}

void RocksCommitWriter::PutTreeState(const TreeState& state) {
  assert(state.size >= base_tree_size_ && "the tree never shrinks");
  assert(!new_tree_size_.has_value() && "one tree state per commit");
  new_tree_size_ = state.size;
  Put(CfIndex::kMerkle, kTreeStateKey, EncodeTreeState(state));
  // The tree state is the last put of a commit: from now on the next writer may build on it.
  PublishChunks(state.size);
}

Status RocksCommitWriter::Commit() {
  assert(!spent_ && "CommitWriter committed twice");
  PutIndexRuns();
  PutChunks();
  spent_ = true;
  if (!chunk_status_.ok()) {
    store_->InvalidateTailChunks();
    // A writer that lost a race to another one from the same base may have built on the
    // winner's chunks: report the lost race, which is what happened.
    CAIRN_RETURN_IF_ERROR(store_->CheckBaseSize(base_tree_size_));
    return chunk_status_;
  }
  if (!put_status_.ok()) {
    return Status::ResourceExhausted("commit exceeds " + std::to_string(commit_size_bytes_max_) +
                                     " bytes (" + put_status_.message() + ")");
  }
  assert((puts_count_ == 0 || new_tree_size_.has_value()) && "commit without PutTreeState");
  assert(leaves_end_ <= new_tree_size_.value_or(base_tree_size_) && "put beyond the new tree size");
  Status s = store_->CommitBatch(base_tree_size_, new_tree_size_.value_or(base_tree_size_), &batch_);
  committed_ = s.ok();
  if (!s.ok() && !chunks_.empty()) store_->InvalidateTailChunks();
  return s;
}

size_t RocksCommitWriter::buffered_size_bytes() const { return batch_.GetDataSize(); }

}  // namespace cairn::storage::rocks
