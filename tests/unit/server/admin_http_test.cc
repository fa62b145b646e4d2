// Tests for server/admin_http: routing, methods, limits, timeouts, peer filtering and shutdown of
// the admin HTTP listener, through real loopback sockets.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>

#include "server/admin_http.h"

namespace cairn::server {
namespace CAIRN_UNITY_ID {

using Clock = std::chrono::steady_clock;

int64_t MsSince(Clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
}

// A blocking client socket connected to the server (IPv4 or IPv6 loopback).
class Client {
 public:
  // `source_v4` (host order, IPv4 only): the local address to connect from, e.g. 127.0.0.2 to
  // be another peer on the loopback network; 0 lets the kernel choose.
  explicit Client(int port, bool v6 = false, uint32_t source_v4 = 0) {
    fd_ = ::socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    EXPECT_GE(fd_, 0);
    if (source_v4 != 0) {
      sockaddr_in local{};
      local.sin_family = AF_INET;
      local.sin_addr.s_addr = htonl(source_v4);
      EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&local), sizeof local), 0)
          << std::strerror(errno);
    }
    int rc;
    if (v6) {
      sockaddr_in6 a{};
      a.sin6_family = AF_INET6;
      a.sin6_port = htons(static_cast<uint16_t>(port));
      a.sin6_addr = in6addr_loopback;
      rc = ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    } else {
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_port = htons(static_cast<uint16_t>(port));
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      rc = ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    }
    EXPECT_EQ(rc, 0) << std::strerror(errno);
  }
  ~Client() {
    if (fd_ >= 0) ::close(fd_);
  }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  bool Send(std::string_view bytes) {
    return ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL) ==
           static_cast<ssize_t>(bytes.size());
  }
  // Everything the server sends until it closes (EOF or reset), or "<timeout>" after timeout_ms.
  std::string ReadAll(int timeout_ms = 5000) {
    std::string out;
    const Clock::time_point start = Clock::now();
    for (;;) {
      const int64_t left_ms = timeout_ms - MsSince(start);
      if (left_ms <= 0) return out + "<timeout>";
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left_ms)) <= 0) continue;
      char buf[4096];
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) return out;
      out.append(buf, static_cast<size_t>(n));
    }
  }
  void Close() {
    ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

std::string Get(int port, const std::string& target, const std::string& method = "GET") {
  Client c(port);
  EXPECT_TRUE(c.Send(method + " " + target + " HTTP/1.1\r\nHost: localhost\r\n\r\n"));
  return c.ReadAll();
}

std::string Body(const std::string& response) {
  const size_t end = response.find("\r\n\r\n");
  return end == std::string::npos ? "" : response.substr(end + 4);
}

std::map<std::string, HttpHandler> Routes() {
  std::map<std::string, HttpHandler> routes;
  routes["/healthz"] = [] { return HttpResponse{200, "text/plain; charset=utf-8", "ok\n"}; };
  routes["/readyz"] = [] { return HttpResponse{503, "text/plain; charset=utf-8", "not ready\n"}; };
  routes["/throws"] = []() -> HttpResponse { throw std::runtime_error("boom"); };
  routes["/bad-type"] = [] { return HttpResponse{200, "text/plain\r\nSet-Cookie: x=y", "x"}; };
  return routes;
}

std::unique_ptr<AdminHttpServer> StartOrDie(AdminHttpOptions options) {
  Result<std::unique_ptr<AdminHttpServer>> server = AdminHttpServer::Start(options, Routes());
  EXPECT_TRUE(server.ok()) << server.status().ToString();
  if (!server.ok()) return nullptr;
  EXPECT_GT((*server)->port(), 0);
  return std::move(server).value();
}

AdminHttpOptions Loopback0() {
  AdminHttpOptions o;
  o.listen = "127.0.0.1:0";
  return o;
}

TEST(AdminHttp, GetServesARouteWithHardenedHeaders) {
  auto server = StartOrDie(Loopback0());
  ASSERT_NE(server, nullptr);
  const std::string r = Get(server->port(), "/healthz");
  EXPECT_EQ(r.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << r;
  EXPECT_NE(r.find("\r\nContent-Length: 3\r\n"), std::string::npos) << r;
  EXPECT_NE(r.find("\r\nContent-Type: text/plain; charset=utf-8\r\n"), std::string::npos);
  EXPECT_NE(r.find("\r\nCache-Control: no-store\r\n"), std::string::npos);
  EXPECT_NE(r.find("\r\nX-Content-Type-Options: nosniff\r\n"), std::string::npos);
  EXPECT_NE(r.find("\r\nConnection: close\r\n"), std::string::npos);
  EXPECT_EQ(Body(r), "ok\n");

  // The query string does not take part in routing; the handler's status is passed on.
  EXPECT_EQ(Body(Get(server->port(), "/healthz?verbose=1")), "ok\n");
  EXPECT_EQ(Get(server->port(), "/readyz").rfind("HTTP/1.1 503 Service Unavailable\r\n", 0), 0u);
  // HTTP/1.0 needs no Host header.
  Client c(server->port());
  ASSERT_TRUE(c.Send("GET /healthz HTTP/1.0\r\n\r\n"));
  EXPECT_EQ(Body(c.ReadAll()), "ok\n");
}

TEST(AdminHttp, HeadHasHeadersWithoutBody) {
  auto server = StartOrDie(Loopback0());
  ASSERT_NE(server, nullptr);
  const std::string r = Get(server->port(), "/healthz", "HEAD");
  EXPECT_EQ(r.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << r;
  EXPECT_NE(r.find("\r\nContent-Length: 3\r\n"), std::string::npos);
  EXPECT_EQ(Body(r), "");
}

TEST(AdminHttp, UnknownPathIs404AndOtherMethodsAre405) {
  auto server = StartOrDie(Loopback0());
  ASSERT_NE(server, nullptr);
  EXPECT_EQ(Get(server->port(), "/nope").rfind("HTTP/1.1 404 Not Found\r\n", 0), 0u);
  EXPECT_EQ(Get(server->port(), "/healthz/").rfind("HTTP/1.1 404 ", 0), 0u);

  // A POST with a body still gets its whole 405 (the server drains before closing).
  Client c(server->port());
  ASSERT_TRUE(c.Send("POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 20000\r\n\r\n" +
                     std::string(20000, 'b')));
  const std::string r = c.ReadAll();
  EXPECT_EQ(r.rfind("HTTP/1.1 405 Method Not Allowed\r\n", 0), 0u) << r;
  EXPECT_NE(r.find("\r\nAllow: GET, HEAD\r\n"), std::string::npos);
  EXPECT_EQ(Get(server->port(), "/healthz", "DELETE").rfind("HTTP/1.1 405 ", 0), 0u);
}

TEST(AdminHttp, MalformedRequestsAre400) {
  auto server = StartOrDie(Loopback0());
  ASSERT_NE(server, nullptr);
  auto status_of = [&](const std::string& request) {
    Client c(server->port());
    EXPECT_TRUE(c.Send(request));
    return c.ReadAll().substr(0, 12);
  };
  EXPECT_EQ(status_of("GET /healthz HTTP/1.1\r\n\r\n"), "HTTP/1.1 400");  // no Host
  EXPECT_EQ(status_of("GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"), "HTTP/1.1 400");
  EXPECT_EQ(status_of("GET /healthz HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n"), "HTTP/1.1 400");
  EXPECT_EQ(status_of("GET /healthz HTTP/1.1\r\nHost : a\r\n\r\n"), "HTTP/1.1 400");
  EXPECT_EQ(status_of("GET /healthz HTTP/1.1\r\nHost: a\nX: b\r\n\r\n"), "HTTP/1.1 400");
  EXPECT_EQ(status_of("GET http://x/healthz HTTP/1.1\r\nHost: a\r\n\r\n"), "HTTP/1.1 400");
  EXPECT_EQ(status_of("GET  /healthz HTTP/1.1\r\nHost: a\r\n\r\n"), "HTTP/1.1 400");
  EXPECT_EQ(status_of("get /healthz HTTP/1.1\r\nHost: a\r\n\r\n"), "HTTP/1.1 400");
  EXPECT_EQ(status_of("GET /healthz HTTP/2.0\r\nHost: a\r\n\r\n"), "HTTP/1.1 505");
  // Not HTTP at all (a TLS ClientHello, a NUL byte): answered at once, not after the timeout.
  const Clock::time_point start = Clock::now();
  EXPECT_EQ(status_of(std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc", 9)), "HTTP/1.1 400");
  EXPECT_EQ(status_of(std::string("GET /\0", 7)), "HTTP/1.1 400");
  EXPECT_LT(MsSince(start), 2000);
}

TEST(AdminHttp, HandlerFailuresAre500) {
  auto server = StartOrDie(Loopback0());
  ASSERT_NE(server, nullptr);
  EXPECT_EQ(Get(server->port(), "/throws").rfind("HTTP/1.1 500 ", 0), 0u);
  const std::string r = Get(server->port(), "/bad-type");
  EXPECT_EQ(r.rfind("HTTP/1.1 500 ", 0), 0u);
  EXPECT_EQ(r.find("Set-Cookie"), std::string::npos);
  EXPECT_EQ(Body(Get(server->port(), "/healthz")), "ok\n");
}

TEST(AdminHttp, OversizedRequestIs431AndTheServerCarriesOn) {
  AdminHttpOptions o = Loopback0();
  o.request_bytes_max = 1024;
  auto server = StartOrDie(o);
  ASSERT_NE(server, nullptr);
  {
    Client c(server->port());
    c.Send("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(4000, 'a') + "\r\n\r\n");
    EXPECT_EQ(c.ReadAll().rfind("HTTP/1.1 431 ", 0), 0u);
  }
  {
    // No end of headers at all: answered as soon as the limit is passed.
    Client c(server->port());
    c.Send("GET /" + std::string(2000, 'a'));
    EXPECT_EQ(c.ReadAll(2000).rfind("HTTP/1.1 431 ", 0), 0u);
  }
  // Exactly at the limit is fine.
  const std::string prefix = "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: ";
  const std::string request = prefix + std::string(1024 - prefix.size() - 4, 'p') + "\r\n\r\n";
  ASSERT_EQ(request.size(), 1024u);
  Client c(server->port());
  c.Send(request);
  EXPECT_EQ(Body(c.ReadAll()), "ok\n");
}

TEST(AdminHttp, SilentAndSlowClientsAreDroppedAfterTheTimeout) {
  AdminHttpOptions o = Loopback0();
  o.read_timeout_ms = 200;
  auto server = StartOrDie(o);
  ASSERT_NE(server, nullptr);
  const Clock::time_point start = Clock::now();  // before the connections: their timeouts start later
  Client silent(server->port());
  Client slow(server->port());
  slow.Send("GET /healthz HTTP/1.1\r\n");
  EXPECT_EQ(silent.ReadAll(5000), "");  // closed without a response
  EXPECT_EQ(slow.ReadAll(5000), "");
  const int64_t elapsed_ms = MsSince(start);
  EXPECT_GE(elapsed_ms, 150);
  EXPECT_LT(elapsed_ms, 3000);
  EXPECT_EQ(Body(Get(server->port(), "/healthz")), "ok\n");
}

TEST(AdminHttp, DisallowedPeerIsClosedWithoutResponse) {
  AdminHttpOptions o = Loopback0();
  std::atomic<int> calls{0};
  std::string seen_ip;
  o.allow_peer = [&](std::string_view ip) {
    seen_ip = std::string(ip);
    ++calls;
    return false;
  };
  auto server = StartOrDie(o);
  ASSERT_NE(server, nullptr);
  Client c(server->port());
  c.Send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(c.ReadAll(), "");
  server->Stop();  // joins the loop thread: seen_ip is safe to read
  EXPECT_EQ(calls.load(), 1);
  EXPECT_EQ(seen_ip, "127.0.0.1");
}

TEST(AdminHttp, ConnectionsBeyondTheMaximumAreClosed) {
  AdminHttpOptions o = Loopback0();
  o.connections_max = 2;
  auto server = StartOrDie(o);
  ASSERT_NE(server, nullptr);
  Client a(server->port());
  Client b(server->port());
  a.Send("GET /healthz HTTP/1.1\r\n");  // both stay open, unfinished
  b.Send("GET /healthz HTTP/1.1\r\n");
  Client c(server->port());
  c.Send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(c.ReadAll(), "");
  a.Send("Host: x\r\n\r\n");
  EXPECT_EQ(Body(a.ReadAll()), "ok\n");
  a.Close();  // the server closes its side when it sees this
  // A slot is free again.
  EXPECT_EQ(Body(Get(server->port(), "/healthz")), "ok\n");
}

// One peer cannot take every slot: beyond connections_per_peer_max its new connections are
// closed, and another peer (127.0.0.2 on the loopback network) is still served.
TEST(AdminHttp, OnePeerCannotTakeEverySlot) {
  AdminHttpOptions o = Loopback0();
  o.connections_per_peer_max = 2;
  o.per_peer_limit_on_loopback = true;  // the test's peers are loopback addresses
  auto server = StartOrDie(o);
  ASSERT_NE(server, nullptr);
  Client a(server->port());
  Client b(server->port());
  a.Send("GET /healthz HTTP/1.1\r\n");  // both stay open, unfinished
  b.Send("GET /healthz HTTP/1.1\r\n");
  Client third(server->port());
  third.Send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(third.ReadAll(), "") << "a third connection of the same peer";
  Client other(server->port(), /*v6=*/false, /*source_v4=*/0x7f000002);
  other.Send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(Body(other.ReadAll()), "ok\n");
  a.Send("Host: x\r\n\r\n");
  EXPECT_EQ(Body(a.ReadAll()), "ok\n");
}

// Clients of the allowed networks cannot take the slots of the local probes: remote peers
// together hold at most connections_max - local_reserved_connections. (Here 127.0.0.1 alone is
// local, so that other loopback addresses can stand for remote peers.)
TEST(AdminHttp, RemotePeersLeaveTheReservedSlotsToLocalProbes) {
  AdminHttpOptions o = Loopback0();
  o.connections_max = 4;
  o.local_reserved_connections = 2;
  o.local_peer = [](std::string_view ip) { return ip == "127.0.0.1"; };
  auto server = StartOrDie(o);
  ASSERT_NE(server, nullptr);
  std::vector<std::unique_ptr<Client>> remote;
  for (uint32_t host = 2; host <= 5; ++host) {  // 127.0.0.2 .. 127.0.0.5, idle
    remote.push_back(std::make_unique<Client>(server->port(), /*v6=*/false, 0x7f000000 + host));
    remote.back()->Send("GET /healthz HTTP/1.1\r\n");
  }
  // The third and fourth remote connections were closed; the probes are served.
  EXPECT_EQ(remote[2]->ReadAll(), "");
  EXPECT_EQ(remote[3]->ReadAll(), "");
  EXPECT_EQ(Body(Get(server->port(), "/healthz")), "ok\n");
  EXPECT_EQ(Body(Get(server->port(), "/healthz")), "ok\n");
  remote[0]->Send("Host: x\r\n\r\n");
  EXPECT_EQ(Body(remote[0]->ReadAll()), "ok\n");
}

// Local processes share one loopback address: by default they are not held to the per-peer
// limit (only to connections_max), so a local client cannot starve the local probes.
TEST(AdminHttp, LoopbackPeersHaveNoPerPeerLimitByDefault) {
  AdminHttpOptions o = Loopback0();
  o.connections_per_peer_max = 1;
  auto server = StartOrDie(o);
  ASSERT_NE(server, nullptr);
  Client held(server->port());
  held.Send("GET /healthz HTTP/1.1\r\n");
  EXPECT_EQ(Body(Get(server->port(), "/healthz")), "ok\n");
}

TEST(AdminHttp, StopJoinsPromptlyWithAnOpenConnection) {
  AdminHttpOptions o = Loopback0();
  o.read_timeout_ms = 60'000;
  auto server = StartOrDie(o);
  ASSERT_NE(server, nullptr);
  Client idle(server->port());
  idle.Send("GET /healthz HTTP/1.1\r\n");
  EXPECT_EQ(Body(Get(server->port(), "/healthz")), "ok\n");  // the loop has seen `idle`
  const Clock::time_point start = Clock::now();
  server->Stop();
  EXPECT_LT(MsSince(start), 1000);
  EXPECT_EQ(idle.ReadAll(2000), "");  // closed
  server->Stop();                     // idempotent
  server.reset();                     // and the destructor too
}

TEST(AdminHttp, Ipv6LoopbackWorks) {
  AdminHttpOptions o;
  o.listen = "[::1]:0";
  Result<std::unique_ptr<AdminHttpServer>> server = AdminHttpServer::Start(o, Routes());
  if (!server.ok() && server.status().code() == StatusCode::kUnavailable) {
    GTEST_SKIP() << "no IPv6 loopback: " << server.status().ToString();
  }
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  Client c((*server)->port(), /*v6=*/true);
  c.Send("GET /healthz HTTP/1.1\r\nHost: [::1]\r\n\r\n");
  EXPECT_EQ(Body(c.ReadAll()), "ok\n");
}

std::unique_ptr<AdminHttpServer> StartWithPost(size_t body_bytes_max) {
  AdminHttpOptions o = Loopback0();
  o.request_body_bytes_max = body_bytes_max;
  std::map<std::string, HttpPostHandler> post;
  post["/echo"] = [](std::string_view body) {
    return HttpResponse{200, "text/plain; charset=utf-8",
                        std::to_string(body.size()) + ":" + std::string(body)};
  };
  auto server = AdminHttpServer::Start(o, Routes(), std::move(post));
  EXPECT_TRUE(server.ok()) << server.status().ToString();
  return server.ok() ? std::move(server).value() : nullptr;
}

std::string Post(int port, const std::string& headers, const std::string& body) {
  Client c(port);
  EXPECT_TRUE(c.Send("POST /echo HTTP/1.1\r\nHost: x\r\n" + headers + "\r\n" + body));
  return c.ReadAll();
}

TEST(AdminHttp, PostRoutesGetTheWholeBody) {
  auto server = StartWithPost(1000);
  ASSERT_NE(server, nullptr);
  EXPECT_EQ(Body(Post(server->port(), "Content-Length: 5\r\n", "hello")), "5:hello");
  EXPECT_EQ(Body(Post(server->port(), "Content-Length: 0\r\n", "")), "0:");
  // Any byte in a body, NUL included; bytes beyond Content-Length are not the handler's.
  EXPECT_EQ(Body(Post(server->port(), "Content-Length: 3\r\n", std::string("a\0bXYZ", 6))),
            std::string("3:a\0b", 5));
  // A body that arrives in pieces, after the head.
  Client c(server->port());
  ASSERT_TRUE(c.Send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n" +
                     std::string(400, 'a')));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ASSERT_TRUE(c.Send(std::string(600, 'b')));
  EXPECT_EQ(Body(c.ReadAll()), "1000:" + std::string(400, 'a') + std::string(600, 'b'));
}

TEST(AdminHttp, PostBodiesNeedAnAcceptableLengthAndMethodsFollowTheRouteTable) {
  auto server = StartWithPost(1000);
  ASSERT_NE(server, nullptr);
  const int port = server->port();
  EXPECT_EQ(Post(port, "", "hello").rfind("HTTP/1.1 411 ", 0), 0u);
  EXPECT_EQ(Post(port, "Transfer-Encoding: chunked\r\n", "5\r\nhello\r\n0\r\n\r\n")
                .rfind("HTTP/1.1 411 ", 0), 0u);
  EXPECT_EQ(Post(port, "Content-Length: 1001\r\n", std::string(1001, 'x'))
                .rfind("HTTP/1.1 413 ", 0), 0u);
  EXPECT_EQ(Post(port, "Content-Length: 5\r\nContent-Length: 5\r\n", "hello")
                .rfind("HTTP/1.1 400 ", 0), 0u);
  EXPECT_EQ(Post(port, "Content-Length: -5\r\n", "hello").rfind("HTTP/1.1 400 ", 0), 0u);
  EXPECT_EQ(Post(port, "Content-Length: 99999999999\r\n", "x").rfind("HTTP/1.1 400 ", 0), 0u);
  const std::string get = Get(port, "/echo");
  EXPECT_EQ(get.rfind("HTTP/1.1 405 ", 0), 0u) << get;
  EXPECT_NE(get.find("\r\nAllow: POST\r\n"), std::string::npos) << get;
  const std::string head = Get(port, "/echo", "HEAD");
  EXPECT_EQ(head.rfind("HTTP/1.1 405 ", 0), 0u) << head;
  EXPECT_EQ(Body(head), "") << "HEAD never has a body";
  Client unknown(port);
  ASSERT_TRUE(unknown.Send("POST /nope HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi"));
  EXPECT_EQ(unknown.ReadAll().rfind("HTTP/1.1 404 ", 0), 0u);
  // A body that never comes whole: dropped at the timeout like a slow head.
  AdminHttpOptions o = Loopback0();
  o.read_timeout_ms = 200;
  std::map<std::string, HttpPostHandler> post;
  post["/echo"] = [](std::string_view) { return HttpResponse{}; };
  auto slow = AdminHttpServer::Start(o, {}, std::move(post));
  ASSERT_TRUE(slow.ok());
  Client c((*slow)->port());
  ASSERT_TRUE(c.Send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc"));
  EXPECT_EQ(c.ReadAll(2000), "");
  // The same path in both tables, or a body limit of 0, is refused.
  EXPECT_EQ(AdminHttpServer::Start(Loopback0(), Routes(),
                                   {{"/healthz", [](std::string_view) { return HttpResponse{}; }}})
                .status().code(),
            StatusCode::kInvalidArgument);
  o = Loopback0();
  o.request_body_bytes_max = 0;
  EXPECT_EQ(AdminHttpServer::Start(o, Routes()).status().code(), StatusCode::kInvalidArgument);
}

std::unique_ptr<AdminHttpServer> StartWithPrefixes() {
  std::map<std::string, HttpHandler> routes = Routes();
  routes["/tile/exact"] = [] { return HttpResponse{200, "text/plain; charset=utf-8", "exact\n"}; };
  std::map<std::string, HttpPathHandler> prefixes;
  prefixes["/tile/"] = [](std::string_view path) {
    HttpResponse r{200, "application/octet-stream", "tile:" + std::string(path)};
    r.cache_control = "public, max-age=31536000, immutable";
    return r;
  };
  prefixes["/tile/entries/"] = [](std::string_view path) {
    return HttpResponse{404, "text/plain; charset=utf-8", "entries:" + std::string(path)};
  };
  prefixes["/bad-cache/"] = [](std::string_view) {
    HttpResponse r;
    r.cache_control = "max-age=1\r\nSet-Cookie: x=y";
    return r;
  };
  auto server = AdminHttpServer::Start(Loopback0(), std::move(routes), {}, std::move(prefixes));
  EXPECT_TRUE(server.ok()) << server.status().ToString();
  return server.ok() ? std::move(server).value() : nullptr;
}

TEST(AdminHttp, PrefixRoutesServeThePathsUnderThem) {
  auto server = StartWithPrefixes();
  ASSERT_NE(server, nullptr);
  const int port = server->port();
  // The handler gets the path without the query; its Cache-Control is sent.
  std::string r = Get(port, "/tile/0/x001/067.p/8?x=1");
  EXPECT_EQ(r.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << r;
  EXPECT_EQ(Body(r), "tile:/tile/0/x001/067.p/8");
  EXPECT_NE(r.find("\r\nCache-Control: public, max-age=31536000, immutable\r\n"),
            std::string::npos) << r;
  EXPECT_NE(r.find("\r\nContent-Type: application/octet-stream\r\n"), std::string::npos);
  // The longest prefix wins; an exact route wins over every prefix; the prefix alone is no
  // path under it.
  r = Get(port, "/tile/entries/000");
  EXPECT_EQ(r.rfind("HTTP/1.1 404 ", 0), 0u) << r;
  EXPECT_EQ(Body(r), "entries:/tile/entries/000");
  EXPECT_NE(r.find("\r\nCache-Control: no-store\r\n"), std::string::npos) << r;
  EXPECT_EQ(Body(Get(port, "/tile/exact")), "exact\n");
  EXPECT_EQ(Get(port, "/tile/").rfind("HTTP/1.1 404 Not Found\r\n", 0), 0u);
  EXPECT_EQ(Get(port, "/tile").rfind("HTTP/1.1 404 Not Found\r\n", 0), 0u);
  EXPECT_EQ(Get(port, "/tiles/0/000").rfind("HTTP/1.1 404 Not Found\r\n", 0), 0u);
  // HEAD has the headers; other methods are 405 with the GET table's Allow.
  r = Get(port, "/tile/1/000", "HEAD");
  EXPECT_EQ(r.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << r;
  EXPECT_NE(r.find("\r\nContent-Length: 16\r\n"), std::string::npos) << r;
  EXPECT_EQ(Body(r), "");
  r = Get(port, "/tile/1/000", "DELETE");
  EXPECT_EQ(r.rfind("HTTP/1.1 405 ", 0), 0u) << r;
  EXPECT_NE(r.find("\r\nAllow: GET, HEAD\r\n"), std::string::npos) << r;
  EXPECT_NE(r.find("\r\nCache-Control: no-store\r\n"), std::string::npos) << r;
  // A Cache-Control that would inject a header is the handler's failure: 500, nothing injected.
  r = Get(port, "/bad-cache/x");
  EXPECT_EQ(r.rfind("HTTP/1.1 500 ", 0), 0u) << r;
  EXPECT_EQ(r.find("Set-Cookie"), std::string::npos) << r;
}

TEST(AdminHttp, RejectsBadPrefixRoutes) {
  auto code = [](std::map<std::string, HttpPathHandler> prefixes,
                 std::map<std::string, HttpHandler> routes = {}) {
    return AdminHttpServer::Start(Loopback0(), std::move(routes), {}, std::move(prefixes))
        .status()
        .code();
  };
  const HttpPathHandler ok = [](std::string_view) { return HttpResponse{}; };
  EXPECT_EQ(code({{"/tile", ok}}), StatusCode::kInvalidArgument);   // no trailing '/'
  EXPECT_EQ(code({{"tile/", ok}}), StatusCode::kInvalidArgument);   // no leading '/'
  EXPECT_EQ(code({{"/ti le/", ok}}), StatusCode::kInvalidArgument);
  EXPECT_EQ(code({{"/tile/", nullptr}}), StatusCode::kInvalidArgument);
  std::map<std::string, HttpHandler> many;
  for (size_t i = 0; i < kAdminRoutesMax; ++i) {
    many["/r" + std::to_string(i)] = [] { return HttpResponse{}; };
  }
  EXPECT_EQ(code({{"/tile/", ok}}, many), StatusCode::kInvalidArgument);  // beyond the route limit
}

TEST(AdminHttp, RejectsBadOptionsAndBusyPorts) {
  auto code = [](const AdminHttpOptions& o, std::map<std::string, HttpHandler> routes = {}) {
    return AdminHttpServer::Start(o, std::move(routes)).status().code();
  };
  AdminHttpOptions o = Loopback0();
  for (const char* listen : {"localhost:7401", "127.0.0.1", "::1:7401", "[::1]", "[::1]7401",
                             "127.0.0.1:65536", "127.0.0.1:-1", "127.0.0.1:", ""}) {
    o.listen = listen;
    EXPECT_EQ(code(o), StatusCode::kInvalidArgument) << listen;
  }
  o = Loopback0();
  o.connections_max = 0;
  EXPECT_EQ(code(o), StatusCode::kInvalidArgument);
  o = Loopback0();
  o.connections_per_peer_max = 0;
  EXPECT_EQ(code(o), StatusCode::kInvalidArgument);
  o = Loopback0();
  o.read_timeout_ms = 0;
  EXPECT_EQ(code(o), StatusCode::kInvalidArgument);
  o = Loopback0();
  o.request_bytes_max = 10;
  EXPECT_EQ(code(o), StatusCode::kInvalidArgument);
  EXPECT_EQ(code(Loopback0(), {{"healthz", [] { return HttpResponse{}; }}}),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(code(Loopback0(), {{"/x", nullptr}}), StatusCode::kInvalidArgument);

  auto first = StartOrDie(Loopback0());
  ASSERT_NE(first, nullptr);
  o = Loopback0();
  o.listen = "127.0.0.1:" + std::to_string(first->port());
  EXPECT_EQ(code(o), StatusCode::kUnavailable);
}

}  // namespace
}  // namespace cairn::server
