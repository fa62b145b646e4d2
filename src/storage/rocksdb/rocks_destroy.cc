// RocksLogStore::DestroyKeyMaterial: a delete that leaves no copy of the value in the store's
// files.
//
// A RocksDB delete is a tombstone: the put survives in the WAL file it was written to and in
// every SST file a flush or compaction wrote it to. So after the (synced) delete:
//  1. every family's memtable is flushed. The WAL is shared by all families and a WAL file is
//     obsolete only when no family still needs it; with WAL_ttl_seconds = WAL_size_limit_MB = 0
//     and no recycling an obsolete WAL file is deleted, not archived or reused;
//  2. the WAL is synced (FlushWAL(true)) so the tombstone itself is durable in the new WAL;
//  3. the keys family is compacted over its whole range with bottommost_level_compaction =
//     kForce: every SST file of the family is rewritten, and the tombstone and the put it covers
//     are dropped at the bottom level (the store never takes snapshots);
//  4. the call waits (at most kDestroyWaitMillisMax) until no live WAL file holds a write at or
//     before the delete and none of the family's pre-compaction SST files still exists. Files
//     stay while an open iterator pins them; then the call fails with kUnavailable and the
//     caller retries. A point read running while the compaction finished also keeps the old
//     files, and RocksDB deletes them only at its next obsolete-file scan (the next flush or
//     compaction): so while waiting the call triggers that scan (DisableFileDeletions +
//     EnableFileDeletions(force = false), which leaves any other disabler's count intact).
// What remains outside this guarantee: freed filesystem blocks of deleted files (use an
// encrypted filesystem or discard), copies made by backups or snapshots of the volume, and
// process memory (memtable arenas and the block cache are not zeroed). The value is a wrapped
// key, never a plaintext key.
#include <rocksdb/options.h>
#include <rocksdb/transaction_log.h>

#include <rocksdb/write_batch.h>

#include <chrono>
#include <filesystem>
#include <span>
#include <thread>

#include "storage/rocksdb/rocks_status.h"
#include "storage/rocksdb/rocks_store.h"

namespace cairn::storage::rocks {
namespace {

constexpr int64_t kDestroyWaitMillisMax = 10'000;
constexpr int64_t kDestroyPollMillis = 5;
constexpr int kDestroyPurgeEveryPolls = 4;  // an obsolete-file scan lists the directory

}  // namespace

Status RocksLogStore::FlushAll() {
  rocksdb::FlushOptions flush;
  flush.wait = true;
  flush.allow_write_stall = true;
  const std::vector<rocksdb::ColumnFamilyHandle*> families(handles_.begin(), handles_.end());
  return FromRocks(db_->Flush(flush, families), "flushing memtables");
}

Status RocksLogStore::FlushFamily(CfIndex index) {
  rocksdb::FlushOptions flush;
  flush.wait = true;
  flush.allow_write_stall = true;
  return FromRocks(db_->Flush(flush, cf(index)), "flushing a memtable");
}

std::vector<std::string> RocksLogStore::LiveSstPaths(CfIndex index) {
  std::vector<rocksdb::LiveFileMetaData> live;
  db_->GetLiveFilesMetaData(&live);
  std::vector<std::string> paths;
  for (const rocksdb::LiveFileMetaData& file : live) {
    if (file.column_family_name != kColumnFamilies[static_cast<size_t>(index)]) continue;
    paths.push_back(file.directory + "/" + file.relative_filename);
  }
  return paths;
}

Result<bool> RocksLogStore::NothingOlderRemains(rocksdb::SequenceNumber sequence,
                                                const std::vector<std::string>& files) {
  for (const std::string& path : files) {
    std::error_code ec;
    if (std::filesystem::exists(path, ec) || ec) return false;
  }
  rocksdb::VectorLogPtr wals;
  CAIRN_RETURN_IF_ERROR(FromRocks(db_->GetSortedWalFiles(wals), "listing WAL files"));
  for (const std::unique_ptr<rocksdb::LogFile>& wal : wals) {
    // An empty WAL reports start sequence 0 but holds nothing.
    if (wal->SizeFileBytes() > 0 && wal->StartSequence() <= sequence) return false;
  }
  return true;
}

Status RocksLogStore::DestroyKeyMaterial(std::string_view name) {
  const std::string one(name);
  return DestroyKeyMaterials(std::span<const std::string>(&one, 1)).status();
}

Result<DestroyReport> RocksLogStore::DestroyKeyMaterials(std::span<const std::string> names) {
  CAIRN_RETURN_IF_ERROR(CheckDestroyBatch(names));
  if (names.empty()) return DestroyReport{};
  rocksdb::WriteBatch batch;
  for (const std::string& name : names) {
    if (name.empty() || name.size() > kNameSizeBytesMax) {
      return Status::InvalidArgument("key material name must be 1.." +
                                     std::to_string(kNameSizeBytesMax) + " bytes");
    }
    CAIRN_RETURN_IF_ERROR(FromRocks(batch.Delete(cf(CfIndex::kKeys), name), "batching a delete"));
  }
  const std::string what = names.size() == 1 ? "destroying key material " + names[0]
                                             : "destroying " + std::to_string(names.size()) +
                                                   " key materials";
  CAIRN_RETURN_IF_ERROR(ResumeAfterWriteError());
  rocksdb::SequenceNumber delete_sequence = 0;
  {
    // Not between a compare-and-swap's read and write (PutKeyMaterialIfAbsent,
    // ReplaceKeyMaterialIf): what is destroyed meanwhile stays destroyed (log_store.h).
    std::lock_guard<std::mutex> lock(put_if_absent_mu_);
    CAIRN_RETURN_IF_ERROR(CheckWrite(db_->Write(write_options_, &batch), what));
    delete_sequence = db_->GetLatestSequenceNumber();
  }
  CAIRN_RETURN_IF_ERROR(FlushAll().Annotate(what));
  CAIRN_RETURN_IF_ERROR(FromRocks(db_->FlushWAL(/*sync=*/true), what));
  const std::vector<std::string> old_files = LiveSstPaths(CfIndex::kKeys);
  rocksdb::CompactRangeOptions compact;
  compact.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
  compact.exclusive_manual_compaction = false;
  compact.allow_write_stall = true;
  CAIRN_RETURN_IF_ERROR(
      FromRocks(db_->CompactRange(compact, cf(CfIndex::kKeys), nullptr, nullptr), what));

  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(kDestroyWaitMillisMax);
  for (int polls = 0;; ++polls) {
    CAIRN_ASSIGN_OR_RETURN(const bool done, NothingOlderRemains(delete_sequence, old_files));
    if (done) return DestroyReport{};
    if (polls % kDestroyPurgeEveryPolls == 0) {
      // Deletes files that became obsolete after the readers holding them finished.
      CAIRN_RETURN_IF_ERROR(FromRocks(db_->DisableFileDeletions(), what));
      CAIRN_RETURN_IF_ERROR(FromRocks(db_->EnableFileDeletions(/*force=*/false), what));
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      return Status::Unavailable(what +
                                 ": deleted, but a WAL or SST file that held it is still "
                                 "in use (an open reader?); retry");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(kDestroyPollMillis));
  }
}

}  // namespace cairn::storage::rocks
