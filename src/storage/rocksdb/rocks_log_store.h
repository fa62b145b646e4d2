// The embedded RocksDB backend of LogStore (the default, `--data-dir`).
//
// One process owns a data directory: RocksDB's LOCK file is held while the store is open, and a
// second open fails with kUnavailable ("the data directory is in use by another process"). The
// layout is described in rocks_schema.h.
//
// Durability: with `sync` (the default) every Commit(), PutCheckpoint, PutKeyMaterial, PutMeta and
// DestroyKeyMaterial returns only after the WAL is fsynced. `sync = false` exists for benchmarks
// only; a crash may then lose acknowledged writes.
//
// Write errors: the write fails (a full disk: kResourceExhausted; an I/O error or a failed fsync:
// kIOError) and is not applied to the store's view. After an error of a background flush (SST
// files, e.g. a full disk), the next write resumes RocksDB (DB::Resume) and succeeds once the
// disk works again — no restart; until then writes fail. After a failed write to the WAL or a
// failed fsync RocksDB cannot resume in place: writes fail with kUnavailable ("restart the
// server") until the store is reopened. A batch whose fsync failed was handed to the file system
// whole: after the restart it is either entirely present or entirely absent, never partly. Reads
// keep working throughout.
//
// Opening verifies the block checksums of every SST file when they total at most 1 GiB: a
// damaged file refuses the open with kDataLoss naming the file (larger stores: the scrub).
// Opening: a directory without a store → kNotFound unless `create_if_missing`; a store of another
// format version, or without one → kFailedPrecondition. A new store's directory is created with
// mode 0700. If a crash interrupts creation before the format version is written, the directory
// is refused on the next open and must be removed by hand (it holds no data).
//
// Ownership: the returned LogStore owns the database; destroying it closes the database.
// CommitWriters and callbacks must not outlive the store. Thread safety: as LogStore.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "storage/log_store.h"

namespace rocksdb {
class Env;
}

namespace cairn::storage {

struct RocksOptions {
  std::string path;  // the data directory
  bool create_if_missing = false;
  // Opens an existing store without writing anything to it (RocksDB's read-only mode: no new
  // MANIFEST, WAL or info log; a WAL left by a crash is replayed in memory only). Every write then
  // fails. For the offline commands that only read (`cairn verify`, the source of `cairn migrate`),
  // so that examining a damaged directory never changes it. Requires !create_if_missing.
  bool read_only = false;
  // Replays the write-ahead log up to its first damaged record and drops everything after it
  // (RocksDB's kPointInTimeRecovery) instead of refusing to open. Only `cairn recover` sets it,
  // after an operator has seen what would be kept: an acknowledged commit after a damaged record
  // is lost. Default (kTolerateCorruptedTailRecords): a last record cut short (the file ends
  // inside it: what a crash leaves) is dropped; any other damage refuses the open with kDataLoss
  // — also a last record whose bytes read back as zeros or garbage (a power loss on a file system
  // that grew the file before writing it), which only `cairn recover` drops.
  bool point_in_time_recovery = false;
  bool sync = true;                                  // durability: never false outside benchmarks
  size_t block_cache_size_bytes = size_t{64} << 20;  // shared by every column family
  // Test hook (fault injection, e.g. a FileSystem that fails writes or fsyncs): the RocksDB Env
  // the store runs on; the store keeps it alive. Null = the default Env. Never set in production.
  std::shared_ptr<rocksdb::Env> env_for_test;
};

Result<std::unique_ptr<LogStore>> OpenRocksLogStore(const RocksOptions& options);

// Copies the write-ahead log files (`*.log`) of the store at `db_path` into `to_dir`, which must
// not exist yet: it is created owner-only (0700), each copy is 0600 and synced, then the
// directory. Sets *copied to the file names. The store must not be open for writes meanwhile (the
// caller holds the data directory lock). kAlreadyExists when `to_dir` exists; kIOError otherwise.
Status CopyRocksWalFiles(const std::string& db_path, const std::string& to_dir,
                         std::vector<std::string>* copied);

}  // namespace cairn::storage
