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

// RocksDB's text with each absolute path cut to its last component ("in /var/lib/cairn/db/
// 000123.sst offset 5" → "in 000123.sst offset 5"): it names the file without showing a client
// the server's layout.
std::string WithoutDirectories(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    const bool starts_token =
        i == 0 || text[i - 1] == ' ' || text[i - 1] == '(' || text[i - 1] == ':';
    if (text[i] != '/' || !starts_token) {
      out.push_back(text[i++]);
      continue;
    }
    size_t end = text.find_first_of(" ,;)", i);
    if (end == std::string::npos) end = text.size();
    // A directory name with spaces ("/var/lib/my data/db/x.sst"): the path goes on while the
    // next word still holds a '/'.
    while (end < text.size() && text[end] == ' ') {
      size_t next = text.find_first_of(" ,;)", end + 1);
      if (next == std::string::npos) next = text.size();
      const std::string_view word(text.data() + end + 1, next - end - 1);
      if (word.find('/') == std::string_view::npos) break;
      end = next;
    }
    const std::string_view path(text.data() + i, end - i);
    out.append(path.substr(path.rfind('/') + 1));
    i = end;
  }
  return out;
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
  if (!status.IsIOError()) {
    // These codes reach clients with their text (server/status_map.cc hides only kIOError's).
    const std::string shown = std::string(context) + ": " + WithoutDirectories(status.ToString());
    if (status.IsNotFound()) return Status::NotFound(shown);
    if (status.IsCorruption()) return Status::DataLoss(shown);
    if (status.IsMemoryLimit()) return Status::ResourceExhausted(shown);
    if (status.IsBusy() || status.IsTryAgain() || status.IsTimedOut() || status.IsIncomplete() ||
        status.IsShutdownInProgress()) {
      return Status::Unavailable(shown);
    }
    if (status.IsInvalidArgument() || status.IsNotSupported()) {
      return Status::FailedPrecondition(shown);
    }
    if (status.IsAborted()) return Status::Aborted(shown);
  }
  return Status::IOError(message);
}

}  // namespace cairn::storage::rocks
