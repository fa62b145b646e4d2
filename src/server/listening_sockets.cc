#include "server/listening_sockets.h"

#include <dirent.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>
#include <string>

namespace cairn::server {
namespace {

constexpr char kSocketPrefix[] = "socket:[";
constexpr char kListenState[] = "0A";  // TCP_LISTEN in /proc/net/tcp's "st" column
constexpr size_t kFdsMax = 1 << 20;    // bounds the scan of /proc/self/fd

// The inodes of this process's sockets, from the /proc/self/fd links ("socket:[12345]").
Result<std::set<uint64_t>> OwnSocketInodes() {
  DIR* dir = ::opendir("/proc/self/fd");
  if (dir == nullptr) return Status::Unavailable("cannot read /proc/self/fd");
  std::set<uint64_t> inodes;
  size_t seen = 0;
  while (const dirent* entry = ::readdir(dir)) {
    if (++seen > kFdsMax) break;
    const std::string link = std::string("/proc/self/fd/") + entry->d_name;
    char target[64];
    const ssize_t n = ::readlink(link.c_str(), target, sizeof target - 1);
    if (n <= 0) continue;
    const std::string text(target, static_cast<size_t>(n));
    if (text.rfind(kSocketPrefix, 0) != 0 || text.back() != ']') continue;
    inodes.insert(std::strtoull(text.c_str() + sizeof kSocketPrefix - 1, nullptr, 10));
  }
  ::closedir(dir);
  return inodes;
}

// Listening sockets of `table` (/proc/net/tcp or tcp6) on `port` whose inode is in `own`.
size_t CountIn(const std::string& table, int port, const std::set<uint64_t>& own) {
  std::ifstream in(table);
  std::string line;
  std::getline(in, line);  // the header
  size_t count = 0;
  while (std::getline(in, line)) {
    // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
    std::istringstream fields(line);
    std::string sl, local, remote, state, queues, timer, retransmits, uid, timeout;
    uint64_t inode = 0;
    if (!(fields >> sl >> local >> remote >> state >> queues >> timer >> retransmits >> uid >>
          timeout >> inode)) {
      continue;
    }
    const size_t colon = local.rfind(':');
    if (state != kListenState || colon == std::string::npos) continue;
    if (std::strtol(local.c_str() + colon + 1, nullptr, 16) != port) continue;
    if (own.count(inode) != 0) ++count;
  }
  return count;
}

}  // namespace

Result<size_t> CountOwnListeningSockets(int port) {
  CAIRN_ASSIGN_OR_RETURN(std::set<uint64_t> own, OwnSocketInodes());
  if (::access("/proc/net/tcp", R_OK) != 0) return Status::Unavailable("cannot read /proc/net/tcp");
  return CountIn("/proc/net/tcp", port, own) + CountIn("/proc/net/tcp6", port, own);
}

}  // namespace cairn::server
