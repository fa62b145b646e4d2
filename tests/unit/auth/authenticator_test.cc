#include "auth/authenticator.h"
#include "common/bytes.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <chrono>
#include <atomic>
#include <thread>

#include "auth_test_util.h"
#include "test_util.h"

namespace cairn::auth {
namespace CAIRN_UNITY_ID {

using testing::json;
using testing::MakeJwt;
using testing::TestKey;
using testing::WriteJwks;

constexpr int64_t kNow = 1700000000;
constexpr char kIssuer[] = "https://idp.example";

class AuthenticatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    jwks_path_ = dir_.Sub("jwks.json");
    WriteJwks(jwks_path_, {key_.Jwk("k1")});
    JwtIssuerConfig issuer;
    issuer.issuer = kIssuer;
    issuer.audience = "cairn";
    issuer.jwks_file = jwks_path_;
    config_.jwt.push_back(issuer);
    api_key_ = GenerateApiKey("ci").value();
    config_.api_keys.push_back({"ci", api_key_.secret_sha256, {"writer"}, std::nullopt, std::nullopt});
    config_.mtls.rules.push_back({"CN=*,O=Acme", "acme/{CN}"});
    config_.failures_per_minute_max = 5;
  }

  std::unique_ptr<Authenticator> Make() {
    auto a = Authenticator::Create(config_);
    EXPECT_TRUE(a.ok()) << a.status().ToString();
    return a.ok() ? std::move(a).value() : nullptr;
  }

  std::string Jwt(const std::string& sub = "alice", int64_t exp = kNow + 600) {
    return MakeJwt(key_, "k1", {{"iss", kIssuer}, {"aud", "cairn"}, {"sub", sub}, {"exp", exp},
                                {"roles", {"reader"}}});
  }

  static Result<Principal> Call(const Authenticator& a, const std::string& authorization,
                                const std::string& cert = "", const std::string& addr = "10.0.0.1",
                                int64_t now = kNow) {
    return a.Authenticate(CallCredentials{authorization, cert, addr}, now);
  }

  cairn::testing::TempDir dir_;
  std::string jwks_path_;
  TestKey key_ = TestKey::Ed25519();
  GeneratedApiKey api_key_;
  AuthConfig config_;
};

TEST_F(AuthenticatorTest, RoutesByCredential) {
  auto a = Make();
  auto r = Call(*a, "Bearer " + api_key_.key);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->id, "apikey:ci");
  EXPECT_EQ(r->roles, std::vector<std::string>{"writer"});

  r = Call(*a, "Bearer " + Jwt());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->id, "jwt:alice");
  EXPECT_EQ(r->method, AuthMethod::kJwt);
  EXPECT_EQ(r->roles, std::vector<std::string>{"reader"});

  for (const char* scheme : {"bearer ", "BEARER ", "BeArEr "}) {
    EXPECT_TRUE(Call(*a, scheme + Jwt()).ok()) << scheme;
  }

  std::string cert = testing::MakeCertificate({{"O", "Acme"}, {"CN", "billing"}}, {});
  r = Call(*a, "", cert);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->id, "mtls:acme/billing");
  EXPECT_EQ(r->method, AuthMethod::kMtls);

  // With both, the authorization header decides.
  r = Call(*a, "Bearer " + api_key_.key, cert);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->id, "apikey:ci");

  r = Call(*a, "");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnauthenticated);
  EXPECT_EQ(r.status().message(), "no credentials");
}

// API keys replaced at run time (server/api_key_reload.h): a removed key is refused from the
// next call, an added one admitted, and an invalid set changes nothing.
TEST_F(AuthenticatorTest, ReplacedApiKeysApplyFromTheNextCallAndAnInvalidSetChangesNothing) {
  auto a = Make();
  ASSERT_TRUE(Call(*a, "Bearer " + api_key_.key).ok());
  const GeneratedApiKey fresh = GenerateApiKey("svc-new").value();
  auto replaced = a->ReplaceApiKeys(
      {{"svc-new", fresh.secret_sha256, {"reader"}, std::nullopt, std::nullopt}});
  ASSERT_TRUE(replaced.ok()) << replaced.status().ToString();
  EXPECT_EQ(replaced->keys, 1u);
  EXPECT_EQ(replaced->added, std::vector<std::string>{"svc-new"});
  EXPECT_EQ(replaced->removed, std::vector<std::string>{"ci"});
  auto old = Call(*a, "Bearer " + api_key_.key);
  ASSERT_FALSE(old.ok()) << "a removed key still authenticates";
  EXPECT_EQ(old.status().code(), StatusCode::kUnauthenticated);
  auto added = Call(*a, "Bearer " + fresh.key);
  ASSERT_TRUE(added.ok()) << added.status().ToString();
  EXPECT_EQ(added->id, "apikey:svc-new");
  EXPECT_EQ(added->roles, std::vector<std::string>{"reader"});
  EXPECT_EQ(a->ConfiguredRoles("apikey:svc-new", kNow), std::vector<std::string>{"reader"});
  EXPECT_TRUE(a->ConfiguredRoles("apikey:ci", kNow).empty());

  // A set with one bad entry (a short hash) is refused as a whole; the keys in force stay.
  auto bad = a->ReplaceApiKeys(
      {{"ci", api_key_.secret_sha256, {}, std::nullopt, std::nullopt},
       {"broken", "abc", {}, std::nullopt, std::nullopt}});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Call(*a, "Bearer " + fresh.key).ok());
  EXPECT_FALSE(Call(*a, "Bearer " + api_key_.key).ok());
  // A kept id with other roles is changed, neither added nor removed.
  auto same = a->ReplaceApiKeys(
      {{"svc-new", fresh.secret_sha256, {"writer"}, std::nullopt, std::nullopt}});
  ASSERT_TRUE(same.ok());
  EXPECT_TRUE(same->added.empty());
  EXPECT_TRUE(same->removed.empty());
  EXPECT_EQ(same->changed, std::vector<std::string>{"svc-new"});
  EXPECT_EQ(Call(*a, "Bearer " + fresh.key)->roles, std::vector<std::string>{"writer"});
  auto unchanged = a->ReplaceApiKeys(
      {{"svc-new", fresh.secret_sha256, {"writer"}, std::nullopt, std::nullopt}});
  ASSERT_TRUE(unchanged.ok());
  EXPECT_TRUE(unchanged->changed.empty());
}

// Calls that run on after admission ask whether their API key is still configured as it was.
TEST_F(AuthenticatorTest, ARunningCallsApiKeyIsInForceUntilARemovalOrChange) {
  auto a = Make();
  const Principal admitted = Call(*a, "Bearer " + api_key_.key).value();
  EXPECT_TRUE(a->CheckApiKeyInForce(admitted).ok());
  const Principal jwt = Call(*a, "Bearer " + Jwt()).value();
  EXPECT_TRUE(a->CheckApiKeyInForce(jwt).ok()) << "not an API key: nothing to check";

  // The same entry again (a reload that changed nothing for it): still in force.
  ASSERT_TRUE(a->ReplaceApiKeys(config_.api_keys).ok());
  EXPECT_TRUE(a->CheckApiKeyInForce(admitted).ok());
  // Another hash under the same id (the leaked key replaced): the running call is cut.
  const GeneratedApiKey replacement = GenerateApiKey("ci").value();
  ASSERT_TRUE(a->ReplaceApiKeys({{"ci", replacement.secret_sha256, {"writer"}, std::nullopt,
                                  std::nullopt}})
                  .ok());
  Status cut = a->CheckApiKeyInForce(admitted);
  EXPECT_EQ(cut.code(), StatusCode::kUnauthenticated);
  EXPECT_EQ(cut.message(), "api key revoked");
  // Other roles, or the id removed: cut too.
  ASSERT_TRUE(a->ReplaceApiKeys(config_.api_keys).ok());
  EXPECT_TRUE(a->CheckApiKeyInForce(admitted).ok());
  ASSERT_TRUE(a->ReplaceApiKeys({{"ci", api_key_.secret_sha256, {"admin"}, std::nullopt,
                                  std::nullopt}})
                  .ok());
  EXPECT_FALSE(a->CheckApiKeyInForce(admitted).ok());
  ASSERT_TRUE(a->ReplaceApiKeys({}).ok());
  EXPECT_FALSE(a->CheckApiKeyInForce(admitted).ok());
}

// A token verified (and cached) under a key that the issuer then withdraws is refused as soon
// as the key set without it is loaded, not up to the cache's maximum age later.
TEST_F(AuthenticatorTest, AWithdrawnKeyStopsAdmittingCachedTokensAtTheNextLoad) {
  auto a = Make();
  const std::string token = Jwt();
  ASSERT_TRUE(Call(*a, "Bearer " + token).ok());
  ASSERT_TRUE(Call(*a, "Bearer " + token, "", "10.0.0.1", kNow + 1).ok()) << "a cache hit";
  WriteJwks(jwks_path_, {TestKey::Ed25519().Jwk("k2")});  // k1 withdrawn
  ASSERT_TRUE(a->jwt().ReloadKeys(0).ok());
  auto r = Call(*a, "Bearer " + token, "", "10.0.0.1", kNow + 2);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnauthenticated);
  // A reload that keeps the key (here: back to k1) admits the token again, verified anew.
  WriteJwks(jwks_path_, {key_.Jwk("k1")});
  ASSERT_TRUE(a->jwt().ReloadKeys(0).ok());
  EXPECT_TRUE(Call(*a, "Bearer " + token, "", "10.0.0.1", kNow + 3).ok());
}

// A reload that withdraws nothing (the same set, as an unknown-kid refetch that anyone can
// trigger loads; or a rotation that adds a key) keeps the cached verifications.
TEST_F(AuthenticatorTest, AReloadThatWithdrawsNoKeyKeepsTheCache) {
  auto a = Make();
  uint64_t generation = a->jwt().key_generation();
  ASSERT_TRUE(a->jwt().ReloadKeys(0).ok());
  EXPECT_EQ(a->jwt().key_generation(), generation) << "the same set";
  // From one key to two: a token without kid no longer finds k1 (JwkSet::Find), so this drops.
  const json k2 = TestKey::Ed25519().Jwk("k2");
  WriteJwks(jwks_path_, {key_.Jwk("k1"), k2});
  ASSERT_TRUE(a->jwt().ReloadKeys(0).ok());
  EXPECT_NE(a->jwt().key_generation(), generation);
  generation = a->jwt().key_generation();
  WriteJwks(jwks_path_, {k2, TestKey::Ed25519().Jwk("k3"), key_.Jwk("k1")});
  ASSERT_TRUE(a->jwt().ReloadKeys(0).ok());
  EXPECT_EQ(a->jwt().key_generation(), generation) << "k3 added";
  WriteJwks(jwks_path_, {key_.Jwk("k1"), TestKey::Ed25519().Jwk("k3")});
  ASSERT_TRUE(a->jwt().ReloadKeys(0).ok());
  EXPECT_NE(a->jwt().key_generation(), generation) << "k2 withdrawn, k3 replaced";
}

// The handshake checks a client certificate once, but a connection outlives it: a call after the
// certificate's notAfter is refused, also when the certificate was cached while still valid.
TEST_F(AuthenticatorTest, AnExpiredClientCertificateIsRefusedOnEveryLaterCall) {
  auto a = Make();
  const std::string cert = testing::MakeCertificate({{"O", "Acme"}, {"CN", "billing"}}, {});
  // MakeCertificate's certificates are valid from an hour ago to an hour from now (wall clock).
  const int64_t wall_s = std::chrono::duration_cast<std::chrono::seconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
  ASSERT_TRUE(Call(*a, "", cert, "10.0.0.1", wall_s).ok());
  for (int64_t later_s : {3601 + 60, 7200}) {
    auto r = Call(*a, "", cert, "10.0.0.1", wall_s + later_s);
    ASSERT_FALSE(r.ok()) << later_s;
    EXPECT_EQ(r.status().code(), StatusCode::kUnauthenticated);
    EXPECT_EQ(r.status().message(), "certificate expired");
  }
}

TEST_F(AuthenticatorTest, MalformedAuthorization) {
  auto a = Make();
  for (const std::string& h : std::vector<std::string>{"Bearer  " + Jwt(), "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Basic",
                               "Token " + api_key_.key, Jwt(), "Bearer " + Jwt() + " x",
                               "Bearer\t" + Jwt()}) {
    auto r = Call(*a, h, "", "10.0.0." + std::to_string(h.size() % 200));
    ASSERT_FALSE(r.ok()) << h;
    EXPECT_EQ(r.status().code(), StatusCode::kUnauthenticated);
  }
}

// The EventStoreDB clients' credentials: username = the key id, password = the whole key.
TEST_F(AuthenticatorTest, BasicCredentialsCarryAnApiKey) {
  auto a = Make();
  auto basic = [](const std::string& user_pass) { return "Basic " + Base64Encode(user_pass); };
  auto r = Call(*a, basic("ci:" + api_key_.key));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->id, "apikey:ci");
  EXPECT_EQ(r->roles, std::vector<std::string>{"writer"});
  EXPECT_TRUE(Call(*a, "bAsIc " + Base64Encode("ci:" + api_key_.key)).ok());

  std::string wrong_secret = api_key_.key;
  wrong_secret.back() = wrong_secret.back() == 'a' ? 'b' : 'a';
  const std::vector<std::string> refused = {
      basic("other:" + api_key_.key),  // the username must be the key's id
      basic("ci:" + wrong_secret),     // a forged secret
      basic("admin:changeit"),         // EventStoreDB's default user does not exist here
      basic("ci" + api_key_.key),      // no colon
      basic(":" + api_key_.key),
      "Basic not-base64!",
      "Basic ",
      "Basic " + std::string(2000, 'A'),
  };
  for (size_t i = 0; i < refused.size(); ++i) {
    auto denied = Call(*a, refused[i], "", "10.0.1." + std::to_string(i));
    ASSERT_FALSE(denied.ok()) << i;
    EXPECT_EQ(denied.status().code(), StatusCode::kUnauthenticated) << i;
    EXPECT_EQ(denied.status().message().find(api_key_.key), std::string::npos);
    EXPECT_EQ(denied.status().message().find("changeit"), std::string::npos);
  }
}

TEST_F(AuthenticatorTest, FailureMessagesNeverContainTheCredential) {
  auto a = Make();
  std::string expired = Jwt("secret-subject-xyz", kNow - 3600);
  std::string bad_key = api_key_.key.substr(0, api_key_.key.size() - 2) + "zz";
  int i = 0;
  for (const std::string& cred : {expired, bad_key, Jwt("x\x01"), expired + "x"}) {
    auto r = Call(*a, "Bearer " + cred, "", "192.0.2." + std::to_string(i++));
    ASSERT_FALSE(r.ok());
    const std::string& m = r.status().message();
    EXPECT_EQ(m.find(cred.substr(0, 20)), std::string::npos) << m;
    EXPECT_EQ(m.find("secret-subject"), std::string::npos) << m;
    EXPECT_EQ(m.find(bad_key.substr(13, 10)), std::string::npos) << m;
    EXPECT_LT(m.size(), 64u) << m;
  }
}

TEST_F(AuthenticatorTest, LimiterRefusesEvenValidCredentialsAfterFailures) {
  auto a = Make();
  for (int i = 0; i < 5; ++i) {
    auto r = Call(*a, "Bearer cairn_ci_" + std::string(43, 'A'), "", "10.0.0.9");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().message(), "api key invalid");
  }
  auto r = Call(*a, "Bearer " + api_key_.key, "", "10.0.0.9");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnauthenticated);
  EXPECT_EQ(r.status().message(), "too many authentication failures");
  r = Call(*a, "Bearer " + Jwt(), "", "10.0.0.9");
  EXPECT_EQ(r.status().message(), "too many authentication failures");
  // Other addresses are unaffected.
  EXPECT_TRUE(Call(*a, "Bearer " + api_key_.key, "", "10.0.0.10").ok());
  EXPECT_TRUE(Call(*a, "Bearer " + api_key_.key, "", "::1").ok());
  // A minute later the address may try again.
  EXPECT_TRUE(Call(*a, "Bearer " + api_key_.key, "", "10.0.0.9", kNow + 61).ok());
}

TEST_F(AuthenticatorTest, OnlyTheFirstRateLimitedRefusalOfEachBucketIsToBeRecorded) {
  auto a = Make();
  const std::string wrong_key = "Bearer cairn_ci_" + std::string(43, 'A');
  const CallCredentials bad{wrong_key, "", "10.0.0.9"};  // views: wrong_key outlives them
  bool record = false;
  for (int i = 0; i < 5; ++i) {  // ordinary failures: every one recorded
    ASSERT_FALSE(a->Authenticate(bad, kNow, &record).ok());
    EXPECT_TRUE(record) << i;
  }
  // Limited now: the first refusal of the 10 s bucket is recorded, the rest only counted.
  const int64_t bucket_start = (kNow / 10 + 1) * 10;
  ASSERT_FALSE(a->Authenticate(bad, bucket_start, &record).ok());
  EXPECT_TRUE(record);
  for (int i = 0; i < 100; ++i) {
    auto r = a->Authenticate(bad, bucket_start + 9, &record);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().message(), "too many authentication failures");
    EXPECT_FALSE(record) << i;
  }
  ASSERT_FALSE(a->Authenticate(bad, bucket_start + 10, &record).ok());
  EXPECT_TRUE(record) << "the next bucket records one again";
  // Another source's failures are recorded as before.
  ASSERT_FALSE(a->Authenticate({bad.authorization, "", "10.0.0.10"}, bucket_start + 10, &record).ok());
  EXPECT_TRUE(record);
}

TEST_F(AuthenticatorTest, NoCredentialsAndUnmappedCertificatesCountAsFailures) {
  auto a = Make();
  std::string unmapped = testing::MakeCertificate({{"O", "Other"}, {"CN", "x"}}, {});
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(Call(*a, "", "", "10.0.0.7").status().message(), "no credentials");
  }
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(Call(*a, "", unmapped, "10.0.0.7").status().message(), "certificate not mapped");
  }
  EXPECT_EQ(Call(*a, "Bearer " + api_key_.key, "", "10.0.0.7").status().message(),
            "too many authentication failures");
}

TEST_F(AuthenticatorTest, TrackedAddressesAreBounded) {
  config_.failure_sources_max = 16;
  auto a = Make();
  for (int i = 0; i < 200; ++i) {
    (void)Call(*a, "", "", "198.51.100." + std::to_string(i));
    ASSERT_LE(a->tracked_failure_sources(), 16u);
  }
}

TEST_F(AuthenticatorTest, ConfigValidation) {
  AuthConfig c = config_;
  c.failures_per_minute_max = 0;
  EXPECT_FALSE(Authenticator::Create(c).ok());
  c = config_;
  c.failure_sources_max = 0;
  EXPECT_FALSE(Authenticator::Create(c).ok());
  c = config_;
  c.jwt[0].leeway_s = 61;
  EXPECT_FALSE(Authenticator::Create(c).ok());
  c = config_;
  c.mtls.rules.push_back({"CN=*", "{OU}"});
  EXPECT_FALSE(Authenticator::Create(c).ok());
  c = config_;
  c.api_keys.push_back({"bad_id", std::string(64, 'a'), {}, std::nullopt, std::nullopt});
  EXPECT_FALSE(Authenticator::Create(c).ok());
  c = config_;
  c.jwt[0].jwks_file = dir_.Sub("missing.json");
  auto r = Authenticator::Create(c);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("auth.jwt[0]"), std::string::npos);
  // An empty configuration is valid: every call is then unauthenticated.
  auto empty = Authenticator::Create(AuthConfig{});
  ASSERT_TRUE(empty.ok());
  EXPECT_FALSE(Call(**empty, "Bearer " + Jwt()).ok());
  EXPECT_FALSE(Call(**empty, "Bearer " + api_key_.key).ok());
}

TEST_F(AuthenticatorTest, BackgroundRefreshRereadsTheJwksFile) {
  config_.jwt[0].jwks_refresh_interval_s = 1;
  auto a = Make();
  TestKey k2 = TestKey::Ed25519();
  WriteJwks(jwks_path_, {key_.Jwk("k1"), k2.Jwk("k2")});
  const uint64_t loads0 = a->jwt().key_load_count(0);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (a->jwt().key_load_count(0) == loads0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_GT(a->jwt().key_load_count(0), loads0);
  // k2 now verifies without the unknown-kid path (that load count is not touched by it).
  std::string t = MakeJwt(k2, "k2", {{"iss", kIssuer}, {"aud", "cairn"}, {"sub", "bob"}, {"exp", kNow + 60}});
  const uint64_t loads1 = a->jwt().key_load_count(0);
  EXPECT_TRUE(Call(*a, "Bearer " + t).ok());
  EXPECT_LE(a->jwt().key_load_count(0), loads1 + 1);
}

// Whoever may write the key set may mint tokens: a JWKS file others may write is refused at
// start, and a refresh that finds it so keeps the keys loaded before (a group-writable one is a
// `cairn doctor` finding, as for the policy).
TEST_F(AuthenticatorTest, AJwksFileOthersMayWriteIsNotLoaded) {
  ASSERT_EQ(::chmod(jwks_path_.c_str(), 0666), 0);
  auto refused = Authenticator::Create(config_);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kFailedPrecondition) << refused.status().ToString();
  ASSERT_EQ(::chmod(jwks_path_.c_str(), 0644), 0);
  auto a = Make();
  ASSERT_NE(a, nullptr);
  TestKey intruder = TestKey::Ed25519();
  WriteJwks(jwks_path_, {key_.Jwk("k1"), intruder.Jwk("k9")});
  ASSERT_EQ(::chmod(jwks_path_.c_str(), 0646), 0);
  EXPECT_EQ(a->jwt().ReloadKeys(0).code(), StatusCode::kFailedPrecondition);
  const std::string forged = MakeJwt(intruder, "k9", {{"iss", kIssuer}, {"aud", "cairn"},
                                                      {"sub", "mallory"}, {"exp", kNow + 60}});
  EXPECT_FALSE(Call(*a, "Bearer " + forged).ok());
  EXPECT_TRUE(Call(*a, "Bearer " + Jwt()).ok());  // the keys loaded before still verify
}

TEST_F(AuthenticatorTest, DestructionIsPromptWithLongIntervals) {
  config_.jwt[0].jwks_refresh_interval_s = 86400;
  auto start = std::chrono::steady_clock::now();
  { auto a = Make(); }
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
}

// Failing calls from one address on many threads at once: each check counts against the
// address's budget while it runs, so no more than failures_per_minute_max (5) are ever checked.
TEST_F(AuthenticatorTest, ConcurrentFailuresNeverPassTheLimit) {
  auto a = Make();
  const std::string bad = "Bearer cairn_ci_" + std::string(43, 'A');
  std::atomic<int> checked{0}, limited{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 50; ++i) {
        auto r = Call(*a, bad, "", "10.0.0.77");
        ASSERT_FALSE(r.ok());
        if (r.status().message() == "api key invalid") checked.fetch_add(1);
        if (r.status().message() == "too many authentication failures") limited.fetch_add(1);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(checked.load(), 5);
  EXPECT_EQ(limited.load(), 8 * 50 - 5);
}

TEST_F(AuthenticatorTest, ConcurrentCalls) {
  auto a = Make();
  std::string jwt = Jwt();
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        std::string addr = "10.9." + std::to_string(t) + ".1";
        if (Call(*a, "Bearer " + (i % 2 ? jwt : api_key_.key), "", addr).ok()) ++ok;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(ok.load(), 800);
}

}  // namespace
}  // namespace cairn::auth
