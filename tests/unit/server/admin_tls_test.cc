// Tests for HTTPS on the admin HTTP listener (server/admin_tls.h, AdminHttpOptions::tls): real
// TLS handshakes over loopback with an OpenSSL client that verifies the listener's certificate;
// client certificates required or not; TLS 1.3 only; what a plain HTTP client, an untrusted
// certificate or a silent client gets; responses larger than the socket buffer; keys refused.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <ctime>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "crypto/x509.h"
#include "server/admin_http.h"
#include "server/admin_tls.h"
#include "tls_test_pki.h"

namespace cairn::server {
namespace CAIRN_UNITY_ID {

using Clock = std::chrono::steady_clock;

crypto::KeyAndCert MakeCa(const std::string& name) { return testing::TlsTestCa(name); }

crypto::KeyAndCert Issue(const crypto::KeyAndCert& ca, const std::string& name, bool client) {
  return testing::TlsTestLeaf(ca, name, client);
}

// `source_v4` (host order): the local address to connect from (127.0.0.2 is another peer); 0: any.
int Connect(int port, uint32_t source_v4 = 0) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (source_v4 != 0) {
    sockaddr_in local{};
    local.sin_family = AF_INET;
    local.sin_addr.s_addr = htonl(source_v4);
    EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof local), 0);
  }
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  timeval timeout{10, 0};  // no test waits forever on a server that does not answer
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  return fd;
}

struct ClientSetup {
  std::string trusted_ca_pem;                 // verifies the listener's certificate (IP 127.0.0.1)
  std::optional<crypto::KeyAndCert> identity;  // a client certificate to present
  int max_version = 0;                         // e.g. TLS1_2_VERSION; 0: the newest
  uint32_t source_v4 = 0;                      // Connect()'s
};

// One HTTPS request over a fresh connection: the response text, or "<handshake failed>" /
// "<no response>".
std::string TlsRequest(int port, const ClientSetup& setup, const std::string& request) {
  // OpenSSL writes with write(2): a connection the listener closed must give EPIPE, not kill the
  // test. Blocked on this thread, a SIGPIPE stays pending here and is never delivered.
  sigset_t pipe;
  sigemptyset(&pipe);
  sigaddset(&pipe, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe, nullptr);
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx(SSL_CTX_new(TLS_client_method()), SSL_CTX_free);
  BIO* bio = BIO_new_mem_buf(setup.trusted_ca_pem.data(), static_cast<int>(setup.trusted_ca_pem.size()));
  X509* ca = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx.get()), ca);
  X509_free(ca);
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
  if (setup.max_version != 0) SSL_CTX_set_max_proto_version(ctx.get(), setup.max_version);
  if (setup.identity) {
    BIO* cb = BIO_new_mem_buf(setup.identity->cert_pem.data(), static_cast<int>(setup.identity->cert_pem.size()));
    X509* cert = PEM_read_bio_X509(cb, nullptr, nullptr, nullptr);
    BIO_free(cb);
    BIO* kb = BIO_new_mem_buf(setup.identity->key_pem.data(), static_cast<int>(setup.identity->key_pem.size()));
    EVP_PKEY* key = PEM_read_bio_PrivateKey(kb, nullptr, nullptr, nullptr);
    BIO_free(kb);
    EXPECT_EQ(SSL_CTX_use_certificate(ctx.get(), cert), 1);
    EXPECT_EQ(SSL_CTX_use_PrivateKey(ctx.get(), key), 1);
    X509_free(cert);
    EVP_PKEY_free(key);
  }
  const int fd = Connect(port, setup.source_v4);
  std::unique_ptr<SSL, decltype(&SSL_free)> ssl(SSL_new(ctx.get()), SSL_free);
  X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl.get()), "127.0.0.1");
  SSL_set_fd(ssl.get(), fd);
  std::string out;
  if (SSL_connect(ssl.get()) != 1) {
    out = "<handshake failed>";
  } else if (SSL_write(ssl.get(), request.data(), static_cast<int>(request.size())) <= 0) {
    out = "<no response>";  // a TLS 1.3 server refuses a client certificate after the client's Finished
  } else {
    char buf[16384];
    int n;
    while ((n = SSL_read(ssl.get(), buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
    if (out.empty()) out = "<no response>";
  }
  ERR_clear_error();
  ::close(fd);
  return out;
}

std::string Body(const std::string& response) {
  const size_t end = response.find("\r\n\r\n");
  return end == std::string::npos ? "" : response.substr(end + 4);
}

constexpr char kGetHealthz[] = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";

class AdminTlsTest : public ::testing::Test {
 protected:
  AdminTlsTest() : ca_(MakeCa("admin test ca")), server_cert_(Issue(ca_, "admin", false)) {}

  std::unique_ptr<AdminHttpServer> Serve(AdminTlsOptions tls, int64_t read_timeout_ms = 5000,
                                         size_t handshakes_per_peer_per_second_max = 20) {
    auto context = AdminTlsContext::Create(std::move(tls));
    EXPECT_TRUE(context.ok()) << context.status().ToString();
    if (!context.ok()) return nullptr;
    AdminHttpOptions options;
    options.listen = "127.0.0.1:0";
    options.read_timeout_ms = read_timeout_ms;
    options.tls = std::move(context).value();
    options.handshakes_per_peer_per_second_max = handshakes_per_peer_per_second_max;
    options.local_peer = [](std::string_view ip) { return ip == "127.0.0.1"; };
    std::map<std::string, HttpHandler> routes;
    routes["/healthz"] = [] { return HttpResponse{200, "text/plain; charset=utf-8", "ok\n"}; };
    routes["/big"] = [] { return HttpResponse{200, "text/plain", std::string(3 << 20, 'b')}; };
    std::map<std::string, HttpPostHandler> posts;
    posts["/echo"] = [](std::string_view body) {
      return HttpResponse{200, "text/plain", "got " + std::string(body)};
    };
    auto server = AdminHttpServer::Start(options, std::move(routes), std::move(posts));
    EXPECT_TRUE(server.ok()) << server.status().ToString();
    return server.ok() ? std::move(server).value() : nullptr;
  }
  AdminTlsOptions ServerTls() const {
    return AdminTlsOptions{server_cert_.cert_pem, server_cert_.key_pem, "", false, false};
  }
  ClientSetup Trusting() const { return ClientSetup{ca_.cert_pem, std::nullopt, 0}; }

  crypto::KeyAndCert ca_;
  crypto::KeyAndCert server_cert_;
};

TEST_F(AdminTlsTest, GetAndPostOverTlsWithTheListenersVerifiedCertificate) {
  auto server = Serve(ServerTls());
  ASSERT_NE(server, nullptr);
  const std::string got = TlsRequest(server->port(), Trusting(), kGetHealthz);
  EXPECT_EQ(got.substr(0, 15), "HTTP/1.1 200 OK") << got;
  EXPECT_EQ(Body(got), "ok\n");
  const std::string posted = TlsRequest(
      server->port(), Trusting(),
      "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello");
  EXPECT_EQ(Body(posted), "got hello") << posted;
  // A client that trusts another CA refuses the listener.
  const crypto::KeyAndCert other = MakeCa("another ca");
  EXPECT_EQ(TlsRequest(server->port(), ClientSetup{other.cert_pem, std::nullopt, 0}, kGetHealthz),
            "<handshake failed>");
}

TEST_F(AdminTlsTest, AResponseLargerThanTheSocketBufferArrivesWhole) {
  auto server = Serve(ServerTls());
  ASSERT_NE(server, nullptr);
  const std::string got = TlsRequest(server->port(), Trusting(), "GET /big HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_NE(got.find("Content-Length: 3145728\r\n"), std::string::npos) << got.substr(0, 300);
  EXPECT_EQ(Body(got), std::string(3 << 20, 'b'));
}

TEST_F(AdminTlsTest, PlainHttpToATlsListenerGetsNoHttpResponse) {
  auto server = Serve(ServerTls());
  ASSERT_NE(server, nullptr);
  const int fd = Connect(server->port());
  ASSERT_EQ(::send(fd, kGetHealthz, sizeof kGetHealthz - 1, MSG_NOSIGNAL),
            static_cast<ssize_t>(sizeof kGetHealthz - 1));
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) out.append(buf, static_cast<size_t>(n));
  ::close(fd);
  EXPECT_EQ(out.find("HTTP/1."), std::string::npos) << "a plaintext answer: " << out;
  EXPECT_EQ(out.find("ok\n"), std::string::npos);
  // And the listener goes on serving TLS clients.
  EXPECT_EQ(Body(TlsRequest(server->port(), Trusting(), kGetHealthz)), "ok\n");
}

TEST_F(AdminTlsTest, RequiredClientCertificatesMustBeIssuedByTheClientCa) {
  const crypto::KeyAndCert client_ca = MakeCa("client ca");
  AdminTlsOptions tls = ServerTls();
  tls.client_ca_pem = client_ca.cert_pem;
  tls.require_client_cert = true;
  auto server = Serve(std::move(tls));
  ASSERT_NE(server, nullptr);
  ClientSetup with = Trusting();
  with.identity = Issue(client_ca, "prometheus", true);
  EXPECT_EQ(Body(TlsRequest(server->port(), with, kGetHealthz)), "ok\n");
  const std::string without = TlsRequest(server->port(), Trusting(), kGetHealthz);
  EXPECT_EQ(without.find("HTTP/1."), std::string::npos) << without;
  ClientSetup stranger = Trusting();
  stranger.identity = Issue(MakeCa("another client ca"), "mallory", true);
  const std::string refused = TlsRequest(server->port(), stranger, kGetHealthz);
  EXPECT_EQ(refused.find("HTTP/1."), std::string::npos) << refused;
  // Both TLS versions enforce it.
  stranger.max_version = TLS1_2_VERSION;
  EXPECT_EQ(TlsRequest(server->port(), stranger, kGetHealthz), "<handshake failed>");
  with.max_version = TLS1_2_VERSION;
  EXPECT_EQ(Body(TlsRequest(server->port(), with, kGetHealthz)), "ok\n");
}

TEST_F(AdminTlsTest, ClientCertificatesRequestedButNotRequiredAreOptionalYetVerified) {
  const crypto::KeyAndCert client_ca = MakeCa("client ca");
  AdminTlsOptions tls = ServerTls();
  tls.client_ca_pem = client_ca.cert_pem;
  auto server = Serve(std::move(tls));
  ASSERT_NE(server, nullptr);
  EXPECT_EQ(Body(TlsRequest(server->port(), Trusting(), kGetHealthz)), "ok\n");
  ClientSetup stranger = Trusting();
  stranger.identity = Issue(MakeCa("another client ca"), "mallory", true);
  const std::string refused = TlsRequest(server->port(), stranger, kGetHealthz);
  EXPECT_EQ(refused.find("HTTP/1."), std::string::npos) << refused;
}

TEST_F(AdminTlsTest, Tls13OnlyRefusesATls12Client) {
  AdminTlsOptions tls = ServerTls();
  tls.tls13_only = true;
  auto server = Serve(std::move(tls));
  ASSERT_NE(server, nullptr);
  ClientSetup old = Trusting();
  old.max_version = TLS1_2_VERSION;
  EXPECT_EQ(TlsRequest(server->port(), old, kGetHealthz), "<handshake failed>");
  EXPECT_EQ(Body(TlsRequest(server->port(), Trusting(), kGetHealthz)), "ok\n");
  // Without tls13_only a TLS 1.2 client is served.
  auto both = Serve(ServerTls());
  ASSERT_NE(both, nullptr);
  EXPECT_EQ(Body(TlsRequest(both->port(), old, kGetHealthz)), "ok\n");
}

TEST_F(AdminTlsTest, ASilentClientIsDroppedAtTheTimeoutAndDelaysNobody) {
  auto server = Serve(ServerTls(), /*read_timeout_ms=*/2000);
  ASSERT_NE(server, nullptr);
  const auto start = Clock::now();
  const int silent = Connect(server->port());  // no ClientHello
  EXPECT_EQ(Body(TlsRequest(server->port(), Trusting(), kGetHealthz)), "ok\n");
  const auto served = Clock::now() - start;
  char buf[64];
  EXPECT_EQ(::recv(silent, buf, sizeof buf, 0), 0) << "closed at the timeout, nothing sent";
  const auto dropped = Clock::now() - start;
  EXPECT_GE(dropped, std::chrono::milliseconds(2000));
  EXPECT_LT(served, dropped) << "the other client was served while the silent one waited";
  ::close(silent);
}

// Records larger than the listener's 4 KiB reads: what OpenSSL decrypted beyond a read is taken
// at once, not left for a poll(2) that would not announce it.
TEST_F(AdminTlsTest, ABodyOfManyRecordsLargerThanOneReadArrivesWhole) {
  auto server = Serve(ServerTls());
  ASSERT_NE(server, nullptr);
  std::string body(40 * 1024, 'x');
  for (size_t i = 0; i < body.size(); i += 97) body[i] = static_cast<char>('a' + i % 26);
  const std::string request = "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: " +
                              std::to_string(body.size()) + "\r\n\r\n" + body;
  for (int version : {TLS1_2_VERSION, 0}) {
    ClientSetup setup = Trusting();
    setup.max_version = version;
    EXPECT_EQ(Body(TlsRequest(server->port(), setup, request)), "got " + body) << version;
  }
}

// A remote peer opens at most its share of TLS connections per second (each costs the loop a
// handshake); a local one is not limited.
TEST_F(AdminTlsTest, ARemotePeerOpensAtMostItsHandshakesPerSecond) {
  auto server = Serve(ServerTls(), 5000, /*handshakes_per_peer_per_second_max=*/2);
  ASSERT_NE(server, nullptr);
  constexpr int kRequests = 10;
  ClientSetup remote = Trusting();
  remote.source_v4 = 0x7f000002;  // 127.0.0.2
  const auto start = Clock::now();
  int served = 0;
  for (int i = 0; i < kRequests; ++i) served += Body(TlsRequest(server->port(), remote, kGetHealthz)) == "ok\n";
  const auto elapsed_s = std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - start).count();
  EXPECT_GE(served, 1);
  EXPECT_LE(served, 2 * (elapsed_s + 2)) << "2 per second, over the seconds the requests spanned";
  EXPECT_LT(served, kRequests);
  for (int i = 0; i < kRequests; ++i) {
    EXPECT_EQ(Body(TlsRequest(server->port(), Trusting(), kGetHealthz)), "ok\n") << "local " << i;
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));  // a new second: a new share
  EXPECT_EQ(Body(TlsRequest(server->port(), remote, kGetHealthz)), "ok\n");
}

TEST(AdminTlsContextTest, BadKeysCertificatesAndOptionsAreRefusedWithoutTheKeyInTheMessage) {
  const crypto::KeyAndCert ca = MakeCa("ca");
  const crypto::KeyAndCert a = Issue(ca, "a", false), b = Issue(ca, "b", false);
  auto refused = [](AdminTlsOptions o) { return AdminTlsContext::Create(std::move(o)).status(); };
  const Status mismatch = refused({a.cert_pem, b.key_pem, "", false, false});
  EXPECT_EQ(mismatch.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(mismatch.message().find("does not match"), std::string::npos) << mismatch.ToString();
  EXPECT_EQ(mismatch.message().find(b.key_pem.substr(40, 20)), std::string::npos);
  EXPECT_EQ(refused({"not pem", a.key_pem, "", false, false}).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(refused({a.cert_pem, "not a key", "", false, false}).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(refused({a.cert_pem, a.key_pem, "", true, false}).code(), StatusCode::kInvalidArgument)
      << "required client certificates without a client CA";
  EXPECT_EQ(refused({a.cert_pem, a.key_pem, "garbage", false, false}).code(),
            StatusCode::kInvalidArgument);
  EXPECT_TRUE(AdminTlsContext::Create({a.cert_pem + ca.cert_pem, a.key_pem, ca.cert_pem, true, false}).ok())
      << "a chain with its CA, and a client CA";
}

}  // namespace
}  // namespace cairn::server
