// Tests for server/tls_min_version: a real grpc::Server on loopback with the credentials, probed
// by raw OpenSSL clients whose protocol range is pinned (to see what the server really accepts)
// and by gRPC clients (to see that calls, client-certificate modes and x509_pem_cert still work).
#include "server/tls_min_version.h"

#include <gtest/gtest.h>

#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <ctime>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "crypto/x509.h"
#include "tls_test_pki.h"

namespace cairn::server {
namespace CAIRN_UNITY_ID {

constexpr char kMethod[] = "/cairn.test.v1.Probe/PeerCert";

// A CA, a server certificate for 127.0.0.1 / localhost and a client certificate, made once.
struct Pki {
  crypto::KeyAndCert ca;
  crypto::KeyAndCert server;
  crypto::KeyAndCert client;
};

const Pki& TestPki() {
  static const Pki* pki = [] {
    auto* p = new Pki;
    const int64_t now = static_cast<int64_t>(std::time(nullptr));
    crypto::CertRequest ca_request;
    ca_request.common_name = "tls min version test CA";
    ca_request.not_before_unix_s = now - 60;
    ca_request.not_after_unix_s = now + 3600;
    ca_request.is_ca = true;
    ca_request.usage = crypto::CertRequest::Usage::kCa;
    auto ca = crypto::CreateSelfSignedCa(ca_request);
    EXPECT_TRUE(ca.ok()) << ca.status().ToString();
    p->ca = *ca;

    crypto::CertRequest server_request;
    server_request.common_name = "localhost";
    server_request.dns_sans = {"localhost"};
    server_request.ip_sans = {"127.0.0.1"};
    server_request.not_before_unix_s = now - 60;
    server_request.not_after_unix_s = now + 3600;
    auto server = crypto::IssueCertificate(p->ca, server_request);
    EXPECT_TRUE(server.ok()) << server.status().ToString();
    p->server = *server;

    crypto::CertRequest client_request;
    client_request.common_name = "test-client";
    client_request.not_before_unix_s = now - 60;
    client_request.not_after_unix_s = now + 3600;
    client_request.usage = crypto::CertRequest::Usage::kClient;
    auto client = crypto::IssueCertificate(p->ca, client_request);
    EXPECT_TRUE(client.ok()) << client.status().ToString();
    p->client = *client;
    return p;
  }();
  return *pki;
}

// Answers every call with the peer's "x509_pem_cert" auth property (empty when absent), read the
// way cairn's CallGate reads it.
class PeerCertService final : public grpc::CallbackGenericService {
 public:
  grpc::ServerGenericBidiReactor* CreateReactor(
      grpc::GenericCallbackServerContext* context) override {
    std::string pem;
    auto values = context->auth_context()->FindPropertyValues("x509_pem_cert");
    if (!values.empty()) pem.assign(values.front().data(), values.front().size());
    return new Reactor(std::move(pem));
  }

 private:
  class Reactor final : public grpc::ServerGenericBidiReactor {
   public:
    explicit Reactor(std::string pem) {
      grpc::Slice slice(pem);
      response_ = grpc::ByteBuffer(&slice, 1);
      StartWriteAndFinish(&response_, grpc::WriteOptions(), grpc::Status::OK);
    }
    void OnDone() override { delete this; }

   private:
    grpc::ByteBuffer response_;
  };
};

// A grpc::Server on 127.0.0.1:<ephemeral> with the credentials under test.
class TestServer {
 public:
  TestServer(grpc_ssl_client_certificate_request_type request_type, TlsMinVersion min) {
    const Pki& pki = TestPki();
    grpc::SslServerCredentialsOptions options(request_type);
    if (request_type != GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE) {
      options.pem_root_certs = pki.ca.cert_pem;
    }
    options.pem_key_cert_pairs.push_back({pki.server.key_pem, pki.server.cert_pem});
    auto creds = SslServerCredentialsWithMinVersion(options, min);
    EXPECT_TRUE(creds.ok()) << creds.status().ToString();
    if (!creds.ok()) return;
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", *creds, &port_);
    builder.RegisterCallbackGenericService(&service_);
    server_ = builder.BuildAndStart();
    EXPECT_NE(server_, nullptr);
    EXPECT_GT(port_, 0);
  }
  ~TestServer() {
    if (server_) server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  }
  int port() const { return port_; }
  bool started() const { return server_ != nullptr && port_ > 0; }

 private:
  PeerCertService service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

using HandshakeResult = testing::TlsProbe;

// A TLS handshake by OpenSSL alone, offering exactly [min_version, max_version] and ALPN "h2",
// verifying the server against the test CA.
HandshakeResult RawHandshake(int port, int min_version, int max_version) {
  return testing::TlsTestProbe(port, TestPki().ca.cert_pem, nullptr, min_version, max_version);
}

struct CallResult {
  grpc::Status status;
  std::string peer_cert;  // the server's view of x509_pem_cert
};

// One gRPC call over TLS (gRPC's default client range, TLS 1.2..1.3), with the client certificate
// when `with_client_cert`.
CallResult GrpcCall(int port, bool with_client_cert) {
  const Pki& pki = TestPki();
  grpc::SslCredentialsOptions options;
  options.pem_root_certs = pki.ca.cert_pem;
  if (with_client_cert) {
    options.pem_private_key = pki.client.key_pem;
    options.pem_cert_chain = pki.client.cert_pem;
  }
  auto channel =
      grpc::CreateChannel("127.0.0.1:" + std::to_string(port), grpc::SslCredentials(options));
  grpc::GenericStub stub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  grpc::Slice empty;
  grpc::ByteBuffer request(&empty, 1);  // a default ByteBuffer is not a message
  grpc::ByteBuffer response;
  std::promise<grpc::Status> done;
  stub.UnaryCall(&context, kMethod, grpc::StubOptions(), &request, &response,
                 [&done](grpc::Status status) { done.set_value(std::move(status)); });
  CallResult result;
  result.status = done.get_future().get();
  if (result.status.ok()) {
    std::vector<grpc::Slice> slices;
    EXPECT_TRUE(response.Dump(&slices).ok());
    for (const auto& slice : slices) {
      result.peer_cert.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
    }
  }
  return result;
}

TEST(TlsMinVersionTest, Min13RefusesTls12Client) {
  TestServer server(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE, TlsMinVersion::k13);
  ASSERT_TRUE(server.started());
  HandshakeResult result = RawHandshake(server.port(), TLS1_2_VERSION, TLS1_2_VERSION);
  EXPECT_FALSE(result.ok) << "a TLS 1.2-only client completed a handshake";
}

TEST(TlsMinVersionTest, Min13AcceptsTls13Client) {
  TestServer server(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE, TlsMinVersion::k13);
  ASSERT_TRUE(server.started());
  HandshakeResult result = RawHandshake(server.port(), TLS1_3_VERSION, TLS1_3_VERSION);
  ASSERT_TRUE(result.ok) << result.error;
  EXPECT_EQ(result.version, TLS1_3_VERSION);
  EXPECT_EQ(result.alpn, "h2");
}

TEST(TlsMinVersionTest, Min12AcceptsTls12AndTls13Clients) {
  TestServer server(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE, TlsMinVersion::k12);
  ASSERT_TRUE(server.started());
  HandshakeResult tls12 = RawHandshake(server.port(), TLS1_2_VERSION, TLS1_2_VERSION);
  ASSERT_TRUE(tls12.ok) << tls12.error;
  EXPECT_EQ(tls12.version, TLS1_2_VERSION);
  EXPECT_EQ(tls12.alpn, "h2");
  HandshakeResult tls13 = RawHandshake(server.port(), TLS1_3_VERSION, TLS1_3_VERSION);
  ASSERT_TRUE(tls13.ok) << tls13.error;
  EXPECT_EQ(tls13.version, TLS1_3_VERSION);
}

TEST(TlsMinVersionTest, Min13GrpcCallWithoutClientCert) {
  TestServer server(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE, TlsMinVersion::k13);
  ASSERT_TRUE(server.started());
  CallResult result = GrpcCall(server.port(), /*with_client_cert=*/false);
  ASSERT_TRUE(result.status.ok()) << result.status.error_message();
  EXPECT_EQ(result.peer_cert, "");
  // Not requested: a client that sends its certificate anyway is not asked for it.
  result = GrpcCall(server.port(), /*with_client_cert=*/true);
  ASSERT_TRUE(result.status.ok()) << result.status.error_message();
  EXPECT_EQ(result.peer_cert, "");
}

TEST(TlsMinVersionTest, Min13RequestClientCertOptional) {
  TestServer server(GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY, TlsMinVersion::k13);
  ASSERT_TRUE(server.started());
  CallResult with_cert = GrpcCall(server.port(), /*with_client_cert=*/true);
  ASSERT_TRUE(with_cert.status.ok()) << with_cert.status.error_message();
  EXPECT_EQ(with_cert.peer_cert, TestPki().client.cert_pem);
  CallResult without_cert = GrpcCall(server.port(), /*with_client_cert=*/false);
  ASSERT_TRUE(without_cert.status.ok()) << without_cert.status.error_message();
  EXPECT_EQ(without_cert.peer_cert, "");
  EXPECT_FALSE(RawHandshake(server.port(), TLS1_2_VERSION, TLS1_2_VERSION).ok);
}

TEST(TlsMinVersionTest, Min13RequireClientCert) {
  TestServer server(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY, TlsMinVersion::k13);
  ASSERT_TRUE(server.started());
  CallResult with_cert = GrpcCall(server.port(), /*with_client_cert=*/true);
  ASSERT_TRUE(with_cert.status.ok()) << with_cert.status.error_message();
  EXPECT_EQ(with_cert.peer_cert, TestPki().client.cert_pem);
  CallResult without_cert = GrpcCall(server.port(), /*with_client_cert=*/false);
  EXPECT_EQ(without_cert.status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_FALSE(RawHandshake(server.port(), TLS1_2_VERSION, TLS1_2_VERSION).ok);
}

TEST(TlsMinVersionTest, Min12RequireClientCert) {
  TestServer server(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY, TlsMinVersion::k12);
  ASSERT_TRUE(server.started());
  CallResult with_cert = GrpcCall(server.port(), /*with_client_cert=*/true);
  ASSERT_TRUE(with_cert.status.ok()) << with_cert.status.error_message();
  EXPECT_EQ(with_cert.peer_cert, TestPki().client.cert_pem);
  CallResult without_cert = GrpcCall(server.port(), /*with_client_cert=*/false);
  EXPECT_EQ(without_cert.status.error_code(), grpc::StatusCode::UNAVAILABLE);
}

TEST(TlsMinVersionTest, ForceClientAuthMeansRequire) {
  const Pki& pki = TestPki();
  grpc::SslServerCredentialsOptions options(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  options.force_client_auth = true;
  options.pem_root_certs = pki.ca.cert_pem;
  options.pem_key_cert_pairs.push_back({pki.server.key_pem, pki.server.cert_pem});
  auto creds = SslServerCredentialsWithMinVersion(options, TlsMinVersion::k13);
  ASSERT_TRUE(creds.ok()) << creds.status().ToString();
  PeerCertService service;
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", *creds, &port);
  builder.RegisterCallbackGenericService(&service);
  auto server = builder.BuildAndStart();
  ASSERT_NE(server, nullptr);
  EXPECT_EQ(GrpcCall(port, /*with_client_cert=*/false).status.error_code(),
            grpc::StatusCode::UNAVAILABLE);
  CallResult with_cert = GrpcCall(port, /*with_client_cert=*/true);
  EXPECT_TRUE(with_cert.status.ok()) << with_cert.status.error_message();
  EXPECT_EQ(with_cert.peer_cert, pki.client.cert_pem);
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
}

TEST(TlsMinVersionTest, NoKeyCertPairIsInvalidArgument) {
  grpc::SslServerCredentialsOptions options(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  auto creds = SslServerCredentialsWithMinVersion(options, TlsMinVersion::k13);
  ASSERT_FALSE(creds.ok());
  EXPECT_EQ(creds.status().code(), StatusCode::kInvalidArgument);
}

TEST(TlsMinVersionTest, UnparsableKeyFailsWhenThePortIsAdded) {
  grpc::SslServerCredentialsOptions options(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  options.pem_key_cert_pairs.push_back({"not a key", "not a certificate"});
  auto creds = SslServerCredentialsWithMinVersion(options, TlsMinVersion::k13);
  ASSERT_TRUE(creds.ok()) << creds.status().ToString();
  PeerCertService service;
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", *creds, &port);
  builder.RegisterCallbackGenericService(&service);
  auto server = builder.BuildAndStart();  // gRPC parses the PEM when it builds the connector
  EXPECT_EQ(server, nullptr);
}

}  // namespace
}  // namespace cairn::server
