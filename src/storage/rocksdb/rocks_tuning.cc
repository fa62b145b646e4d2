#include "storage/rocksdb/rocks_tuning.h"

#include <rocksdb/convenience.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/slice_transform.h>
#include <rocksdb/table.h>

#include <algorithm>
#include <cassert>

#include "storage/rocksdb/rocks_schema.h"

namespace cairn::storage::rocks {
namespace {

constexpr int kBackgroundJobsMax = 2;
constexpr double kBloomBitsPerKey = 10.0;            // ≈ 1% false positives
constexpr size_t kRecordsBlockSizeBytes = 16 << 10;  // larger blocks: records are read by scans
constexpr size_t kBlockSizeBytes = 4 << 10;
constexpr size_t kInfoLogFileSizeBytesMax = 16 << 20;
constexpr size_t kInfoLogFilesMax = 8;
constexpr uint64_t kBytesPerSync = 1 << 20;  // smooth SST writeback instead of one burst
// Open SST files are cached up to this count (RocksDB's default is unbounded): every forget
// flushes all families, which leaves small SST files that level compaction may only move, and
// the soak (make soak) showed one open fd per such file without this bound.
constexpr int kOpenFilesMax = 512;
// All memtables together (RocksDB's default is up to 2 x 64 MiB per family, 7 families): the
// soak's RSS rose 164 -> 377 MiB over 10 minutes without forgets.
constexpr size_t kWriteBuffersSizeBytesMax = size_t{128} << 20;

// Extracts `u32 len || stream_id` from a stream index key, so the stream index has a bloom filter
// per stream: a read of one stream skips SST files that hold none of its entries. The name is
// stored in each SST; changing the encoding requires a new name (old filters are then ignored).
class StreamIdPrefixTransform final : public rocksdb::SliceTransform {
 public:
  const char* Name() const override { return "cairn.StreamIdPrefix.v1"; }
  rocksdb::Slice Transform(const rocksdb::Slice& key) const override {
    // RocksDB calls Transform only for keys InDomain; stay total anyway (never crash inside a
    // RocksDB thread): the whole key is its own prefix.
    const auto size = StreamIndexPrefixSize(std::string_view(key.data(), key.size()));
    return rocksdb::Slice(key.data(), size.value_or(key.size()));
  }
  bool InDomain(const rocksdb::Slice& key) const override {
    return StreamIndexPrefixSize(std::string_view(key.data(), key.size())).has_value();
  }
};

rocksdb::CompressionType LightCompression() {
  const auto supported = rocksdb::GetSupportedCompressions();
  const bool has_lz4 =
      std::find(supported.begin(), supported.end(), rocksdb::kLZ4Compression) != supported.end();
  return has_lz4 ? rocksdb::kLZ4Compression : rocksdb::kNoCompression;
}

rocksdb::BlockBasedTableOptions BaseTableOptions(const std::shared_ptr<rocksdb::Cache>& cache) {
  assert(cache != nullptr);
  rocksdb::BlockBasedTableOptions table;
  table.block_cache = cache;
  table.cache_index_and_filter_blocks = true;  // memory bounded by the cache
  table.pin_l0_filter_and_index_blocks_in_cache = true;
  table.block_size = kBlockSizeBytes;
  table.format_version = 5;
  return table;
}

rocksdb::ColumnFamilyOptions WithTable(rocksdb::ColumnFamilyOptions cf,
                                       const rocksdb::BlockBasedTableOptions& table) {
  cf.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  return cf;
}

rocksdb::ColumnFamilyOptions BaseCfOptions(rocksdb::CompressionType compression) {
  rocksdb::ColumnFamilyOptions cf;
  cf.level_compaction_dynamic_level_bytes = true;
  cf.compression = compression;
  cf.bottommost_compression = compression;
  return cf;
}

}  // namespace

rocksdb::DBOptions MakeDbOptions() {
  rocksdb::DBOptions db;
  db.paranoid_checks = true;
  db.max_background_jobs = kBackgroundJobsMax;
  db.max_total_wal_size = kWalTotalSizeBytesMax;
  db.max_open_files = kOpenFilesMax;
  db.db_write_buffer_size = kWriteBuffersSizeBytesMax;
  // Every commit is synced, so the only damage a crash leaves is a torn last record, which this
  // mode tolerates; a damaged record in the middle is refused (point-in-time recovery would stop
  // there and drop every acknowledged commit after it without a word).
  // `cairn recover` opens with kPointInTimeRecovery once an operator has seen what it keeps.
  db.wal_recovery_mode = rocksdb::WALRecoveryMode::kTolerateCorruptedTailRecords;
  // track_and_verify_wals_in_manifest stays off: Debian's RocksDB 7.8 can record a WAL in a new
  // MANIFEST after its deletion (fixed upstream in 7.9, facebook/rocksdb#10892), and the next open
  // then fails with a false "Missing WAL" — a store that refuses to start for nothing.
  // Obsolete WAL files are deleted at once: not archived (ttl and size limit 0), not recycled (a
  // reused file keeps old records past its new tail). DestroyKeyMaterial relies on both.
  db.WAL_ttl_seconds = 0;
  db.WAL_size_limit_MB = 0;
  db.recycle_log_file_num = 0;
  db.manual_wal_flush = false;
  db.avoid_flush_during_shutdown = false;
  db.avoid_unnecessary_blocking_io = false;  // purge obsolete files in the flushing call
  db.bytes_per_sync = kBytesPerSync;
  db.max_log_file_size = kInfoLogFileSizeBytesMax;
  db.keep_log_file_num = kInfoLogFilesMax;
  return db;
}

rocksdb::ColumnFamilyOptions MakeCfOptions(std::string_view name,
                                           const std::shared_ptr<rocksdb::Cache>& cache) {
  rocksdb::BlockBasedTableOptions table = BaseTableOptions(cache);
  if (name == kCfRecords) {
    // Ciphertext, written in key order, read by position or scanned: no compression, no filter.
    table.block_size = kRecordsBlockSizeBytes;
    return WithTable(BaseCfOptions(rocksdb::kNoCompression), table);
  }
  if (name == kCfStreamIndex) {
    table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(kBloomBitsPerKey));
    table.whole_key_filtering = false;  // only range reads within one stream
    rocksdb::ColumnFamilyOptions cf = BaseCfOptions(LightCompression());
    cf.prefix_extractor = std::make_shared<StreamIdPrefixTransform>();
    // A stream's index keys arrive in increasing order: insert each next to the stream's last.
    cf.memtable_insert_with_hint_prefix_extractor = cf.prefix_extractor;
    return WithTable(cf, table);
  }
  if (name == kCfStreamHeads) {
    // Point lookups on every append, often for new streams (misses): a whole-key filter.
    table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(kBloomBitsPerKey));
    rocksdb::ColumnFamilyOptions cf = BaseCfOptions(LightCompression());
    // A head is rewritten on every append to its stream: its new version goes next to the last.
    cf.memtable_insert_with_hint_prefix_extractor.reset(rocksdb::NewNoopTransform());
    return WithTable(cf, table);
  }
  if (name == kCfMerkle) {
    // Random hashes: no compression; proofs read nodes that exist (optimize for hits).
    table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(kBloomBitsPerKey));
    rocksdb::ColumnFamilyOptions cf = BaseCfOptions(rocksdb::kNoCompression);
    cf.optimize_filters_for_hits = true;
    // Every group rewrites the open chunk of each level it touches, and the tree state: insert
    // next to the same level's last write (the first byte is the level; the tree state's key is
    // its own one-byte prefix).
    cf.memtable_insert_with_hint_prefix_extractor.reset(rocksdb::NewFixedPrefixTransform(1));
    return WithTable(cf, table);
  }
  if (name == kCfKeys) {
    table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(kBloomBitsPerKey));
    return WithTable(BaseCfOptions(rocksdb::kNoCompression), table);  // wrapped keys: random
  }
  if (name == kCfCheckpoints || name == kCfMeta) {
    table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(kBloomBitsPerKey));
    return WithTable(BaseCfOptions(LightCompression()), table);
  }
  return WithTable(rocksdb::ColumnFamilyOptions(), table);  // "default" or unknown families
}

}  // namespace cairn::storage::rocks
