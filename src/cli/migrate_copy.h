// Copying a log from one LogStore into another (`cairn migrate`): every record, stream index
// entry, stream head, Merkle node of every level, the tree state, the checkpoints, the key
// material and the metadata, byte for byte.
//
// The copy does not judge what it copies: records, hashes and notes are taken as stored, so a
// damaged source gives a damaged copy, and proving the copy (verifying it against the source's
// signed checkpoint) is the caller's task. It only refuses what it cannot copy faithfully
// (kDataLoss: a record or leaf hash missing below the source's tree size, a node the source
// lacks).
//
// Memory stays bounded whatever the log's size: records and nodes go in chunks of at most
// kCopyChunkRecordsMax records (and about kCopyChunkSizeBytesMax bytes) per CommitWriter, each
// ending with the tree state of the chunk's end; stream index entries in writers of at most
// kCopyChunkRecordsMax entries, after all records: their positions lie below those writers' base
// size, which the PostgreSQL backend stores as given but RocksDB's writer refuses (it asserts that
// a commit indexes only its own records), so the target is PostgreSQL. Metadata "initialized" is
// written last, so an interrupted copy is never opened as a log (the engine refuses it) and
// CheckTargetEmpty refuses it as a target.
//
// Thread safety: the source must not change during the copy (the caller holds its data
// directory's lock) and nothing else may write to the target (kAborted if it changes).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "common/status.h"
#include "storage/log_store.h"

namespace cairn::cli {

inline constexpr uint64_t kCopyChunkRecordsMax = 2000;
inline constexpr size_t kCopyChunkSizeBytesMax = size_t{64} << 20;
// The metadata entry that makes a store a log for the engine (written by `cairn init` last).
inline constexpr std::string_view kMetaInitialized = "initialized";

struct CopyReport {
  uint64_t records = 0;
  uint64_t streams = 0;
  uint64_t index_entries = 0;
  uint64_t nodes = 0;  // every level, leaf hashes included
  uint64_t checkpoints = 0;
  uint64_t key_materials = 0;
  uint64_t meta_entries = 0;  // "initialized" included
};

// Ok when `target` holds nothing (no metadata, key material, checkpoint or record). Otherwise
// kAlreadyExists when it holds a log, kFailedPrecondition when it holds anything else (e.g. the
// remains of an interrupted copy).
Status CheckTargetEmpty(storage::LogStore& target);

// Copies the whole log of `source` (which must hold a log: kFailedPrecondition otherwise) into
// the empty `target`.
Result<CopyReport> CopyLog(storage::LogStore& source, storage::LogStore& target);

}  // namespace cairn::cli
