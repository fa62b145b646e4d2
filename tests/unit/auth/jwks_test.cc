#include "auth/jwk.h"

#include <gtest/gtest.h>

#include "auth/base64url.h"
#include "auth_test_util.h"

namespace cairn::auth {
namespace CAIRN_UNITY_ID {

using testing::B64u;
using testing::json;
using testing::TestKey;

std::string Doc(const std::vector<json>& keys) { return json({{"keys", keys}}).dump(); }

TEST(JwksTest, ParsesEveryKeyType) {
  TestKey rsa = TestKey::Rsa(), ec = TestKey::Ec(), ed = TestKey::Ed25519(), hs = TestKey::Hmac(32);
  json rsa_jwk = rsa.Jwk("r");
  rsa_jwk["alg"] = "RS256";
  rsa_jwk["use"] = "sig";
  auto set = ParseJwks(Doc({rsa_jwk, ec.Jwk("e"), ed.Jwk("d"), hs.Jwk("h")}));
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  ASSERT_EQ(set->keys.size(), 4u);
  EXPECT_EQ(set->Find("r")->alg, JwsAlg::kRS256);
  EXPECT_EQ(set->Find("e")->alg, JwsAlg::kES256);
  EXPECT_EQ(set->Find("d")->alg, JwsAlg::kEdDSA);
  EXPECT_EQ(set->Find("h")->alg, JwsAlg::kHS256);
  EXPECT_EQ(set->Find("x"), nullptr);
  EXPECT_EQ(set->Find(""), nullptr);  // several keys: a kid is required
}

TEST(JwksTest, SkipsKeysNotForCairn) {
  TestKey ed = TestKey::Ed25519(), ec = TestKey::Ec();
  json enc = ec.Jwk("enc");
  enc["use"] = "enc";
  json other_alg = ec.Jwk("es384");
  other_alg["alg"] = "ES384";
  json p384 = {{"kty", "EC"}, {"crv", "P-384"}, {"x", "AA"}, {"y", "AA"}, {"kid", "p384"}};
  json x25519 = {{"kty", "OKP"}, {"crv", "X25519"}, {"x", "AA"}, {"kid", "x"}};
  json unknown = {{"kty", "PQC"}, {"kid", "pq"}};
  auto set = ParseJwks(Doc({enc, other_alg, p384, x25519, unknown, ed.Jwk("ok")}));
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  ASSERT_EQ(set->keys.size(), 1u);
  EXPECT_EQ(set->keys[0].kid, "ok");
  EXPECT_EQ(set->Find(""), &set->keys[0]);  // the single key serves tokens without kid
  // Nothing usable at all is an error.
  EXPECT_FALSE(ParseJwks(Doc({enc, unknown})).ok());
}

TEST(JwksTest, RejectsMalformedSupportedKeys) {
  TestKey ec = TestKey::Ec(), ed = TestKey::Ed25519();
  // HS256 secret shorter than 32 bytes.
  EXPECT_FALSE(ParseJwks(Doc({TestKey::Hmac(31).Jwk("h")})).ok());
  EXPECT_TRUE(ParseJwks(Doc({TestKey::Hmac(32).Jwk("h")})).ok());
  // RSA below 2048 bits.
  EXPECT_FALSE(ParseJwks(Doc({TestKey::Rsa(1024).Jwk("r")})).ok());
  // RSA public exponents below 65537 (3, 65535), even (65538) or one; 65537 itself is fine.
  json rsa = TestKey::Rsa().Jwk("r");
  EXPECT_TRUE(ParseJwks(Doc({rsa})).ok());
  for (const std::string& e : {std::string("\x03"), std::string("\xff\xff"),
                               std::string("\x01\x00\x02"), std::string("\x01")}) {
    json small = rsa;
    small["e"] = B64u(e);
    auto set = ParseJwks(Doc({small}));
    ASSERT_FALSE(set.ok()) << B64u(e);
    EXPECT_NE(set.status().message().find("exponent"), std::string::npos) << set.status().message();
  }
  // EC point not on the curve: change one byte of y.
  json bad_ec = ec.Jwk("e");
  std::string y = *Base64UrlDecode(bad_ec["y"].get<std::string>());
  y[31] ^= 1;
  bad_ec["y"] = B64u(y);
  EXPECT_FALSE(ParseJwks(Doc({bad_ec, ed.Jwk("d")})).ok());
  // Short coordinates, missing members, bad base64url (padding).
  json short_ec = ec.Jwk("e");
  short_ec["x"] = B64u(std::string(31, 'a'));
  EXPECT_FALSE(ParseJwks(Doc({short_ec})).ok());
  json no_x = ed.Jwk("d");
  no_x.erase("x");
  EXPECT_FALSE(ParseJwks(Doc({no_x})).ok());
  json padded = ed.Jwk("d");
  padded["x"] = padded["x"].get<std::string>() + "=";
  EXPECT_FALSE(ParseJwks(Doc({padded})).ok());
  // Bad kid, duplicate kid, wrong member types.
  EXPECT_FALSE(ParseJwks(Doc({ed.Jwk("../x")})).ok());
  EXPECT_FALSE(ParseJwks(Doc({ed.Jwk("d"), TestKey::Ed25519().Jwk("d")})).ok());
  json kty_num = ed.Jwk("d");
  kty_num["kty"] = 1;
  EXPECT_FALSE(ParseJwks(Doc({kty_num})).ok());
}

TEST(JwksTest, DocumentLimits) {
  EXPECT_FALSE(ParseJwks("").ok());
  EXPECT_FALSE(ParseJwks("[]").ok());
  EXPECT_FALSE(ParseJwks("{\"keys\":{}}").ok());
  EXPECT_FALSE(ParseJwks("{\"keys\":[]}").ok());
  TestKey hs = TestKey::Hmac(32);
  std::vector<json> many;
  for (int i = 0; i < 65; ++i) many.push_back(hs.Jwk("k" + std::to_string(i)));
  EXPECT_FALSE(ParseJwks(Doc(many)).ok());
  many.pop_back();
  EXPECT_TRUE(ParseJwks(Doc(many)).ok());
  json big = {{"keys", json::array({hs.Jwk("k")})}, {"pad", std::string(kJwksSizeMaxBytes, 'x')}};
  EXPECT_FALSE(ParseJwks(big.dump()).ok());
  // Duplicate "keys" members.
  EXPECT_FALSE(ParseJwks("{\"keys\":[],\"keys\":[" + hs.Jwk("k").dump() + "]}").ok());
}

TEST(JwksTest, KidSyntax) {
  EXPECT_TRUE(IsValidKid("abc-DEF_1.2"));
  EXPECT_TRUE(IsValidKid(std::string(128, 'a')));
  // Identity providers' kids: base64 (AWS Cognito), URN-style.
  EXPECT_TRUE(IsValidKid("1234example="));
  EXPECT_TRUE(IsValidKid("Ab+cd/EF=="));
  EXPECT_TRUE(IsValidKid("urn:key:1"));
  EXPECT_FALSE(IsValidKid(std::string(129, 'a')));
  EXPECT_FALSE(IsValidKid(""));
  EXPECT_FALSE(IsValidKid("../../etc/passwd"));
  EXPECT_FALSE(IsValidKid("a..b"));
  for (const char* bad : {"a b", "a\"b", "a\\b", "a\nb", "k\x01", "caf\xc3\xa9"}) {
    EXPECT_FALSE(IsValidKid(bad)) << bad;
  }
}

TEST(JwksTest, AKeyWithAKidNoTokenCanNameIsSkippedNotTheWholeSet) {
  TestKey ed = TestKey::Ed25519(), other = TestKey::Ed25519();
  auto set = ParseJwks(Doc({other.Jwk("has space"), ed.Jwk("1234example=")}));
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  ASSERT_EQ(set->keys.size(), 1u);
  EXPECT_EQ(set->keys[0].kid, "1234example=");
}

// AdmitsAllOf decides whether a reload drops cached verifications (JwksSource::generation).
TEST(JwksTest, ASetAdmitsAllOfAnotherWhenItKeepsEveryKeyUnchanged) {
  TestKey ed = TestKey::Ed25519(), ec = TestKey::Ec(), ed2 = TestKey::Ed25519();
  TestKey h1 = TestKey::Hmac(32), h2 = TestKey::Hmac(32);
  auto set = [](const std::vector<json>& keys) { return ParseJwks(Doc(keys)).value(); };
  JwkSet base = set({ed.Jwk("a"), ec.Jwk("b"), h1.Jwk("h")});
  EXPECT_TRUE(set({ed.Jwk("a"), ec.Jwk("b"), h1.Jwk("h")}).AdmitsAllOf(base)) << "the same keys";
  EXPECT_TRUE(set({h1.Jwk("h"), ed2.Jwk("c"), ec.Jwk("b"), ed.Jwk("a")}).AdmitsAllOf(base))
      << "a key added, order changed";
  EXPECT_FALSE(set({ed.Jwk("a"), ec.Jwk("b")}).AdmitsAllOf(base)) << "h withdrawn";
  EXPECT_FALSE(set({ed2.Jwk("a"), ec.Jwk("b"), h1.Jwk("h")}).AdmitsAllOf(base)) << "a replaced";
  EXPECT_FALSE(set({ed.Jwk("a"), ec.Jwk("b"), h2.Jwk("h")}).AdmitsAllOf(base)) << "secret replaced";
  // A token without kid finds the only key of a one-key set, and nothing once there are two.
  JwkSet one = set({ed.Jwk("a")});
  EXPECT_TRUE(set({ed.Jwk("a")}).AdmitsAllOf(one));
  EXPECT_FALSE(set({ed.Jwk("a"), ed2.Jwk("c")}).AdmitsAllOf(one));
  EXPECT_FALSE(one.AdmitsAllOf(set({ed.Jwk("a"), ed2.Jwk("c")}))) << "c withdrawn";
}

TEST(JwksTest, SymmetricKeysComeOnlyFromAFile) {
  TestKey ed = TestKey::Ed25519(), hs = TestKey::Hmac(32);
  const std::string doc = Doc({ed.Jwk("d"), hs.Jwk("h")});
  EXPECT_TRUE(ParseJwks(doc, JwksOrigin::kFile).ok());
  auto from_url = ParseJwks(doc, JwksOrigin::kUrl);  // the secret is left out, never used
  ASSERT_TRUE(from_url.ok()) << from_url.status().ToString();
  ASSERT_EQ(from_url->keys.size(), 1u);
  EXPECT_EQ(from_url->keys[0].alg, JwsAlg::kEdDSA);
  EXPECT_TRUE(ParseJwks(Doc({ed.Jwk("d")}), JwksOrigin::kUrl).ok());
}

// RFC 7517 §4.3: a key whose key_ops do not include "verify", or include an encryption
// operation (the issuer may decrypt with it: an oracle), verifies nothing.
TEST(JwksTest, KeyOpsMustAllowVerifyingAndNothingElseOfEncryption) {
  TestKey ed = TestKey::Ed25519(), rsa = TestKey::Rsa();
  json verify = ed.Jwk("v");
  verify["key_ops"] = {"verify"};
  json sign_only = TestKey::Ed25519().Jwk("s");
  sign_only["key_ops"] = {"sign"};
  json decrypts = rsa.Jwk("enc1");
  decrypts["key_ops"] = {"verify", "decrypt"};
  json wraps = TestKey::Rsa().Jwk("enc2");
  wraps["key_ops"] = {"encrypt", "wrapKey"};
  auto set = ParseJwks(Doc({verify, sign_only, decrypts, wraps}));
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  ASSERT_EQ(set->keys.size(), 1u);
  EXPECT_EQ(set->keys[0].kid, "v");
  json not_a_list = ed.Jwk("n");
  not_a_list["key_ops"] = "verify";
  EXPECT_FALSE(ParseJwks(Doc({not_a_list})).ok());
}

// A fetched set with one key cairn cannot use (an issuer's legacy short RSA key, a point off the
// curve, an 'oct' encryption key) is loaded without it: refusing the whole set would keep the
// last good set, and with it a key the issuer withdrew. A file is refused whole, as before.
TEST(JwksTest, AFetchedSetLeavesOutKeysItCannotUse) {
  TestKey ed = TestKey::Ed25519(), ec = TestKey::Ec();
  json bad_ec = ec.Jwk("e");
  std::string y = *Base64UrlDecode(bad_ec["y"].get<std::string>());
  y[31] ^= 1;
  bad_ec["y"] = B64u(y);
  json oct_enc = TestKey::Hmac(32).Jwk("o");
  oct_enc["use"] = "enc";
  const std::string doc = Doc({TestKey::Rsa(1024).Jwk("legacy"), bad_ec, oct_enc, ed.Jwk("d")});
  auto fetched = ParseJwks(doc, JwksOrigin::kUrl);
  ASSERT_TRUE(fetched.ok()) << fetched.status().ToString();
  ASSERT_EQ(fetched->keys.size(), 1u);
  EXPECT_EQ(fetched->keys[0].kid, "d");
  EXPECT_FALSE(ParseJwks(doc, JwksOrigin::kFile).ok());
  // Every key of a duplicated kid is left out (which one signed is ambiguous); a set with
  // nothing usable left is empty, so the withdrawn keys are no longer trusted either.
  auto dup = ParseJwks(Doc({ed.Jwk("x"), TestKey::Ed25519().Jwk("x"), ec.Jwk("y")}), JwksOrigin::kUrl);
  ASSERT_TRUE(dup.ok()) << dup.status().ToString();
  ASSERT_EQ(dup->keys.size(), 1u);
  EXPECT_EQ(dup->keys[0].kid, "y");
  auto nothing = ParseJwks(Doc({TestKey::Rsa(1024).Jwk("legacy")}), JwksOrigin::kUrl);
  ASSERT_TRUE(nothing.ok()) << nothing.status().ToString();
  EXPECT_TRUE(nothing->keys.empty());
}

TEST(Base64UrlTest, StrictDecoding) {
  EXPECT_EQ(Base64UrlEncode("\xfb\xff"), "-_8");
  EXPECT_EQ(*Base64UrlDecode("-_8"), "\xfb\xff");
  EXPECT_EQ(*Base64UrlDecode(""), "");
  EXPECT_FALSE(Base64UrlDecode("-_8=").has_value());
  EXPECT_FALSE(Base64UrlDecode("+/8").has_value());
  EXPECT_FALSE(Base64UrlDecode("-_9").has_value());  // non-canonical trailing bits
  EXPECT_FALSE(Base64UrlDecode("A").has_value());
  for (int n = 0; n < 40; ++n) {
    std::string bytes;
    for (int i = 0; i < n; ++i) bytes.push_back(static_cast<char>(i * 37 + n));
    EXPECT_EQ(*Base64UrlDecode(Base64UrlEncode(bytes)), bytes);
  }
}

}  // namespace
}  // namespace cairn::auth
