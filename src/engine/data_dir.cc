#include "engine/data_dir.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace cairn::engine {

Result<std::unique_ptr<DataDirLock>> DataDirLock::Acquire(const DataDirPaths& paths, bool create) {
  struct stat st;
  if (::stat(paths.dir.c_str(), &st) != 0) {
    if (!create) return Status::NotFound("data directory " + paths.dir + " does not exist (run `cairn init`)");
    if (::mkdir(paths.dir.c_str(), 0700) != 0 && errno != EEXIST) {
      return Status::IOError("cannot create data directory " + paths.dir + ": " + std::strerror(errno));
    }
  } else if (!S_ISDIR(st.st_mode)) {
    return Status::InvalidArgument(paths.dir + " is not a directory");
  }
  int fd = ::open(paths.lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return Status::IOError("cannot open " + paths.lock + ": " + std::strerror(errno));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    char pid[32] = {0};
    ssize_t n = ::pread(fd, pid, sizeof pid - 1, 0);
    ::close(fd);
    std::string holder = n > 0 ? std::string(pid, static_cast<size_t>(n)) : "unknown";
    while (!holder.empty() && (holder.back() == '\n' || holder.back() == ' ')) holder.pop_back();
    return Status::Unavailable("data directory " + paths.dir +
                               " is in use by another cairn process (pid " + holder +
                               "); stop it first");
  }
  std::string me = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, me.data(), me.size(), 0) < 0) {
    ::close(fd);
    return Status::IOError("cannot write " + paths.lock);
  }
  return std::unique_ptr<DataDirLock>(new DataDirLock(fd));
}

DataDirLock::~DataDirLock() {
  ::flock(fd_, LOCK_UN);
  ::close(fd_);
}

}  // namespace cairn::engine
