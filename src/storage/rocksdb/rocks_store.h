// RocksLogStore: the LogStore over one open rocksdb::DB (internal to the backend; users call
// OpenRocksLogStore).
//
// The committed tree size is kept in memory (loaded at open, advanced after each successful
// commit); a commit's check of its base size and its write happen under one mutex, so two writers
// from the same base cannot both succeed. Reads go straight to RocksDB (thread-safe) and see every
// commit that returned before them.
//
// Write errors: RocksDB stops writing after a failed write (or a failed background flush) until
// DB::Resume(). The first failed write is logged and marks the store; the next write resumes the
// DB first (one attempt per write, no loop), and fails without writing while that does not work
// (always, after a failed WAL write or fsync: those need a restart, see ManualRecovery).
//
// Ownership: owns the DB and its column family handles (and the test Env, if any); closes the DB
// when destroyed. Writers
// and test hooks borrow the store and must not outlive it.
#pragma once

#include <rocksdb/db.h>
#include <rocksdb/listener.h>
#include <rocksdb/write_batch.h>

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "storage/log_store.h"
#include "storage/small_values.h"
#include "storage/rocksdb/rocks_schema.h"

namespace cairn::storage::rocks {

inline constexpr size_t kCommitSizeBytesMax = size_t{256} << 20;
inline constexpr size_t kRecordSizeBytesMax = size_t{64} << 20;
inline constexpr size_t kReadNodesCountMax = 65536;

// Turns RocksDB's automatic recovery from background errors off (the store resumes in the next
// write instead, rocks_recovery.cc), and remembers whether an error can be resumed from in place:
// only errors of flushes and compactions (SST files) can. After a failed WAL or MANIFEST write,
// RocksDB 7.8 would resume onto a WAL writer that still holds the error (an assertion failure in
// debug builds of the library, refused writes otherwise): that needs a restart. Thread-safe.
class ManualRecovery final : public rocksdb::EventListener {
 public:
  const char* Name() const override { return "cairn.ManualRecovery"; }
  void OnBackgroundError(rocksdb::BackgroundErrorReason reason, rocksdb::Status* bg_error) override;
  void OnErrorRecoveryBegin(rocksdb::BackgroundErrorReason reason, rocksdb::Status bg_error,
                            bool* auto_recovery) override;
  // True once an error that cannot be resumed from in place was reported (sticky).
  bool needs_restart() const { return needs_restart_.load(); }
  // True from a background error (a failed flush or compaction stops writes before any write
  // fails) until ClearBackgroundError(), after a successful resume.
  bool background_error() const { return background_error_.load(); }
  void ClearBackgroundError() { background_error_.store(false); }
  void NoteBackgroundError() { background_error_.store(true); }

 private:
  std::atomic<bool> needs_restart_{false};
  std::atomic<bool> background_error_{false};
};

class RocksLogStore final : public LogStore {
 public:
  // `handles` holds every open family: cairn's first, in kColumnFamilies order, then any other.
  // `env` is the Env the DB was opened with when it is not the default one (kept alive here).
  RocksLogStore(std::unique_ptr<rocksdb::DB> db, std::vector<rocksdb::ColumnFamilyHandle*> handles,
                bool sync, std::shared_ptr<rocksdb::Env> env = nullptr,
                std::shared_ptr<ManualRecovery> recovery = nullptr);
  ~RocksLogStore() override;
  Status WriteHealth() override { return ResumeAfterWriteError(); }
  RocksLogStore(const RocksLogStore&) = delete;

  // Called once by OpenRocksLogStore before the store is shared: writes the format version into
  // a `created` store, else checks it (kFailedPrecondition when missing or different); then
  // loads the committed tree size.
  // Before that, an existing store's SST files are checked (VerifyFilesAtOpen, rocks_open.cc).
  Status Initialize(bool created);

  RocksLogStore& operator=(const RocksLogStore&) = delete;

  Result<std::unique_ptr<CommitWriter>> BeginCommit(uint64_t base_tree_size) override;
  Result<TreeState> ReadTreeState() override;
  Result<std::optional<StreamHead>> ReadStreamHead(std::string_view stream_id) override;
  Result<std::string> ReadRecord(uint64_t position) override;
  Status ScanRecords(uint64_t from_position, uint64_t limit,
                     const std::function<bool(uint64_t, std::string_view)>& fn) override;
  Result<std::vector<StreamIndexEntry>> ReadStreamIndex(std::string_view stream_id,
                                                        uint64_t from_version, bool backwards,
                                                        uint64_t limit) override;
  Status ReadNodes(std::span<const NodeKey> keys, std::vector<std::string>* hashes) override;
  Status ScanLeafHashes(uint64_t from_index, uint64_t limit,
                        const std::function<bool(uint64_t, std::string_view)>& fn) override;
  Status ScanStreamHeads(
      const std::function<bool(std::string_view, const StreamHead&)>& fn) override;
  Status PutCheckpoint(uint64_t tree_size, std::string_view signed_note) override;
  Result<std::optional<std::pair<uint64_t, std::string>>> ReadLatestCheckpoint() override;
  Status ScanCheckpoints(const std::function<bool(uint64_t, std::string_view)>& fn) override;
  Status PutKeyMaterial(std::string_view name, std::string_view wrapped) override;
  Result<bool> PutKeyMaterialIfAbsent(std::string_view name, std::string_view wrapped) override;
  Result<bool> ReplaceKeyMaterialIf(std::string_view name, std::string_view expected,
                                    std::string_view wrapped) override;
  Result<std::optional<std::string>> ReadKeyMaterial(std::string_view name) override;
  Status ScanKeyMaterial(
      std::string_view prefix,
      const std::function<bool(std::string_view, std::string_view)>& fn) override;
  Status ScanKeyMaterialAfter(
      std::string_view prefix, std::string_view start_after,
      const std::function<bool(std::string_view, std::string_view)>& fn) override;
  Status DestroyKeyMaterial(std::string_view name) override;
  Result<DestroyReport> DestroyKeyMaterials(std::span<const std::string> names) override;
  Status PutMeta(std::string_view name, std::string_view value) override;
  Result<std::optional<std::string>> ReadMeta(std::string_view name) override;
  Status ScanMeta(std::string_view prefix,
                  const std::function<bool(std::string_view, std::string_view)>& fn) override;
  Result<BackupFacts> CreateBackup(const std::string& dir) override;  // rocks_backup.cc

  // Applies `batch` if the committed tree size is `base_size`, then records `new_size` as the
  // committed size; kAborted (nothing written) otherwise. For RocksCommitWriter.
  Status CommitBatch(uint64_t base_size, uint64_t new_size, rocksdb::WriteBatch* batch);
  // kAborted unless the committed tree size is `base_size` (a writer that lost a race).
  Status CheckBaseSize(uint64_t base_size);
  // Applies `batch` without the base-size check; updates the committed size when `new_size` is
  // set. For the test hooks that simulate tampering only.
  Status WriteUnchecked(rocksdb::WriteBatch* batch, std::optional<uint64_t> new_size);
  // Flushes every family's memtable to SST files and waits; obsolete WAL files are then deleted.
  Status FlushAll();
  // Flushes one family's memtable only (a test hook: another family's data stays in the WAL).
  Status FlushFamily(CfIndex index);

  rocksdb::ColumnFamilyHandle* cf(CfIndex index) const;

  // The content of Merkle chunk (level, chunk) in the tree of `tree_size` leaves: as buffered by
  // the writer that published that tree (the engine fills writers one after another and may
  // fill the next before the previous one committed), else as committed. Empty when absent.
  Result<std::string> TailChunk(uint8_t level, uint64_t chunk, uint64_t tree_size);
  // Publishes the last chunk of each level of the tree of `tree_size` leaves.
  void PublishTailChunks(uint64_t tree_size, const std::map<uint8_t, std::pair<uint64_t, std::string>>& chunks);
  // After a failed or abandoned commit: forget what was published; read the committed chunks.
  void InvalidateTailChunks();

 private:
  std::mutex put_if_absent_mu_;  // makes a compare-and-swap's read and write one step, and destroys wait for it
  std::mutex tail_mu_;
  uint64_t tail_tree_size_ = 0;  // the tree the published chunks belong to
  std::map<uint8_t, std::pair<uint64_t, std::string>> tail_chunks_;  // level -> (chunk, hashes)

  Status Put(CfIndex index, std::string_view key, std::string_view value, std::string_view what);
  // Every write goes through these two (rocks_recovery.cc): the first resumes a DB stopped by an
  // earlier write error (kResourceExhausted while the disk is still full, kUnavailable for other
  // errors); the second converts a write's result and marks the store when the write failed.
  Status ResumeAfterWriteError();
  // A write failed, or RocksDB stopped writes in the background, and no resume since.
  bool WritesStopped() const;
  Status VerifyFilesAtOpen();
  Status CheckWrite(const rocksdb::Status& status, std::string_view what);
  Result<std::optional<std::string>> Get(CfIndex index, std::string_view key,
                                         std::string_view what);
  std::unique_ptr<rocksdb::Iterator> NewIterator(CfIndex index, const rocksdb::ReadOptions& ro);
  // Calls `fn` for the entries of family `index` whose keys start with `prefix`, in key order.
  // Names with `prefix` greater than `start_after` (empty: all), in order.
  Status ScanNames(CfIndex index, std::string_view prefix, std::string_view what,
                   const std::function<bool(std::string_view, std::string_view)>& fn,
                   std::string_view start_after = {});
  // Paths of the live SST files of one family.
  std::vector<std::string> LiveSstPaths(CfIndex index);
  // True once no live WAL file holds a write at or before `sequence` and none of `files` exists.
  Result<bool> NothingOlderRemains(rocksdb::SequenceNumber sequence,
                                   const std::vector<std::string>& files);

  const std::shared_ptr<rocksdb::Env> env_;  // declared first: outlives db_
  const std::shared_ptr<ManualRecovery> recovery_;  // the listener registered with db_
  const std::unique_ptr<rocksdb::DB> db_;
  const std::vector<rocksdb::ColumnFamilyHandle*> handles_;
  rocksdb::WriteOptions write_options_;

  std::mutex commit_mutex_;
  uint64_t committed_tree_size_ = 0;  // guarded by commit_mutex_

  std::mutex resume_mutex_;               // one DB::Resume() at a time
  std::atomic<bool> write_failed_{false};  // a write failed and the DB was not resumed since
};

}  // namespace cairn::storage::rocks
