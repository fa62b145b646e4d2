// Standard Webhooks signing and verification against the published vector in
// ../shared/vectors/README.md (read at test time), and the rejections a receiver relies on.
#include <gtest/gtest.h>

#include <regex>

#include "cairn/webhooks.h"
#include "common/bytes.h"
#include "test_util.h"

namespace cairn {
namespace CAIRN_UNITY_ID {

struct Vector {
  std::string secret, id, body, signature;
  int64_t timestamp = 0;
};

// The "Standard Webhooks" section of the vectors README: secret, id, timestamp, body, header.
Vector LoadVector() {
  const std::string text = testing::ReadFile(testing::VectorsDir() + "/README.md");
  const size_t section = text.find("## Standard Webhooks");
  EXPECT_NE(section, std::string::npos);
  const std::string s = text.substr(section);
  std::smatch m;
  Vector v;
  EXPECT_TRUE(std::regex_search(s, m, std::regex("secret `(whsec_[A-Za-z0-9+/=]+)`")));
  v.secret = m[1];
  EXPECT_TRUE(std::regex_search(s, m, std::regex("id `([^`]+)`, timestamp `([0-9]+)`, body `([^`]+)`")));
  v.id = m[1];
  v.timestamp = std::stoll(m[2]);
  v.body = m[3];
  EXPECT_TRUE(std::regex_search(s, m, std::regex("webhook-signature: (v1,[A-Za-z0-9+/=]+)")));
  v.signature = m[1];
  return v;
}

WebhookHeaders Headers(const Vector& v, const std::string& signature) {
  return WebhookHeaders{v.id, std::to_string(v.timestamp), signature};
}

TEST(WebhookSignature, ReproducesTheStandardWebhooksVector) {
  const Vector v = LoadVector();
  ASSERT_FALSE(v.secret.empty());
  auto key = DecodeWebhookSecret(v.secret);
  ASSERT_TRUE(key.ok()) << key.status().ToString();
  EXPECT_EQ(SignWebhook(*key, v.id, v.timestamp, v.body), v.signature);
  EXPECT_TRUE(VerifyWebhook(v.secret, Headers(v, v.signature), v.body, v.timestamp).ok());
}

TEST(WebhookSignature, RejectsStaleAndFutureTimestamps) {
  const Vector v = LoadVector();
  const auto headers = Headers(v, v.signature);
  EXPECT_TRUE(VerifyWebhook(v.secret, headers, v.body, v.timestamp + 300, 300).ok());
  Status stale = VerifyWebhook(v.secret, headers, v.body, v.timestamp + 301, 300);
  EXPECT_EQ(stale.code(), StatusCode::kUnauthenticated);
  EXPECT_NE(stale.message().find("stale"), std::string::npos);
  Status future = VerifyWebhook(v.secret, headers, v.body, v.timestamp - 301, 300);
  EXPECT_EQ(future.code(), StatusCode::kUnauthenticated);
}

TEST(WebhookSignature, RejectsWrongSecretModifiedBodyAndOtherId) {
  const Vector v = LoadVector();
  const std::string other = NewWebhookSecret();
  EXPECT_EQ(VerifyWebhook(other, Headers(v, v.signature), v.body, v.timestamp).code(),
            StatusCode::kUnauthenticated);
  std::string body = v.body;
  body[body.size() / 2] ^= 1;
  EXPECT_EQ(VerifyWebhook(v.secret, Headers(v, v.signature), body, v.timestamp).code(),
            StatusCode::kUnauthenticated);
  WebhookHeaders moved = Headers(v, v.signature);
  moved.id += "x";
  EXPECT_FALSE(VerifyWebhook(v.secret, moved, v.body, v.timestamp).ok());
  WebhookHeaders shifted = Headers(v, v.signature);
  shifted.timestamp = std::to_string(v.timestamp + 1);
  EXPECT_FALSE(VerifyWebhook(v.secret, shifted, v.body, v.timestamp).ok());
}

TEST(WebhookSignature, AcceptsEitherSecretDuringRotation) {
  const Vector v = LoadVector();
  const std::string fresh = NewWebhookSecret();
  const std::string both =
      SignWebhook(*DecodeWebhookSecret(fresh), v.id, v.timestamp, v.body) + " " + v.signature;
  EXPECT_TRUE(VerifyWebhook(v.secret, Headers(v, both), v.body, v.timestamp).ok());
  EXPECT_TRUE(VerifyWebhook(fresh, Headers(v, both), v.body, v.timestamp).ok());
  EXPECT_FALSE(VerifyWebhook(NewWebhookSecret(), Headers(v, both), v.body, v.timestamp).ok());
}

TEST(WebhookSignature, RejectsMalformedInput) {
  const Vector v = LoadVector();
  WebhookHeaders h = Headers(v, v.signature);
  h.timestamp = "16142653x0";
  EXPECT_EQ(VerifyWebhook(v.secret, h, v.body, v.timestamp).code(), StatusCode::kUnauthenticated);
  h = Headers(v, "v2," + v.signature.substr(3));  // another scheme
  EXPECT_FALSE(VerifyWebhook(v.secret, h, v.body, v.timestamp).ok());
  std::string many;
  for (int i = 0; i < 9; ++i) many += "v1,AAAA ";
  h = Headers(v, many + v.signature);
  EXPECT_FALSE(VerifyWebhook(v.secret, h, v.body, v.timestamp).ok());
  EXPECT_EQ(VerifyWebhook("whsec_short", Headers(v, v.signature), v.body, v.timestamp).code(),
            StatusCode::kInvalidArgument);
  EXPECT_FALSE(DecodeWebhookSecret("whsec_" + Base64Encode(std::string(16, 'k'))).ok());
  EXPECT_FALSE(DecodeWebhookSecret("whsec_" + Base64Encode(std::string(65, 'k'))).ok());
  EXPECT_TRUE(DecodeWebhookSecret(NewWebhookSecret()).ok());
  EXPECT_NE(NewWebhookSecret(), NewWebhookSecret());
}

}  // namespace
}  // namespace cairn
