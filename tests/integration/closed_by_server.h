// ClosedByServer: connects from `source_ip` (a loopback address such as 127.0.0.2) to
// 127.0.0.1:port and reports whether the server closed the connection within `wait_ms` without
// our having sent anything — how a peer outside server.allow_cidrs is refused.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include <gtest/gtest.h>

namespace cairn::testing {

// A TCP connection from `source_ip` to 127.0.0.1:port (nothing sent); -1 when the connect
// failed (the descriptor is closed then). The caller closes a returned descriptor.
inline int ConnectFrom(const std::string& source_ip, int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in src{};
  src.sin_family = AF_INET;
  inet_pton(AF_INET, source_ip.c_str(), &src.sin_addr);
  sockaddr_in dst{};
  dst.sin_family = AF_INET;
  dst.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, "127.0.0.1", &dst.sin_addr);
  // A source that cannot be bound is the test's failure, not a refusal by the server.
  EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&src), sizeof src), 0) << source_ip;
  if (connect(fd, reinterpret_cast<sockaddr*>(&dst), sizeof dst) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

inline bool ClosedByServer(const std::string& source_ip, int port, int wait_ms = 2000) {
  const int fd = ConnectFrom(source_ip, port);
  if (fd < 0) return true;  // refused before accept
  pollfd p{fd, POLLIN, 0};
  bool closed = false;
  if (poll(&p, 1, wait_ms) > 0) {
    char c;
    closed = recv(fd, &c, 1, 0) <= 0;
  }
  close(fd);
  return closed;
}

}  // namespace cairn::testing
