// FaultFs: a RocksDB FileSystem over the default one that fails, on demand, what a sick or full
// disk fails — appends to WAL files (*.log), appends to SST files (*.sst), and Sync/Fsync of the
// WAL, SST and MANIFEST files — until the test clears the fault. Fault injection below cairn:
// the store under test is the real RocksDB backend, run on this FileSystem through the test hook
// RocksOptions::env_for_test (EventStore: Options::rocks_env_for_test). For tests only.
//
// A failed append writes nothing of its data; a failed sync happens after the data reached the
// file (as with a real fsync error: the bytes may or may not be on the disk).
//
// Thread safety: the faults are atomics; RocksDB's threads and the test may use them at once.
// Ownership: the FileSystem, its files and the Env share the FsFaults, so it lives as long as the
// last of them (RocksDB's background threads may still touch files after a test body ends).
#pragma once

#include <rocksdb/env.h>
#include <rocksdb/file_system.h>

#include <atomic>
#include <memory>
#include <string>
#include <string_view>

namespace cairn::storage::testing {

enum class FaultKind : int { kNone = 0, kIOError, kNoSpace };

struct FsFaults {
  std::atomic<FaultKind> wal_appends{FaultKind::kNone};
  std::atomic<FaultKind> sst_appends{FaultKind::kNone};
  std::atomic<bool> syncs{false};  // Sync/Fsync of WAL, SST and MANIFEST files fail (kIOError)
  std::atomic<int> injected{0};    // faults returned so far

  void Clear() {
    wal_appends = FaultKind::kNone;
    sst_appends = FaultKind::kNone;
    syncs = false;
  }
};

enum class FileRole { kWal, kSst, kManifest, kOther };

inline FileRole RoleOf(std::string_view path) {
  const size_t slash = path.rfind('/');
  const std::string_view name = slash == std::string_view::npos ? path : path.substr(slash + 1);
  auto ends_with = [&](std::string_view suffix) {
    return name.size() >= suffix.size() && name.substr(name.size() - suffix.size()) == suffix;
  };
  if (ends_with(".log")) return FileRole::kWal;
  if (ends_with(".sst")) return FileRole::kSst;
  if (name.substr(0, 9) == "MANIFEST-") return FileRole::kManifest;
  return FileRole::kOther;
}

inline rocksdb::IOStatus Injected(FaultKind kind, std::string_view what) {
  const std::string message = "injected fault: " + std::string(what);
  return kind == FaultKind::kNoSpace ? rocksdb::IOStatus::NoSpace(message)
                                     : rocksdb::IOStatus::IOError(message);
}

class FaultFile final : public rocksdb::FSWritableFileOwnerWrapper {
 public:
  FaultFile(std::unique_ptr<rocksdb::FSWritableFile> file, FileRole role,
            std::shared_ptr<FsFaults> faults)
      : FSWritableFileOwnerWrapper(std::move(file)), role_(role), faults_(std::move(faults)) {}

  rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& o,
                           rocksdb::IODebugContext* dbg) override {
    if (const FaultKind k = AppendFault(); k != FaultKind::kNone) return Fail(k, "append");
    return FSWritableFileOwnerWrapper::Append(data, o, dbg);
  }
  rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& o,
                           const rocksdb::DataVerificationInfo& info,
                           rocksdb::IODebugContext* dbg) override {
    if (const FaultKind k = AppendFault(); k != FaultKind::kNone) return Fail(k, "append");
    return FSWritableFileOwnerWrapper::Append(data, o, info, dbg);
  }
  rocksdb::IOStatus PositionedAppend(const rocksdb::Slice& data, uint64_t offset,
                                     const rocksdb::IOOptions& o,
                                     rocksdb::IODebugContext* dbg) override {
    if (const FaultKind k = AppendFault(); k != FaultKind::kNone) return Fail(k, "append");
    return FSWritableFileOwnerWrapper::PositionedAppend(data, offset, o, dbg);
  }
  rocksdb::IOStatus PositionedAppend(const rocksdb::Slice& data, uint64_t offset,
                                     const rocksdb::IOOptions& o,
                                     const rocksdb::DataVerificationInfo& info,
                                     rocksdb::IODebugContext* dbg) override {
    if (const FaultKind k = AppendFault(); k != FaultKind::kNone) return Fail(k, "append");
    return FSWritableFileOwnerWrapper::PositionedAppend(data, offset, o, info, dbg);
  }
  rocksdb::IOStatus Sync(const rocksdb::IOOptions& o, rocksdb::IODebugContext* dbg) override {
    if (SyncFails()) return Fail(FaultKind::kIOError, "fsync");
    return FSWritableFileOwnerWrapper::Sync(o, dbg);
  }
  rocksdb::IOStatus Fsync(const rocksdb::IOOptions& o, rocksdb::IODebugContext* dbg) override {
    if (SyncFails()) return Fail(FaultKind::kIOError, "fsync");
    return FSWritableFileOwnerWrapper::Fsync(o, dbg);
  }

 private:
  FaultKind AppendFault() const {
    if (role_ == FileRole::kWal) return faults_->wal_appends.load();
    if (role_ == FileRole::kSst) return faults_->sst_appends.load();
    return FaultKind::kNone;
  }
  bool SyncFails() const { return role_ != FileRole::kOther && faults_->syncs.load(); }
  rocksdb::IOStatus Fail(FaultKind kind, std::string_view what) {
    faults_->injected += 1;
    return Injected(kind, what);
  }

  const FileRole role_;
  const std::shared_ptr<FsFaults> faults_;
};

class FaultFs final : public rocksdb::FileSystemWrapper {
 public:
  explicit FaultFs(std::shared_ptr<FsFaults> faults)
      : FileSystemWrapper(rocksdb::FileSystem::Default()), faults_(std::move(faults)) {}

  const char* Name() const override { return "cairn.FaultFs"; }

  rocksdb::IOStatus NewWritableFile(const std::string& f, const rocksdb::FileOptions& o,
                                    std::unique_ptr<rocksdb::FSWritableFile>* r,
                                    rocksdb::IODebugContext* dbg) override {
    return Wrap(f, target()->NewWritableFile(f, o, r, dbg), r);
  }
  rocksdb::IOStatus ReopenWritableFile(const std::string& f, const rocksdb::FileOptions& o,
                                       std::unique_ptr<rocksdb::FSWritableFile>* r,
                                       rocksdb::IODebugContext* dbg) override {
    return Wrap(f, target()->ReopenWritableFile(f, o, r, dbg), r);
  }
  rocksdb::IOStatus ReuseWritableFile(const std::string& f, const std::string& old,
                                      const rocksdb::FileOptions& o,
                                      std::unique_ptr<rocksdb::FSWritableFile>* r,
                                      rocksdb::IODebugContext* dbg) override {
    return Wrap(f, target()->ReuseWritableFile(f, old, o, r, dbg), r);
  }

 private:
  rocksdb::IOStatus Wrap(const std::string& path, rocksdb::IOStatus s,
                         std::unique_ptr<rocksdb::FSWritableFile>* r) const {
    if (s.ok()) *r = std::make_unique<FaultFile>(std::move(*r), RoleOf(path), faults_);
    return s;
  }

  const std::shared_ptr<FsFaults> faults_;
};

// An Env whose FileSystem is a FaultFs driven by `faults`.
inline std::shared_ptr<rocksdb::Env> NewFaultEnv(const std::shared_ptr<FsFaults>& faults) {
  return std::shared_ptr<rocksdb::Env>(
      rocksdb::NewCompositeEnv(std::make_shared<FaultFs>(faults)).release());
}

}  // namespace cairn::storage::testing
