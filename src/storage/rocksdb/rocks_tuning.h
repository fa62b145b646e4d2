// RocksDB options for cairn's workload: an append-only log with increasing keys, written by one
// group-commit writer with one fsync per group, read by position scans, per-stream index range
// reads and Merkle point lookups.
//
// DB-wide: WAL on, WAL recovery that tolerates a torn last record only, paranoid checks, 2 background jobs, the WAL total
// bounded (kWalTotalSizeBytesMax) so a rarely written family cannot pin old WAL files forever,
// obsolete WAL files deleted at once (no archive, no recycling: a destroyed key's WAL record must
// not survive in an archived or reused log file).
// Per family: one shared LRU block cache that also holds index and filter blocks (memory is
// bounded by it); no compression for records, nodes and key blobs (ciphertext and hashes do not
// compress); whole-key bloom filters for stream heads, nodes and small maps; a prefix bloom on the
// stream id for the stream index; no filter for records (position lookups almost always hit).
// Memtable insert hints where keys are rewritten or extend a run within a prefix (stream index:
// the stream id; stream heads: the whole key; Merkle: the level byte): the skip list inserts next
// to the prefix's last write instead of searching from the top (a single-event append profile
// spent ~5 % of its CPU in that search, docs/performance.md).
//
// Thread safety: pure functions.
#pragma once

#include <rocksdb/cache.h>
#include <rocksdb/options.h>

#include <cstddef>
#include <memory>
#include <string_view>

namespace cairn::storage::rocks {

inline constexpr uint64_t kWalTotalSizeBytesMax = uint64_t{512} << 20;
inline constexpr size_t kScanReadaheadSizeBytes = size_t{2} << 20;

rocksdb::DBOptions MakeDbOptions();

// Options for one of cairn's column families (a name from kColumnFamilies), or defaults with the
// shared cache for a family this version does not know.
rocksdb::ColumnFamilyOptions MakeCfOptions(std::string_view name,
                                           const std::shared_ptr<rocksdb::Cache>& cache);

}  // namespace cairn::storage::rocks
