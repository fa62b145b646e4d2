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
// Write errors (a full disk, an I/O error, a failed fsync): the write fails with kIOError and
// nothing of it is applied. RocksDB then refuses writes until it is resumed; the store resumes it
// (DB::Resume) at the start of the next write, once per write, and that write fails with
// kUnavailable while resuming fails. Reads keep working throughout.
//
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

#include "common/status.h"
#include "storage/log_store.h"

namespace rocksdb {
class Env;
}

namespace cairn::storage {

struct RocksOptions {
  std::string path;  // the data directory
  bool create_if_missing = false;
  bool sync = true;                                  // durability: never false outside benchmarks
  size_t block_cache_size_bytes = size_t{64} << 20;  // shared by every column family
  // Test hook (fault injection, e.g. a FileSystem that fails writes or fsyncs): the RocksDB Env
  // the store runs on; the store keeps it alive. Null = the default Env. Never set in production.
  std::shared_ptr<rocksdb::Env> env_for_test;
};

Result<std::unique_ptr<LogStore>> OpenRocksLogStore(const RocksOptions& options);

}  // namespace cairn::storage
