// A loopback HTTPS server for webhook tests and benchmarks: OpenSSL, one accepting thread and
// one thread per connection (keep-alive, at most 64 connections). It answers 500 to bodies that
// contain the fail marker and 200 to the rest, and records every request (headers with
// lower-case names, body). Certificates come from a test CA made in memory.
// Thread safety: the accessors may be called from any thread. Header-only so that bench/ can
// use it too.
#pragma once

#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cerrno>
#include <chrono>
#include <ctime>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "crypto/x509.h"

namespace cairn::testing {

// Set-up failures of the receiver end the process: there is nothing to test without it.
inline void Require(bool ok, const char* what) {
  if (ok) return;
  std::fprintf(stderr, "webhook receiver set-up failed: %s\n", what);
  std::abort();
}

struct Received {
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
};

// A loopback HTTPS server: one thread accepts, one thread per connection (keep-alive). It answers
// 500 to bodies containing `fail_marker`, 200 to the rest, and records every request.
class Receiver {
 public:
  explicit Receiver(const crypto::KeyAndCert& server_pair) {
    // A client that stops reading an answer (a sender's response size limit) closes the
    // connection under SSL_write: that must be an error here, not a SIGPIPE for the process.
    std::signal(SIGPIPE, SIG_IGN);
    ctx_ = SSL_CTX_new(TLS_server_method());
    BIO* cb = BIO_new_mem_buf(server_pair.cert_pem.data(), static_cast<int>(server_pair.cert_pem.size()));
    X509* cert = PEM_read_bio_X509(cb, nullptr, nullptr, nullptr);
    BIO_free(cb);
    BIO* kb = BIO_new_mem_buf(server_pair.key_pem.data(), static_cast<int>(server_pair.key_pem.size()));
    EVP_PKEY* key = PEM_read_bio_PrivateKey(kb, nullptr, nullptr, nullptr);
    BIO_free(kb);
    Require(SSL_CTX_use_certificate(ctx_, cert) == 1, "certificate");
    Require(SSL_CTX_use_PrivateKey(ctx_, key) == 1, "private key");
    X509_free(cert);
    EVP_PKEY_free(key);
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    Require(bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0, "bind");
    Require(listen(fd_, 64) == 0, "listen");
    socklen_t len = sizeof(a);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    acceptor_ = std::thread([this] { AcceptLoop(); });
  }
  ~Receiver() {
    stop_ = true;
    acceptor_.join();
    for (auto& t : connections_) t.join();
    close(fd_);
    SSL_CTX_free(ctx_);
  }

  int port() const { return port_; }
  std::string Url(const std::string& host = "127.0.0.1") const {
    return "https://" + host + ":" + std::to_string(port_) + "/hook";
  }
  int connections() const { return accepted_.load(); }
  void set_fail_marker(const std::string& marker) {
    std::lock_guard<std::mutex> lock(mu_);
    fail_marker_ = marker;
  }
  // The body of every answer (200 and 500); default: "ok" for 200, none for 500.
  void set_answer_body(const std::string& body) {
    std::lock_guard<std::mutex> lock(mu_);
    answer_body_ = body;
  }
  // Each answer is sent this long after the request arrived (a slow handler).
  void set_answer_delay_ms(int delay_ms) { answer_delay_ms_ = delay_ms; }
  size_t count() const {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_.size();
  }
  std::vector<Received> requests() const {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_;
  }
  // Waits (bounded) until at least n requests arrived.
  std::vector<Received> WaitFor(size_t n, int timeout_ms = 20000) const {
    for (int waited = 0; waited < timeout_ms; waited += 20) {
      if (count() >= n) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return requests();
  }

 private:
  void AcceptLoop() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 50) != 1) continue;
      int c = accept(fd_, nullptr, nullptr);
      if (c < 0) continue;
      ++accepted_;
      timeval tv{0, 100000};
      setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
      if (connections_.size() < 64) {
        connections_.emplace_back([this, c] { Serve(c); });
      } else {
        close(c);
      }
    }
  }

  // Reads until `n` bytes are buffered or the peer/stop ends it.
  bool Fill(SSL* ssl, std::string* buffer, size_t n) {
    char chunk[16384];
    while (buffer->size() < n && !stop_) {
      int r = SSL_read(ssl, chunk, sizeof(chunk));
      if (r > 0) {
        buffer->append(chunk, r);
        continue;
      }
      int err = SSL_get_error(ssl, r);
      if (err == SSL_ERROR_WANT_READ || (err == SSL_ERROR_SYSCALL && (errno == EAGAIN || errno == EWOULDBLOCK))) {
        ERR_clear_error();
        continue;
      }
      return false;
    }
    return buffer->size() >= n;
  }

  void Serve(int fd) {
    SSL* ssl = SSL_new(ctx_);
    SSL_set_fd(ssl, fd);
    int rc = -1;
    for (int tries = 0; tries < 50 && !stop_; ++tries) {  // the handshake may hit the timeout
      rc = SSL_accept(ssl);
      if (rc == 1) break;
      int err = SSL_get_error(ssl, rc);
      if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_SYSCALL) break;
      ERR_clear_error();
    }
    std::string buffer;
    while (rc == 1 && !stop_) {
      size_t end;
      while ((end = buffer.find("\r\n\r\n")) == std::string::npos) {
        if (!Fill(ssl, &buffer, buffer.size() + 1) || buffer.size() > (1 << 20)) goto done;
      }
      Received r;
      size_t length = 0;
      std::string head = buffer.substr(0, end);
      for (size_t at = head.find("\r\n"); at != std::string::npos;) {
        size_t next = head.find("\r\n", at + 2);
        std::string line = head.substr(at + 2, next == std::string::npos ? std::string::npos : next - at - 2);
        size_t colon = line.find(':');
        if (colon != std::string::npos) {
          std::string name = line.substr(0, colon);
          for (char& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
          std::string value = line.substr(colon + 1);
          while (!value.empty() && value.front() == ' ') value.erase(0, 1);
          r.headers[name] = value;
          if (name == "content-length") length = std::stoul(value);
        }
        at = next;
      }
      if (!Fill(ssl, &buffer, end + 4 + length)) break;
      r.body = buffer.substr(end + 4, length);
      buffer.erase(0, end + 4 + length);
      bool fail;
      std::optional<std::string> body;
      {
        std::lock_guard<std::mutex> lock(mu_);
        fail = !fail_marker_.empty() && r.body.find(fail_marker_) != std::string::npos;
        body = answer_body_;
        requests_.push_back(std::move(r));
      }
      if (answer_delay_ms_ > 0) std::this_thread::sleep_for(std::chrono::milliseconds(answer_delay_ms_));
      if (!body) body = fail ? "" : "ok";
      const std::string answer =
          std::string(fail ? "HTTP/1.1 500 Internal Server Error" : "HTTP/1.1 200 OK") +
          "\r\nContent-Length: " + std::to_string(body->size()) + "\r\n\r\n" + *body;
      SSL_write(ssl, answer.data(), static_cast<int>(answer.size()));
    }
  done:
    SSL_free(ssl);
    close(fd);
  }

  SSL_CTX* ctx_ = nullptr;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> answer_delay_ms_{0};
  std::atomic<int> accepted_{0};
  std::thread acceptor_;
  std::vector<std::thread> connections_;  // touched by the acceptor thread only, until joined
  mutable std::mutex mu_;
  std::string fail_marker_;
  std::optional<std::string> answer_body_;  // guarded by mu_
  std::vector<Received> requests_;
};

inline crypto::KeyAndCert MakeReceiverCa() {
  crypto::CertRequest r;
  r.common_name = "webhook test CA";
  r.is_ca = true;
  r.usage = crypto::CertRequest::Usage::kCa;
  r.not_before_unix_s = std::time(nullptr) - 3600;
  r.not_after_unix_s = std::time(nullptr) + 86400;
  return crypto::CreateSelfSignedCa(r).value();
}

inline crypto::KeyAndCert MakeReceiverPair(const crypto::KeyAndCert& ca) {
  crypto::CertRequest r;
  r.common_name = "localhost";
  r.dns_sans = {"localhost"};
  r.ip_sans = {"127.0.0.1"};
  r.not_before_unix_s = std::time(nullptr) - 3600;
  r.not_after_unix_s = std::time(nullptr) + 86400;
  return crypto::IssueCertificate(ca, r).value();
}

}  // namespace cairn::testing
