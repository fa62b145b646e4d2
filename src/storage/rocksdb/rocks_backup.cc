// RocksLogStore::CreateBackup: an online, consistent copy of the store (RocksDB's Checkpoint:
// hard links to the immutable SST files where the file system allows, copies otherwise, and a
// copy of the live write-ahead log up to the moment of the copy), then opened read-only to learn
// what it holds.
#include <rocksdb/utilities/checkpoint.h>
#include <sys/stat.h>

#include <cassert>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <system_error>

#include "storage/rocksdb/rocks_log_store.h"
#include "storage/rocksdb/rocks_status.h"
#include "storage/rocksdb/rocks_store.h"

namespace cairn::storage::rocks {
namespace {

namespace fs = std::filesystem;

// Copy the write-ahead log instead of flushing memtables first: cairn writes every commit to the
// WAL, so the copied WAL replays into exactly the commits that were written when the copy began.
constexpr uint64_t kLogSizeForFlushNever = UINT64_MAX;

// Owner-only, like the data directory itself: the copy holds everything the store does.
Status MakeOwnerOnly(const std::string& dir) {
  std::error_code ec;
  fs::permissions(dir, fs::perms::owner_all, fs::perm_options::replace, ec);
  if (ec) return Status::IOError("cannot restrict the backup directory: " + ec.message());
  fs::directory_iterator it(dir, ec);
  for (; !ec && it != fs::directory_iterator(); it.increment(ec)) {
    // Hard links share the store's own files (already 0600 or 0644 as RocksDB made them); only
    // files that are not links into the store are narrowed here.
    std::error_code file_ec;
    if (!it->is_regular_file(file_ec) || it->hard_link_count(file_ec) > 1) continue;
    fs::permissions(it->path(), fs::perms::owner_read | fs::perms::owner_write,
                    fs::perm_options::replace, file_ec);
    if (file_ec) return Status::IOError("cannot restrict a backup file: " + file_ec.message());
  }
  if (ec) return Status::IOError("cannot list the backup directory: " + ec.message());
  return Status::Ok();
}

// What the copy holds, read from the copy itself (read-only: nothing in it changes).
Result<BackupFacts> ReadFacts(const std::string& dir) {
  RocksOptions options;
  options.path = dir;
  options.read_only = true;
  CAIRN_ASSIGN_OR_RETURN(std::unique_ptr<LogStore> copy, OpenRocksLogStore(options));
  CAIRN_ASSIGN_OR_RETURN(TreeState state, copy->ReadTreeState());
  CAIRN_ASSIGN_OR_RETURN(auto latest, copy->ReadLatestCheckpoint());
  BackupFacts facts;
  facts.tree_size = state.size;
  if (latest) {
    assert(latest->first <= state.size);  // a checkpoint never covers more than the tree
    facts.checkpoint_size = latest->first;
    facts.checkpoint_note = std::move(latest->second);
  }
  return facts;
}

}  // namespace

Result<BackupFacts> RocksLogStore::CreateBackup(const std::string& dir) {
  std::error_code ec;
  if (fs::symlink_status(dir, ec).type() != fs::file_type::not_found) {
    if (ec) return Status::IOError("cannot examine the backup directory: " + ec.message());
    return Status::AlreadyExists("the backup directory already exists: " + dir);
  }
  rocksdb::Checkpoint* raw = nullptr;
  CAIRN_RETURN_IF_ERROR(FromRocks(rocksdb::Checkpoint::Create(db_.get(), &raw), "backup"));
  std::unique_ptr<rocksdb::Checkpoint> checkpoint(raw);
  Status made = FromRocks(checkpoint->CreateCheckpoint(dir, kLogSizeForFlushNever), "backup");
  if (made.ok()) made = MakeOwnerOnly(dir);
  Result<BackupFacts> facts = made.ok() ? ReadFacts(dir) : Result<BackupFacts>(made);
  if (!facts.ok()) {
    fs::remove_all(dir, ec);  // never leave a copy that looks whole but is not
    return Status::IOError("the backup failed: " + facts.status().message());
  }
  return facts;
}

}  // namespace cairn::storage::rocks
