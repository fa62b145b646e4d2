// Converts rocksdb::Status into cairn Status, so no RocksDB type crosses the LogStore seam.
//
// Mapping: NotFound → kNotFound; Corruption → kDataLoss; Busy, TryAgain, TimedOut, Incomplete,
// ShutdownInProgress and a held LOCK file → kUnavailable (a LOCK held by another process says
// that the data directory is in use by another process); InvalidArgument and NotSupported (e.g.
// options that do not match the files) → kFailedPrecondition; MemoryLimit → kResourceExhausted;
// Aborted → kAborted; NoSpace (a full disk) → kResourceExhausted with the fixed text
// `context: no space left on device (the disk is full)`; everything else (IOError, ...) →
// kIOError. The message is otherwise `context: <rocksdb message>`; RocksDB messages hold file
// names, never stored values. Outside kIOError (whose text clients never see) an absolute path in
// RocksDB's text is cut to its file name.
//
// ToSlice views a string's bytes as a rocksdb::Slice (no copy).
//
// Thread safety: pure functions.
#pragma once

#include <rocksdb/slice.h>
#include <rocksdb/status.h>

#include <string_view>

#include "common/status.h"

namespace cairn::storage::rocks {

Status FromRocks(const rocksdb::Status& status, std::string_view context);

inline rocksdb::Slice ToSlice(std::string_view s) { return rocksdb::Slice(s.data(), s.size()); }

}  // namespace cairn::storage::rocks
