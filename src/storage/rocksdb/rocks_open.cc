// OpenRocksLogStore: finds or creates the store, opens every column family, checks the format.
#include <rocksdb/cache.h>
#include <rocksdb/db.h>

#include <cassert>
#include <filesystem>
#include <set>

#include "common/log.h"
#include "storage/rocksdb/rocks_log_store.h"
#include "storage/rocksdb/rocks_schema.h"
#include "storage/rocksdb/rocks_status.h"
#include "storage/rocksdb/rocks_store.h"
#include "storage/rocksdb/rocks_tuning.h"

namespace cairn::storage {
namespace {

namespace fs = std::filesystem;
using rocks::FromRocks;

// Start-up verification reads every live SST file when they total at most this much (about a
// second of reading); larger stores skip it and rely on the scrub (continuous verification).
constexpr uint64_t kOpenVerifySizeBytesMax = uint64_t{1} << 30;

constexpr size_t kBlockCacheSizeBytesMin = size_t{1} << 20;
constexpr size_t kBlockCacheSizeBytesMax = size_t{1} << 40;

Status CheckOptions(const RocksOptions& options) {
  if (options.path.empty()) return Status::InvalidArgument("the data directory path is empty");
  if (options.read_only && options.create_if_missing) {
    return Status::InvalidArgument("a read-only open cannot create the store");
  }
  if (options.block_cache_size_bytes < kBlockCacheSizeBytesMin ||
      options.block_cache_size_bytes > kBlockCacheSizeBytesMax) {
    return Status::InvalidArgument("block_cache_size_bytes must be 1 MiB..1 TiB");
  }
  return Status::Ok();
}

// A store exists once RocksDB has written its CURRENT file.
Result<bool> StoreExists(const std::string& path) {
  std::error_code ec;
  const bool exists = fs::exists(fs::path(path) / "CURRENT", ec);
  if (ec) return Status::IOError("checking " + path + ": " + ec.message());
  return exists;
}

// Creates the data directory (owner-only) if it does not exist yet; an existing one is kept as is.
Status PrepareDirectory(const std::string& path) {
  std::error_code ec;
  if (fs::exists(path, ec)) return Status::Ok();
  if (!fs::create_directories(path, ec) || ec) {
    return Status::IOError("creating data directory " + path + ": " + ec.message());
  }
  fs::permissions(path, fs::perms::owner_all, fs::perm_options::replace, ec);
  if (ec) return Status::IOError("restricting data directory " + path + ": " + ec.message());
  return Status::Ok();
}

// cairn's families first (in kColumnFamilies order), then "default" and any other existing one.
// The DB options of every open, on the test Env when one is set.
rocksdb::DBOptions DbOptionsFor(const RocksOptions& options) {
  rocksdb::DBOptions db_options = rocks::MakeDbOptions();
  if (options.point_in_time_recovery) {
    db_options.wal_recovery_mode = rocksdb::WALRecoveryMode::kPointInTimeRecovery;
  }
  if (options.env_for_test != nullptr) db_options.env = options.env_for_test.get();
  return db_options;
}

Result<std::vector<std::string>> FamiliesToOpen(const RocksOptions& options, bool exists) {
  const std::string& path = options.path;
  std::vector<std::string> families(rocks::kColumnFamilies.begin(), rocks::kColumnFamilies.end());
  families.push_back(rocksdb::kDefaultColumnFamilyName);
  if (!exists) return families;
  std::vector<std::string> existing;
  CAIRN_RETURN_IF_ERROR(
      FromRocks(rocksdb::DB::ListColumnFamilies(DbOptionsFor(options), path, &existing),
                "listing column families of " + path));
  const std::set<std::string> existing_set(existing.begin(), existing.end());
  for (std::string_view name : rocks::kColumnFamilies) {
    if (existing_set.count(std::string(name)) == 0) {
      return Status::FailedPrecondition(path + " is not a cairn store (column family '" +
                                        std::string(name) + "' is missing)");
    }
  }
  const std::set<std::string> known(families.begin(), families.end());
  for (const std::string& name : existing) {
    if (known.count(name) == 0) families.push_back(name);
  }
  return families;
}

}  // namespace

Result<std::unique_ptr<LogStore>> OpenRocksLogStore(const RocksOptions& options) {
  CAIRN_RETURN_IF_ERROR(CheckOptions(options));
  CAIRN_ASSIGN_OR_RETURN(const bool exists, StoreExists(options.path));
  if (!exists && !options.create_if_missing) {
    return Status::NotFound("no cairn store at " + options.path +
                            " (create one with create_if_missing)");
  }
  if (!exists) CAIRN_RETURN_IF_ERROR(PrepareDirectory(options.path));
  CAIRN_ASSIGN_OR_RETURN(const std::vector<std::string> families,
                         FamiliesToOpen(options, exists));

  const std::shared_ptr<rocksdb::Cache> cache =
      rocksdb::NewLRUCache(options.block_cache_size_bytes);
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (const std::string& name : families) {
    descriptors.emplace_back(name, rocks::MakeCfOptions(name, cache));
  }
  rocksdb::DBOptions db_options = DbOptionsFor(options);
  const auto recovery = std::make_shared<rocks::ManualRecovery>();
  db_options.listeners.push_back(recovery);
  db_options.create_if_missing = !exists;
  db_options.create_missing_column_families = !exists;
  db_options.error_if_exists = !exists;  // a store appearing meanwhile is not ours to initialise

  rocksdb::DB* raw_db = nullptr;
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  const rocksdb::Status opened =
      options.read_only
          ? rocksdb::DB::OpenForReadOnly(db_options, options.path, descriptors, &handles, &raw_db)
          : rocksdb::DB::Open(db_options, options.path, descriptors, &handles, &raw_db);
  if (opened.IsCorruption() && !options.point_in_time_recovery) {
    // Most often a damaged write-ahead log: the operator's next step, in the one line they see.
    const Status damaged = FromRocks(opened, "opening store at " + options.path);
    return Status::DataLoss(damaged.message() +
                            " (the store is damaged; `cairn recover --data-dir DIR` shows what "
                            "can be kept)");
  }
  CAIRN_RETURN_IF_ERROR(FromRocks(opened, "opening store at " + options.path));
  assert(raw_db != nullptr && handles.size() == families.size());

  auto store = std::make_unique<rocks::RocksLogStore>(std::unique_ptr<rocksdb::DB>(raw_db),
                                                      std::move(handles), options.sync,
                                                      options.env_for_test, recovery);
  CAIRN_RETURN_IF_ERROR(
      store->Initialize(/*created=*/!exists).Annotate("opening store at " + options.path));
  return std::unique_ptr<LogStore>(std::move(store));
}

namespace rocks {

// Checks the block checksums of every live SST file, so that a damaged file refuses the open
// (kDataLoss; RocksDB's message names the file and the offset) instead of failing later reads.
Status RocksLogStore::VerifyFilesAtOpen() {
  std::vector<rocksdb::LiveFileMetaData> files;
  db_->GetLiveFilesMetaData(&files);
  uint64_t total_size_bytes = 0;
  for (const rocksdb::LiveFileMetaData& f : files) total_size_bytes += f.size;
  if (total_size_bytes > kOpenVerifySizeBytesMax) {
    log::Info("storage: SST files not verified at open (too large; the scrub checks them)",
              {.action = "storage.open", .extra = {{"cairn.size_bytes", std::to_string(total_size_bytes)}}});
    return Status::Ok();
  }
  rocksdb::ReadOptions read_options;
  read_options.fill_cache = false;
  return FromRocks(db_->VerifyChecksum(read_options), "verifying the store's SST files");
}

Status RocksLogStore::Initialize(bool created) {
  if (!created) CAIRN_RETURN_IF_ERROR(VerifyFilesAtOpen());
  if (created) {
    CAIRN_RETURN_IF_ERROR(Put(CfIndex::kMeta, kMetaFormatVersion,
                              EncodeFormatVersion(kStoreFormatVersion), "format version"));
  }
  CAIRN_ASSIGN_OR_RETURN(const std::optional<std::string> stored,
                         Get(CfIndex::kMeta, kMetaFormatVersion, "format version"));
  if (!stored.has_value()) {
    return Status::FailedPrecondition(
        "the store has no format version (not a cairn store, or its creation was interrupted)");
  }
  const std::optional<uint32_t> version = DecodeFormatVersion(*stored);
  if (!version.has_value()) {
    return Status::FailedPrecondition("the store's format version is unreadable");
  }
  if (*version != kStoreFormatVersion) {
    return Status::FailedPrecondition("the store has format version " + std::to_string(*version) +
                                      " but this build reads format version " +
                                      std::to_string(kStoreFormatVersion) + " only");
  }
  CAIRN_ASSIGN_OR_RETURN(const TreeState state, ReadTreeState());
  std::lock_guard<std::mutex> lock(commit_mutex_);
  committed_tree_size_ = state.size;
  return Status::Ok();
}

}  // namespace rocks
}  // namespace cairn::storage
