// Tests for server/tls_material and server/tls_reload: the [tls] files read and checked together,
// and reloads that install them on the gRPC listener's certificates and on an HTTPS admin
// listener — or on neither, with a one-line reason, when something is wrong.
#include "server/tls_reload.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <map>
#include <memory>
#include <string>

#include "server/tls_credentials.h"
#include "server/tls_material.h"
#include "prom_parser.h"
#include "test_util.h"
#include "tls_test_pki.h"

namespace cairn::server {
namespace CAIRN_UNITY_ID {

using testing::TempDir;
using testing::TlsTestCa;
using testing::TlsTestFingerprint;
using testing::TlsTestLeaf;
using testing::TlsTestNowS;
using testing::TlsTestProbe;

class TlsReloadTest : public ::testing::Test {
 protected:
  TlsReloadTest() {
    tls_.cert = dir_.Sub("server.crt");
    tls_.key = dir_.Sub("server.key");
    tls_.client_ca = dir_.Sub("ca.crt");
    Install(a_);
    testing::WriteFile(tls_.client_ca, ca_.cert_pem + other_ca_.cert_pem);
  }

  void Install(const crypto::KeyAndCert& leaf) const {
    testing::WriteFile(tls_.cert, leaf.cert_pem + ca_.cert_pem);  // leaf, then its issuer
    testing::WriteFile(tls_.key, leaf.key_pem);
    ::chmod(tls_.key.c_str(), 0600);
  }

  std::unique_ptr<ServerCertificates> Certificates() const {
    return std::make_unique<ServerCertificates>(LoadTlsMaterial(tls_).value(),
                                                ClientCertificateRequest(tls_));
  }

  std::unique_ptr<AdminHttpServer> AdminListener() const {
    AdminHttpOptions options;
    options.listen = "127.0.0.1:0";
    options.tls = MakeAdminTlsContext(tls_).value();
    std::map<std::string, HttpHandler> routes;
    routes["/healthz"] = [] { return HttpResponse{200, "text/plain; charset=utf-8", "ok\n"}; };
    return AdminHttpServer::Start(options, std::move(routes)).value();
  }

  TempDir dir_;
  TlsSection tls_;
  crypto::KeyAndCert ca_ = TlsTestCa("reload CA");
  crypto::KeyAndCert other_ca_ = TlsTestCa("reload other CA");
  crypto::KeyAndCert a_ = TlsTestLeaf(ca_, "server-a");
  crypto::KeyAndCert b_ = TlsTestLeaf(ca_, "server-b");
};

TEST_F(TlsReloadTest, MaterialIsReadAndDescribed) {
  auto material = LoadTlsMaterial(tls_);
  ASSERT_TRUE(material.ok()) << material.status().ToString();
  EXPECT_EQ(material->cert.subject, "CN=server-a");
  EXPECT_EQ(material->cert.sha256_hex, TlsTestFingerprint(a_.cert_pem));
  EXPECT_EQ(material->cert_chain_pem, a_.cert_pem + ca_.cert_pem);
  EXPECT_EQ(material->key_pem.view(), a_.key_pem);
  EXPECT_EQ(material->client_ca_certs, 2u);
  EXPECT_GT(material->cert.not_after_unix_s, TlsTestNowS());
  EXPECT_LT(material->cert.not_before_unix_s, TlsTestNowS());
}

TEST_F(TlsReloadTest, MaterialThatDoesNotCheckIsRefusedWithoutKeyBytesInTheMessage) {
  testing::WriteFile(tls_.key, b_.key_pem);  // another certificate's key
  auto refused = LoadTlsMaterial(tls_);
  EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(refused.status().message().find("tls.key"), std::string::npos);
  EXPECT_EQ(refused.status().message().find("PRIVATE KEY"), std::string::npos);

  Install(a_);
  ::chmod(tls_.key.c_str(), 0640);
  EXPECT_EQ(LoadTlsMaterial(tls_).status().code(), StatusCode::kFailedPrecondition);

  Install(a_);
  testing::WriteFile(tls_.cert, "not a certificate\n");
  EXPECT_EQ(LoadTlsMaterial(tls_).status().code(), StatusCode::kInvalidArgument);

  Install(a_);
  testing::WriteFile(tls_.client_ca, ca_.cert_pem + a_.key_pem);  // a key in the CA bundle
  refused = LoadTlsMaterial(tls_);
  EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(refused.status().message().find("tls.client_ca"), std::string::npos);
  testing::WriteFile(tls_.client_ca, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
  EXPECT_EQ(LoadTlsMaterial(tls_).status().code(), StatusCode::kInvalidArgument);

  tls_.client_ca = dir_.Sub("missing.crt");
  EXPECT_FALSE(LoadTlsMaterial(tls_).ok());
}

TEST_F(TlsReloadTest, AReloadReachesBothListeners) {
  auto certificates = Certificates();
  auto admin = AdminListener();
  audit::MetricsRegistry metrics;
  TlsReloader reloader(tls_, Status::Ok(), certificates.get(), &metrics);
  reloader.set_admin_listener(admin.get());
  ASSERT_EQ(TlsTestProbe(admin->port(), ca_.cert_pem).peer_sha256,
            TlsTestFingerprint(a_.cert_pem));

  Install(b_);
  auto reloaded = reloader.Reload(TlsTestNowS());
  ASSERT_TRUE(reloaded.ok()) << reloaded.status().ToString();
  EXPECT_EQ(reloaded->cert.sha256_hex, TlsTestFingerprint(b_.cert_pem));
  EXPECT_EQ(reloaded->cert.subject, "CN=server-b");
  EXPECT_EQ(reloaded->client_ca_certs, 2u);
  EXPECT_EQ(reloaded->generation, 2u);
  EXPECT_EQ(certificates->generation(), 2u);
  EXPECT_EQ(TlsTestProbe(admin->port(), ca_.cert_pem).peer_sha256,
            TlsTestFingerprint(b_.cert_pem));
  const auto scraped = testing::ParseOrFail(metrics.RenderPrometheus());
  EXPECT_EQ(scraped.Value("cairn_tls_reloads_total", {{"outcome", "success"}}), 1);
  EXPECT_EQ(scraped.Value("cairn_tls_reloads_total", {{"outcome", "failure"}}), 0);
  EXPECT_EQ(scraped.Value("cairn_tls_certificate_not_after_seconds"),
            static_cast<double>(reloaded->cert.not_after_unix_s));
}

TEST_F(TlsReloadTest, ARefusedReloadChangesNeitherListener) {
  auto certificates = Certificates();
  auto admin = AdminListener();
  audit::MetricsRegistry metrics;
  TlsReloader reloader(tls_, Status::Ok(), certificates.get(), &metrics);
  reloader.set_admin_listener(admin.get());
  const std::string served = TlsTestFingerprint(a_.cert_pem);

  const int64_t now = TlsTestNowS();
  Install(TlsTestLeaf(ca_, "expired", false, now - 7200, now - 3600));
  auto refused = reloader.Reload(now);
  EXPECT_EQ(refused.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(refused.status().message().find("expired"), std::string::npos);

  Install(TlsTestLeaf(ca_, "future", false, now + 3600, now + 7200));
  refused = reloader.Reload(now);
  EXPECT_EQ(refused.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(refused.status().message().find("not valid before"), std::string::npos);

  Install(b_);
  testing::WriteFile(tls_.key, a_.key_pem);
  EXPECT_EQ(reloader.Reload(now).status().code(), StatusCode::kInvalidArgument);

  EXPECT_EQ(certificates->generation(), 1u);
  EXPECT_EQ(TlsTestProbe(admin->port(), ca_.cert_pem).peer_sha256, served);
  EXPECT_EQ(testing::ParseOrFail(metrics.RenderPrometheus())
                .Value("cairn_tls_reloads_total", {{"outcome", "failure"}}),
            3);

  // Within the allowed clock skew a certificate that starts a little later is taken.
  Install(TlsTestLeaf(ca_, "soon", false, now + kTlsClockSkewSecondsMax - 10, now + 7200));
  EXPECT_TRUE(reloader.Reload(now).ok());
}

TEST_F(TlsReloadTest, WhereCertificatesCannotBeReplacedAReloadSaysWhyAndCountsNothing) {
  EXPECT_TRUE(TlsReloadRefusal(tls_, "127.0.0.1:7400").ok());
  EXPECT_TRUE(TlsReloadRefusal(tls_, "[::1]:0").ok());
  TlsSection off = tls_;
  off.enabled = false;
  EXPECT_EQ(TlsReloadRefusal(off, "127.0.0.1:7400").code(), StatusCode::kFailedPrecondition);
  TlsSection min13 = tls_;
  min13.min_version = "1.3";
  const Status fixed = TlsReloadRefusal(min13, "127.0.0.1:7400");
  EXPECT_EQ(fixed.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(fixed.message().find("1.3"), std::string::npos);
  // A name may resolve to several addresses: gRPC binds a socket for each.
  const Status named = TlsReloadRefusal(tls_, "localhost:7400");
  EXPECT_EQ(named.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(named.message().find("several sockets"), std::string::npos);
  // A wildcard is one socket (gRPC makes "::" dual-stack itself); the server counts after start.
  EXPECT_TRUE(TlsReloadRefusal(tls_, "0.0.0.0:7400").ok());
  EXPECT_TRUE(TlsReloadRefusal(tls_, "[::]:7400").ok());

  audit::MetricsRegistry metrics;
  TlsReloader reloader(min13, fixed, nullptr, &metrics);
  EXPECT_EQ(reloader.Reload(TlsTestNowS()).status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(reloader.refusal().code(), StatusCode::kFailedPrecondition);
  reloader.ReportServed(crypto::SummarizeCert(a_.cert_pem, "a").value());
  const auto scraped = testing::ParseOrFail(metrics.RenderPrometheus());
  EXPECT_EQ(scraped.Value("cairn_tls_reloads_total", {{"outcome", "failure"}}), 0);
  EXPECT_EQ(scraped.Value("cairn_tls_certificate_not_after_seconds"),
            static_cast<double>(crypto::CertNotAfterUnixSeconds(a_.cert_pem).value()));

  audit::MetricsRegistry plain_metrics;
  TlsReloader plain(off, TlsReloadRefusal(off, "127.0.0.1:7400"), nullptr, &plain_metrics);
  EXPECT_EQ(plain.Reload(TlsTestNowS()).status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(plain_metrics.RenderPrometheus().find("cairn_tls_certificate_not_after_seconds"),
            std::string::npos)
      << "no certificate, no expiry gauge (an expiry alert would fire at 0)";
}

TEST_F(TlsReloadTest, CertificatesFixedAfterTheStartAreNotReloaded) {
  auto certificates = Certificates();
  audit::MetricsRegistry metrics;
  TlsReloader reloader(tls_, Status::Ok(), certificates.get(), &metrics);
  reloader.FixCertificates(Status::FailedPrecondition("gRPC listens on 2 sockets"));
  Install(b_);
  auto refused = reloader.Reload(TlsTestNowS());
  EXPECT_EQ(refused.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(refused.status().message(), "gRPC listens on 2 sockets");
  EXPECT_EQ(reloader.refusal().message(), "gRPC listens on 2 sockets");
  EXPECT_EQ(certificates->generation(), 1u);
  EXPECT_EQ(testing::ParseOrFail(metrics.RenderPrometheus())
                .Value("cairn_tls_reloads_total", {{"outcome", "failure"}}),
            0);
}

TEST(AdminHttpReplaceTlsTest, APlainListenerStaysPlainAndNullIsRefused) {
  AdminHttpOptions options;
  options.listen = "127.0.0.1:0";
  std::map<std::string, HttpHandler> routes;
  routes["/healthz"] = [] { return HttpResponse{}; };
  auto plain = AdminHttpServer::Start(options, std::move(routes)).value();
  EXPECT_EQ(plain->ReplaceTls(nullptr).code(), StatusCode::kInvalidArgument);
  crypto::KeyAndCert ca = TlsTestCa("plain CA");
  crypto::KeyAndCert leaf = TlsTestLeaf(ca, "plain");
  auto context = AdminTlsContext::Create({leaf.cert_pem, leaf.key_pem, "", false, false}).value();
  EXPECT_EQ(plain->ReplaceTls(context).code(), StatusCode::kFailedPrecondition);
}

}  // namespace CAIRN_UNITY_ID
}  // namespace cairn::server
