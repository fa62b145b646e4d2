// The SSRF guard of webhook delivery: which network addresses a webhook may reach.
//
// A webhook URL is https only, without user info, with a host name or an IP literal. Every
// address it resolves to — and, at delivery, the address libcurl is about to connect to — must
// be public: not private (10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7, fec0::/10),
// loopback (127/8, ::1), link-local (169.254/16, fe80::/10), unspecified or "this network"
// (0/8, ::), multicast (224/4, ff00::/8), reserved (240/4), nor a cloud metadata address
// (169.254.169.254, fd00:ec2::254). IPv6 forms that embed an IPv4 address — mapped
// (::ffff:a.b.c.d), compatible (::a.b.c.d), NAT64 (64:ff9b::/96) and 6to4 (2002::/16) — are
// judged by the IPv4 address they carry. An address named exactly in the webhook's
// allow_addresses passes whatever its class (tests allowlist 127.0.0.1; private receivers are
// allowlisted one by one); a mapped form and its IPv4 address count as the same address.
//
// Errors name the host and the address class, never the URL's path or query (webhook URLs often
// carry tokens). Thread safety: AddressGuard is immutable; the functions are thread-safe
// (Resolve calls getaddrinfo, which blocks).
#pragma once

#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace cairn::subscribe {

inline constexpr size_t kAllowAddressesMax = 64;
inline constexpr size_t kWebhookUrlSizeBytesMax = 2048;
inline constexpr size_t kResolvedAddressesMax = 32;

struct IpAddress {
  bool v6 = false;
  std::array<uint8_t, 16> bytes{};  // IPv4 uses the first 4 bytes
  bool operator==(const IpAddress&) const = default;
};

std::optional<IpAddress> ParseIp(std::string_view text);
std::optional<IpAddress> IpFromSockaddr(const sockaddr* address);
std::string FormatIp(const IpAddress& ip);

enum class AddressClass : uint8_t {
  kPublic,
  kPrivate,
  kLoopback,
  kLinkLocal,
  kUnspecified,
  kMulticast,
  kReserved,
  kMetadata,
};

AddressClass Classify(const IpAddress& ip);
const char* AddressClassName(AddressClass c);

class AddressGuard {
 public:
  AddressGuard() = default;  // nothing allowlisted: only public addresses pass
  // kInvalidArgument for an entry that is not an IP address; kResourceExhausted beyond
  // kAllowAddressesMax entries.
  static Result<AddressGuard> Create(const std::vector<std::string>& allow_addresses);

  // OK for a public or allowlisted address; kPermissionDenied naming the address and its class.
  Status Check(const IpAddress& ip) const;
  bool Allows(const sockaddr* address) const;

 private:
  std::vector<IpAddress> allowed_;  // IPv4-mapped entries stored as IPv4
};

struct WebhookTarget {
  std::string host;  // without brackets
  uint16_t port = 443;
};

// kInvalidArgument unless `url` is an absolute https URL without user info and with a host.
Result<WebhookTarget> ParseWebhookUrl(std::string_view url);

// The addresses `host` resolves to (at most kResolvedAddressesMax); kInvalidArgument when it
// does not resolve.
Result<std::vector<IpAddress>> Resolve(const std::string& host);

// kInvalidArgument naming `host`, the first refused address and its class, unless the guard
// admits every one of `addresses`.
Status CheckResolvedAddresses(const std::string& host, const std::vector<IpAddress>& addresses,
                              const AddressGuard& guard);

// Parses, resolves and checks every resolved address; the create-time check. Opens no
// connection.
Status CheckWebhookUrl(std::string_view url, const AddressGuard& guard);

}  // namespace cairn::subscribe
