#include "common/trusted_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cassert>
#include <cerrno>
#include <cstring>

namespace cairn {

namespace {

enum class Trust : uint8_t { kAny, kNotWritableByOthers, kOwned, kPrivate };

Result<std::string> ReadBounded(const std::string& path, std::string_view what,
                                size_t size_bytes_max, Trust trust, mode_t* mode_out = nullptr) {
  const std::string name = std::string(what) + " " + path;
  // O_NONBLOCK: a FIFO put where a file is expected must not block the open (it is then
  // refused as not a regular file); reads of regular files ignore the flag. Symlinks are
  // followed (Kubernetes and cert-manager mount secrets as symlinks); every check below is made
  // on the opened descriptor, so it judges the file that is read.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) {
    const int err = errno;
    const std::string message = name + ": " + std::strerror(err);
    return err == ENOENT ? Status::NotFound(message) : Status::IOError(message);
  }
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) return Status::IOError(name + ": " + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) return Status::InvalidArgument(name + " is not a regular file");
  if (trust == Trust::kNotWritableByOthers && (st.st_mode & S_IWOTH) != 0) {
    return Status::FailedPrecondition(name + " is writable by others; chmod o-w it");
  }
  if (trust == Trust::kOwned && st.st_uid != ::geteuid() && st.st_uid != 0) {
    return Status::FailedPrecondition(name + " belongs to another user; use a file of your own");
  }
  if (trust == Trust::kOwned && (st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    return Status::FailedPrecondition(name + " is writable by group or others; chmod go-w it");
  }
  if (trust == Trust::kPrivate && (st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
    return Status::FailedPrecondition(name + " is readable by group or others; chmod 600 it");
  }
  const std::string too_large =
      name + " is larger than " + std::to_string(size_bytes_max) + " bytes";
  if (static_cast<uint64_t>(st.st_size) > size_bytes_max) {
    return Status::ResourceExhausted(too_large);
  }
  std::string text;
  text.resize(size_bytes_max + 1);  // one byte more: a file that grew since fstat is caught
  size_t size = 0;
  while (size < text.size()) {
    const ssize_t n = ::read(fd, text.data() + size, text.size() - size);
    if (n < 0) {
      if (errno == EINTR) continue;
      const Status error = Status::IOError(name + ": " + std::strerror(errno));
      explicit_bzero(text.data(), text.size());  // the file may hold secrets (a JWKS)
      return error;
    }
    if (n == 0) break;
    size += static_cast<size_t>(n);
  }
  if (size > size_bytes_max) {
    explicit_bzero(text.data(), text.size());
    return Status::ResourceExhausted(too_large);
  }
  text.resize(size);
  if (mode_out != nullptr) *mode_out = st.st_mode;
  return text;
}

}  // namespace

Result<std::string> ReadSmallFile(const std::string& path, std::string_view what,
                                  size_t size_bytes_max) {
  return ReadBounded(path, what, size_bytes_max, Trust::kAny);
}

Result<std::string> ReadOwnedFile(const std::string& path, std::string_view what,
                                  size_t size_bytes_max) {
  return ReadBounded(path, what, size_bytes_max, Trust::kOwned);
}

Result<std::string> ReadPrivateFile(const std::string& path, std::string_view what,
                                    size_t size_bytes_max) {
  return ReadBounded(path, what, size_bytes_max, Trust::kPrivate);
}

Result<std::string> ReadTrustedFile(const std::string& path, std::string_view what,
                                    size_t size_bytes_max) {
  return ReadBounded(path, what, size_bytes_max, Trust::kNotWritableByOthers);
}

Result<std::string> ReadTrustedFile(const std::string& path, std::string_view what,
                                    size_t size_bytes_max, mode_t* mode) {
  assert(mode != nullptr);
  return ReadBounded(path, what, size_bytes_max, Trust::kNotWritableByOthers, mode);
}

}  // namespace cairn
