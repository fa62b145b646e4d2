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

inline bool ClosedByServer(const std::string& source_ip, int port, int wait_ms = 2000) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in src{};
  src.sin_family = AF_INET;
  inet_pton(AF_INET, source_ip.c_str(), &src.sin_addr);
  EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&src), sizeof src), 0);
  sockaddr_in dst{};
  dst.sin_family = AF_INET;
  dst.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, "127.0.0.1", &dst.sin_addr);
  if (connect(fd, reinterpret_cast<sockaddr*>(&dst), sizeof dst) != 0) {
    close(fd);
    return true;
  }
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
