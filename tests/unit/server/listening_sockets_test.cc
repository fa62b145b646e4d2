// Tests for server/listening_sockets: the listening sockets of this process on a port, counted
// from /proc, for sockets the test opens itself.
#include "server/listening_sockets.h"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace cairn::server {
namespace CAIRN_UNITY_ID {

// A TCP socket bound to `address`:`port` (0: ephemeral), listening when `listen`; -1 on failure.
int BoundSocket(int family, const char* address, int port, bool listen) {
  const int fd = ::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_storage storage{};
  socklen_t size = 0;
  if (family == AF_INET) {
    auto* a = reinterpret_cast<sockaddr_in*>(&storage);
    a->sin_family = AF_INET;
    a->sin_port = htons(static_cast<uint16_t>(port));
    ::inet_pton(AF_INET, address, &a->sin_addr);
    size = sizeof *a;
  } else {
    auto* a = reinterpret_cast<sockaddr_in6*>(&storage);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(static_cast<uint16_t>(port));
    ::inet_pton(AF_INET6, address, &a->sin6_addr);
    size = sizeof *a;
  }
  if (::bind(fd, reinterpret_cast<sockaddr*>(&storage), size) != 0 ||
      (listen && ::listen(fd, 4) != 0)) {
    ::close(fd);
    return -1;
  }
  return fd;
}

int PortOf(int fd) {
  sockaddr_storage storage{};
  socklen_t size = sizeof storage;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&storage), &size);
  return storage.ss_family == AF_INET
             ? ntohs(reinterpret_cast<sockaddr_in*>(&storage)->sin_port)
             : ntohs(reinterpret_cast<sockaddr_in6*>(&storage)->sin6_port);
}

TEST(ListeningSocketsTest, CountsThisProcesssListeningSocketsOnAPort) {
  const int v4 = BoundSocket(AF_INET, "127.0.0.1", 0, /*listen=*/true);
  ASSERT_GE(v4, 0);
  const int port = PortOf(v4);
  EXPECT_EQ(CountOwnListeningSockets(port).value(), 1u);
  // The same port on the IPv6 loopback: a second socket, as gRPC makes for a name that resolves
  // to both (skipped where this machine has no IPv6).
  const int v6 = BoundSocket(AF_INET6, "::1", port, /*listen=*/true);
  if (v6 >= 0) {
    EXPECT_EQ(CountOwnListeningSockets(port).value(), 2u);
    ::close(v6);
  }
  // Bound but not listening: not counted.
  const int idle = BoundSocket(AF_INET, "127.0.0.1", 0, /*listen=*/false);
  ASSERT_GE(idle, 0);
  EXPECT_EQ(CountOwnListeningSockets(PortOf(idle)).value(), 0u);
  ::close(idle);
  ::close(v4);
  EXPECT_EQ(CountOwnListeningSockets(port).value(), 0u);
}

}  // namespace CAIRN_UNITY_ID
}  // namespace cairn::server
