#include "subscribe/webhook_address_guard.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netdb.h>
#include <netinet/in.h>

#include <cstring>
#include <memory>

namespace cairn::subscribe {
namespace {

IpAddress V4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
  IpAddress ip;
  ip.bytes[0] = a;
  ip.bytes[1] = b;
  ip.bytes[2] = c;
  ip.bytes[3] = d;
  return ip;
}

bool V4In(const IpAddress& ip, uint32_t net, int prefix_bits) {
  const uint32_t value = (uint32_t{ip.bytes[0]} << 24) | (uint32_t{ip.bytes[1]} << 16) |
                         (uint32_t{ip.bytes[2]} << 8) | ip.bytes[3];
  const uint32_t mask = prefix_bits == 0 ? 0 : ~uint32_t{0} << (32 - prefix_bits);
  return (value & mask) == (net & mask);
}

bool ZeroBytes(const IpAddress& ip, size_t from, size_t to) {
  for (size_t i = from; i < to; ++i) {
    if (ip.bytes[i] != 0) return false;
  }
  return true;
}

// The IPv4 address an IPv6 address carries (mapped, translated, compatible, NAT64, 6to4), if any.
std::optional<IpAddress> EmbeddedV4(const IpAddress& ip) {
  assert(ip.v6);
  const auto& b = ip.bytes;
  if (ZeroBytes(ip, 0, 10) && b[10] == 0xff && b[11] == 0xff) return V4(b[12], b[13], b[14], b[15]);
  // IPv4-translated (SIIT), ::ffff:0:a.b.c.d (RFC 2765).
  if (ZeroBytes(ip, 0, 8) && b[8] == 0xff && b[9] == 0xff && b[10] == 0 && b[11] == 0) {
    return V4(b[12], b[13], b[14], b[15]);
  }
  if (ZeroBytes(ip, 0, 12)) return V4(b[12], b[13], b[14], b[15]);  // compatible (and ::, ::1)
  static constexpr uint8_t kNat64[12] = {0x00, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};
  if (std::memcmp(b.data(), kNat64, sizeof(kNat64)) == 0) return V4(b[12], b[13], b[14], b[15]);
  if (b[0] == 0x20 && b[1] == 0x02) return V4(b[2], b[3], b[4], b[5]);  // 6to4
  return std::nullopt;
}

AddressClass ClassifyV4(const IpAddress& ip) {
  if (V4In(ip, 0xA9FEA9FE, 32)) return AddressClass::kMetadata;   // 169.254.169.254
  if (V4In(ip, 0x00000000, 8)) return AddressClass::kUnspecified;  // 0/8 "this network"
  if (V4In(ip, 0x7F000000, 8)) return AddressClass::kLoopback;
  if (V4In(ip, 0xA9FE0000, 16)) return AddressClass::kLinkLocal;
  if (V4In(ip, 0x0A000000, 8) || V4In(ip, 0xAC100000, 12) || V4In(ip, 0xC0A80000, 16) ||
      V4In(ip, 0x64400000, 10)) {
    return AddressClass::kPrivate;
  }
  if (V4In(ip, 0xE0000000, 4)) return AddressClass::kMulticast;
  if (V4In(ip, 0xF0000000, 4)) return AddressClass::kReserved;  // incl. 255.255.255.255
  // Not globally reachable (RFC 6890): IETF protocol assignments, the documentation networks,
  // benchmarking (also used internally, e.g. by fake-IP DNS).
  if (V4In(ip, 0xC0000000, 24) || V4In(ip, 0xC0000200, 24) || V4In(ip, 0xC6336400, 24) ||
      V4In(ip, 0xCB007100, 24) || V4In(ip, 0xC6120000, 15)) {
    return AddressClass::kReserved;
  }
  return AddressClass::kPublic;
}

AddressClass ClassifyV6(const IpAddress& ip) {
  const auto& b = ip.bytes;
  static constexpr uint8_t kMetadataV6[16] = {0xfd, 0x00, 0x0e, 0xc2, 0, 0, 0, 0,
                                              0,    0,    0,    0,    0, 0, 0x02, 0x54};
  if (std::memcmp(b.data(), kMetadataV6, 16) == 0) return AddressClass::kMetadata;
  if (ZeroBytes(ip, 0, 16)) return AddressClass::kUnspecified;
  if (ZeroBytes(ip, 0, 15) && b[15] == 1) return AddressClass::kLoopback;
  if (std::optional<IpAddress> v4 = EmbeddedV4(ip)) return ClassifyV4(*v4);
  if ((b[0] & 0xfe) == 0xfc) return AddressClass::kPrivate;                 // fc00::/7
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0) return AddressClass::kPrivate;  // fec0::/10
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) return AddressClass::kLinkLocal;
  if (b[0] == 0xff) return AddressClass::kMulticast;
  // Local-use NAT64 (64:ff9b:1::/48, RFC 8215: may translate to private IPv4), discard-only
  // (100::/64, RFC 6666), documentation (2001:db8::/32).
  static constexpr uint8_t kLocalNat64[6] = {0x00, 0x64, 0xff, 0x9b, 0x00, 0x01};
  if (std::memcmp(b.data(), kLocalNat64, sizeof(kLocalNat64)) == 0) return AddressClass::kPrivate;
  if (b[0] == 0x01 && b[1] == 0x00 && ZeroBytes(ip, 2, 8)) return AddressClass::kReserved;
  if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0d && b[3] == 0xb8) return AddressClass::kReserved;
  // IETF protocol assignments (2001::/23, RFC 6890: not globally reachable), Teredo among them
  // (2001::/32: tunnels to an obfuscated IPv4 address, which the guard cannot judge).
  if (b[0] == 0x20 && b[1] == 0x01 && (b[2] & 0xfe) == 0x00) return AddressClass::kReserved;
  return AddressClass::kPublic;
}

// IPv4-mapped addresses are compared as their IPv4 address.
IpAddress Canonical(const IpAddress& ip) {
  if (ip.v6 && ZeroBytes(ip, 0, 10) && ip.bytes[10] == 0xff && ip.bytes[11] == 0xff) {
    return V4(ip.bytes[12], ip.bytes[13], ip.bytes[14], ip.bytes[15]);
  }
  return ip;
}

struct UrlDeleter {
  void operator()(CURLU* u) const { curl_url_cleanup(u); }
};

std::optional<std::string> UrlPart(CURLU* url, CURLUPart part) {
  char* value = nullptr;
  if (curl_url_get(url, part, &value, 0) != CURLUE_OK || value == nullptr) return std::nullopt;
  std::string out(value);
  curl_free(value);
  return out;
}

}  // namespace

std::optional<IpAddress> ParseIp(std::string_view text) {
  if (text.size() >= INET6_ADDRSTRLEN) return std::nullopt;
  const std::string s(text);
  IpAddress ip;
  if (inet_pton(AF_INET, s.c_str(), ip.bytes.data()) == 1) return ip;
  ip.v6 = true;
  if (inet_pton(AF_INET6, s.c_str(), ip.bytes.data()) == 1) return ip;
  return std::nullopt;
}

std::optional<IpAddress> IpFromSockaddr(const sockaddr* address) {
  if (address == nullptr) return std::nullopt;
  IpAddress ip;
  if (address->sa_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(address);
    std::memcpy(ip.bytes.data(), &in->sin_addr, 4);
    return ip;
  }
  if (address->sa_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(address);
    ip.v6 = true;
    std::memcpy(ip.bytes.data(), &in6->sin6_addr, 16);
    return ip;
  }
  return std::nullopt;
}

std::string FormatIp(const IpAddress& ip) {
  char text[INET6_ADDRSTRLEN] = {};
  inet_ntop(ip.v6 ? AF_INET6 : AF_INET, ip.bytes.data(), text, sizeof(text));
  return text;
}

AddressClass Classify(const IpAddress& ip) { return ip.v6 ? ClassifyV6(ip) : ClassifyV4(ip); }

const char* AddressClassName(AddressClass c) {
  switch (c) {
    case AddressClass::kPublic: return "public";
    case AddressClass::kPrivate: return "private";
    case AddressClass::kLoopback: return "loopback";
    case AddressClass::kLinkLocal: return "link-local";
    case AddressClass::kUnspecified: return "unspecified";
    case AddressClass::kMulticast: return "multicast";
    case AddressClass::kReserved: return "reserved";
    case AddressClass::kMetadata: return "a cloud metadata address";
  }
  return "unknown";
}

Result<AddressGuard> AddressGuard::Create(const std::vector<std::string>& allow_addresses) {
  if (allow_addresses.size() > kAllowAddressesMax) {
    return Status::ResourceExhausted("at most " + std::to_string(kAllowAddressesMax) +
                                     " allow_addresses");
  }
  AddressGuard guard;
  for (const std::string& text : allow_addresses) {
    std::optional<IpAddress> ip = ParseIp(text);
    if (!ip) return Status::InvalidArgument("allow_addresses: '" + text + "' is not an IP address");
    // Connecting to 0.0.0.0 (or ::) reaches every service of this host, and a multicast or
    // broadcast address is no single receiver: none of them is one address to allow.
    const AddressClass c = Classify(*ip);
    if (c == AddressClass::kUnspecified || c == AddressClass::kMulticast ||
        Canonical(*ip) == V4(255, 255, 255, 255)) {
      return Status::InvalidArgument("allow_addresses: '" + text + "' is " + AddressClassName(c) +
                                     ", not one host's address");
    }
    guard.allowed_.push_back(Canonical(*ip));
  }
  return guard;
}

Status AddressGuard::Check(const IpAddress& ip) const {
  const AddressClass c = Classify(ip);
  if (c == AddressClass::kPublic) return Status::Ok();
  const IpAddress canonical = Canonical(ip);
  for (const IpAddress& allowed : allowed_) {
    if (allowed == canonical) return Status::Ok();
  }
  return Status::PermissionDenied("address " + FormatIp(ip) + " is " + AddressClassName(c) +
                                  " and not in allow_addresses");
}

bool AddressGuard::Allows(const sockaddr* address) const {
  std::optional<IpAddress> ip = IpFromSockaddr(address);
  return ip && Check(*ip).ok();
}

Result<WebhookTarget> ParseWebhookUrl(std::string_view url) {
  if (url.empty() || url.size() > kWebhookUrlSizeBytesMax) {
    return Status::InvalidArgument("a webhook URL has 1.." +
                                   std::to_string(kWebhookUrlSizeBytesMax) + " bytes");
  }
  std::unique_ptr<CURLU, UrlDeleter> parsed(curl_url());
  if (!parsed) return Status::Internal("out of memory");
  const std::string text(url);
  if (curl_url_set(parsed.get(), CURLUPART_URL, text.c_str(), 0) != CURLUE_OK) {
    return Status::InvalidArgument("the webhook URL is not an absolute URL");
  }
  std::optional<std::string> scheme = UrlPart(parsed.get(), CURLUPART_SCHEME);
  if (!scheme || *scheme != "https") {
    return Status::InvalidArgument("webhook URLs must be https:// (plain http is refused)");
  }
  if (UrlPart(parsed.get(), CURLUPART_USER) || UrlPart(parsed.get(), CURLUPART_PASSWORD)) {
    return Status::InvalidArgument("webhook URLs may not carry user info");
  }
  std::optional<std::string> host = UrlPart(parsed.get(), CURLUPART_HOST);
  if (!host || host->empty()) return Status::InvalidArgument("the webhook URL has no host");
  WebhookTarget target;
  target.host = *host;
  if (target.host.size() > 2 && target.host.front() == '[' && target.host.back() == ']') {
    target.host = target.host.substr(1, target.host.size() - 2);
  }
  if (std::optional<std::string> port = UrlPart(parsed.get(), CURLUPART_PORT)) {
    target.port = static_cast<uint16_t>(std::stoul(*port));  // curl validated 0..65535
  }
  return target;
}

Result<std::vector<IpAddress>> Resolve(const std::string& host) {
  if (std::optional<IpAddress> literal = ParseIp(host)) return std::vector<IpAddress>{*literal};
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (getaddrinfo(host.c_str(), nullptr, &hints, &found) != 0 || found == nullptr) {
    return Status::InvalidArgument("webhook host '" + host + "' does not resolve");
  }
  std::vector<IpAddress> out;
  for (addrinfo* a = found; a != nullptr && out.size() < kResolvedAddressesMax; a = a->ai_next) {
    if (std::optional<IpAddress> ip = IpFromSockaddr(a->ai_addr)) out.push_back(*ip);
  }
  freeaddrinfo(found);
  if (out.empty()) return Status::InvalidArgument("webhook host '" + host + "' has no address");
  return out;
}

Status CheckResolvedAddresses(const std::string& host, const std::vector<IpAddress>& addresses,
                              const AddressGuard& guard) {
  for (const IpAddress& ip : addresses) {
    Status s = guard.Check(ip);
    if (!s.ok()) return Status::InvalidArgument("webhook host '" + host + "' refused: " + s.message());
  }
  return Status::Ok();
}

Status CheckWebhookUrl(std::string_view url, const AddressGuard& guard) {
  CAIRN_ASSIGN_OR_RETURN(WebhookTarget target, ParseWebhookUrl(url));
  CAIRN_ASSIGN_OR_RETURN(std::vector<IpAddress> addresses, Resolve(target.host));
  return CheckResolvedAddresses(target.host, addresses, guard);
}

}  // namespace cairn::subscribe
