#include "auth/jwt.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/obj_mac.h>

#include "auth/base64url.h"
#include "auth/jwk.h"
#include "auth_test_util.h"
#include "test_util.h"

namespace cairn::auth {
namespace CAIRN_UNITY_ID {

using testing::B64u;
using testing::json;
using testing::MakeJwt;
using testing::MakeJwtWithHeader;
using testing::SigningInput;
using testing::TestKey;
using testing::WriteJwks;

constexpr int64_t kNow = 1700000000;
constexpr char kIssuer[] = "https://idp.example";
constexpr char kAudience[] = "cairn";

// Keys are expensive (RSA): generate once for the whole suite.
struct Keys {
  TestKey rsa = TestKey::Rsa();
  TestKey ec = TestKey::Ec();
  TestKey ed = TestKey::Ed25519();
  TestKey hs = TestKey::Hmac(32);
  TestKey other_ed = TestKey::Ed25519();
};
const Keys& K() {
  static const Keys* keys = new Keys();
  return *keys;
}

class JwtTest : public ::testing::Test {
 protected:
  void SetUp() override {
    jwks_path_ = dir_.Sub("jwks.json");
    WriteJwks(jwks_path_, {K().rsa.Jwk("rsa-1"), K().ec.Jwk("ec-1"), K().ed.Jwk("ed-1"),
                           K().hs.Jwk("hs-1")});
    config_.issuer = kIssuer;
    config_.audience = kAudience;
    config_.jwks_file = jwks_path_;
    config_.leeway_s = 30;
    config_.jwks_refetch_min_interval_s = 30;
  }

  std::unique_ptr<JwtVerifier> Make(std::vector<JwtIssuerConfig> issuers = {}) {
    if (issuers.empty()) issuers.push_back(config_);
    auto v = JwtVerifier::Create(issuers);
    EXPECT_TRUE(v.ok()) << v.status().ToString();
    return v.ok() ? std::move(v).value() : nullptr;
  }

  // A second issuer, https://other.example with `name`, whose one key is other_ed ("other-1").
  JwtIssuerConfig OtherIssuer(const std::string& name) {
    std::string other_path = dir_.Sub("other.json");
    WriteJwks(other_path, {K().other_ed.Jwk("other-1")});
    JwtIssuerConfig other = config_;
    other.issuer = "https://other.example";
    other.name = name;
    other.jwks_file = other_path;
    return other;
  }

  static json Claims() {
    return {{"iss", kIssuer}, {"aud", kAudience}, {"sub", "alice"}, {"exp", kNow + 600},
            {"iat", kNow - 10}};
  }

  // Verifies and returns the status message ("" when accepted).
  std::string Reason(const std::string& token, int64_t now = kNow) {
    if (!verifier_) verifier_ = Make();
    auto r = verifier_->Verify(token, now);
    if (r.ok()) return "";
    EXPECT_EQ(r.status().code(), StatusCode::kUnauthenticated);
    return r.status().message();
  }

  cairn::testing::TempDir dir_;
  std::string jwks_path_;
  JwtIssuerConfig config_;
  std::unique_ptr<JwtVerifier> verifier_;
};

TEST_F(JwtTest, EachAlgorithmVerifies) {
  auto v = Make();
  for (auto [key, kid] : {std::pair{&K().rsa, "rsa-1"}, std::pair{&K().ec, "ec-1"},
                          std::pair{&K().ed, "ed-1"}, std::pair{&K().hs, "hs-1"}}) {
    auto r = v->Verify(MakeJwt(*key, kid, Claims()), kNow);
    ASSERT_TRUE(r.ok()) << key->Alg() << ": " << r.status().ToString();
    EXPECT_EQ(r->id, "jwt:alice");
    EXPECT_EQ(r->method, AuthMethod::kJwt);
    EXPECT_EQ(r->expires_unix_s, kNow + 600);
    EXPECT_TRUE(r->roles.empty());
  }
}

TEST_F(JwtTest, AlgNoneInEverySpellingIsRejected) {
  for (const char* alg : {"none", "None", "NONE", "nOnE"}) {
    json header = {{"alg", alg}, {"typ", "JWT"}, {"kid", "ed-1"}};
    std::string input = SigningInput(header, Claims());
    EXPECT_EQ(Reason(input + "."), "algorithm not allowed") << alg;
    EXPECT_EQ(Reason(input + "." + B64u("sig")), "algorithm not allowed") << alg;
    EXPECT_EQ(Reason(input + "." + B64u(K().ed.Sign(input))), "algorithm not allowed") << alg;
  }
  // Without a kid as well (the issuer-has-one-key path).
  json header = {{"alg", "none"}};
  EXPECT_NE(Reason(SigningInput(header, Claims()) + "."), "");
  // Two parts only.
  EXPECT_NE(Reason(SigningInput(header, Claims())), "");
}

TEST_F(JwtTest, UnsupportedAlgorithmsAreRejected) {
  for (const char* alg : {"HS512", "RS512", "PS256", "ES384", "rs256", "EDDSA"}) {
    json header = {{"alg", alg}, {"kid", "rsa-1"}};
    std::string input = SigningInput(header, Claims());
    EXPECT_EQ(Reason(input + "." + B64u(K().rsa.Sign(input))), "algorithm not allowed") << alg;
  }
}

TEST_F(JwtTest, Hs256KeyedWithTheRsaPublicKeyIsRejected) {
  for (const std::string& secret : {K().rsa.PublicPem(), K().rsa.PublicDer()}) {
    json header = {{"alg", "HS256"}, {"typ", "JWT"}, {"kid", "rsa-1"}};
    std::string input = SigningInput(header, Claims());
    std::string token = input + "." + B64u(testing::HmacSha256(secret, input));
    EXPECT_EQ(Reason(token), "algorithm does not match key");
  }
  // The classic form: no kid, an issuer with one RSA key.
  std::string rsa_only = dir_.Sub("rsa.json");
  WriteJwks(rsa_only, {K().rsa.Jwk("")});
  JwtIssuerConfig c = config_;
  c.jwks_file = rsa_only;
  auto v = Make({c});
  json header = {{"alg", "HS256"}, {"typ", "JWT"}};
  std::string input = SigningInput(header, Claims());
  for (const std::string& secret : {K().rsa.PublicPem(), K().rsa.PublicDer()}) {
    auto r = v->Verify(input + "." + B64u(testing::HmacSha256(secret, input)), kNow);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().message(), "algorithm does not match key");
  }
  // The genuine RS256 token with no kid verifies against the single key.
  EXPECT_TRUE(v->Verify(MakeJwt(K().rsa, "", Claims()), kNow).ok());
}

TEST_F(JwtTest, ExpiryWithLeeway) {
  json c = Claims();
  c["exp"] = kNow - 30;  // just past, within the 30 s leeway
  EXPECT_EQ(Reason(MakeJwt(K().ed, "ed-1", c)), "");
  c["exp"] = kNow - 31;
  EXPECT_EQ(Reason(MakeJwt(K().ed, "ed-1", c)), "token expired");
  c.erase("exp");
  EXPECT_EQ(Reason(MakeJwt(K().ed, "ed-1", c)), "token has no expiry");
  c["exp"] = std::to_string(kNow + 600);
  EXPECT_EQ(Reason(MakeJwt(K().ed, "ed-1", c)), "invalid expiry claim");
  c["exp"] = -5;
  EXPECT_EQ(Reason(MakeJwt(K().ed, "ed-1", c)), "invalid expiry claim");
  c["exp"] = static_cast<double>(kNow + 600) + 0.5;  // NumericDate may be fractional
  EXPECT_EQ(Reason(MakeJwt(K().ed, "ed-1", c)), "");
}

TEST_F(JwtTest, ZeroLeewayIsExact) {
  config_.leeway_s = 0;
  verifier_ = Make();
  json c = Claims();
  c["exp"] = kNow;
  EXPECT_EQ(Reason(MakeJwt(K().ed, "ed-1", c)), "");
  c["exp"] = kNow - 1;
  EXPECT_EQ(Reason(MakeJwt(K().ed, "ed-1", c)), "token expired");
}

TEST_F(JwtTest, NotBeforeAndIssuedAt) {
  json c = Claims();
  c["nbf"] = kNow + 30;
  EXPECT_EQ(Reason(MakeJwt(K().ed, "ed-1", c)), "");
  c["nbf"] = kNow + 31;
  EXPECT_EQ(Reason(MakeJwt(K().ed, "ed-1", c)), "token not yet valid");
  c["nbf"] = "soon";
  EXPECT_EQ(Reason(MakeJwt(K().ed, "ed-1", c)), "invalid not-before claim");
  c.erase("nbf");
  c["iat"] = kNow + 31;
  EXPECT_EQ(Reason(MakeJwt(K().ed, "ed-1", c)), "token issued in the future");
  c["iat"] = kNow + 30;
  EXPECT_EQ(Reason(MakeJwt(K().ed, "ed-1", c)), "");
  // Fractional dates are rounded so that the leeway (30 s) never grows: nbf and iat up.
  c.erase("iat");
  c["nbf"] = kNow + 30.5;
  EXPECT_EQ(Reason(MakeJwt(K().ed, "ed-1", c)), "token not yet valid");
  c.erase("nbf");
  c["iat"] = kNow + 30.5;
  EXPECT_EQ(Reason(MakeJwt(K().ed, "ed-1", c)), "token issued in the future");
  c.erase("iat");
  c["exp"] = kNow - 30.5;  // exp down: expired
  EXPECT_EQ(Reason(MakeJwt(K().ed, "ed-1", c)), "token expired");
}

TEST_F(JwtTest, IssuerAndAudience) {
  json c = Claims();
  c["iss"] = "https://evil.example";
  EXPECT_EQ(Reason(MakeJwt(K().ed, "ed-1", c)), "issuer not trusted");
  c.erase("iss");
  EXPECT_EQ(Reason(MakeJwt(K().ed, "ed-1", c)), "issuer not trusted");
  c = Claims();
  c["aud"] = "other";
  EXPECT_EQ(Reason(MakeJwt(K().ed, "ed-1", c)), "audience not accepted");
  c["aud"] = json::array({"a", "b"});
  EXPECT_EQ(Reason(MakeJwt(K().ed, "ed-1", c)), "audience not accepted");
  c["aud"] = json::array({"a", kAudience});
  EXPECT_EQ(Reason(MakeJwt(K().ed, "ed-1", c)), "");
  c["aud"] = 7;
  EXPECT_EQ(Reason(MakeJwt(K().ed, "ed-1", c)), "invalid audience claim");
  c.erase("aud");
  EXPECT_EQ(Reason(MakeJwt(K().ed, "ed-1", c)), "audience not accepted");
}

TEST_F(JwtTest, Subject) {
  json c = Claims();
  c.erase("sub");
  EXPECT_EQ(Reason(MakeJwt(K().ed, "ed-1", c)), "invalid subject");
  c["sub"] = "";
  EXPECT_EQ(Reason(MakeJwt(K().ed, "ed-1", c)), "invalid subject");
  c["sub"] = "ali\nce";
  EXPECT_EQ(Reason(MakeJwt(K().ed, "ed-1", c)), "invalid subject");
  c["sub"] = std::string(257, 'a');
  EXPECT_EQ(Reason(MakeJwt(K().ed, "ed-1", c)), "invalid subject");
  c["sub"] = 42;
  EXPECT_EQ(Reason(MakeJwt(K().ed, "ed-1", c)), "invalid subject");
}

TEST_F(JwtTest, DuplicateClaimsAreRejected) {
  json header = {{"alg", "EdDSA"}, {"kid", "ed-1"}};
  std::string payload = R"({"iss":"https://idp.example","aud":"cairn","sub":"alice","sub":"admin","exp":)" +
                        std::to_string(kNow + 600) + "}";
  std::string input = B64u(header.dump()) + "." + B64u(payload);
  EXPECT_EQ(Reason(input + "." + B64u(K().ed.Sign(input))), "malformed token claims");
  // Duplicate header member.
  std::string dup_header = R"({"alg":"EdDSA","kid":"ed-1","kid":"rsa-1"})";
  input = B64u(dup_header) + "." + B64u(Claims().dump());
  EXPECT_EQ(Reason(input + "." + B64u(K().ed.Sign(input))), "malformed token header");
}

TEST_F(JwtTest, RolesFromCustomClaim) {
  config_.roles_claim = "groups";
  verifier_ = Make();
  json c = Claims();
  c["groups"] = json::array({"reader", "writer"});
  c["roles"] = json::array({"admin"});  // not the configured claim: ignored
  auto r = verifier_->Verify(MakeJwt(K().ec, "ec-1", c), kNow);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->roles, (std::vector<std::string>{"reader", "writer"}));
  c["groups"] = "reader";
  r = verifier_->Verify(MakeJwt(K().ec, "ec-1", c), kNow);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->roles, (std::vector<std::string>{"reader"}));
}

// An issuer asserts only the roles it is trusted with: others are dropped, the token still
// admits its subject; an empty list trusts it for identity only.
TEST_F(JwtTest, RolesOutsideRolesAllowedAreDropped) {
  json c = Claims();
  c["roles"] = json::array({"reader", "admin", "writer"});
  config_.roles_allowed = std::vector<std::string>{"reader", "writer"};
  verifier_ = Make();
  auto r = verifier_->Verify(MakeJwt(K().ec, "ec-1", c), kNow);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->roles, (std::vector<std::string>{"reader", "writer"}));
  c["roles"] = "admin";
  r = verifier_->Verify(MakeJwt(K().ec, "ec-1", c), kNow);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->roles.empty());
  config_.roles_allowed = std::vector<std::string>{};
  verifier_ = Make();
  c["roles"] = json::array({"reader"});
  r = verifier_->Verify(MakeJwt(K().ec, "ec-1", c), kNow);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->roles.empty());
  EXPECT_EQ(r->id, "jwt:alice") << "the subject is still admitted";
  // Unset: every claimed role counts (as before).
  config_.roles_allowed.reset();
  verifier_ = Make();
  c["roles"] = json::array({"admin"});
  r = verifier_->Verify(MakeJwt(K().ec, "ec-1", c), kNow);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->roles, (std::vector<std::string>{"admin"}));
  // Names are bounded like claimed roles.
  config_.roles_allowed = std::vector<std::string>{""};
  EXPECT_FALSE(ValidateJwtIssuerConfig(config_).ok());
  config_.roles_allowed = std::vector<std::string>(65, "r");
  EXPECT_FALSE(ValidateJwtIssuerConfig(config_).ok());
}

TEST_F(JwtTest, RolesOfTheWrongTypeAreRejected) {
  json c = Claims();
  for (json bad : {json(5), json::array({1, 2}), json({{"a", 1}}), json::array({"ok", nullptr}),
                   json(true), json::array({""})}) {
    c["roles"] = bad;
    EXPECT_EQ(Reason(MakeJwt(K().ed, "ed-1", c)), "invalid roles claim") << bad.dump();
  }
}

TEST_F(JwtTest, TamperedPayloadOrHeader) {
  std::string token = MakeJwt(K().rsa, "rsa-1", Claims());
  size_t dot1 = token.find('.'), dot2 = token.rfind('.');
  json evil = Claims();
  evil["sub"] = "admin";
  std::string tampered = token.substr(0, dot1 + 1) + B64u(evil.dump()) + token.substr(dot2);
  EXPECT_EQ(Reason(tampered), "signature invalid");
  json header = {{"alg", "RS256"}, {"typ", "JWT"}, {"kid", "rsa-1"}, {"x", 1}};
  tampered = B64u(header.dump()) + token.substr(dot1);
  EXPECT_EQ(Reason(tampered), "signature invalid");
  // A flipped bit in the signature.
  std::string sig = *Base64UrlDecode(token.substr(dot2 + 1));
  sig[10] ^= 1;
  EXPECT_EQ(Reason(token.substr(0, dot2 + 1) + B64u(sig)), "signature invalid");
}

std::string P256Order() {
  EC_GROUP* g = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
  std::string n(32, '\0');
  BN_bn2binpad(EC_GROUP_get0_order(g), reinterpret_cast<unsigned char*>(n.data()), 32);
  EC_GROUP_free(g);
  return n;
}

TEST_F(JwtTest, Es256PsychicSignaturesAreRejected) {
  json header = {{"alg", "ES256"}, {"typ", "JWT"}, {"kid", "ec-1"}};
  std::string input = SigningInput(header, Claims());
  std::string zero(32, '\0'), one(31, '\0');
  one.push_back('\1');
  std::string n = P256Order();
  for (const std::string& sig : {zero + zero, n + n, n + one, one + n, zero + one, one + zero}) {
    EXPECT_EQ(Reason(input + "." + B64u(sig)), "signature invalid");
  }
  // r + n with the genuine s: same value mod n, but out of range.
  std::string good = K().ec.Sign(input);
  EXPECT_EQ(Reason(input + "." + B64u(good)), "");
  EXPECT_EQ(Reason(input + "." + B64u(std::string(32, '\xff') + good.substr(32))), "signature invalid");
}

TEST_F(JwtTest, SignaturesOfTheWrongLength) {
  for (auto [key, kid] : {std::pair{&K().rsa, "rsa-1"}, std::pair{&K().ec, "ec-1"},
                          std::pair{&K().ed, "ed-1"}, std::pair{&K().hs, "hs-1"}}) {
    json header = {{"alg", key->Alg()}, {"kid", kid}};
    std::string input = SigningInput(header, Claims());
    std::string sig = key->Sign(input);
    EXPECT_EQ(Reason(input + "." + B64u(sig.substr(0, sig.size() - 1))), "signature invalid") << kid;
    EXPECT_EQ(Reason(input + "." + B64u(sig + std::string(1, '\0'))), "signature invalid") << kid;
    EXPECT_EQ(Reason(input + "." + B64u(std::string(1, '\0') + sig)), "signature invalid") << kid;
  }
  // ES256 signatures are r||s, not DER.
  json header = {{"alg", "ES256"}, {"kid", "ec-1"}};
  std::string input = SigningInput(header, Claims());
  EXPECT_EQ(Reason(input + "." + B64u(std::string(72, '\x30'))), "signature invalid");
}

TEST_F(JwtTest, InvalidKidIsRejectedWithoutRefetch) {
  verifier_ = Make();
  uint64_t loads = verifier_->key_load_count(0);
  for (const char* kid : {"../../etc/passwd", "a\"b", "a..b", "", "k\\x", "kid with space"}) {
    json header = {{"alg", "EdDSA"}, {"kid", kid}};
    std::string input = SigningInput(header, Claims());
    EXPECT_EQ(Reason(input + "." + B64u(K().ed.Sign(input))), "invalid key id") << kid;
  }
  json header = {{"alg", "EdDSA"}, {"kid", std::string(129, 'a')}};
  std::string input = SigningInput(header, Claims());
  EXPECT_EQ(Reason(input + "." + B64u(K().ed.Sign(input))), "invalid key id");
  EXPECT_EQ(verifier_->key_load_count(0), loads);
}

TEST_F(JwtTest, UnknownKidRefetchesAtMostOncePerInterval) {
  verifier_ = Make();
  const uint64_t loads0 = verifier_->key_load_count(0);
  // The IdP rotates: a new key appears in the file.
  TestKey k2 = TestKey::Ed25519(), k3 = TestKey::Ed25519();
  WriteJwks(jwks_path_, {K().ed.Jwk("ed-1"), k2.Jwk("ed-2")});
  EXPECT_EQ(Reason(MakeJwt(k2, "ed-2", Claims()), kNow), "");
  EXPECT_EQ(verifier_->key_load_count(0), loads0 + 1);
  // Another rotation right after: within the interval, no reread.
  WriteJwks(jwks_path_, {K().ed.Jwk("ed-1"), k3.Jwk("ed-3")});
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(Reason(MakeJwt(k3, "ed-3", Claims()), kNow + 1 + i), "unknown key id");
    EXPECT_EQ(Reason(MakeJwt(k3, "never-" + std::to_string(i), Claims()), kNow + 29), "unknown key id");
  }
  EXPECT_EQ(verifier_->key_load_count(0), loads0 + 1);
  // Once the interval has passed, one more reread brings ed-3; ed-2 is gone with it.
  EXPECT_EQ(Reason(MakeJwt(k3, "ed-3", Claims()), kNow + 30), "");
  EXPECT_EQ(verifier_->key_load_count(0), loads0 + 2);
  EXPECT_EQ(Reason(MakeJwt(k2, "ed-2", Claims()), kNow + 31), "unknown key id");
  EXPECT_EQ(verifier_->key_load_count(0), loads0 + 2);
}

TEST_F(JwtTest, FailedRefetchKeepsTheLastGoodKeys) {
  verifier_ = Make();
  cairn::testing::WriteFile(jwks_path_, "{ not json");
  EXPECT_EQ(Reason(MakeJwt(K().ed, "zzz", Claims())), "unknown key id");  // triggers a refetch
  EXPECT_FALSE(verifier_->ReloadKeys(0).ok());
  EXPECT_EQ(Reason(MakeJwt(K().ed, "ed-1", Claims())), "");
}

// Whoever may read an HS256 secret may mint tokens: a JWKS file holding one must be private. A
// file of public keys only may be world-readable.
TEST_F(JwtTest, AJwksFileWithHs256SecretsReadableByOthersIsRefused) {
  ASSERT_EQ(::chmod(jwks_path_.c_str(), 0644), 0);
  auto v = JwtVerifier::Create({config_});
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(v.status().message().find("HS256"), std::string::npos) << v.status().ToString();
  ASSERT_EQ(::chmod(jwks_path_.c_str(), 0640), 0);  // group too
  EXPECT_FALSE(JwtVerifier::Create({config_}).ok());
  ASSERT_EQ(::chmod(jwks_path_.c_str(), 0600), 0);
  EXPECT_TRUE(JwtVerifier::Create({config_}).ok());
  const std::string public_only = dir_.Sub("public.json");
  WriteJwks(public_only, {K().rsa.Jwk("rsa-1"), K().ed.Jwk("ed-1")});
  ASSERT_EQ(::chmod(public_only.c_str(), 0644), 0);
  JwtIssuerConfig c = config_;
  c.jwks_file = public_only;
  EXPECT_TRUE(JwtVerifier::Create({c}).ok());
  // A running verifier keeps its keys when a reload finds the secret file opened up.
  verifier_ = Make();
  ASSERT_EQ(::chmod(jwks_path_.c_str(), 0604), 0);
  EXPECT_EQ(verifier_->ReloadKeys(0).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(Reason(MakeJwt(K().ed, "ed-1", Claims())), "");
}

TEST_F(JwtTest, TokenOfAnotherIssuersKeyIsRejected) {
  JwtIssuerConfig other = OtherIssuer("other");
  std::string single_path = dir_.Sub("single.json");
  WriteJwks(single_path, {K().ed.Jwk("ed-1")});
  JwtIssuerConfig mine = config_;
  mine.jwks_file = single_path;
  auto v = Make({mine, other});
  // Claims say iss = mine, signed with the other issuer's key and kid.
  auto r = v->Verify(MakeJwt(K().other_ed, "other-1", Claims()), kNow);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "unknown key id");
  // Without a kid, my single key is used: the other issuer's signature does not verify.
  r = v->Verify(MakeJwt(K().other_ed, "", Claims()), kNow);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "signature invalid");
  // Each issuer's own tokens pass.
  json oc = Claims();
  oc["iss"] = "https://other.example";
  EXPECT_TRUE(v->Verify(MakeJwt(K().other_ed, "other-1", oc), kNow).ok());
  EXPECT_TRUE(v->Verify(MakeJwt(K().ed, "ed-1", Claims()), kNow).ok());
  EXPECT_TRUE(v->Verify(MakeJwt(K().ed, "", Claims()), kNow).ok());
}

TEST_F(JwtTest, TheSameSubOfTwoIssuersIsTwoPrincipalsAndNoIssuerNamesAnothersPrincipals) {
  JwtIssuerConfig other = OtherIssuer("partner");
  auto v = Make({config_, other});
  json oc = Claims();
  oc["iss"] = "https://other.example";
  auto theirs = v->Verify(MakeJwt(K().other_ed, "other-1", oc), kNow);
  auto mine = v->Verify(MakeJwt(K().ed, "ed-1", Claims()), kNow);
  ASSERT_TRUE(theirs.ok() && mine.ok());
  EXPECT_EQ(theirs->id, "jwt:partner:alice");
  EXPECT_EQ(mine->id, "jwt:alice");
  // The unnamed issuer cannot mint the named issuer's principal jwt:partner:alice...
  json forged = Claims();
  forged["sub"] = "partner:alice";
  auto r = v->Verify(MakeJwt(K().ed, "ed-1", forged), kNow);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "invalid subject");
  // ...while other subjects with a colon stay its own.
  forged["sub"] = "team:alice";
  r = v->Verify(MakeJwt(K().ed, "ed-1", forged), kNow);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->id, "jwt:team:alice");
}

TEST_F(JwtTest, NoKidNeedsASingleKey) {
  EXPECT_EQ(Reason(MakeJwt(K().ed, "", Claims())), "key id required");
}

TEST_F(JwtTest, MalformedTokens) {
  std::string good = MakeJwt(K().ed, "ed-1", Claims());
  size_t dot1 = good.find('.');
  EXPECT_EQ(Reason(good), "");
  EXPECT_EQ(Reason(good + "="), "malformed token");              // padding
  EXPECT_EQ(Reason(good.substr(0, dot1) + "=" + good.substr(dot1)), "malformed token");
  std::string plus = good;
  plus[dot1 + 3] = '+';                                           // standard-alphabet character
  EXPECT_EQ(Reason(plus), "malformed token");
  EXPECT_EQ(Reason(good + ".x"), "malformed token");             // four parts
  EXPECT_EQ(Reason(good.substr(0, good.rfind('.'))), "malformed token");  // two parts
  EXPECT_EQ(Reason(""), "malformed token");
  EXPECT_EQ(Reason(".."), "malformed token");
  EXPECT_EQ(Reason(" " + good), "malformed token");
  // Non-JSON and non-object headers.
  std::string rest = good.substr(dot1);
  EXPECT_EQ(Reason(B64u("not json") + rest), "malformed token header");
  EXPECT_EQ(Reason(B64u("[\"alg\"]") + rest), "malformed token header");
  EXPECT_EQ(Reason(B64u("{\"alg\":5}") + rest), "malformed token header");
  // Non-canonical base64url (unused bits set) in the signature.
  std::string sig_part = good.substr(good.rfind('.') + 1);
  ASSERT_EQ(sig_part.size() % 4, 2u);  // 64 bytes → 86 chars: last char carries 4 unused bits
  std::string noncanon = good;
  char& last = noncanon.back();
  last = (last == 'A') ? 'B' : static_cast<char>(last + 1);
  EXPECT_EQ(Reason(noncanon), "malformed token");
}

TEST_F(JwtTest, OversizedTokenIsRejected) {
  json c = Claims();
  c["pad"] = std::string(kJwtSizeMaxBytes, 'x');
  EXPECT_EQ(Reason(MakeJwt(K().ed, "ed-1", c)), "token too large");
  c["pad"] = std::string(5000, 'x');  // just under the limit once encoded
  EXPECT_EQ(Reason(MakeJwt(K().ed, "ed-1", c)), "");
}

// RFC 8725 3.11: an issuer configured with require_typ = "at+jwt" accepts only its access tokens;
// an ID token of the same provider (typ JWT or none, same audience) is refused after its
// signature is checked, with the same reason as any other type.
TEST_F(JwtTest, RequireTypRefusesOtherTokensOfTheSameIssuer) {
  config_.require_typ = "at+jwt";
  verifier_ = Make();
  json c = Claims();
  auto with = [&](json header) { return Reason(MakeJwtWithHeader(K().ed, header, c)); };
  EXPECT_EQ(with({{"alg", "EdDSA"}, {"kid", "ed-1"}, {"typ", "at+jwt"}}), "");
  EXPECT_EQ(with({{"alg", "EdDSA"}, {"kid", "ed-1"}, {"typ", "application/AT+JWT"}}), "");
  EXPECT_EQ(with({{"alg", "EdDSA"}, {"kid", "ed-1"}, {"typ", "JWT"}}), "token type not accepted");
  EXPECT_EQ(with({{"alg", "EdDSA"}, {"kid", "ed-1"}}), "token type not accepted");
  // Without require_typ the same ID token is accepted.
  config_.require_typ.clear();
  verifier_ = Make();
  EXPECT_EQ(with({{"alg", "EdDSA"}, {"kid", "ed-1"}, {"typ", "JWT"}}), "");
  EXPECT_EQ(with({{"alg", "EdDSA"}, {"kid", "ed-1"}}), "");
  // Only the two types are configurable.
  JwtIssuerConfig bad = config_;
  bad.require_typ = "application/json";
  EXPECT_FALSE(ValidateJwtIssuerConfig(bad).ok());
}

TEST_F(JwtTest, HeaderRules) {
  json c = Claims();
  auto with = [&](json header) { return Reason(MakeJwtWithHeader(K().ed, header, c)); };
  EXPECT_EQ(with({{"alg", "EdDSA"}, {"kid", "ed-1"}, {"typ", "at+JWT"}}), "");
  EXPECT_EQ(with({{"alg", "EdDSA"}, {"kid", "ed-1"}, {"typ", "jwt"}}), "");
  EXPECT_EQ(with({{"alg", "EdDSA"}, {"kid", "ed-1"}, {"typ", "application/jwt"}}), "");
  EXPECT_EQ(with({{"alg", "EdDSA"}, {"kid", "ed-1"}, {"typ", "application/at+jwt"}}), "");
  EXPECT_EQ(with({{"alg", "EdDSA"}, {"kid", "ed-1"}, {"typ", "application/json"}}),
            "token type not accepted");
  EXPECT_EQ(with({{"alg", "EdDSA"}, {"kid", "ed-1"}, {"typ", "JWE"}}), "token type not accepted");
  EXPECT_EQ(with({{"alg", "EdDSA"}, {"kid", "ed-1"}, {"crit", {"exp"}}}), "critical header not supported");
  // jku/jwk/x5u are ignored: a token carrying its own key (and signed by it) is not trusted.
  TestKey attacker = TestKey::Ed25519();
  json header = {{"alg", "EdDSA"}, {"kid", "ed-1"}, {"jwk", attacker.Jwk("ed-1")},
                 {"jku", "http://127.0.0.1:1/jwks"}, {"x5u", "http://127.0.0.1:1/x"}};
  EXPECT_EQ(Reason(MakeJwtWithHeader(attacker, header, c)), "signature invalid");
  EXPECT_EQ(with(header), "");
}

TEST(JwtConfigTest, Validation) {
  JwtIssuerConfig c;
  c.issuer = kIssuer;
  c.audience = kAudience;
  c.jwks_file = "/nonexistent";
  EXPECT_TRUE(ValidateJwtIssuerConfig(c).ok());
  for (int64_t bad : {-1, 61, 3600}) {
    JwtIssuerConfig b = c;
    b.leeway_s = bad;
    EXPECT_FALSE(ValidateJwtIssuerConfig(b).ok()) << bad;
  }
  JwtIssuerConfig b = c;
  b.jwks_url = "https://idp.example/jwks";
  EXPECT_FALSE(ValidateJwtIssuerConfig(b).ok());  // both sources
  b.jwks_file.clear();
  EXPECT_TRUE(ValidateJwtIssuerConfig(b).ok());
  b.jwks_url = "http://idp.example/jwks";
  EXPECT_FALSE(ValidateJwtIssuerConfig(b).ok());  // plain http off loopback
  b.jwks_url = "http://127.0.0.1:8080/jwks";
  EXPECT_TRUE(ValidateJwtIssuerConfig(b).ok());
  b.jwks_url = "file:///etc/passwd";
  EXPECT_FALSE(ValidateJwtIssuerConfig(b).ok());
  b = c;
  b.audience.clear();
  EXPECT_FALSE(ValidateJwtIssuerConfig(b).ok());
  b = c;
  b.jwks_refetch_min_interval_s = 0;
  EXPECT_FALSE(ValidateJwtIssuerConfig(b).ok());
  // A missing JWKS file fails at creation.
  EXPECT_FALSE(JwtVerifier::Create({c}).ok());
  // The same issuer twice is refused.
  cairn::testing::TempDir dir;
  WriteJwks(dir.Sub("j.json"), {K().ed.Jwk("ed-1")});
  c.jwks_file = dir.Sub("j.json");
  EXPECT_TRUE(JwtVerifier::Create({c}).ok());
  EXPECT_FALSE(JwtVerifier::Create({c, c}).ok());
  // Several issuers: at most one without a name, no name twice, names of [A-Za-z0-9._-]{1,64}.
  JwtIssuerConfig d = c, e = c;
  d.issuer = "https://d.example";
  e.issuer = "https://e.example";
  auto two_unnamed = JwtVerifier::Create({c, d});
  ASSERT_FALSE(two_unnamed.ok());
  EXPECT_NE(two_unnamed.status().message().find("at most one may go without a name"),
            std::string::npos);
  d.name = "partner";
  EXPECT_TRUE(JwtVerifier::Create({c, d}).ok());
  e.name = "partner";
  EXPECT_FALSE(JwtVerifier::Create({c, d, e}).ok());  // the same name twice
  e.name = "vendor";
  EXPECT_TRUE(JwtVerifier::Create({c, d, e}).ok());
  for (const char* bad : {"a:b", "a b", "ü", "x/y"}) {
    e.name = bad;
    EXPECT_FALSE(ValidateJwtIssuerConfig(e).ok()) << bad;
  }
  e.name = std::string(65, 'n');
  EXPECT_FALSE(ValidateJwtIssuerConfig(e).ok());
}

}  // namespace
}  // namespace cairn::auth
