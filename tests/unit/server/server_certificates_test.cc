// Tests for server/server_certificates: a real grpc::Server on loopback listening with the
// reloadable credentials, probed by raw OpenSSL clients (which certificate is presented) and by
// gRPC clients (calls, client certificates). A call reaches the server when it ends UNIMPLEMENTED
// (the generic service answers every method so); a refused handshake ends UNAVAILABLE.
#include "server/server_certificates.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include "tls_test_pki.h"

namespace cairn::server {
namespace CAIRN_UNITY_ID {

using testing::TlsTestCa;
using testing::TlsTestFingerprint;
using testing::TlsTestLeaf;
using testing::TlsTestProbe;

TlsMaterial Material(const crypto::KeyAndCert& server, const std::string& client_ca_pem = "") {
  TlsMaterial m;
  m.cert_chain_pem = server.cert_pem;
  m.key_pem = crypto::SecureBytes(server.key_pem);
  m.client_ca_pem = client_ca_pem;
  m.cert = crypto::SummarizeCert(server.cert_pem, "test").value();
  return m;
}

class CertServer {
 public:
  CertServer(TlsMaterial initial, grpc_ssl_client_certificate_request_type request)
      : certificates_(std::move(initial), request) {
    auto credentials = certificates_.Credentials();
    EXPECT_TRUE(credentials.ok()) << credentials.status().ToString();
    if (!credentials.ok()) return;
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", *credentials, &port_);
    builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);  // one socket, as cairn serve has
    builder.RegisterCallbackGenericService(&unimplemented_);  // answers every call UNIMPLEMENTED
    server_ = builder.BuildAndStart();
    EXPECT_NE(server_, nullptr);
  }
  ~CertServer() {
    if (server_) server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  }
  int port() const { return port_; }
  ServerCertificates& certificates() { return certificates_; }

 private:
  ServerCertificates certificates_;  // outlives server_
  grpc::CallbackGenericService unimplemented_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

std::shared_ptr<grpc::Channel> Channel(int port, const std::string& ca_pem,
                                       const crypto::KeyAndCert* client = nullptr) {
  grpc::SslCredentialsOptions options;
  options.pem_root_certs = ca_pem;
  if (client != nullptr) {
    options.pem_private_key = client->key_pem;
    options.pem_cert_chain = client->cert_pem;
  }
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // a new connection per channel
  return grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(port),
                                   grpc::SslCredentials(options), args);
}

// UNIMPLEMENTED: the call reached the server over TLS; UNAVAILABLE: it did not.
grpc::StatusCode Call(const std::shared_ptr<grpc::Channel>& channel) {
  grpc::GenericStub stub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  grpc::Slice empty;
  grpc::ByteBuffer request(&empty, 1);
  grpc::ByteBuffer response;
  std::promise<grpc::Status> done;
  stub.UnaryCall(&context, "/cairn.test.v1.Nothing/Here", grpc::StubOptions(), &request,
                 &response, [&done](grpc::Status status) { done.set_value(std::move(status)); });
  return done.get_future().get().error_code();
}

struct Pki {
  crypto::KeyAndCert ca = TlsTestCa("reload test CA");
  crypto::KeyAndCert other_ca = TlsTestCa("reload test other CA");
  crypto::KeyAndCert a = TlsTestLeaf(ca, "server-a");
  crypto::KeyAndCert b = TlsTestLeaf(ca, "server-b");
  crypto::KeyAndCert client = TlsTestLeaf(ca, "client", /*client=*/true);
  crypto::KeyAndCert other_client = TlsTestLeaf(other_ca, "other-client", /*client=*/true);
};

const Pki& TestPki() {
  static const Pki* pki = new Pki;
  return *pki;
}

TEST(ServerCertificatesTest, TheNextConnectionGetsTheReplacedCertificateAndOpenOnesKeepWorking) {
  const Pki& pki = TestPki();
  CertServer server(Material(pki.a), GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  auto probe = TlsTestProbe(server.port(), pki.ca.cert_pem);
  ASSERT_TRUE(probe.ok) << probe.error;
  EXPECT_EQ(probe.peer_sha256, TlsTestFingerprint(pki.a.cert_pem));
  EXPECT_EQ(server.certificates().delivered_generation(), 1u);
  auto open = Channel(server.port(), pki.ca.cert_pem);
  ASSERT_EQ(Call(open), grpc::StatusCode::UNIMPLEMENTED);

  EXPECT_EQ(server.certificates().Replace(Material(pki.b)), 2u);
  probe = TlsTestProbe(server.port(), pki.ca.cert_pem);
  ASSERT_TRUE(probe.ok) << probe.error;
  EXPECT_EQ(probe.peer_sha256, TlsTestFingerprint(pki.b.cert_pem));
  EXPECT_EQ(server.certificates().delivered_generation(), 2u);
  EXPECT_EQ(Call(open), grpc::StatusCode::UNIMPLEMENTED) << "the open connection is kept";
  EXPECT_EQ(Call(Channel(server.port(), pki.ca.cert_pem)), grpc::StatusCode::UNIMPLEMENTED);
  // Without a client CA none is asked for, before and after the replacement (the served
  // certificate stands in for gRPC's required root bundle and verifies nobody).
  EXPECT_EQ(Call(Channel(server.port(), pki.ca.cert_pem, &pki.other_client)),
            grpc::StatusCode::UNIMPLEMENTED);
}

TEST(ServerCertificatesTest, AReplacedClientCaDecidesWhichClientCertificatesAreAccepted) {
  const Pki& pki = TestPki();
  CertServer server(Material(pki.a, pki.ca.cert_pem),
                    GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  EXPECT_EQ(Call(Channel(server.port(), pki.ca.cert_pem, &pki.client)),
            grpc::StatusCode::UNIMPLEMENTED);
  EXPECT_EQ(Call(Channel(server.port(), pki.ca.cert_pem, &pki.other_client)),
            grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(Call(Channel(server.port(), pki.ca.cert_pem)), grpc::StatusCode::UNAVAILABLE)
      << "required";

  server.certificates().Replace(Material(pki.a, pki.other_ca.cert_pem));
  EXPECT_EQ(Call(Channel(server.port(), pki.ca.cert_pem, &pki.other_client)),
            grpc::StatusCode::UNIMPLEMENTED);
  EXPECT_EQ(Call(Channel(server.port(), pki.ca.cert_pem, &pki.client)),
            grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(Call(Channel(server.port(), pki.ca.cert_pem)), grpc::StatusCode::UNAVAILABLE);
}

TEST(ServerCertificatesTest, ConnectionsDuringReplacementsAllSucceedWithOneOfTheCertificates) {
  const Pki& pki = TestPki();
  CertServer server(Material(pki.a), GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  const std::string a = TlsTestFingerprint(pki.a.cert_pem);
  const std::string b = TlsTestFingerprint(pki.b.cert_pem);
  std::atomic<bool> stop{false};
  std::atomic<int> handshakes{0};
  std::atomic<int> failures{0};
  std::vector<std::thread> probes;
  for (int t = 0; t < 3; ++t) {
    probes.emplace_back([&] {
      for (int i = 0; i < 200 && !stop.load(); ++i) {  // bounded in count and by `stop`
        auto probe = TlsTestProbe(server.port(), pki.ca.cert_pem);
        if (!probe.ok || (probe.peer_sha256 != a && probe.peer_sha256 != b)) ++failures;
        ++handshakes;
      }
    });
  }
  for (int i = 0; i < 20; ++i) {
    server.certificates().Replace(Material(i % 2 == 0 ? pki.b : pki.a));
    // Until a few handshakes ran with this material (the first waits for the hand-over), at most
    // 2 s.
    const int before = handshakes.load();
    for (int w = 0; w < 200 && handshakes.load() < before + 3; ++w) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  stop = true;
  for (auto& t : probes) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_GE(handshakes.load(), 60);
  EXPECT_EQ(server.certificates().generation(), 21u);
}

TEST(ServerCertificatesTest, CredentialsServeOnePort) {
  const Pki& pki = TestPki();
  ServerCertificates certificates(Material(pki.a), GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  ASSERT_TRUE(certificates.Credentials().ok());
  EXPECT_EQ(certificates.Credentials().status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(certificates.delivered_generation(), 0u) << "no listener has fetched";
}

}  // namespace CAIRN_UNITY_ID
}  // namespace cairn::server
