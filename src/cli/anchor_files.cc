#include "cli/anchor_files.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <thread>

#include "common/trusted_file.h"
#include "crypto/x509.h"

namespace cairn::cli {
namespace {

constexpr int kLockPollMs = 10;

std::string DirectoryOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

// An exclusive flock(2) on a directory, released when this goes. Where the directory cannot be
// opened for reading or the file system has no flock for it (NFS emulates flock with byte-range
// locks, which a directory opened read-only cannot take), there is no lock: the comparison in
// ReplaceKeptCheckpoint still catches all but a race within the same few microseconds.
class DirectoryLock {
 public:
  static Result<DirectoryLock> Take(const std::string& dir) {
    DirectoryLock lock(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (lock.fd_ < 0) return lock;
    for (int waited_ms = 0; ::flock(lock.fd_, LOCK_EX | LOCK_NB) != 0; waited_ms += kLockPollMs) {
      if (errno != EWOULDBLOCK && errno != EINTR) return DirectoryLock(-1);  // no flock here
      if (waited_ms >= kKeptCheckpointLockWaitMsMax) {
        return Status::Unavailable("--checkpoint-file: another process keeps a checkpoint in " +
                                   dir + " and did not finish within " +
                                   std::to_string(kKeptCheckpointLockWaitMsMax / 1000) + " s");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(kLockPollMs));
    }
    return lock;
  }
  DirectoryLock(DirectoryLock&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  DirectoryLock(const DirectoryLock&) = delete;
  DirectoryLock& operator=(const DirectoryLock&) = delete;
  DirectoryLock& operator=(DirectoryLock&&) = delete;
  ~DirectoryLock() {
    if (fd_ >= 0) ::close(fd_);  // releases the flock
  }

 private:
  explicit DirectoryLock(int fd) : fd_(fd) {}
  int fd_;
};

}  // namespace

Result<std::string> PinnedVerifierKey(const std::string& key, const std::string& key_file) {
  if (!key.empty() && !key_file.empty()) {
    return Status::InvalidArgument("give --verifier-key or --verifier-key-file, not both");
  }
  std::string line = key;
  if (!key_file.empty()) {
    CAIRN_ASSIGN_OR_RETURN(line, ReadOwnedFile(key_file, "--verifier-key-file",
                                               kVerifierKeyFileSizeBytesMax));
  }
  while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) line.pop_back();
  return line;
}

Result<std::string> ReadKeptCheckpoint(const std::string& path, size_t size_bytes_max) {
  auto note = ReadOwnedFile(path, "--checkpoint-file", size_bytes_max);
  if (note.status().code() == StatusCode::kNotFound) return std::string();
  return note;
}

Result<bool> ReplaceKeptCheckpoint(const std::string& path, std::string_view expected,
                                   std::string_view note) {
  CAIRN_ASSIGN_OR_RETURN(DirectoryLock lock, DirectoryLock::Take(DirectoryOf(path)));
  // Read whatever is there now (size bound: what this run might have written, or read).
  const size_t size_bytes_max = std::max(expected.size(), note.size()) + 1;
  auto now = ReadOwnedFile(path, "--checkpoint-file", size_bytes_max);
  if (now.ok()) {
    if (*now != expected) return false;
  } else if (now.status().code() == StatusCode::kNotFound) {
    if (!expected.empty()) return false;
  } else if (now.status().code() == StatusCode::kResourceExhausted) {
    return false;  // larger than either: not what this run read
  } else {
    return now.status();
  }
  CAIRN_RETURN_IF_ERROR(crypto::ReplaceFile(path, note, 0644).Annotate("--checkpoint-file"));
  return true;
}

}  // namespace cairn::cli
