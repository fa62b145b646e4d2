// RocksLogStore: writing again after a write error (a full disk, an I/O error, a failed fsync)
// without a restart.
//
// RocksDB answers such an error by stopping writes (a "background error"). After an error of a
// flush or a compaction (SST files; e.g. a full disk), DB::Resume() flushes again and clears it:
// the store resumes at the start of the next write, one attempt per write, no retry loop (the
// callers' retries are the loop, and each fails fast while the fault lasts). RocksDB's own
// background recovery is off (ManualRecovery), so the first write after space returns succeeds.
//
// After a failed WAL write or fsync (or MANIFEST write) nothing is resumed in place (see
// ManualRecovery): every write fails with kUnavailable asking for a restart; reads go on. A
// restart recovers from the WAL (see rocks_log_store.h).
#include <string>

#include "common/log.h"
#include "storage/rocksdb/rocks_status.h"
#include "storage/rocksdb/rocks_store.h"

namespace cairn::storage::rocks {

bool RocksLogStore::WritesStopped() const {
  return write_failed_.load() || (recovery_ != nullptr && recovery_->background_error());
}

Status RocksLogStore::ResumeAfterWriteError() {
  if (!WritesStopped()) return Status::Ok();
  if (recovery_ != nullptr && recovery_->needs_restart()) {
    return Status::Unavailable(
        "the store stopped writing after a failed write to its log (WAL) or an fsync error, which "
        "it cannot recover from in place; restart the server");
  }
  std::lock_guard<std::mutex> lock(resume_mutex_);
  if (!WritesStopped()) return Status::Ok();  // resumed by another writer meanwhile
  // Cleared before the resume, set again if it fails: a background error reported while it runs
  // stays noted (clearing after a success could erase it).
  if (recovery_ != nullptr) recovery_->ClearBackgroundError();
  const rocksdb::Status s = db_->Resume();
  if (!s.ok()) {
    if (recovery_ != nullptr) recovery_->NoteBackgroundError();
    // The reason stays in the server log (it names files); callers get a fixed text.
    log::Debug("storage: resuming after a write error failed",
               {.action = "storage.resume", .outcome = "failure",
                .extra = {{"cairn.reason", s.ToString()}}});
    if (s.IsNoSpace()) {
      return Status::ResourceExhausted(
          "the disk is full (no space left on device); writes resume once space is freed");
    }
    if (s.severity() >= rocksdb::Status::Severity::kFatalError) {
      return Status::Unavailable(
          "the store stopped writing after a write error it cannot recover from in place (an I/O "
          "error or a failed fsync); restart the server");
    }
    return Status::Unavailable(
        "the store stopped writing after a write error and cannot resume yet; retry later");
  }
  write_failed_.store(false);
  log::Warn("storage: writing again after a write error",
            {.action = "storage.resume", .outcome = "success"});
  return Status::Ok();
}

Status RocksLogStore::CheckWrite(const rocksdb::Status& status, std::string_view what) {
  if (status.ok()) return Status::Ok();
  // Refusals before anything is written do not stop the DB.
  if (status.IsInvalidArgument() || status.IsNotSupported()) return FromRocks(status, what);
  // Logged once per episode: the writes that fail after it until a resume say nothing new.
  if (!write_failed_.exchange(true)) {
    log::Error("storage: a write failed; writes stop until the store resumes",
               {.action = "storage.write", .outcome = "failure",
                .extra = {{"cairn.reason", status.ToString()}}});
  }
  return FromRocks(status, what);
}

void ManualRecovery::OnBackgroundError(rocksdb::BackgroundErrorReason reason,
                                       rocksdb::Status* /*bg_error*/) {
  using R = rocksdb::BackgroundErrorReason;
  background_error_.store(true);
  if (reason != R::kFlush && reason != R::kCompaction && reason != R::kFlushNoWAL) {
    needs_restart_.store(true);
  }
}

void ManualRecovery::OnErrorRecoveryBegin(rocksdb::BackgroundErrorReason /*reason*/,
                                          rocksdb::Status /*bg_error*/, bool* auto_recovery) {
  *auto_recovery = false;
}

}  // namespace cairn::storage::rocks
