#include "auth/dev_issuer.h"

#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "auth/authenticator.h"
#include "test_util.h"

namespace cairn::auth {
namespace CAIRN_UNITY_ID {

constexpr int64_t kNow = 1700000000;

TEST(DevIssuerTest, MintedTokenVerifiesThroughAnAuthenticator) {
  cairn::testing::TempDir dir;
  ASSERT_TRUE(CreateDevIssuer(dir.path(), "https://dev.cairn.local").ok());
  std::string key_file = dir.Sub(kDevIssuerKeyFile);
  struct stat st {};
  ASSERT_EQ(::stat(key_file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  std::string line = cairn::testing::ReadFile(key_file);
  EXPECT_EQ(line.rfind("cairn-dev-issuer-v1 dev-", 0), 0u);

  AuthConfig config;
  JwtIssuerConfig issuer;
  issuer.issuer = "https://dev.cairn.local";
  issuer.audience = "cairn";
  issuer.jwks_file = dir.Sub(kDevIssuerJwksFile);
  config.jwt.push_back(issuer);
  auto a = Authenticator::Create(config);
  ASSERT_TRUE(a.ok()) << a.status().ToString();

  MintRequest req{"", "cairn", "alice", {"admin", "reader"}, 300, kNow};
  auto token = MintToken(key_file, req);
  ASSERT_TRUE(token.ok()) << token.status().ToString();
  auto p = (*a)->Authenticate({"Bearer " + *token, "", "127.0.0.1"}, kNow + 10);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->id, "jwt:alice");
  EXPECT_EQ(p->roles, (std::vector<std::string>{"admin", "reader"}));
  EXPECT_EQ(p->expires_unix_s, kNow + 300);
  // nbf = iat = now; exp = now + ttl.
  EXPECT_FALSE((*a)->Authenticate({"Bearer " + *token, "", "127.0.0.2"}, kNow + 331).ok());
  EXPECT_FALSE((*a)->Authenticate({"Bearer " + *token, "", "127.0.0.3"}, kNow - 31).ok());
  // Another issuer name in the request is another (untrusted) issuer.
  req.issuer = "https://elsewhere";
  auto other = MintToken(key_file, req);
  ASSERT_TRUE(other.ok());
  EXPECT_FALSE((*a)->Authenticate({"Bearer " + *other, "", "127.0.0.1"}, kNow).ok());
}

TEST(DevIssuerTest, RefusesToOverwriteAndLooseKeyFiles) {
  cairn::testing::TempDir dir;
  ASSERT_TRUE(CreateDevIssuer(dir.path(), "dev").ok());
  std::string key_file = dir.Sub(kDevIssuerKeyFile);
  const std::string key_before = cairn::testing::ReadFile(key_file);
  Status again = CreateDevIssuer(dir.path(), "dev");
  EXPECT_EQ(again.code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(cairn::testing::ReadFile(key_file), key_before) << "the key was overwritten";
  // Written beside and linked into place: no temporary file is left behind.
  size_t files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
    EXPECT_EQ(entry.path().filename().string().find(".tmp-"), std::string::npos) << entry.path();
    ++files;
  }
  EXPECT_EQ(files, 2u);  // the key and the JWKS
  ASSERT_EQ(::chmod(key_file.c_str(), 0644), 0);
  auto t = MintToken(key_file, {"", "cairn", "alice", {}, 60, kNow});
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), StatusCode::kPermissionDenied);
}

// A crash between the key and the JWKS leaves a key without its public half: EnsureDevIssuerJwks
// writes it from the key (same kid), and leaves an existing JWKS alone.
TEST(DevIssuerTest, AMissingJwksIsRewrittenFromTheKey) {
  cairn::testing::TempDir dir;
  ASSERT_TRUE(CreateDevIssuer(dir.path(), "dev").ok());
  const std::string jwks = cairn::testing::ReadFile(dir.Sub(kDevIssuerJwksFile));
  ASSERT_TRUE(EnsureDevIssuerJwks(dir.path()).ok());
  EXPECT_EQ(cairn::testing::ReadFile(dir.Sub(kDevIssuerJwksFile)), jwks);
  ASSERT_EQ(::unlink(dir.Sub(kDevIssuerJwksFile).c_str()), 0);
  ASSERT_TRUE(EnsureDevIssuerJwks(dir.path()).ok());
  EXPECT_EQ(cairn::testing::ReadFile(dir.Sub(kDevIssuerJwksFile)), jwks) << "a different key";
}

TEST(DevIssuerTest, RequestValidation) {
  cairn::testing::TempDir dir;
  ASSERT_TRUE(CreateDevIssuer(dir.path(), "dev").ok());
  std::string key_file = dir.Sub(kDevIssuerKeyFile);
  EXPECT_FALSE(MintToken(key_file, {"", "", "alice", {}, 60, kNow}).ok());
  EXPECT_FALSE(MintToken(key_file, {"", "cairn", "", {}, 60, kNow}).ok());
  EXPECT_FALSE(MintToken(key_file, {"", "cairn", "alice", {}, 0, kNow}).ok());
  EXPECT_FALSE(MintToken(key_file, {"", "cairn", "alice", {}, kMintTtlMaxS + 1, kNow}).ok());
  EXPECT_FALSE(MintToken(dir.Sub("missing.key"), {"", "cairn", "alice", {}, 60, kNow}).ok());
  EXPECT_FALSE(CreateDevIssuer(dir.path(), "has space").ok());
  cairn::testing::WriteFile(dir.Sub("junk.key"), "cairn-dev-issuer-v1 k AAAA dev\n");
  ::chmod(dir.Sub("junk.key").c_str(), 0600);
  EXPECT_FALSE(MintToken(dir.Sub("junk.key"), {"", "cairn", "alice", {}, 60, kNow}).ok());
}

}  // namespace
}  // namespace cairn::auth
