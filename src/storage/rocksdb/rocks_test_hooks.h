// Test hooks: raw writes that bypass every check of the RocksDB backend, for tests that simulate
// on-disk tampering or corruption (a deleted or rewritten record, a rolled-back tree state).
// NEVER call them outside tests: they break the invariants the engine relies on.
//
// Each takes a LogStore opened by OpenRocksLogStore (else kInvalidArgument) and writes with the
// store's sync setting. RawPutTreeStateForTest also sets the store's in-memory committed tree
// size to `state.size`, so later commits must start from it (as after a reopen). Thread safety:
// as LogStore; the hooks take the commit lock.
#pragma once

#include <cstdint>
#include <string_view>

#include "common/status.h"
#include "storage/log_store.h"

namespace cairn::storage {

Status RawDeleteRecordForTest(LogStore* store, uint64_t position);
Status RawPutRecordForTest(LogStore* store, uint64_t position, std::string_view bytes);
Status RawPutTreeStateForTest(LogStore* store, const TreeState& state);
// Flushes every memtable to SST files (and so retires old WAL files): lets tests exercise reads
// from SST files and inspect the files.
Status FlushForTest(LogStore* store);

}  // namespace cairn::storage
