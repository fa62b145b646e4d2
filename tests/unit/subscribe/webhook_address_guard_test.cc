// The SSRF guard's address classes (IPv4, IPv6, and IPv6 forms that embed IPv4), allowlists,
// and URL checks at create time.
#include <gtest/gtest.h>

#include "subscribe/webhook_address_guard.h"

namespace cairn::subscribe {
namespace CAIRN_UNITY_ID {

AddressClass ClassOf(const char* text) {
  std::optional<IpAddress> ip = ParseIp(text);
  EXPECT_TRUE(ip.has_value()) << text;
  return ip ? Classify(*ip) : AddressClass::kPublic;
}

TEST(WebhookAddressGuard, ClassificationTable) {
  struct Row {
    const char* ip;
    AddressClass want;
  };
  const Row rows[] = {
      {"8.8.8.8", AddressClass::kPublic},
      {"1.1.1.1", AddressClass::kPublic},
      {"2606:4700:4700::1111", AddressClass::kPublic},
      {"10.0.0.1", AddressClass::kPrivate},
      {"10.255.255.255", AddressClass::kPrivate},
      {"172.16.0.1", AddressClass::kPrivate},
      {"172.31.255.254", AddressClass::kPrivate},
      {"172.32.0.1", AddressClass::kPublic},
      {"192.168.1.1", AddressClass::kPrivate},
      {"100.64.0.1", AddressClass::kPrivate},
      {"100.127.255.255", AddressClass::kPrivate},
      {"100.128.0.1", AddressClass::kPublic},
      {"127.0.0.1", AddressClass::kLoopback},
      {"127.1.2.3", AddressClass::kLoopback},
      {"169.254.1.1", AddressClass::kLinkLocal},
      {"169.254.169.254", AddressClass::kMetadata},
      {"0.0.0.0", AddressClass::kUnspecified},
      {"224.0.0.1", AddressClass::kMulticast},
      {"255.255.255.255", AddressClass::kReserved},
      {"::", AddressClass::kUnspecified},
      {"::1", AddressClass::kLoopback},
      {"fc00::1", AddressClass::kPrivate},
      {"fd12:3456::1", AddressClass::kPrivate},
      {"fd00:ec2::254", AddressClass::kMetadata},
      {"fe80::1", AddressClass::kLinkLocal},
      {"ff02::1", AddressClass::kMulticast},
      // IPv6 forms of IPv4 addresses are judged by the IPv4 address.
      {"::ffff:127.0.0.1", AddressClass::kLoopback},
      {"::ffff:10.0.0.1", AddressClass::kPrivate},
      {"::ffff:169.254.169.254", AddressClass::kMetadata},
      {"::ffff:8.8.8.8", AddressClass::kPublic},
      {"::127.0.0.1", AddressClass::kLoopback},
      {"::10.0.0.1", AddressClass::kPrivate},
      {"64:ff9b::a9fe:a9fe", AddressClass::kMetadata},
      {"2002:a00:1::", AddressClass::kPrivate},
      {"2002:808:808::", AddressClass::kPublic},
      {"::ffff:0:a00:1", AddressClass::kPrivate},  // IPv4-translated (SIIT) 10.0.0.1
      {"::ffff:0:a9fe:a9fe", AddressClass::kMetadata},
      // Not globally reachable although not private (RFC 6890).
      {"198.18.0.1", AddressClass::kReserved},
      {"198.19.255.1", AddressClass::kReserved},
      {"198.20.0.1", AddressClass::kPublic},
      {"192.0.0.192", AddressClass::kReserved},
      {"192.0.2.1", AddressClass::kReserved},
      {"198.51.100.7", AddressClass::kReserved},
      {"203.0.113.9", AddressClass::kReserved},
      {"64:ff9b:1::a00:1", AddressClass::kPrivate},  // local-use NAT64 (RFC 8215)
      {"100::1", AddressClass::kReserved},           // discard-only
      {"2001:db8::1", AddressClass::kReserved},      // documentation
      {"2001:0:4136:e378:8000:63bf:3fff:fdd2", AddressClass::kReserved},  // Teredo
      {"2001:1ff::1", AddressClass::kReserved},      // the rest of 2001::/23
      {"2001:200::1", AddressClass::kPublic},        // just past it
  };
  for (const Row& row : rows) {
    EXPECT_EQ(ClassOf(row.ip), row.want) << row.ip << " is " << AddressClassName(ClassOf(row.ip));
  }
}

TEST(WebhookAddressGuard, AllowlistNamesExactAddresses) {
  auto guard = AddressGuard::Create({"127.0.0.1"});
  ASSERT_TRUE(guard.ok());
  EXPECT_TRUE(guard->Check(*ParseIp("127.0.0.1")).ok());
  EXPECT_TRUE(guard->Check(*ParseIp("::ffff:127.0.0.1")).ok());  // the same address
  EXPECT_EQ(guard->Check(*ParseIp("127.0.0.2")).code(), StatusCode::kPermissionDenied);
  EXPECT_FALSE(guard->Check(*ParseIp("::1")).ok());
  EXPECT_FALSE(guard->Check(*ParseIp("169.254.169.254")).ok());
  EXPECT_TRUE(guard->Check(*ParseIp("8.8.8.8")).ok());
  AddressGuard none;
  EXPECT_FALSE(none.Check(*ParseIp("127.0.0.1")).ok());
  EXPECT_FALSE(AddressGuard::Create({"not-an-ip"}).ok());
  EXPECT_FALSE(AddressGuard::Create({"10.0.0.0/8"}).ok());
  // Not one host's address: 0.0.0.0 and :: reach every local service, multicast and broadcast
  // are no single receiver.
  for (const char* bad : {"0.0.0.0", "::", "::ffff:0.0.0.0", "224.0.0.1", "ff02::1",
                          "255.255.255.255"}) {
    auto refused = AddressGuard::Create({bad});
    ASSERT_FALSE(refused.ok()) << bad;
    EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_EQ(AddressGuard::Create(std::vector<std::string>(kAllowAddressesMax + 1, "10.0.0.1"))
                .status()
                .code(),
            StatusCode::kResourceExhausted);
}

TEST(WebhookAddressGuard, UrlMustBeHttps) {
  EXPECT_TRUE(ParseWebhookUrl("https://example.com/hook").ok());
  auto target = ParseWebhookUrl("https://[::1]:8443/x");
  ASSERT_TRUE(target.ok());
  EXPECT_EQ(target->host, "::1");
  EXPECT_EQ(target->port, 8443);
  EXPECT_FALSE(ParseWebhookUrl("http://example.com/hook").ok());
  EXPECT_FALSE(ParseWebhookUrl("ftp://example.com/").ok());
  EXPECT_FALSE(ParseWebhookUrl("https://user:pw@example.com/").ok());
  EXPECT_FALSE(ParseWebhookUrl("example.com/hook").ok());
  EXPECT_FALSE(ParseWebhookUrl("").ok());
}

TEST(WebhookAddressGuard, CreateTimeCheckRefusesInternalTargets) {
  AddressGuard none;
  for (const char* url : {"https://169.254.169.254/latest/meta-data", "https://10.0.0.1/",
                          "https://127.0.0.1:8443/", "https://[::1]/", "https://localhost/",
                          "https://[::ffff:169.254.169.254]/", "https://[fd00:ec2::254]/"}) {
    Status s = CheckWebhookUrl(url, none);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << url;
  }
  EXPECT_NE(CheckWebhookUrl("https://10.0.0.1/", none).message().find("private"),
            std::string::npos);
  auto loopback = AddressGuard::Create({"127.0.0.1"});
  ASSERT_TRUE(loopback.ok());
  EXPECT_TRUE(CheckWebhookUrl("https://127.0.0.1:8443/hook", *loopback).ok());
  EXPECT_FALSE(CheckWebhookUrl("https://10.0.0.1/", *loopback).ok());
}

TEST(WebhookAddressGuard, ErrorsNameTheHostNotThePath) {
  Status s = CheckWebhookUrl("https://10.0.0.1/hooks/SECRET-TOKEN?key=SECRET", AddressGuard());
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.message().find("SECRET"), std::string::npos) << s.message();
}

}  // namespace
}  // namespace cairn::subscribe
