// ConnectionTable: the accepted gRPC connections that are still open, by source, so that one
// source — or all of them together — cannot hold more than a bounded number of connections.
// Each connection holds a descriptor, TLS state and buffers before any credential is looked at:
// without this bound a peer inside server.allow_cidrs could open connections until the process
// runs out of descriptors, and every other client's connect would fail.
//
// gRPC 1.51 tells nobody when it closes a connection. The table remembers each admitted socket's
// descriptor with the socket's identity (device and inode, fstat(2)): an entry whose descriptor
// no longer names that socket belongs to a closed connection. A descriptor accepted again
// replaces its entry at once; the others are swept when a limit is reached — the whole table, at
// most once per kSweepIntervalMs, so that a flood at the limit costs one sweep per interval,
// not one per connection attempt. Until the next sweep a connection closed meanwhile may still
// count: a source at its limit can be refused for up to that interval after it closed one.
//
// Sources are common/source_key.h's (an IPv4 address, or an IPv6 /64). Bounded: at most
// `total_max` entries (a refused socket is not entered).
// Thread safety: thread-safe (one mutex; Admit is called on gRPC's poller threads).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace cairn::server {

// Why a connection was closed at accept (server/peer_filter.h), for the audit trail.
enum class ConnectionRefusal : uint8_t {
  kAddressNotAllowed,  // outside server.allow_cidrs
  kSourceLimit,        // its source holds limits.connections_per_source_max
  kTotalLimit,         // limits.connections_max are open
};

struct ConnectionLimits {
  uint64_t total_max = 4096;       // open connections in all
  uint64_t per_source_max = 256;   // open connections of one source
};

// Descriptors kept for everything but client connections: the store's files, the listeners,
// PostgreSQL connections, webhook and JWKS fetches, the KMS module.
inline constexpr uint64_t kDescriptorsReserved = 256;

// Raises the process's soft RLIMIT_NOFILE to its hard limit (as far as the kernel lets it) and
// returns the soft limit in force afterwards.
uint64_t RaiseDescriptorLimit();

// `wanted`, capped so that client connections leave kDescriptorsReserved of `descriptors_max`
// free (at least 16 connections in all); the per-source limit never exceeds the total. Without
// the cap, connections one peer holds could take every descriptor, and the store's next file
// open would fail with them.
ConnectionLimits CapToDescriptors(ConnectionLimits wanted, uint64_t descriptors_max);

class ConnectionTable {
 public:
  static constexpr int64_t kSweepIntervalMs = 100;

  enum class Verdict : uint8_t { kAdmitted, kSourceFull, kTableFull };

  explicit ConnectionTable(ConnectionLimits limits);
  ConnectionTable(const ConnectionTable&) = delete;
  ConnectionTable& operator=(const ConnectionTable&) = delete;

  // Decides for a socket just accepted from `peer_ip` (text); admitted sockets are entered.
  // `now_ms` is a monotonic clock (for the sweep's pacing).
  Verdict Admit(int fd, std::string_view peer_ip, int64_t now_ms);

  // Entries, including connections closed since the last sweep. For tests and metrics.
  size_t entries() const;

 private:
  struct Entry {
    dev_t dev = 0;
    ino_t ino = 0;
    std::string source;
  };
  void EraseLocked(std::unordered_map<int, Entry>::iterator it);
  void SweepLocked();

  const ConnectionLimits limits_;
  mutable std::mutex mu_;
  std::unordered_map<int, Entry> by_fd_;                 // guarded by mu_
  std::unordered_map<std::string, uint64_t> per_source_;  // guarded by mu_; counts > 0 only
  int64_t last_sweep_ms_ = INT64_MIN / 2;                 // guarded by mu_
};

}  // namespace cairn::server
