#include "server/connection_table.h"

#include <sys/resource.h>
#include <sys/stat.h>

#include <algorithm>
#include <cassert>

#include "common/source_key.h"

namespace cairn::server {

namespace {

// The socket `fd` names now, if it names one.
bool SocketIdentity(int fd, dev_t* dev, ino_t* ino) {
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode)) return false;
  *dev = st.st_dev;
  *ino = st.st_ino;
  return true;
}

}  // namespace

uint64_t RaiseDescriptorLimit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return 1024;
  if (limit.rlim_cur < limit.rlim_max) {
    rlimit raised = limit;
    raised.rlim_cur = limit.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) limit = raised;
  }
  return limit.rlim_cur == RLIM_INFINITY ? UINT64_MAX : static_cast<uint64_t>(limit.rlim_cur);
}

ConnectionLimits CapToDescriptors(ConnectionLimits wanted, uint64_t descriptors_max) {
  constexpr uint64_t kConnectionsMin = 16;
  const uint64_t room = descriptors_max > kDescriptorsReserved + kConnectionsMin
                            ? descriptors_max - kDescriptorsReserved
                            : kConnectionsMin;
  ConnectionLimits out;
  out.total_max = std::min(wanted.total_max, room);
  out.per_source_max = std::min(wanted.per_source_max, out.total_max);
  assert(out.total_max > 0 && out.per_source_max > 0 && out.per_source_max <= out.total_max);
  return out;
}

ConnectionTable::ConnectionTable(ConnectionLimits limits) : limits_(limits) {
  assert(limits_.total_max > 0 && limits_.per_source_max > 0);
}

void ConnectionTable::EraseLocked(std::unordered_map<int, Entry>::iterator it) {
  auto source = per_source_.find(it->second.source);
  assert(source != per_source_.end() && source->second > 0);
  if (--source->second == 0) per_source_.erase(source);
  by_fd_.erase(it);
}

void ConnectionTable::SweepLocked() {
  for (auto it = by_fd_.begin(); it != by_fd_.end();) {
    dev_t dev = 0;
    ino_t ino = 0;
    const bool same = SocketIdentity(it->first, &dev, &ino) && dev == it->second.dev &&
                      ino == it->second.ino;
    auto next = std::next(it);
    if (!same) EraseLocked(it);
    it = next;
  }
}

ConnectionTable::Verdict ConnectionTable::Admit(int fd, std::string_view peer_ip, int64_t now_ms) {
  Entry entry;
  if (!SocketIdentity(fd, &entry.dev, &entry.ino)) return Verdict::kAdmitted;  // not ours to count
  entry.source = SourceKey(peer_ip);
  std::lock_guard<std::mutex> lock(mu_);
  // The descriptor was free to be accepted again: whatever it named before is closed.
  if (auto old = by_fd_.find(fd); old != by_fd_.end()) EraseLocked(old);
  auto full = [&] {
    if (by_fd_.size() >= limits_.total_max) return Verdict::kTableFull;
    auto source = per_source_.find(entry.source);
    if (source != per_source_.end() && source->second >= limits_.per_source_max) {
      return Verdict::kSourceFull;
    }
    return Verdict::kAdmitted;
  };
  Verdict verdict = full();
  if (verdict != Verdict::kAdmitted && now_ms - last_sweep_ms_ >= kSweepIntervalMs) {
    last_sweep_ms_ = now_ms;
    SweepLocked();
    verdict = full();
  }
  if (verdict != Verdict::kAdmitted) return verdict;
  ++per_source_[entry.source];
  by_fd_.emplace(fd, std::move(entry));
  assert(by_fd_.size() <= limits_.total_max);
  return Verdict::kAdmitted;
}

size_t ConnectionTable::entries() const {
  std::lock_guard<std::mutex> lock(mu_);
  return by_fd_.size();
}

}  // namespace cairn::server
