// CopyRocksWalFiles: keeps the write-ahead log as it was before `cairn recover` drops its damaged
// tail, for forensics and for a later manual salvage.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "storage/rocksdb/rocks_log_store.h"

namespace cairn::storage {
namespace {

namespace fs = std::filesystem;

constexpr size_t kCopyChunkBytes = size_t{1} << 20;
// A store holds a handful of WAL files (max_total_wal_size bounds them); more is not a cairn store.
constexpr size_t kWalFilesMax = 4096;

Status Errno(const std::string& what) {
  return Status::IOError(what + ": " + std::strerror(errno));
}

// Owns a file descriptor; closes it once.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

Status WriteAll(int fd, const char* data, size_t size_bytes, const std::string& to) {
  while (size_bytes > 0) {
    const ssize_t n = ::write(fd, data, size_bytes);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Errno("writing " + to);
    data += n;
    size_bytes -= static_cast<size_t>(n);
  }
  return Status::Ok();
}

// Copies `from` to the new file `to` (O_EXCL, 0600) and syncs it.
Status CopyFile(const std::string& from, const std::string& to) {
  Fd in(::open(from.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (in.get() < 0) return Errno("opening " + from);
  Fd out(::open(to.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (out.get() < 0) return Errno("creating " + to);
  std::string buffer(kCopyChunkBytes, '\0');
  for (;;) {
    const ssize_t n = ::read(in.get(), buffer.data(), buffer.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Errno("reading " + from);
    if (n == 0) break;
    if (Status s = WriteAll(out.get(), buffer.data(), static_cast<size_t>(n), to); !s.ok()) return s;
  }
  if (::fsync(out.get()) != 0) return Errno("syncing " + to);
  return Status::Ok();
}

Status SyncDirectory(const std::string& dir) {
  Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0 || ::fsync(fd.get()) != 0) return Errno("syncing directory " + dir);
  return Status::Ok();
}

Result<std::vector<std::string>> ListWalFiles(const std::string& db_path) {
  std::vector<std::string> names;
  std::error_code ec;
  for (fs::directory_iterator it(db_path, ec), end; !ec && it != end; it.increment(ec)) {
    const fs::path& p = it->path();
    if (p.extension() != ".log" || !it->is_regular_file(ec)) continue;
    if (names.size() == kWalFilesMax) {
      return Status::FailedPrecondition(db_path + " holds more than " +
                                        std::to_string(kWalFilesMax) + " log files");
    }
    names.push_back(p.filename().string());
  }
  if (ec) return Status::IOError("listing " + db_path + ": " + ec.message());
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace

Status CopyRocksWalFiles(const std::string& db_path, const std::string& to_dir,
                         std::vector<std::string>* copied) {
  assert(copied != nullptr);
  copied->clear();
  CAIRN_ASSIGN_OR_RETURN(std::vector<std::string> names, ListWalFiles(db_path));
  if (::mkdir(to_dir.c_str(), 0700) != 0) {
    if (errno == EEXIST) return Status::AlreadyExists(to_dir + " already exists");
    return Errno("creating " + to_dir);
  }
  for (const std::string& name : names) {
    CAIRN_RETURN_IF_ERROR(CopyFile(db_path + "/" + name, to_dir + "/" + name));
    copied->push_back(name);
  }
  CAIRN_RETURN_IF_ERROR(SyncDirectory(to_dir));
  const std::string parent = fs::path(to_dir).parent_path().string();
  return SyncDirectory(parent.empty() ? "." : parent);
}

}  // namespace cairn::storage
