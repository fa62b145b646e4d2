// RocksLogStore: lifetime, commits and the small durable maps (checkpoints, key material, meta).
#include "storage/rocksdb/rocks_store.h"

#include <algorithm>
#include <cassert>

#include "storage/rocksdb/rocks_commit_writer.h"
#include "storage/rocksdb/rocks_status.h"

namespace cairn::storage::rocks {
RocksLogStore::RocksLogStore(std::unique_ptr<rocksdb::DB> db,
                             std::vector<rocksdb::ColumnFamilyHandle*> handles, bool sync,
                             std::shared_ptr<rocksdb::Env> env,
                             std::shared_ptr<ManualRecovery> recovery)
    : env_(std::move(env)),
      recovery_(std::move(recovery)),
      db_(std::move(db)),
      handles_(std::move(handles)) {
  assert(db_ != nullptr);
  assert(handles_.size() >= kColumnFamilies.size());
  for (size_t i = 0; i < kColumnFamilies.size(); ++i) {
    assert(handles_[i] != nullptr && handles_[i]->GetName() == kColumnFamilies[i]);
  }
  write_options_.sync = sync;
  write_options_.disableWAL = false;
}

RocksLogStore::~RocksLogStore() {
  for (rocksdb::ColumnFamilyHandle* handle : handles_) {
    const rocksdb::Status s = db_->DestroyColumnFamilyHandle(handle);
    assert(s.ok());
  }
  // Every write was already synced (or the store runs without sync); nothing to report here.
  db_->Close().PermitUncheckedError();
}

rocksdb::ColumnFamilyHandle* RocksLogStore::cf(CfIndex index) const {
  const size_t i = static_cast<size_t>(index);
  assert(i < kColumnFamilies.size());
  return handles_[i];
}

Result<std::unique_ptr<CommitWriter>> RocksLogStore::BeginCommit(uint64_t base_tree_size) {
  return std::unique_ptr<CommitWriter>(std::make_unique<RocksCommitWriter>(this, base_tree_size));
}

Status RocksLogStore::CommitBatch(uint64_t base_size, uint64_t new_size,
                                  rocksdb::WriteBatch* batch) {
  assert(batch != nullptr);
  assert(new_size >= base_size);
  std::lock_guard<std::mutex> lock(commit_mutex_);
  if (committed_tree_size_ != base_size) {
    return Status::Aborted("commit from tree size " + std::to_string(base_size) +
                           " but the committed tree size is " +
                           std::to_string(committed_tree_size_));
  }
  if (batch->Count() == 0) return Status::Ok();
  CAIRN_RETURN_IF_ERROR(ResumeAfterWriteError());
  CAIRN_RETURN_IF_ERROR(CheckWrite(db_->Write(write_options_, batch), "commit"));
  committed_tree_size_ = new_size;
  return Status::Ok();
}

Status RocksLogStore::CheckBaseSize(uint64_t base_size) {
  std::lock_guard<std::mutex> lock(commit_mutex_);
  if (committed_tree_size_ == base_size) return Status::Ok();
  return Status::Aborted("commit from tree size " + std::to_string(base_size) +
                         " but the committed tree size is " + std::to_string(committed_tree_size_));
}

Status RocksLogStore::WriteUnchecked(rocksdb::WriteBatch* batch, std::optional<uint64_t> new_size) {
  assert(batch != nullptr);
  std::lock_guard<std::mutex> lock(commit_mutex_);
  CAIRN_RETURN_IF_ERROR(ResumeAfterWriteError());
  CAIRN_RETURN_IF_ERROR(CheckWrite(db_->Write(write_options_, batch), "unchecked write"));
  if (new_size.has_value()) committed_tree_size_ = *new_size;
  return Status::Ok();
}

Status RocksLogStore::Put(CfIndex index, std::string_view key, std::string_view value,
                          std::string_view what) {
  CAIRN_RETURN_IF_ERROR(ResumeAfterWriteError());
  const rocksdb::Status s = db_->Put(write_options_, cf(index), ToSlice(key), ToSlice(value));
  return CheckWrite(s, "writing " + std::string(what));
}

Result<std::optional<std::string>> RocksLogStore::Get(CfIndex index, std::string_view key,
                                                      std::string_view what) {
  std::string value;
  const rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), cf(index), ToSlice(key), &value);
  if (s.IsNotFound()) return std::optional<std::string>();
  CAIRN_RETURN_IF_ERROR(FromRocks(s, "reading " + std::string(what)));
  return std::optional<std::string>(std::move(value));
}

Status RocksLogStore::PutCheckpoint(uint64_t tree_size, std::string_view signed_note) {
  CAIRN_RETURN_IF_ERROR(CheckSmallValue(signed_note, "checkpoint"));
  return Put(CfIndex::kCheckpoints, CheckpointKey(tree_size), signed_note,
             "checkpoint " + std::to_string(tree_size));
}

Status RocksLogStore::PutKeyMaterial(std::string_view name, std::string_view wrapped) {
  CAIRN_RETURN_IF_ERROR(CheckName(name, "key material"));
  CAIRN_RETURN_IF_ERROR(CheckSmallValue(wrapped, "wrapped key"));
  return Put(CfIndex::kKeys, name, wrapped, "key material " + std::string(name));
}

Result<bool> RocksLogStore::PutKeyMaterialIfAbsent(std::string_view name, std::string_view wrapped) {
  std::lock_guard<std::mutex> lock(put_if_absent_mu_);  // one process owns the store
  CAIRN_ASSIGN_OR_RETURN(std::optional<std::string> existing, ReadKeyMaterial(name));
  if (existing) return false;
  CAIRN_RETURN_IF_ERROR(PutKeyMaterial(name, wrapped));
  return true;
}

Result<bool> RocksLogStore::ReplaceKeyMaterialIf(std::string_view name, std::string_view expected,
                                                 std::string_view wrapped) {
  std::lock_guard<std::mutex> lock(put_if_absent_mu_);  // one process owns the store
  CAIRN_ASSIGN_OR_RETURN(std::optional<std::string> existing, ReadKeyMaterial(name));
  if (!existing || *existing != expected) return false;
  CAIRN_RETURN_IF_ERROR(PutKeyMaterial(name, wrapped));
  return true;
}

Result<std::optional<std::string>> RocksLogStore::ReadKeyMaterial(std::string_view name) {
  CAIRN_RETURN_IF_ERROR(CheckName(name, "key material"));
  return Get(CfIndex::kKeys, name, "key material " + std::string(name));
}

Status RocksLogStore::ScanKeyMaterial(
    std::string_view prefix, const std::function<bool(std::string_view, std::string_view)>& fn) {
  return ScanNames(CfIndex::kKeys, prefix, "key material", fn);
}

Status RocksLogStore::ScanKeyMaterialAfter(
    std::string_view prefix, std::string_view start_after,
    const std::function<bool(std::string_view, std::string_view)>& fn) {
  return ScanNames(CfIndex::kKeys, prefix, "key material", fn, start_after);
}

Status RocksLogStore::ScanMeta(
    std::string_view prefix, const std::function<bool(std::string_view, std::string_view)>& fn) {
  return ScanNames(CfIndex::kMeta, prefix, "meta", [&](std::string_view name, std::string_view value) {
    return name == kMetaFormatVersion || fn(name, value);  // the store's own entry is not listed
  });
}

Status RocksLogStore::ScanNames(CfIndex index, std::string_view prefix, std::string_view what,
                                const std::function<bool(std::string_view, std::string_view)>& fn,
                                std::string_view start_after) {
  if (prefix.size() > kNameSizeBytesMax) {
    return Status::InvalidArgument(std::string(what) + " prefix exceeds " +
                                   std::to_string(kNameSizeBytesMax) + " bytes");
  }
  std::unique_ptr<rocksdb::Iterator> it = NewIterator(index, rocksdb::ReadOptions());
  const std::string_view from = std::max(prefix, start_after);
  for (it->Seek(ToSlice(from)); it->Valid(); it->Next()) {
    const std::string_view name(it->key().data(), it->key().size());
    if (name.substr(0, prefix.size()) != prefix) break;  // past the prefix: names are sorted
    if (!start_after.empty() && name <= start_after) continue;  // start_after itself
    if (!fn(name, std::string_view(it->value().data(), it->value().size()))) break;
  }
  return FromRocks(it->status(), "scanning " + std::string(what));
}

Status RocksLogStore::PutMeta(std::string_view name, std::string_view value) {
  CAIRN_RETURN_IF_ERROR(CheckName(name, "meta"));
  CAIRN_RETURN_IF_ERROR(CheckSmallValue(value, "meta value"));
  if (name == kMetaFormatVersion) {
    return Status::InvalidArgument("meta name '" + std::string(name) +
                                   "' is reserved by the store");
  }
  return Put(CfIndex::kMeta, name, value, "meta " + std::string(name));
}

Result<std::optional<std::string>> RocksLogStore::ReadMeta(std::string_view name) {
  CAIRN_RETURN_IF_ERROR(CheckName(name, "meta"));
  return Get(CfIndex::kMeta, name, "meta " + std::string(name));
}

Result<std::string> RocksLogStore::TailChunk(uint8_t level, uint64_t chunk, uint64_t tree_size) {
  {
    std::lock_guard<std::mutex> lock(tail_mu_);
    auto it = tail_chunks_.find(level);
    if (tail_tree_size_ == tree_size && it != tail_chunks_.end() && it->second.first == chunk) {
      return it->second.second;
    }
  }
  CAIRN_ASSIGN_OR_RETURN(std::optional<std::string> stored,
                         Get(CfIndex::kMerkle, EncodeNodeKey(NodeKey{level, chunk}), "Merkle chunk"));
  return stored.value_or(std::string());
}

void RocksLogStore::PublishTailChunks(
    uint64_t tree_size, const std::map<uint8_t, std::pair<uint64_t, std::string>>& chunks) {
  std::lock_guard<std::mutex> lock(tail_mu_);
  // Levels this writer did not touch keep their chunk: it is still the last one of its level.
  for (const auto& [level, chunk] : chunks) tail_chunks_[level] = chunk;
  tail_tree_size_ = tree_size;
}

void RocksLogStore::InvalidateTailChunks() {
  std::lock_guard<std::mutex> lock(tail_mu_);
  tail_chunks_.clear();
}

}  // namespace cairn::storage::rocks
