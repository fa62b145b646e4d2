#include "storage/rocksdb/rocks_status.h"

#include <string>

namespace cairn::storage::rocks {
namespace {

// RocksDB reports a held LOCK file as a plain IOError; only its text tells the cases apart
// (env/fs_posix.cc: "While lock file: <dir>/LOCK: ..." when fcntl fails because another process
// holds it, "lock hold by current process" when this process already has the store open).
bool IsLockHeldByOtherProcess(const std::string& message) {
  return message.find("While lock file") != std::string::npos;
}

bool IsLockHeldByThisProcess(const std::string& message) {
  return message.find("lock hold by current process") != std::string::npos;
}

}  // namespace

Status FromRocks(const rocksdb::Status& status, std::string_view context) {
  if (status.ok()) return Status::Ok();
  const std::string message = std::string(context) + ": " + status.ToString();
  if (status.IsIOError() && IsLockHeldByOtherProcess(message)) {
    return Status::Unavailable(std::string(context) +
                               ": the data directory is in use by another process (" +
                               status.ToString() + ")");
  }
  if (status.IsIOError() && IsLockHeldByThisProcess(message)) {
    return Status::Unavailable(
        std::string(context) +
        ": the data directory is in use (already open in this process: " + status.ToString() + ")");
  }
  if (status.IsNoSpace()) {
    // gRPC's RESOURCE_EXHAUSTED covers "the entire file system is out of space". The RocksDB
    // text (a file path) is left out: this message reaches clients.
    return Status::ResourceExhausted(std::string(context) +
                                     ": no space left on device (the disk is full)");
  }
  if (status.IsNotFound()) return Status::NotFound(message);
  if (status.IsCorruption()) return Status::DataLoss(message);
  if (status.IsMemoryLimit()) return Status::ResourceExhausted(message);
  if (status.IsBusy() || status.IsTryAgain() || status.IsTimedOut() || status.IsIncomplete() ||
      status.IsShutdownInProgress()) {
    return Status::Unavailable(message);
  }
  if (status.IsInvalidArgument() || status.IsNotSupported()) {
    return Status::FailedPrecondition(message);
  }
  if (status.IsAborted()) return Status::Aborted(message);
  return Status::IOError(message);
}

}  // namespace cairn::storage::rocks
