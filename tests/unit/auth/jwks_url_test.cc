// JWKS over HTTP(S): loopback http, refetch counting, size limit, and certificate verification.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <atomic>
#include <thread>

#include "auth/authenticator.h"
#include "auth/http_fetch.h"
#include "auth_test_util.h"
#include "test_util.h"

namespace cairn::auth {
namespace CAIRN_UNITY_ID {

using testing::json;
using testing::MakeJwt;
using testing::TestKey;

constexpr int64_t kNow = 1700000000;
constexpr char kIssuer[] = "https://idp.example";

std::string Jwks(const std::vector<json>& keys) { return json({{"keys", keys}}).dump(); }

json Claims() { return {{"iss", kIssuer}, {"aud", "cairn"}, {"sub", "alice"}, {"exp", kNow + 60}}; }

AuthConfig ConfigFor(const std::string& url, const std::string& ca_file = "") {
  AuthConfig config;
  JwtIssuerConfig issuer;
  issuer.issuer = kIssuer;
  issuer.audience = "cairn";
  issuer.jwks_url = url;
  issuer.jwks_ca_file = ca_file;
  issuer.jwks_refetch_min_interval_s = 30;
  config.jwt.push_back(issuer);
  return config;
}

TEST(JwksUrlTest, FetchesOverLoopbackHttpAndRefetchesOncePerInterval) {
  TestKey k1 = TestKey::Ed25519(), k2 = TestKey::Ed25519();
  testing::TinyHttpServer server;
  server.SetBody(Jwks({k1.Jwk("k1")}));
  std::string url = "http://127.0.0.1:" + std::to_string(server.port()) + "/jwks.json";
  auto a = Authenticator::Create(ConfigFor(url));
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(server.requests(), 1);
  EXPECT_TRUE((*a)->Authenticate({"Bearer " + MakeJwt(k1, "k1", Claims()), "", "a"}, kNow).ok());
  EXPECT_EQ(server.requests(), 1);

  // Unknown kids: one request per interval, however many tokens arrive.
  for (int i = 0; i < 10; ++i) {
    auto r = (*a)->Authenticate({"Bearer " + MakeJwt(k2, "k2", Claims()), "", "b" + std::to_string(i)},
                                kNow + i);
    EXPECT_FALSE(r.ok());
  }
  EXPECT_EQ(server.requests(), 2);
  server.SetBody(Jwks({k1.Jwk("k1"), k2.Jwk("k2")}));
  EXPECT_FALSE((*a)->Authenticate({"Bearer " + MakeJwt(k2, "k2", Claims()), "", "c"}, kNow + 29).ok());
  EXPECT_EQ(server.requests(), 2);
  EXPECT_TRUE((*a)->Authenticate({"Bearer " + MakeJwt(k2, "k2", Claims()), "", "c"}, kNow + 30).ok());
  EXPECT_EQ(server.requests(), 3);
}

// A caller that finds a refetch in progress does not wait for it: request threads never queue
// behind the network (a flood of tokens with random kids would otherwise hold them all).
TEST(JwksUrlTest, AnUnknownKidDuringARefetchIsRefusedWithoutWaitingForIt) {
  TestKey k1 = TestKey::Ed25519(), k2 = TestKey::Ed25519(), k3 = TestKey::Ed25519();
  testing::TinyHttpServer server;
  server.SetBody(Jwks({k1.Jwk("k1")}));
  std::string url = "http://127.0.0.1:" + std::to_string(server.port()) + "/jwks.json";
  auto a = Authenticator::Create(ConfigFor(url));
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  server.SetBody(Jwks({k1.Jwk("k1"), k2.Jwk("k2")}));
  server.SetDelayMs(3000);
  std::atomic<bool> refetcher_done{false};
  std::thread refetcher([&] {
    EXPECT_TRUE((*a)->Authenticate({"Bearer " + MakeJwt(k2, "k2", Claims()), "", "a"}, kNow).ok());
    refetcher_done = true;
  });
  while (server.requests() < 2) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  const auto started = std::chrono::steady_clock::now();
  auto other = (*a)->Authenticate({"Bearer " + MakeJwt(k3, "k3", Claims()), "", "b"}, kNow + 1);
  const int64_t waited_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count();
  // The refetch answers 3 s after its request arrived: a caller waiting for it waits ~3 s.
  EXPECT_LT(waited_ms, 1500) << "the second caller waited for the refetch";
  EXPECT_FALSE(refetcher_done.load());
  ASSERT_FALSE(other.ok());
  EXPECT_NE(other.status().message().find("unknown key id"), std::string::npos) << other.status().ToString();
  refetcher.join();
  EXPECT_EQ(server.requests(), 2);
}

// The issuer withdrew its key and publishes only keys cairn cannot use: the withdrawn key is no
// longer trusted after the next fetch (the set is empty, not refused); at the start such a set
// is a configuration error.
TEST(JwksUrlTest, AFetchedSetWithNothingUsableWithdrawsTheOldKeys) {
  TestKey k1 = TestKey::Ed25519(), k2 = TestKey::Ed25519();
  testing::TinyHttpServer server;
  std::string url = "http://127.0.0.1:" + std::to_string(server.port()) + "/jwks.json";
  server.SetBody(Jwks({TestKey::Rsa(1024).Jwk("legacy")}));
  EXPECT_FALSE(Authenticator::Create(ConfigFor(url)).ok());
  server.SetBody(Jwks({k1.Jwk("k1")}));
  auto a = Authenticator::Create(ConfigFor(url));
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_TRUE((*a)->Authenticate({"Bearer " + MakeJwt(k1, "k1", Claims()), "", "a"}, kNow).ok());
  server.SetBody(Jwks({TestKey::Rsa(1024).Jwk("legacy")}));
  EXPECT_FALSE((*a)->Authenticate({"Bearer " + MakeJwt(k2, "k2", Claims()), "", "b"}, kNow).ok());  // refetch
  EXPECT_EQ(server.requests(), 3);
  // A new token (the verified-token cache would still know the old one for up to 60 s).
  json later = Claims();
  later["jti"] = "another";
  EXPECT_FALSE((*a)->Authenticate({"Bearer " + MakeJwt(k1, "k1", later), "", "c"}, kNow).ok());
}

TEST(JwksUrlTest, StartupFailsWhenTheUrlFails) {
  testing::TinyHttpServer server;
  server.SetBody("not found", 404);
  std::string url = "http://127.0.0.1:" + std::to_string(server.port()) + "/jwks.json";
  EXPECT_FALSE(Authenticator::Create(ConfigFor(url)).ok());
  server.SetBody(std::string((1 << 20) + 1, ' ') + "{}");
  auto big = HttpGet(url, HttpGetOptions{});
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.status().code(), StatusCode::kResourceExhausted);
  EXPECT_FALSE(Authenticator::Create(ConfigFor("http://example.com/jwks")).ok());
}

TEST(JwksUrlTest, HttpsVerifiesTheServerCertificate) {
  TestKey k1 = TestKey::Ed25519();
  testing::CertAndKey tls = testing::MakeServerCertificate();
  testing::TinyHttpServer server(&tls);
  server.SetBody(Jwks({k1.Jwk("k1")}));
  std::string url = "https://127.0.0.1:" + std::to_string(server.port()) + "/jwks.json";
  // Self-signed and not in the system store: refused.
  auto untrusted = Authenticator::Create(ConfigFor(url));
  ASSERT_FALSE(untrusted.ok());
  EXPECT_NE(untrusted.status().message().find("certificate"), std::string::npos)
      << untrusted.status().ToString();
  // With that certificate as the CA file: accepted.
  cairn::testing::TempDir dir;
  cairn::testing::WriteFile(dir.Sub("ca.pem"), tls.cert_pem);
  auto trusted = Authenticator::Create(ConfigFor(url, dir.Sub("ca.pem")));
  ASSERT_TRUE(trusted.ok()) << trusted.status().ToString();
  EXPECT_TRUE((*trusted)->Authenticate({"Bearer " + MakeJwt(k1, "k1", Claims()), "", "a"}, kNow).ok());
  // The roots are the bytes given (no file is opened by path); another CA's alone is refused.
  HttpGetOptions own;
  own.ca_pem = tls.cert_pem;
  EXPECT_TRUE(HttpGet(url, own).ok());
  own.ca_pem = testing::MakeServerCertificate().cert_pem;
  EXPECT_EQ(HttpGet(url, own).status().code(), StatusCode::kUnavailable);
  // A CA file others may write: whoever can add a root there can stand in for the issuer.
  ASSERT_EQ(::chmod(dir.Sub("ca.pem").c_str(), 0646), 0);
  auto writable = Authenticator::Create(ConfigFor(url, dir.Sub("ca.pem")));
  ASSERT_FALSE(writable.ok());
  EXPECT_EQ(writable.status().code(), StatusCode::kFailedPrecondition) << writable.status().ToString();
}

TEST(JwksUrlTest, UrlRules) {
  EXPECT_TRUE(CheckFetchUrl("https://idp.example/.well-known/jwks.json").ok());
  EXPECT_TRUE(CheckFetchUrl("http://localhost:8080/jwks").ok());
  EXPECT_TRUE(CheckFetchUrl("http://[::1]:8080/jwks").ok());
  EXPECT_FALSE(CheckFetchUrl("http://10.0.0.1/jwks").ok());
  EXPECT_FALSE(CheckFetchUrl("http://127.0.0.1.evil.example/jwks").ok());
  EXPECT_FALSE(CheckFetchUrl("ftp://idp.example/jwks").ok());
  EXPECT_FALSE(CheckFetchUrl("file:///etc/passwd").ok());
  EXPECT_FALSE(CheckFetchUrl("").ok());
}

}  // namespace
}  // namespace cairn::auth
