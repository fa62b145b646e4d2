// Network addresses of the server: the client CIDR allowlist, loopback detection, listen address
// parsing and gRPC peer strings.
//
// CidrSet matches IPv4 and IPv6 client addresses against "a.b.c.d/len" and "v6/len" entries. An
// IPv4-mapped IPv6 address (::ffff:a.b.c.d), as a dual-stack socket reports IPv4 clients, is
// matched as the IPv4 address; an entry written as ::ffff:a.b.c.d/len (len ≥ 96) is stored as
// the IPv4 entry a.b.c.d/(len-96). A bare address is a host entry (/32 or /128). Entries with host
// bits set ("10.0.0.1/8") are rejected: the writer probably meant something else.
//
// Thread safety: a CidrSet is immutable after Parse; the functions are pure.
#pragma once

#include <sys/socket.h>

#include <array>
#include <functional>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace cairn::server {

inline constexpr size_t kCidrEntriesMax = 1024;

class CidrSet {
 public:
  CidrSet() = default;  // empty: Contains() is always false

  // kInvalidArgument naming the bad entry ("server.allow_cidrs entry '10.0.0.1/8': host bits
  // set ..."); kResourceExhausted beyond kCidrEntriesMax entries.
  static Result<CidrSet> Parse(const std::vector<std::string>& cidrs);

  // AF_INET / AF_INET6 addresses; false for any other family or a null pointer.
  bool Contains(const sockaddr* address) const;
  // A textual IPv4 or IPv6 address (no port, no brackets); false when it does not parse.
  bool ContainsText(std::string_view ip) const;

  bool empty() const { return entries_.empty(); }
  // Whether some entry has a prefix length of 0: it admits every IPv4 or every IPv6 address
  // (also when written as an IPv4-mapped "::ffff:0.0.0.0/96").
  bool HasCatchAll() const {
    for (const Entry& e : entries_) {
      if (e.prefix_bits == 0) return true;
    }
    return false;
  }
  size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    bool v4 = false;
    uint8_t prefix_bits = 0;           // 0..32 for v4, 0..128 for v6
    std::array<uint8_t, 16> bytes{};   // v4 uses the first 4
  };
  bool ContainsBytes(bool v4, const uint8_t* bytes) const;

  std::vector<Entry> entries_;
};

// The IP addresses a host name resolves to (getaddrinfo: /etc/hosts, then DNS), as text; empty
// when it does not resolve. At most 64.
using HostResolver = std::function<std::vector<std::string>(std::string_view name)>;
std::vector<std::string> ResolveHost(std::string_view name);

// 127.0.0.0/8, ::1, ::ffff:127.x.y.z, and "localhost" (any case) when every address it resolves
// to is one of those (a hosts file may map it elsewhere; a name that does not resolve is not
// loopback). Other names are never loopback. Brackets are not accepted. Only "localhost" calls
// `resolve`.
bool IsLoopbackHost(std::string_view host, const HostResolver& resolve = ResolveHost);

struct HostPort {
  std::string host;  // without brackets: "127.0.0.1", "::1", "0.0.0.0", "db.internal"
  uint16_t port = 0; // 0..65535; 0 = an ephemeral port (tests), reported by the server
};

// "host:port" or "[ipv6]:port". The host is an IPv4 address, a bracketed IPv6 address or a DNS
// name ([A-Za-z0-9.-]); the port 0..65535 (0: any free port). An unbracketed IPv6 address is rejected (ambiguous).
Result<HostPort> ParseHostPort(std::string_view text);

// The IP text of a gRPC peer string: "ipv4:127.0.0.1:5555" → "127.0.0.1",
// "ipv6:[::1]:5555" → "::1" (also the URI-escaped "ipv6:%5B::1%5D:5555"). nullopt for other
// forms (unix sockets, zone ids in escaped form, garbage): a caller enforcing an allowlist must
// then refuse the call. The view points into `peer`. Allocation-free.
std::optional<std::string_view> ParseGrpcPeer(std::string_view peer);

}  // namespace cairn::server
