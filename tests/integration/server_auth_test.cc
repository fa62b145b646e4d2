// The server's transport and authentication, against the real `cairn serve` process: TLS is
// required, forged or broken credentials get UNAUTHENTICATED and write nothing.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "server_env.h"

namespace cairn::testing {
namespace CAIRN_UNITY_ID {

v1::AppendRequest OneEvent(const std::string& stream, const std::string& type) {
  v1::AppendRequest request;
  request.set_stream(stream);
  auto* event = request.add_events();
  event->set_type(type);
  event->set_data(R"({"n":1})");
  return request;
}

// Events clients wrote (streams not starting with '$'): a refused call may make the server
// write system records (`$alerts` when failed logins trip an alert rule), never client events.
uint64_t ClientEvents(ServerEnv& env) {
  uint64_t count = 0;
  Status s = env.ClientWith(env.admin_key)
                 ->ReadAll(v1::ReadAllRequest(), [&](const v1::ReadResponse& chunk) {
                   for (const auto& e : chunk.events()) count += e.stream().starts_with('$') ? 0 : 1;
                   return true;
                 });
  EXPECT_TRUE(s.ok()) << s.ToString();
  return s.ok() ? count : ~uint64_t{0};
}

class ServerAuthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(env.Start()) << env.server().output();
  }
  ServerEnv env;
};

TEST_F(ServerAuthTest, AdminKeyWorksOverTls) {
  auto who = env.ClientWith(env.admin_key)->WhoAmI();
  ASSERT_TRUE(who.ok()) << who.status().ToString();
  EXPECT_EQ(who->principal(), "apikey:admin");
  EXPECT_EQ(who->method(), "apikey");
  auto appended = env.ClientWith(env.admin_key)->Append(OneEvent("order-1", "OrderCreated"));
  ASSERT_TRUE(appended.ok()) << appended.status().ToString();
  EXPECT_EQ(ClientEvents(env), 1u);
}

TEST_F(ServerAuthTest, PlaintextClientCannotTalkToTlsServer) {
  ClientOptions options;
  options.plaintext = true;
  options.token = env.admin_key;
  auto result = env.ClientWithOptions(options)->Append(OneEvent("order-1", "OrderCreated"));
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(ClientEvents(env), 0u);
}

TEST_F(ServerAuthTest, ClientWithUntrustedCaFails) {
  WriteFile(env.dir().Sub("other-ca.crt"), env.other_ca.cert_pem);
  ClientOptions options;
  options.ca_file = env.dir().Sub("other-ca.crt");
  options.token = env.admin_key;
  auto result = env.ClientWithOptions(options)->Append(OneEvent("order-1", "OrderCreated"));
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(ClientEvents(env), 0u);
}

TEST_F(ServerAuthTest, NoCredentialsIsUnauthenticated) {
  auto result = env.ClientWith("")->Append(OneEvent("order-1", "OrderCreated"));
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), StatusCode::kUnauthenticated);
  EXPECT_EQ(ClientEvents(env), 0u);
}

TEST_F(ServerAuthTest, ValidTokensOfEveryAlgorithmAuthenticate) {
  for (const std::string alg : {"RS256", "ES256", "EdDSA", "HS256"}) {
    auto who = env.ClientWith(env.TokenA(alg, "alice"))->WhoAmI();
    ASSERT_TRUE(who.ok()) << alg << ": " << who.status().ToString();
    EXPECT_EQ(who->principal(), "jwt:alice") << alg;
    EXPECT_EQ(who->method(), "jwt");
  }
}

TEST_F(ServerAuthTest, ForgedAndBrokenTokensAreUnauthenticatedAndWriteNothing) {
  const std::string good_claims = env.Claims(kIssuerA, kAudience, "mallory", 600,
                                             R"(,"roles":["admin"])");
  const std::string rsa_header = R"({"alg":"RS256","kid":"rsa-1"})";
  const std::string valid = SignJws("RS256", env.rsa_a.get(), rsa_header, good_claims);
  const std::string valid_payload_b64 = Base64Url(good_claims);
  std::string tampered = valid;
  {  // replace the payload with one claiming another subject, keep the signature
    const size_t a = tampered.find('.'), b = tampered.rfind('.');
    tampered = tampered.substr(0, a + 1) +
               Base64Url(env.Claims(kIssuerA, kAudience, "root", 600, R"(,"roles":["admin"])")) +
               tampered.substr(b);
  }
  const std::string es_zero = Base64Url(R"({"alg":"ES256","kid":"ec-1"})") + "." +
                              valid_payload_b64 + "." + Base64Url(std::string(64, '\0'));
  const int64_t now = NowS();
  const std::string no_exp = "{\"iss\":\"" + std::string(kIssuerA) + "\",\"aud\":\"" + kAudience +
                             "\",\"sub\":\"mallory\",\"iat\":" + std::to_string(now) + "}";
  const std::string future_nbf =
      env.Claims(kIssuerA, kAudience, "mallory", 600, ",\"nbf\":" + std::to_string(now + 3600));
  struct Case {
    std::string name;
    std::string token;
  };
  const std::vector<Case> cases = {
      {"alg none", Base64Url(R"({"alg":"none"})") + "." + valid_payload_b64 + "."},
      {"alg None", Base64Url(R"({"alg":"None"})") + "." + valid_payload_b64 + "."},
      {"alg NONE", Base64Url(R"({"alg":"NONE","kid":"rsa-1"})") + "." + valid_payload_b64 + "."},
      {"HS256 with the RSA public key as secret",
       SignHs256(PublicKeyPem(env.rsa_a.get()), R"({"alg":"HS256","kid":"rsa-1"})", good_claims)},
      {"expired", SignJws("RS256", env.rsa_a.get(), rsa_header,
                          env.Claims(kIssuerA, kAudience, "mallory", -3600))},
      {"nbf in the future", SignJws("RS256", env.rsa_a.get(), rsa_header, future_nbf)},
      {"wrong iss", SignJws("RS256", env.rsa_a.get(), rsa_header,
                            env.Claims("https://evil.test", kAudience, "mallory", 600))},
      {"wrong aud", SignJws("RS256", env.rsa_a.get(), rsa_header,
                            env.Claims(kIssuerA, "other-service", "mallory", 600))},
      {"no exp", SignJws("RS256", env.rsa_a.get(), rsa_header, no_exp)},
      {"unknown kid", SignJws("RS256", env.rsa_a.get(), R"({"alg":"RS256","kid":"rsa-9"})",
                              good_claims)},
      {"kid with a path", SignJws("RS256", env.rsa_a.get(),
                                  R"({"alg":"RS256","kid":"../../dev/null"})", good_claims)},
      {"tampered payload", tampered},
      {"ES256 with r = s = 0", es_zero},
      {"signed by another issuer's key",
       SignJws("RS256", env.rsa_b.get(), R"({"alg":"RS256","kid":"b-rsa"})", good_claims)},
      {"another issuer's key under this issuer's kid",
       SignJws("RS256", env.rsa_b.get(), rsa_header, good_claims)},
      {"garbage", "not.a.token"},
  };
  for (const auto& c : cases) {
    auto client = env.ClientWith(c.token);
    auto appended = client->Append(OneEvent("order-1", "OrderCreated"));
    ASSERT_FALSE(appended.ok()) << c.name;
    EXPECT_EQ(appended.status().code(), StatusCode::kUnauthenticated) << c.name;
    auto who = client->WhoAmI();
    EXPECT_EQ(who.status().code(), StatusCode::kUnauthenticated) << c.name;
  }
  EXPECT_EQ(ClientEvents(env), 0u);
}

TEST_F(ServerAuthTest, WrongOrExpiredApiKeyIsRejected) {
  std::string wrong_secret = env.bot_key;
  wrong_secret.back() = wrong_secret.back() == 'A' ? 'B' : 'A';
  std::string unknown_id = env.bot_key;
  unknown_id.replace(0, std::string("cairn_ci-bot").size(), "cairn_ci-bog");
  for (const auto& key : {wrong_secret, unknown_id, env.expired_key, std::string("cairn_admin_")}) {
    auto result = env.ClientWith(key)->Append(OneEvent("order-1", "OrderCreated"));
    ASSERT_FALSE(result.ok());
    EXPECT_EQ(result.status().code(), StatusCode::kUnauthenticated);
  }
  EXPECT_EQ(ClientEvents(env), 0u);
}

TEST(ServerAuthLimiterTest, RepeatedFailuresFromOneAddressAreRateLimited) {
  ServerEnv env;
  env.failures_per_minute_max = 5;
  ASSERT_TRUE(env.Start()) << env.server().output();
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(env.ClientWith("cairn_admin_wrongwrongwrongwrongwrongwrongwrong")->WhoAmI().status().code(),
              StatusCode::kUnauthenticated);
  }
  // Now even the right key is refused from this address, without being checked.
  auto who = env.ClientWith(env.admin_key)->WhoAmI();
  ASSERT_FALSE(who.ok());
  EXPECT_EQ(who.status().code(), StatusCode::kUnauthenticated);
  EXPECT_NE(who.status().message().find("too many"), std::string::npos) << who.status().message();
  // A refused source cannot make the server log (and audit) at its own rate: of 100 more
  // refusals within a few seconds at most one per 10 s bucket is recorded; the rest are counted.
  auto bad = env.ClientWith("cairn_admin_wrongwrongwrongwrongwrongwrongwrong");
  for (int i = 0; i < 100; ++i) EXPECT_FALSE(bad->WhoAmI().ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // the last lines reach the pipe
  const std::string out = env.server().output();
  size_t limited_lines = 0;
  for (size_t at = out.find("too many authentication failures"); at != std::string::npos;
       at = out.find("too many authentication failures", at + 1)) {
    ++limited_lines;
  }
  EXPECT_GE(limited_lines, 1u);
  EXPECT_LE(limited_lines, 3u) << "101 refusals, one line per source and 10 s";
}

crypto::KeyAndCert ClientCert(const crypto::KeyAndCert& ca, const std::string& cn,
                              const std::vector<std::string>& uris) {
  crypto::CertRequest r;
  r.common_name = cn;
  r.extra_subject = {{"O", "Acme"}};
  r.uri_sans = uris;
  r.usage = crypto::CertRequest::Usage::kClient;
  r.not_before_unix_s = NowS() - 60;
  r.not_after_unix_s = NowS() + 3600;
  return std::move(crypto::IssueCertificate(ca, r).value());
}

TEST_F(ServerAuthTest, MtlsPrincipalFromSpiffeIdOrMappedSubject) {
  auto spiffe = ClientCert(env.dev_ca, "billing", {"spiffe://acme.test/billing"});
  auto mapped = ClientCert(env.dev_ca, "shipping", {});
  // A SPIFFE ID of a trust domain the server does not list is no identity: the DN rules decide.
  auto foreign_domain = ClientCert(env.dev_ca, "payroll", {"spiffe://evil.test/admin"});
  for (auto [cert, expected] : {std::pair{&spiffe, "mtls:spiffe://acme.test/billing"},
                                std::pair{&mapped, "mtls:shipping"},
                                std::pair{&foreign_domain, "mtls:payroll"}}) {
    WriteFile(env.dir().Sub("client.crt"), cert->cert_pem);
    WriteFile(env.dir().Sub("client.key"), cert->key_pem);
    ClientOptions options;
    options.ca_file = env.CaCert();
    options.cert_file = env.dir().Sub("client.crt");
    options.key_file = env.dir().Sub("client.key");
    auto who = env.ClientWithOptions(options)->WhoAmI();
    ASSERT_TRUE(who.ok()) << who.status().ToString();
    EXPECT_EQ(who->principal(), expected);
    EXPECT_EQ(who->method(), "mtls");
  }
}

TEST_F(ServerAuthTest, MtlsCertificateFromAnotherCaIsRejected) {
  auto foreign = ClientCert(env.other_ca, "billing", {"spiffe://acme.test/billing"});
  WriteFile(env.dir().Sub("foreign.crt"), foreign.cert_pem);
  WriteFile(env.dir().Sub("foreign.key"), foreign.key_pem);
  ClientOptions options;
  options.ca_file = env.CaCert();
  options.cert_file = env.dir().Sub("foreign.crt");
  options.key_file = env.dir().Sub("foreign.key");
  auto who = env.ClientWithOptions(options)->WhoAmI();
  ASSERT_FALSE(who.ok());
  EXPECT_EQ(who.status().code(), StatusCode::kUnavailable);  // the handshake fails
}

}  // namespace
}  // namespace cairn::testing
