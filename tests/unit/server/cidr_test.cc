#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>

#include <cstring>

#include "server/cidr.h"

namespace cairn::server {
namespace CAIRN_UNITY_ID {

CidrSet MustParse(const std::vector<std::string>& cidrs) {
  Result<CidrSet> set = CidrSet::Parse(cidrs);
  EXPECT_TRUE(set.ok()) << set.status().ToString();
  return set.ok() ? std::move(set).value() : CidrSet();
}

void ExpectBad(const std::string& cidr, const std::string& needle) {
  Result<CidrSet> set = CidrSet::Parse({cidr});
  ASSERT_FALSE(set.ok()) << cidr;
  EXPECT_EQ(set.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(set.status().message().find(needle), std::string::npos) << set.status().message();
  EXPECT_NE(set.status().message().find(cidr), std::string::npos) << set.status().message();
}

TEST(Cidr, IPv4) {
  const CidrSet set = MustParse({"10.0.0.0/8", "192.168.1.0/24", "127.0.0.1/32"});
  EXPECT_FALSE(set.empty());
  EXPECT_EQ(set.size(), 3u);
  EXPECT_TRUE(set.ContainsText("10.1.2.3"));
  EXPECT_TRUE(set.ContainsText("10.255.255.255"));
  EXPECT_FALSE(set.ContainsText("11.0.0.0"));
  EXPECT_TRUE(set.ContainsText("192.168.1.200"));
  EXPECT_FALSE(set.ContainsText("192.168.2.1"));
  EXPECT_TRUE(set.ContainsText("127.0.0.1"));
  EXPECT_FALSE(set.ContainsText("127.0.0.2"));
  EXPECT_FALSE(set.ContainsText("::1"));
}

TEST(Cidr, OddPrefixesAndHostEntries) {
  const CidrSet set = MustParse({"172.16.0.0/12", "100.64.0.0/10", "8.8.8.8", "2001:db8::1"});
  EXPECT_TRUE(set.ContainsText("172.31.255.255"));
  EXPECT_FALSE(set.ContainsText("172.32.0.0"));
  EXPECT_TRUE(set.ContainsText("100.127.0.1"));
  EXPECT_FALSE(set.ContainsText("100.128.0.1"));
  EXPECT_TRUE(set.ContainsText("8.8.8.8"));
  EXPECT_FALSE(set.ContainsText("8.8.8.9"));
  EXPECT_TRUE(set.ContainsText("2001:db8::1"));
  EXPECT_FALSE(set.ContainsText("2001:db8::2"));
}

TEST(Cidr, ZeroPrefix) {
  const CidrSet v4 = MustParse({"0.0.0.0/0"});
  EXPECT_TRUE(v4.ContainsText("1.2.3.4"));
  EXPECT_FALSE(v4.ContainsText("2001:db8::1"));  // /0 of one family only
  const CidrSet v6 = MustParse({"::/0"});
  EXPECT_TRUE(v6.ContainsText("2001:db8::1"));
  EXPECT_FALSE(v6.ContainsText("1.2.3.4"));
  // A catch-all is a catch-all however it is written.
  EXPECT_TRUE(v4.HasCatchAll());
  EXPECT_TRUE(MustParse({"::ffff:0.0.0.0/96"}).HasCatchAll());
  EXPECT_TRUE(MustParse({"::ffff:0.0.0.0/96"}).ContainsText("1.2.3.4"));
  EXPECT_FALSE(MustParse({"10.0.0.0/8", "::ffff:10.0.0.0/104"}).HasCatchAll());
}

TEST(Cidr, IPv6) {
  const CidrSet set = MustParse({"::1/128", "fd00::/8", "2001:db8:abcd::/48"});
  EXPECT_TRUE(set.ContainsText("::1"));
  EXPECT_FALSE(set.ContainsText("::2"));
  EXPECT_TRUE(set.ContainsText("fd12:3456::1"));
  EXPECT_FALSE(set.ContainsText("fe80::1"));
  EXPECT_TRUE(set.ContainsText("2001:db8:abcd:ffff::1"));
  EXPECT_FALSE(set.ContainsText("2001:db8:abce::1"));
}

TEST(Cidr, MappedIPv4TreatedAsIPv4) {
  const CidrSet set = MustParse({"10.0.0.0/8"});
  EXPECT_TRUE(set.ContainsText("::ffff:10.1.2.3"));
  EXPECT_FALSE(set.ContainsText("::ffff:11.1.2.3"));
  // A mapped entry is stored as IPv4.
  const CidrSet mapped = MustParse({"::ffff:192.168.0.0/112"});
  EXPECT_TRUE(mapped.ContainsText("192.168.4.5"));
  EXPECT_TRUE(mapped.ContainsText("::ffff:192.168.4.5"));
  EXPECT_FALSE(mapped.ContainsText("192.169.0.1"));
}

TEST(Cidr, SockaddrContains) {
  const CidrSet set = MustParse({"10.0.0.0/8", "::1/128"});
  sockaddr_in in{};
  in.sin_family = AF_INET;
  ASSERT_EQ(inet_pton(AF_INET, "10.9.8.7", &in.sin_addr), 1);
  EXPECT_TRUE(set.Contains(reinterpret_cast<const sockaddr*>(&in)));
  ASSERT_EQ(inet_pton(AF_INET, "11.9.8.7", &in.sin_addr), 1);
  EXPECT_FALSE(set.Contains(reinterpret_cast<const sockaddr*>(&in)));

  sockaddr_in6 in6{};
  in6.sin6_family = AF_INET6;
  ASSERT_EQ(inet_pton(AF_INET6, "::1", &in6.sin6_addr), 1);
  EXPECT_TRUE(set.Contains(reinterpret_cast<const sockaddr*>(&in6)));
  ASSERT_EQ(inet_pton(AF_INET6, "::ffff:10.0.0.1", &in6.sin6_addr), 1);
  EXPECT_TRUE(set.Contains(reinterpret_cast<const sockaddr*>(&in6)));
  ASSERT_EQ(inet_pton(AF_INET6, "::2", &in6.sin6_addr), 1);
  EXPECT_FALSE(set.Contains(reinterpret_cast<const sockaddr*>(&in6)));

  sockaddr unix_like{};
  unix_like.sa_family = AF_UNIX;
  EXPECT_FALSE(set.Contains(&unix_like));
  EXPECT_FALSE(set.Contains(nullptr));
}

TEST(Cidr, BadInputs) {
  ExpectBad("10.0.0.0/33", "exceeds 32");
  ExpectBad("::/129", "exceeds 128");
  ExpectBad("10.0.0.1/8", "host bits set");
  ExpectBad("fd00::1/8", "host bits set");
  ExpectBad("10.0.0.0/", "prefix length");
  ExpectBad("10.0.0.0/-1", "prefix length");
  ExpectBad("10.0.0.0/+8", "prefix length");
  ExpectBad("10.0.0.0/8/8", "prefix length");
  ExpectBad("0.0.0.0/00", "leading zeros");
  ExpectBad("10.0.0.0/08", "leading zeros");
  ExpectBad("10.0.0/8", "not an IPv4 or IPv6");
  ExpectBad("256.0.0.0/8", "not an IPv4 or IPv6");
  ExpectBad("010.0.0.0/8", "not an IPv4 or IPv6");
  ExpectBad("example.com/8", "not an IPv4 or IPv6");
  ExpectBad("", "not an IPv4 or IPv6");
  ExpectBad(" 10.0.0.0/8", "not an IPv4 or IPv6");
  ExpectBad("fe80::1%eth0/64", "not an IPv4 or IPv6");
  ExpectBad("::ffff:10.0.0.0/64", "at least 96");
}

TEST(Cidr, EntryLimit) {
  std::vector<std::string> many(kCidrEntriesMax + 1, "10.0.0.0/8");
  Result<CidrSet> set = CidrSet::Parse(many);
  ASSERT_FALSE(set.ok());
  EXPECT_EQ(set.status().code(), StatusCode::kResourceExhausted);
  many.pop_back();
  EXPECT_TRUE(CidrSet::Parse(many).ok());
}

TEST(Cidr, EmptySetAndBadText) {
  const CidrSet empty;
  EXPECT_TRUE(empty.empty());
  EXPECT_FALSE(empty.ContainsText("127.0.0.1"));
  const CidrSet set = MustParse({"0.0.0.0/0", "::/0"});
  EXPECT_FALSE(set.ContainsText(""));
  EXPECT_FALSE(set.ContainsText("not-an-ip"));
  EXPECT_FALSE(set.ContainsText("[::1]"));
  EXPECT_FALSE(set.ContainsText("1.2.3.4:80"));
  EXPECT_FALSE(set.ContainsText(std::string(200, '1')));
}

TEST(Loopback, Hosts) {
  EXPECT_TRUE(IsLoopbackHost("127.0.0.1"));
  EXPECT_TRUE(IsLoopbackHost("127.1.2.3"));
  EXPECT_TRUE(IsLoopbackHost("::1"));
  EXPECT_TRUE(IsLoopbackHost("::ffff:127.0.0.1"));
  EXPECT_TRUE(IsLoopbackHost("localhost"));
  EXPECT_TRUE(IsLoopbackHost("LocalHost"));
  EXPECT_FALSE(IsLoopbackHost("0.0.0.0"));
  EXPECT_FALSE(IsLoopbackHost("::"));
  EXPECT_FALSE(IsLoopbackHost("128.0.0.1"));
  EXPECT_FALSE(IsLoopbackHost("10.0.0.1"));
  EXPECT_FALSE(IsLoopbackHost("localhost.evil.com"));
  EXPECT_FALSE(IsLoopbackHost("[::1]"));
  EXPECT_FALSE(IsLoopbackHost(""));
}

// "localhost" is loopback only if every address it resolves to is: a hosts file may map it
// elsewhere, and the server would then listen there in plaintext.
TEST(Loopback, LocalhostCountsOnlyWhenItResolvesToLoopbackOnly) {
  auto resolving_to = [](std::vector<std::string> addresses) {
    return [addresses](std::string_view name) {
      EXPECT_EQ(name, "localhost");
      return addresses;
    };
  };
  EXPECT_TRUE(IsLoopbackHost("localhost", resolving_to({"127.0.0.1", "::1"})));
  EXPECT_FALSE(IsLoopbackHost("localhost", resolving_to({"127.0.0.1", "10.0.0.7"})));
  EXPECT_FALSE(IsLoopbackHost("localhost", resolving_to({"192.168.1.20"})));
  EXPECT_FALSE(IsLoopbackHost("localhost", resolving_to({})));  // does not resolve
  EXPECT_FALSE(IsLoopbackHost("localhost", resolving_to({"localhost"})));
  bool called = false;
  EXPECT_TRUE(IsLoopbackHost("127.0.0.1", [&](std::string_view) {
    called = true;
    return std::vector<std::string>{};
  }));
  EXPECT_FALSE(called) << "an address is not resolved";
  // This machine's own resolver (its /etc/hosts maps localhost to loopback).
  const std::vector<std::string> real = ResolveHost("localhost");
  ASSERT_FALSE(real.empty());
  for (const std::string& a : real) EXPECT_TRUE(IsLoopbackHost(a)) << a;
}

TEST(HostPortParse, Good) {
  Result<HostPort> a = ParseHostPort("127.0.0.1:7400");
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 7400);
  Result<HostPort> zero = ParseHostPort("127.0.0.1:0");  // an ephemeral port
  ASSERT_TRUE(zero.ok()) << zero.status().ToString();
  EXPECT_EQ(zero->port, 0);
  Result<HostPort> b = ParseHostPort("[::1]:65535");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->host, "::1");
  EXPECT_EQ(b->port, 65535);
  Result<HostPort> c = ParseHostPort("db-1.internal:1");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->host, "db-1.internal");
  EXPECT_TRUE(ParseHostPort("0.0.0.0:7400").ok());
  EXPECT_TRUE(ParseHostPort("[::]:7400").ok());
  EXPECT_TRUE(ParseHostPort("localhost:7400").ok());
}

TEST(HostPortParse, Bad) {
  for (const char* bad : {"127.0.0.1", "127.0.0.1:", ":7400", "127.0.0.1:65536",
                          "127.0.0.1:80x", "::1:7400", "[::1]", "[::1]7400", "[::1:7400",
                          "[127.0.0.1]:7400", "999.0.0.1:7400", "host name:1", "a_b:1",
                          "127.0.0.1:-1", "127.0.0.1:123456", ""}) {
    Result<HostPort> hp = ParseHostPort(bad);
    EXPECT_FALSE(hp.ok()) << bad;
  }
  Result<HostPort> v6 = ParseHostPort("::1:7400");
  EXPECT_NE(v6.status().message().find("brackets"), std::string::npos);
}

TEST(GrpcPeer, Parse) {
  EXPECT_EQ(ParseGrpcPeer("ipv4:127.0.0.1:5555"), "127.0.0.1");
  EXPECT_EQ(ParseGrpcPeer("ipv6:[::1]:5555"), "::1");
  EXPECT_EQ(ParseGrpcPeer("ipv6:%5B::1%5D:5555"), "::1");
  EXPECT_EQ(ParseGrpcPeer("ipv6:%5b::ffff:10.0.0.1%5d:1"), "::ffff:10.0.0.1");
  EXPECT_FALSE(ParseGrpcPeer("unix:/tmp/sock").has_value());
  EXPECT_FALSE(ParseGrpcPeer("ipv4:127.0.0.1").has_value());
  EXPECT_FALSE(ParseGrpcPeer("ipv4::5555").has_value());
  EXPECT_FALSE(ParseGrpcPeer("ipv6:::1:5555").has_value());
  EXPECT_FALSE(ParseGrpcPeer("ipv6:[::1]").has_value());
  EXPECT_FALSE(ParseGrpcPeer("ipv6:[]:1").has_value());
  EXPECT_FALSE(ParseGrpcPeer("ipv6:%5B::1:1").has_value());
  EXPECT_FALSE(ParseGrpcPeer("").has_value());
  const CidrSet set = MustParse({"10.0.0.0/8"});
  EXPECT_TRUE(set.ContainsText(*ParseGrpcPeer("ipv6:[::ffff:10.0.0.1]:443")));
}

}  // namespace
}  // namespace cairn::server
