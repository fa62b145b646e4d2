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
#include <optional>
#include <string_view>

#include "common/status.h"
#include "storage/log_store.h"

namespace cairn::storage {

Status RawDeleteRecordForTest(LogStore* store, uint64_t position);
Status RawPutRecordForTest(LogStore* store, uint64_t position, std::string_view bytes);
Status RawPutTreeStateForTest(LogStore* store, const TreeState& state);
// Puts (or, with a nullopt value, deletes) any key of the column family named `column_family`
// (rocks_schema.h): for tampering with the stream index, stream heads, Merkle nodes or checkpoints.
Status RawWriteKeyForTest(LogStore* store, std::string_view column_family, std::string_view key,
                          std::optional<std::string_view> value);
// Flushes every memtable to SST files (and so retires old WAL files): lets tests exercise reads
// from SST files and inspect the files.
Status FlushForTest(LogStore* store);
// Flushes the memtable of the column family named `column_family` only: its data moves to SST
// files while the other families' stays in the WAL (a crash between two families' flushes).
Status FlushFamilyForTest(LogStore* store, std::string_view column_family);

}  // namespace cairn::storage
