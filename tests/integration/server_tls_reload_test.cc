// Certificate rotation against the real server (`cairn serve` as a child process): Admin.ReloadTls
// and SIGHUP re-read the [tls] files; new connections get the new certificate while open ones keep
// working; a refused reload (no `admin`, a key of another certificate, an expired certificate, a
// minimum of TLS 1.3) leaves the served certificate; a reloaded client CA admits its clients; with
// server.admin_tls the admin listener changes too. Each act is audited and counted.
#include <signal.h>
#include <sys/stat.h>

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>

#include "loopback_http.h"
#include "server_env.h"
#include "tls_test_pki.h"

namespace cairn::testing {
namespace CAIRN_UNITY_ID {

// A server certificate of the dev CA (the one clients of ServerEnv trust), or of `ca`.
crypto::KeyAndCert RotatedServerCert(const crypto::KeyAndCert& ca, const std::string& org,
                                     int64_t not_before_unix_s = 0, int64_t not_after_unix_s = 0) {
  crypto::CertRequest r;
  r.common_name = "localhost";
  r.extra_subject = {{"O", org}};
  r.dns_sans = {"localhost"};
  r.ip_sans = {"127.0.0.1"};
  r.not_before_unix_s = not_before_unix_s != 0 ? not_before_unix_s : NowS() - 60;
  r.not_after_unix_s = not_after_unix_s != 0 ? not_after_unix_s : NowS() + 3600;
  return crypto::IssueCertificate(ca, r).value();
}

class ServerTlsReloadTest : public ::testing::Test {
 protected:
  void Start() {
    ASSERT_TRUE(env.Start()) << env.server().output();
    admin = env.ClientWith(env.admin_key);
    served = Presented(env.server().grpc_port());
    ASSERT_FALSE(served.empty());
  }

  void InstallServerCert(const crypto::KeyAndCert& cert) const {
    WriteFile(env.dir().Sub("data/dev/server.crt"), cert.cert_pem);
    WriteFile(env.dir().Sub("data/dev/server.key"), cert.key_pem);
    ::chmod(env.dir().Sub("data/dev/server.key").c_str(), 0600);
  }

  // The fingerprint of the certificate a new connection to `port` is shown ("" if none).
  std::string Presented(int port) const {
    const TlsProbe probe = TlsTestProbe(port, env.dev_ca.cert_pem);
    EXPECT_TRUE(probe.ok) << probe.error;
    return probe.peer_sha256;
  }

  // Waits (at most 5 s) for the server's output to hold `text`.
  bool OutputShows(const std::string& text) {
    for (int i = 0; i < 100; ++i) {
      if (env.server().output().find(text) != std::string::npos) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }

  ServerEnv env;
  std::unique_ptr<Client> admin;
  std::string served;  // fingerprint of the certificate served at the start
};

TEST_F(ServerTlsReloadTest, ReloadServesTheNewCertificateToNewConnectionsAndOpenOnesKeepWorking) {
  ASSERT_NO_FATAL_FAILURE(Start());
  ASSERT_TRUE(admin->WhoAmI().ok());  // its connection is open from here on
  const crypto::KeyAndCert rotated = RotatedServerCert(env.dev_ca, "rotated");
  InstallServerCert(rotated);

  auto reloaded = admin->ReloadTls();
  ASSERT_TRUE(reloaded.ok()) << reloaded.status().ToString();
  EXPECT_EQ(reloaded->cert_sha256(), TlsTestFingerprint(rotated.cert_pem));
  EXPECT_EQ(reloaded->cert_subject(), "CN=localhost,O=rotated");
  EXPECT_EQ(reloaded->client_ca_certs(), 1u);
  EXPECT_EQ(reloaded->generation(), 2u);
  EXPECT_EQ(reloaded->cert_not_after_unix_s(), crypto::CertNotAfterUnixSeconds(rotated.cert_pem).value());

  EXPECT_EQ(Presented(env.server().grpc_port()), TlsTestFingerprint(rotated.cert_pem));
  EXPECT_NE(served, TlsTestFingerprint(rotated.cert_pem));
  EXPECT_TRUE(admin->WhoAmI().ok()) << "the open connection is kept";
  EXPECT_TRUE(env.ClientWith(env.admin_key)->WhoAmI().ok()) << "a new one verifies the new one";

  EXPECT_TRUE(OutputShows(R"("event.action":"tls.reload","event.outcome":"success")"))
      << env.server().output();
  const std::string metrics = HttpBody(HttpGet(env.server().admin_port(), "/metrics"));
  EXPECT_NE(metrics.find(R"(cairn_tls_reloads_total{outcome="success"} 1)"), std::string::npos)
      << metrics;
}

TEST_F(ServerTlsReloadTest, RefusedReloadsKeepTheServedCertificate) {
  ASSERT_NO_FATAL_FAILURE(Start());
  InstallServerCert(RotatedServerCert(env.dev_ca, "denied"));
  auto denied = env.ClientWith(env.bot_key)->ReloadTls();
  EXPECT_EQ(denied.status().code(), StatusCode::kPermissionDenied);

  const crypto::KeyAndCert other = RotatedServerCert(env.dev_ca, "other");
  const crypto::KeyAndCert mine = RotatedServerCert(env.dev_ca, "mine");
  WriteFile(env.dir().Sub("data/dev/server.crt"), mine.cert_pem);
  WriteFile(env.dir().Sub("data/dev/server.key"), other.key_pem);
  auto mismatched = admin->ReloadTls();
  EXPECT_EQ(mismatched.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(mismatched.status().message().find("tls.key"), std::string::npos);
  EXPECT_EQ(mismatched.status().message().find("PRIVATE"), std::string::npos);

  InstallServerCert(RotatedServerCert(env.dev_ca, "expired", NowS() - 7200, NowS() - 3600));
  auto expired = admin->ReloadTls();
  EXPECT_EQ(expired.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(expired.status().message().find("expired"), std::string::npos);

  InstallServerCert(RotatedServerCert(env.dev_ca, "readable"));
  ::chmod(env.dir().Sub("data/dev/server.key").c_str(), 0644);
  EXPECT_EQ(admin->ReloadTls().status().code(), StatusCode::kFailedPrecondition);

  EXPECT_EQ(Presented(env.server().grpc_port()), served);
  EXPECT_TRUE(env.ClientWith(env.admin_key)->WhoAmI().ok());
  EXPECT_TRUE(OutputShows(R"("event.action":"tls.reload","event.outcome":"failure")"));
  const std::string metrics = HttpBody(HttpGet(env.server().admin_port(), "/metrics"));
  EXPECT_NE(metrics.find(R"(cairn_tls_reloads_total{outcome="failure"} 3)"), std::string::npos)
      << metrics;
}

TEST_F(ServerTlsReloadTest, AReloadedClientCaAdmitsItsClientCertificates) {
  ASSERT_NO_FATAL_FAILURE(Start());
  crypto::CertRequest r;
  r.common_name = "billing";
  r.extra_subject = {{"O", "Acme"}};
  r.usage = crypto::CertRequest::Usage::kClient;
  r.not_before_unix_s = NowS() - 60;
  r.not_after_unix_s = NowS() + 3600;
  const crypto::KeyAndCert client = crypto::IssueCertificate(env.other_ca, r).value();
  WriteFile(env.dir().Sub("client.crt"), client.cert_pem);
  WriteFile(env.dir().Sub("client.key"), client.key_pem);
  ClientOptions options;
  options.ca_file = env.CaCert();
  options.cert_file = env.dir().Sub("client.crt");
  options.key_file = env.dir().Sub("client.key");
  EXPECT_EQ(env.ClientWithOptions(options)->WhoAmI().status().code(), StatusCode::kUnavailable);

  WriteFile(env.CaCert(), env.dev_ca.cert_pem + env.other_ca.cert_pem);
  auto reloaded = admin->ReloadTls();
  ASSERT_TRUE(reloaded.ok()) << reloaded.status().ToString();
  EXPECT_EQ(reloaded->client_ca_certs(), 2u);
  auto who = env.ClientWithOptions(options)->WhoAmI();
  ASSERT_TRUE(who.ok()) << who.status().ToString();
  EXPECT_EQ(who->principal(), "mtls:billing");
  EXPECT_EQ(Presented(env.server().grpc_port()), served) << "the same certificate, re-read";
}

TEST_F(ServerTlsReloadTest, SighupReloadsTheCertificates) {
  ASSERT_NO_FATAL_FAILURE(Start());
  const crypto::KeyAndCert rotated = RotatedServerCert(env.dev_ca, "by signal");
  InstallServerCert(rotated);
  env.server().Signal(SIGHUP);
  EXPECT_TRUE(OutputShows("TLS certificates reloaded")) << env.server().output();
  EXPECT_EQ(Presented(env.server().grpc_port()), TlsTestFingerprint(rotated.cert_pem));
  EXPECT_TRUE(OutputShows(R"("event.action":"tls.reload","event.outcome":"success")"));
}

TEST_F(ServerTlsReloadTest, WithAdminTlsTheAdminListenerChangesToo) {
  env.server_extra = "admin_tls = true\n";
  ASSERT_NO_FATAL_FAILURE(Start());
  EXPECT_EQ(Presented(env.server().admin_port()), served);
  const crypto::KeyAndCert rotated = RotatedServerCert(env.dev_ca, "both listeners");
  InstallServerCert(rotated);
  ASSERT_TRUE(admin->ReloadTls().ok());
  EXPECT_EQ(Presented(env.server().admin_port()), TlsTestFingerprint(rotated.cert_pem));
  EXPECT_EQ(Presented(env.server().grpc_port()), TlsTestFingerprint(rotated.cert_pem));
}

TEST_F(ServerTlsReloadTest, WithMinimumTls13TheCertificatesAreFixedUntilARestart) {
  std::string config = env.ConfigText();
  const std::string tls = "[tls]\nenabled = true\n";
  ASSERT_NE(config.find(tls), std::string::npos);
  config.replace(config.find(tls), tls.size(), tls + "min_version = \"1.3\"\n");
  env.WriteConfig(config);
  ASSERT_TRUE(env.server().Start({"--config", env.ConfigPath()})) << env.server().output();
  admin = env.ClientWith(env.admin_key);
  served = Presented(env.server().grpc_port());
  InstallServerCert(RotatedServerCert(env.dev_ca, "not with 1.3"));
  auto refused = admin->ReloadTls();
  EXPECT_EQ(refused.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(refused.status().message().find("1.3"), std::string::npos);
  EXPECT_EQ(Presented(env.server().grpc_port()), served);
  // SIGHUP reloads the policy and says, without a failure, that the certificates stay.
  env.server().Signal(SIGHUP);
  EXPECT_TRUE(OutputShows("TLS certificates not reloaded")) << env.server().output();
  EXPECT_TRUE(OutputShows("policy reloaded"));
  EXPECT_EQ(env.server().output().find("TLS reload failed"), std::string::npos);
  // The expiry gauge still shows the served certificate.
  const std::string metrics = HttpBody(HttpGet(env.server().admin_port(), "/metrics"));
  const std::string gauge = "\ncairn_tls_certificate_not_after_seconds ";  // the sample line
  const size_t at = metrics.find(gauge);
  ASSERT_NE(at, std::string::npos) << metrics;
  EXPECT_GT(std::stod(metrics.substr(at + gauge.size())), static_cast<double>(NowS()));
}

TEST_F(ServerTlsReloadTest, ListeningOnAHostNameTheCertificatesAreFixedUntilARestart) {
  std::string config = env.ConfigText();
  const std::string listen = "listen = \"127.0.0.1:0\"";
  ASSERT_NE(config.find(listen), std::string::npos);
  config.replace(config.find(listen), listen.size(), "listen = \"localhost:0\"");
  env.WriteConfig(config);
  ASSERT_TRUE(env.server().Start({"--config", env.ConfigPath()})) << env.server().output();
  admin = env.ClientWith(env.admin_key);
  ASSERT_TRUE(admin->WhoAmI().ok());
  auto refused = admin->ReloadTls();
  EXPECT_EQ(refused.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(refused.status().message().find("several sockets"), std::string::npos)
      << refused.status().ToString();
}

TEST_F(ServerTlsReloadTest, AWildcardListenerIsOneSocketAndReloads) {
  std::string config = env.ConfigText();
  const std::string listen = "listen = \"127.0.0.1:0\"";
  ASSERT_NE(config.find(listen), std::string::npos);
  config.replace(config.find(listen), listen.size(),
                 "listen = \"0.0.0.0:0\"\nallow_cidrs = [\"127.0.0.0/8\", \"::1/128\"]");
  env.WriteConfig(config);
  ASSERT_TRUE(env.server().Start({"--config", env.ConfigPath()})) << env.server().output();
  admin = env.ClientWith(env.admin_key);
  const crypto::KeyAndCert rotated = RotatedServerCert(env.dev_ca, "wildcard");
  InstallServerCert(rotated);
  auto reloaded = admin->ReloadTls();
  ASSERT_TRUE(reloaded.ok()) << reloaded.status().ToString() << env.server().output();
  EXPECT_EQ(Presented(env.server().grpc_port()), TlsTestFingerprint(rotated.cert_pem));
  EXPECT_EQ(env.server().output().find("cannot be reloaded"), std::string::npos);
}

}  // namespace CAIRN_UNITY_ID
}  // namespace cairn::testing
