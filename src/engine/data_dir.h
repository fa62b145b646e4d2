// DataDir: the files of a data directory and its exclusive lock.
//
// Layout: <dir>/cairn.lock (flock'ed by the owning process, holds its pid), <dir>/keyring (the
// local KMS keyring, 0600), <dir>/db (RocksDB). The lock is advisory (flock) and released when the
// process exits, even on SIGKILL, so a crashed owner never leaves the directory locked.
// Thread safety: a DataDirLock is owned by one EventStore; it is released on destruction.
#pragma once

#include <memory>
#include <string>

#include "common/status.h"

namespace cairn::engine {

struct DataDirPaths {
  explicit DataDirPaths(const std::string& dir)
      : dir(dir), lock(dir + "/cairn.lock"), keyring(dir + "/keyring"), db(dir + "/db") {}
  std::string dir, lock, keyring, db;
};

class DataDirLock {
 public:
  // Creates the directory (0700) if `create` and it is missing. kUnavailable when another
  // process holds the lock (the message names its pid), kNotFound when the directory is missing.
  static Result<std::unique_ptr<DataDirLock>> Acquire(const DataDirPaths& paths, bool create);
  ~DataDirLock();
  DataDirLock(const DataDirLock&) = delete;
  DataDirLock& operator=(const DataDirLock&) = delete;

 private:
  explicit DataDirLock(int fd) : fd_(fd) {}
  int fd_;
};

}  // namespace cairn::engine
