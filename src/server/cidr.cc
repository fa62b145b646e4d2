#include "server/cidr.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cassert>
#include <cstring>

namespace cairn::server {
namespace {

constexpr uint8_t kMappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

bool IsMapped(const uint8_t* v6) { return std::memcmp(v6, kMappedPrefix, 12) == 0; }

// Parses a textual IPv4 or IPv6 address (no brackets, no zone). IPv4-mapped IPv6 addresses come
// back as IPv4. Allocation-free.
bool ParseIp(std::string_view text, bool* v4, uint8_t bytes[16]) {
  char buf[INET6_ADDRSTRLEN + 1];
  if (text.empty() || text.size() >= sizeof buf) return false;
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';
  std::memset(bytes, 0, 16);
  if (text.find(':') == std::string_view::npos) {
    *v4 = true;
    return ::inet_pton(AF_INET, buf, bytes) == 1;
  }
  uint8_t v6[16];
  if (::inet_pton(AF_INET6, buf, v6) != 1) return false;
  if (IsMapped(v6)) {
    *v4 = true;
    std::memcpy(bytes, v6 + 12, 4);
  } else {
    *v4 = false;
    std::memcpy(bytes, v6, 16);
  }
  return true;
}

bool PrefixMatches(const uint8_t* a, const uint8_t* b, uint32_t prefix_bits) {
  const uint32_t full = prefix_bits / 8;
  if (std::memcmp(a, b, full) != 0) return false;
  const uint32_t rest = prefix_bits % 8;
  if (rest == 0) return true;
  const auto mask = static_cast<uint8_t>(0xff << (8 - rest));
  return (a[full] & mask) == (b[full] & mask);
}

bool HostBitsZero(const uint8_t* bytes, uint32_t size_bytes, uint32_t prefix_bits) {
  for (uint32_t bit = prefix_bits; bit < size_bytes * 8; ++bit) {
    if ((bytes[bit / 8] >> (7 - bit % 8)) & 1) return false;
  }
  return true;
}

bool AllDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

Result<CidrSet> CidrSet::Parse(const std::vector<std::string>& cidrs) {
  if (cidrs.size() > kCidrEntriesMax) {
    return Status::ResourceExhausted("more than " + std::to_string(kCidrEntriesMax) +
                                     " CIDR entries");
  }
  CidrSet set;
  set.entries_.reserve(cidrs.size());
  for (const std::string& text : cidrs) {
    auto bad = [&text](const std::string& why) {
      return Status::InvalidArgument("CIDR '" + text + "': " + why);
    };
    const size_t slash = text.find('/');
    const std::string_view address =
        std::string_view(text).substr(0, slash == std::string::npos ? text.size() : slash);
    Entry entry;
    uint8_t bytes[16];
    bool v4 = false;
    if (!ParseIp(address, &v4, bytes)) return bad("not an IPv4 or IPv6 address");
    const bool written_v6 = address.find(':') != std::string_view::npos;
    uint32_t prefix_bits = written_v6 ? 128 : 32;
    if (slash != std::string::npos) {
      const std::string_view len = std::string_view(text).substr(slash + 1);
      if (!AllDigits(len) || len.size() > 3 || (len.size() > 1 && len[0] == '0')) {
        return bad("prefix length must be a decimal number without leading zeros");
      }
      prefix_bits = static_cast<uint32_t>(std::stoul(std::string(len)));
      if (prefix_bits > (written_v6 ? 128u : 32u)) {
        return bad("prefix length " + std::to_string(prefix_bits) + " exceeds " +
                   (written_v6 ? "128" : "32"));
      }
    }
    if (written_v6 && v4) {  // ::ffff:a.b.c.d/len
      if (prefix_bits < 96) return bad("an IPv4-mapped prefix needs a length of at least 96");
      prefix_bits -= 96;
    }
    if (!HostBitsZero(bytes, v4 ? 4 : 16, prefix_bits)) {
      return bad("host bits set after /" + std::to_string(prefix_bits) +
                 "; write the network address");
    }
    entry.v4 = v4;
    entry.prefix_bits = static_cast<uint8_t>(prefix_bits);
    std::memcpy(entry.bytes.data(), bytes, 16);
    set.entries_.push_back(entry);
  }
  return set;
}

bool CidrSet::ContainsBytes(bool v4, const uint8_t* bytes) const {
  for (const Entry& entry : entries_) {
    if (entry.v4 != v4) continue;
    assert(entry.prefix_bits <= (v4 ? 32 : 128));
    if (PrefixMatches(entry.bytes.data(), bytes, entry.prefix_bits)) return true;
  }
  return false;
}

bool CidrSet::Contains(const sockaddr* address) const {
  if (address == nullptr) return false;
  if (address->sa_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(address);
    return ContainsBytes(true, reinterpret_cast<const uint8_t*>(&in->sin_addr.s_addr));
  }
  if (address->sa_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(address);
    const uint8_t* bytes = in6->sin6_addr.s6_addr;
    if (IsMapped(bytes)) return ContainsBytes(true, bytes + 12);
    return ContainsBytes(false, bytes);
  }
  return false;
}

bool CidrSet::ContainsText(std::string_view ip) const {
  uint8_t bytes[16];
  bool v4 = false;
  if (!ParseIp(ip, &v4, bytes)) return false;
  return ContainsBytes(v4, bytes);
}

std::vector<std::string> ResolveHost(std::string_view name) {
  constexpr size_t kAddressesMax = 64;
  std::vector<std::string> out;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (getaddrinfo(std::string(name).c_str(), nullptr, &hints, &found) != 0) return out;
  for (addrinfo* a = found; a != nullptr && out.size() < kAddressesMax; a = a->ai_next) {
    char text[INET6_ADDRSTRLEN] = {};
    const void* bytes = nullptr;
    if (a->ai_family == AF_INET) bytes = &reinterpret_cast<sockaddr_in*>(a->ai_addr)->sin_addr;
    if (a->ai_family == AF_INET6) bytes = &reinterpret_cast<sockaddr_in6*>(a->ai_addr)->sin6_addr;
    if (bytes != nullptr && inet_ntop(a->ai_family, bytes, text, sizeof(text)) != nullptr) {
      out.emplace_back(text);
    }
  }
  freeaddrinfo(found);
  return out;
}

namespace {

bool IsLoopbackIp(std::string_view ip) {
  uint8_t bytes[16];
  bool v4 = false;
  if (!ParseIp(ip, &v4, bytes)) return false;
  if (v4) return bytes[0] == 127;
  static const uint8_t kLoopback6[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  return std::memcmp(bytes, kLoopback6, 16) == 0;
}

bool IsLocalhostName(std::string_view host) {
  constexpr std::string_view kName = "localhost";
  if (host.size() != kName.size()) return false;
  for (size_t i = 0; i < kName.size(); ++i) {
    const char c = host[i] >= 'A' && host[i] <= 'Z' ? static_cast<char>(host[i] + 32) : host[i];
    if (c != kName[i]) return false;
  }
  return true;
}

}  // namespace

bool IsLoopbackHost(std::string_view host, const HostResolver& resolve) {
  if (!IsLocalhostName(host)) return IsLoopbackIp(host);
  const std::vector<std::string> addresses = resolve(host);
  return !addresses.empty() && std::all_of(addresses.begin(), addresses.end(),
                                           [](const std::string& a) { return IsLoopbackIp(a); });
}

Result<HostPort> ParseHostPort(std::string_view text) {
  auto bad = [&text](const std::string& why) {
    return Status::InvalidArgument("address '" + std::string(text) + "': " + why);
  };
  std::string_view host;
  std::string_view port;
  if (!text.empty() && text[0] == '[') {
    const size_t close = text.find(']');
    if (close == std::string_view::npos) return bad("missing ']'");
    host = text.substr(1, close - 1);
    const std::string_view rest = text.substr(close + 1);
    if (rest.empty() || rest[0] != ':') return bad("expected ':port' after ']'");
    port = rest.substr(1);
    uint8_t bytes[16];
    bool v4 = false;
    if (host.find(':') == std::string_view::npos || !ParseIp(host, &v4, bytes)) {
      return bad("'" + std::string(host) + "' in brackets is not an IPv6 address");
    }
  } else {
    const size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) return bad("expected host:port");
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) {
      return bad("an IPv6 address must be in brackets, e.g. [::1]:7400");
    }
    if (host.empty()) return bad("missing host (use 127.0.0.1, or 0.0.0.0 for every interface)");
    if (host.size() > 253) return bad("host name too long");
    const bool dotted = std::all_of(host.begin(), host.end(),
                                    [](char c) { return (c >= '0' && c <= '9') || c == '.'; });
    if (dotted) {
      uint8_t bytes[16];
      bool v4 = false;
      if (!ParseIp(host, &v4, bytes)) return bad("'" + std::string(host) + "' is not an IPv4 address");
    } else {
      for (char c : host) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                        (c >= '0' && c <= '9') || c == '.' || c == '-';
        if (!ok) return bad("'" + std::string(host) + "' is not a valid host name");
      }
    }
  }
  if (!AllDigits(port) || port.size() > 5) return bad("port must be a number 0..65535 (0: any free port)");
  const unsigned long value = std::stoul(std::string(port));
  if (value > 65535) return bad("port must be a number 0..65535 (0: any free port)");
  return HostPort{std::string(host), static_cast<uint16_t>(value)};
}

std::optional<std::string_view> ParseGrpcPeer(std::string_view peer) {
  auto port_ok = [](std::string_view rest) {
    return rest.size() >= 2 && rest[0] == ':' && AllDigits(rest.substr(1)) && rest.size() <= 6;
  };
  if (peer.starts_with("ipv4:")) {
    const std::string_view rest = peer.substr(5);
    const size_t colon = rest.rfind(':');
    if (colon == std::string_view::npos || colon == 0) return std::nullopt;
    if (!port_ok(rest.substr(colon))) return std::nullopt;
    return rest.substr(0, colon);
  }
  if (peer.starts_with("ipv6:")) {
    const std::string_view rest = peer.substr(5);
    if (rest.starts_with("[")) {
      const size_t end = rest.find(']');
      if (end == std::string_view::npos || end == 1) return std::nullopt;
      if (!port_ok(rest.substr(end + 1))) return std::nullopt;
      return rest.substr(1, end - 1);
    }
    // URI-escaped brackets: %5B...%5D (either case).
    auto escaped = [&rest](size_t at, char upper) {
      return rest.size() >= at + 3 && rest[at] == '%' && rest[at + 1] == '5' &&
             (rest[at + 2] == upper || rest[at + 2] == upper + 32);
    };
    if (!escaped(0, 'B')) return std::nullopt;
    const size_t end = rest.find('%', 3);
    if (end == std::string_view::npos || end == 3 || !escaped(end, 'D')) return std::nullopt;
    if (!port_ok(rest.substr(end + 3))) return std::nullopt;
    return rest.substr(3, end - 3);
  }
  return std::nullopt;
}

}  // namespace cairn::server
