// TcpProxy: a loopback TCP forwarder for tests that must cut a client's connection at a chosen
// moment (the server keeps running and does not notice until it next reads or writes).
//
// Listens on a free port of 127.0.0.1 and forwards every accepted connection to 127.0.0.1:
// target_port, two threads per connection. CutAll() shuts down every live connection in both
// directions; new connections are still accepted. The destructor cuts everything and joins every
// thread. At most kConnectionsMax connections over the proxy's life.
//
// Thread safety: CutAll() from any thread.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cassert>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

namespace cairn::storage::testing {

class TcpProxy {
 public:
  static constexpr size_t kConnectionsMax = 64;

  explicit TcpProxy(int target_port) : target_port_(target_port) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a = Loopback(0);
    socklen_t len = sizeof a;
    if (listen_fd_ < 0 || ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        ::listen(listen_fd_, 16) != 0 ||
        ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      throw std::runtime_error("TcpProxy: cannot listen on loopback");
    }
    port_ = ntohs(a.sin_port);
    acceptor_ = std::thread([this] { AcceptLoop(); });
  }

  ~TcpProxy() {
    stopping_.store(true);
    acceptor_.join();
    CutAll();
    for (std::thread& t : pumps_) t.join();
    for (int fd : fds_) ::close(fd);
    ::close(listen_fd_);
  }

  TcpProxy(const TcpProxy&) = delete;
  TcpProxy& operator=(const TcpProxy&) = delete;

  int port() const { return port_; }

  void CutAll() {
    std::lock_guard<std::mutex> lock(mu_);
    for (int fd : fds_) ::shutdown(fd, SHUT_RDWR);
  }

 private:
  static sockaddr_in Loopback(int port) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<uint16_t>(port));
    return a;
  }

  void AcceptLoop() {
    while (!stopping_.load()) {
      pollfd p{listen_fd_, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;  // checks stopping_ every 100 ms
      const int client = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (client < 0) continue;
      const int server = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      const sockaddr_in target = Loopback(target_port_);
      std::lock_guard<std::mutex> lock(mu_);
      if (server < 0 || fds_.size() + 2 > 2 * kConnectionsMax ||
          ::connect(server, reinterpret_cast<const sockaddr*>(&target), sizeof target) != 0) {
        ::close(client);
        if (server >= 0) ::close(server);
        continue;
      }
      fds_.push_back(client);
      fds_.push_back(server);
      pumps_.emplace_back([client, server] { Pump(client, server); });
      pumps_.emplace_back([client, server] { Pump(server, client); });
    }
  }

  // Copies bytes from `from` to `to` until either side ends; then ends both directions.
  static void Pump(int from, int to) {
    char buffer[16384];
    while (true) {
      const ssize_t n = ::read(from, buffer, sizeof buffer);
      if (n <= 0) break;
      ssize_t sent = 0;
      while (sent < n) {
        const ssize_t w = ::send(to, buffer + sent, static_cast<size_t>(n - sent), MSG_NOSIGNAL);
        if (w <= 0) break;
        sent += w;
      }
      if (sent < n) break;
    }
    ::shutdown(from, SHUT_RDWR);
    ::shutdown(to, SHUT_RDWR);
  }

  const int target_port_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread acceptor_;
  std::mutex mu_;
  std::vector<int> fds_;              // guarded by mu_; closed by the destructor
  std::vector<std::thread> pumps_;    // guarded by mu_ while the acceptor runs
};

}  // namespace cairn::storage::testing
