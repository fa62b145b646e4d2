// RocksLogStore: writing again after a write error (a full disk, an I/O error, a failed fsync)
// without a restart.
//
// RocksDB answers such an error by stopping writes (a "background error") until DB::Resume(),
// which flushes the memtables to new files and starts a new WAL, so the failed write's WAL tail
// is never replayed. The store resumes at the start of the next write: one attempt per write, no
// retry loop (the callers' retries are the loop, and each fails fast while the fault lasts).
#include <string>

#include "common/log.h"
#include "storage/rocksdb/rocks_status.h"
#include "storage/rocksdb/rocks_store.h"

namespace cairn::storage::rocks {

Status RocksLogStore::ResumeAfterWriteError() {
  if (!write_failed_.load()) return Status::Ok();
  std::lock_guard<std::mutex> lock(resume_mutex_);
  if (!write_failed_.load()) return Status::Ok();  // resumed by another writer meanwhile
  const rocksdb::Status s = db_->Resume();
  if (!s.ok()) {
    // The reason stays in the server log (it names files); callers get a fixed text.
    log::Debug("storage: resuming after a write error failed",
               {.action = "storage.resume", .outcome = "failure",
                .extra = {{"cairn.reason", s.ToString()}}});
    if (s.IsNoSpace()) {
      return Status::ResourceExhausted(
          "the disk is full (no space left on device); writes resume once space is freed");
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

}  // namespace cairn::storage::rocks
