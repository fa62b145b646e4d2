// The local keyring in passphrase mode (v2: KEK = scrypt(passphrase, salt)), next to v1.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>

#include "common/bytes.h"
#include "crypto/scrypt.h"
#include "keys/local_kms.h"
#include "test_util.h"

namespace cairn::keys {
namespace CAIRN_UNITY_ID {

// The cheapest cost a keyring accepts keeps the tests quick; the format is the same.
constexpr crypto::ScryptParams kFast = kKeyringScryptMin;
const std::string kPass = "correct horse battery staple";

crypto::SecureBytes Pass(std::string_view s) { return crypto::SecureBytes(s); }

LocalKmsOptions Opts(const std::string& keyring, const std::string& file = "",
                     const std::string& env = "") {
  LocalKmsOptions o;
  o.keyring_path = keyring;
  o.passphrase_file = file;
  o.passphrase_env = env;
  o.scrypt = kFast;
  return o;
}

void WritePrivate(const std::string& path, const std::string& text, mode_t mode = 0600) {
  testing::WriteFile(path, text);
  ASSERT_EQ(::chmod(path.c_str(), mode), 0);
}

// Replaces the value of `key=` in a v2 keyring line.
std::string ReplaceField(std::string text, const std::string& key, const std::string& value) {
  size_t at = text.find(" " + key + "=");
  EXPECT_NE(at, std::string::npos);
  at += key.size() + 2;
  size_t end = text.find_first_of(" \n", at);
  return text.replace(at, end - at, value);
}

std::string Field(const std::string& text, const std::string& key) {
  size_t at = text.find(" " + key + "=") + key.size() + 2;
  return text.substr(at, text.find_first_of(" \n", at) - at);
}

TEST(LocalKmsPassphrase, RoundTripAcrossInstancesSameKek) {
  testing::TempDir tmp;
  const std::string path = tmp.Sub("keyring");
  auto created = LocalKms::CreateWithPassphrase(path, Pass(kPass), kFast);
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  EXPECT_TRUE((*created)->passphrase_protected());
  struct stat st;
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(st.st_uid, ::geteuid());
  const std::string text = testing::ReadFile(path);
  EXPECT_EQ(text.rfind("cairn-local-kek-v2 scrypt N=16384 r=8 p=1 salt=", 0), 0u) << text;
  EXPECT_EQ(text.back(), '\n');

  const std::string secret(32, '\x5a');
  auto wrapped = (*created)->Wrap(secret, "storage-epoch/0");
  ASSERT_TRUE(wrapped.ok());
  auto opened = LocalKms::OpenWithPassphrase(path, Pass(kPass));
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  EXPECT_TRUE((*opened)->passphrase_protected());
  EXPECT_EQ((*opened)->kek_id(), (*created)->kek_id());
  auto back = (*opened)->Unwrap(*wrapped, "storage-epoch/0");
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->view(), secret);

  // Another keyring with the same passphrase has another salt, hence another KEK.
  auto other = LocalKms::CreateWithPassphrase(tmp.Sub("other"), Pass(kPass), kFast);
  ASSERT_TRUE(other.ok());
  EXPECT_NE((*other)->kek_id(), (*created)->kek_id());
  EXPECT_EQ((*other)->Unwrap(*wrapped, "storage-epoch/0").status().code(), StatusCode::kDataLoss);
  EXPECT_EQ(LocalKms::CreateWithPassphrase(path, Pass(kPass), kFast).status().code(),
            StatusCode::kAlreadyExists);
}

TEST(LocalKmsPassphrase, WrongPassphraseIsPermissionDeniedWithoutDetail) {
  testing::TempDir tmp;
  const std::string path = tmp.Sub("keyring");
  ASSERT_TRUE(LocalKms::CreateWithPassphrase(path, Pass(kPass), kFast).ok());
  for (const std::string& wrong : {std::string("correct horse battery stapl"),
                                   std::string("correct horse battery staple "),
                                   std::string("Correct horse battery staple")}) {
    auto s = LocalKms::OpenWithPassphrase(path, Pass(wrong));
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.status().code(), StatusCode::kPermissionDenied);
    EXPECT_EQ(s.status().message(), "wrong passphrase for keyring " + path);
  }
}

TEST(LocalKmsPassphrase, KeyringHoldsNeitherPassphraseNorKek) {
  testing::TempDir tmp;
  const std::string path = tmp.Sub("keyring");
  auto kms = LocalKms::CreateWithPassphrase(path, Pass(kPass), kFast);
  ASSERT_TRUE(kms.ok());
  const std::string text = testing::ReadFile(path);
  // Recompute the KEK the way the format says, to search for it.
  const std::string salt = Base64Decode(Field(text, "salt")).value();
  auto kek = crypto::Scrypt(kPass, salt, kFast, 32);
  ASSERT_TRUE(kek.ok());
  // ... and check it is the KEK in use: it unwraps what the instance wraps (via a v1 keyring).
  const std::string v1 = tmp.Sub("v1");
  WritePrivate(v1, "cairn-local-kek-v1 " + Base64Encode(kek->view()) + "\n");
  auto same = LocalKms::Open(v1);
  ASSERT_TRUE(same.ok());
  EXPECT_EQ((*same)->kek_id(), (*kms)->kek_id());

  for (const std::string& needle : {std::string(kek->view()), Base64Encode(kek->view()),
                                    HexEncode(kek->view()), kPass, Base64Encode(kPass),
                                    std::string("battery")}) {
    EXPECT_EQ(text.find(needle), std::string::npos) << needle;
  }
}

TEST(LocalKmsPassphrase, TamperedKeyringIsRefused) {
  testing::TempDir tmp;
  const std::string path = tmp.Sub("keyring");
  ASSERT_TRUE(LocalKms::CreateWithPassphrase(path, Pass(kPass), kFast).ok());
  const std::string good = testing::ReadFile(path);
  std::string salt = Base64Decode(Field(good, "salt")).value();
  salt[0] ^= 1;
  std::string check = Base64Decode(Field(good, "check")).value();
  check[31] ^= 0x80;
  struct Case {
    std::string text;
    StatusCode code;
  };
  const std::vector<Case> cases = {
      {ReplaceField(good, "salt", Base64Encode(salt)), StatusCode::kPermissionDenied},
      {ReplaceField(good, "check", Base64Encode(check)), StatusCode::kPermissionDenied},
      {ReplaceField(good, "N", "32768"), StatusCode::kPermissionDenied},   // another KEK
      {ReplaceField(good, "p", "2"), StatusCode::kPermissionDenied},
      {ReplaceField(good, "N", "8192"), StatusCode::kInvalidArgument},     // weaker than allowed
      {ReplaceField(good, "r", "1"), StatusCode::kInvalidArgument},
      {ReplaceField(good, "N", "524288"), StatusCode::kInvalidArgument},   // 512 MiB > 256 MiB
      {ReplaceField(good, "r", "4294967295"), StatusCode::kInvalidArgument},
      {ReplaceField(good, "N", "18446744073709551616"), StatusCode::kInvalidArgument},
      {ReplaceField(good, "p", "17"), StatusCode::kInvalidArgument},
      // Within the memory bound but 8x and 127x the work allowed (N * r * p <= 2^21).
      {ReplaceField(ReplaceField(good, "N", "262144"), "p", "2"), StatusCode::kInvalidArgument},
      {ReplaceField(ReplaceField(good, "r", "127"), "p", "16"), StatusCode::kInvalidArgument},
      {ReplaceField(good, "p", "16"), StatusCode::kPermissionDenied},  // 2^21: allowed, another KEK
      {ReplaceField(good, "N", "20000"), StatusCode::kInvalidArgument},    // not a power of two
      {ReplaceField(good, "N", "016384"), StatusCode::kInvalidArgument},
      {ReplaceField(good, "N", "-16384"), StatusCode::kInvalidArgument},
      {ReplaceField(good, "salt", Base64Encode(salt.substr(1))), StatusCode::kInvalidArgument},
      {ReplaceField(good, "check", "!!"), StatusCode::kInvalidArgument},
      {good.substr(0, good.find(" check=")) + "\n", StatusCode::kInvalidArgument},
      {good.substr(0, good.size() - 1) + " extra=1\n", StatusCode::kInvalidArgument},
      {"cairn-local-kek-v2 argon2id" + good.substr(good.find(" N=")), StatusCode::kInvalidArgument},
  };
  for (const Case& c : cases) {
    ASSERT_EQ(::unlink(path.c_str()), 0);
    WritePrivate(path, c.text);
    auto s = LocalKms::OpenWithPassphrase(path, Pass(kPass));
    EXPECT_EQ(s.status().code(), c.code) << c.text << " -> " << s.status().ToString();
  }
  ASSERT_EQ(::unlink(path.c_str()), 0);
  WritePrivate(path, good);
  EXPECT_TRUE(LocalKms::OpenWithPassphrase(path, Pass(kPass)).ok());
}

TEST(LocalKmsPassphrase, KeyringModeAndVersionChecks) {
  testing::TempDir tmp;
  const std::string path = tmp.Sub("keyring");
  ASSERT_TRUE(LocalKms::CreateWithPassphrase(path, Pass(kPass), kFast).ok());
  for (mode_t mode : {0640, 0604, 0620}) {
    ASSERT_EQ(::chmod(path.c_str(), mode), 0);
    auto s = LocalKms::OpenWithPassphrase(path, Pass(kPass));
    EXPECT_EQ(s.status().code(), StatusCode::kFailedPrecondition) << std::oct << mode;
    EXPECT_NE(s.status().message().find("chmod 600"), std::string::npos);
  }
  ASSERT_EQ(::chmod(path.c_str(), 0600), 0);
  // A symlinked keyring is refused as for v1.
  ASSERT_EQ(::symlink(path.c_str(), tmp.Sub("link").c_str()), 0);
  EXPECT_EQ(LocalKms::OpenWithPassphrase(tmp.Sub("link"), Pass(kPass)).status().code(),
            StatusCode::kFailedPrecondition);

  // A v2 keyring opened without a passphrase says it needs one.
  auto no_pass = LocalKms::Open(path);
  EXPECT_EQ(no_pass.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(no_pass.status().message().find("passphrase"), std::string::npos);
  EXPECT_EQ(LocalKms::Open(Opts(path)).status().code(),
            StatusCode::kFailedPrecondition);
  // A v1 keyring given a passphrase is refused: the passphrase would protect nothing.
  const std::string v1 = tmp.Sub("v1");
  ASSERT_TRUE(LocalKms::Create(v1).ok());
  EXPECT_EQ(LocalKms::OpenWithPassphrase(v1, Pass(kPass)).status().code(),
            StatusCode::kFailedPrecondition);
  const std::string pass_file = tmp.Sub("pass");
  WritePrivate(pass_file, kPass);
  EXPECT_EQ(LocalKms::Open(Opts(v1, pass_file))
                .status().code(),
            StatusCode::kFailedPrecondition);
  // v1 still opens both ways.
  EXPECT_TRUE(LocalKms::Open(v1).ok());
  auto v1_opt = LocalKms::Open(Opts(v1));
  ASSERT_TRUE(v1_opt.ok());
  EXPECT_FALSE((*v1_opt)->passphrase_protected());
}

TEST(LocalKmsPassphrase, PassphraseFromAFile) {
  testing::TempDir tmp;
  const std::string path = tmp.Sub("keyring");
  const std::string pass_file = tmp.Sub("pass");
  WritePrivate(pass_file, kPass + "\n");
  LocalKmsOptions o = Opts(path, pass_file);
  auto created = LocalKms::Create(o);
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  // The trailing newline was stripped: the bare passphrase opens it; so does "\r\n".
  EXPECT_TRUE(LocalKms::OpenWithPassphrase(path, Pass(kPass)).ok());
  ASSERT_EQ(::unlink(pass_file.c_str()), 0);
  WritePrivate(pass_file, kPass + "\r\n");
  auto opened = LocalKms::Open(o);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  EXPECT_EQ((*opened)->kek_id(), (*created)->kek_id());
  // Only one newline is stripped: a second one is part of the passphrase.
  ASSERT_EQ(::unlink(pass_file.c_str()), 0);
  WritePrivate(pass_file, kPass + "\n\n");
  EXPECT_EQ(LocalKms::Open(o).status().code(), StatusCode::kPermissionDenied);

  // A symlink to a private file is followed (secret mounts are symlinks).
  const std::string link = tmp.Sub("pass-link");
  ASSERT_EQ(::unlink(pass_file.c_str()), 0);
  WritePrivate(pass_file, kPass);
  ASSERT_EQ(::symlink(pass_file.c_str(), link.c_str()), 0);
  EXPECT_TRUE(LocalKms::Open(Opts(path, link)).ok());

  // Readable by group or others: refused, before any derivation, also through the symlink.
  for (mode_t mode : {0640, 0604, 0644, 0660}) {
    ASSERT_EQ(::chmod(pass_file.c_str(), mode), 0);
    for (const std::string& f : {pass_file, link}) {
      auto s = LocalKms::Open(Opts(path, f));
      EXPECT_EQ(s.status().code(), StatusCode::kFailedPrecondition) << std::oct << mode;
      EXPECT_NE(s.status().message().find("chmod 600"), std::string::npos);
      EXPECT_EQ(s.status().message().find("horse"), std::string::npos);
    }
    EXPECT_EQ(LocalKms::Create(Opts(tmp.Sub("new"), pass_file))
                  .status().code(),
              StatusCode::kFailedPrecondition);
  }
  ASSERT_EQ(::access(tmp.Sub("new").c_str(), F_OK), -1);  // nothing created
  ASSERT_EQ(::chmod(pass_file.c_str(), 0400), 0);
  EXPECT_TRUE(LocalKms::Open(Opts(path, pass_file)).ok());
  EXPECT_EQ(LocalKms::Open(Opts(path, tmp.Sub("none")))
                .status().code(),
            StatusCode::kNotFound);
  EXPECT_EQ(LocalKms::Open(Opts(path, tmp.path()))
                .status().code(),
            StatusCode::kFailedPrecondition);  // a directory
}

TEST(LocalKmsPassphrase, PassphraseFromTheEnvironment) {
  testing::TempDir tmp;
  const std::string path = tmp.Sub("keyring");
  const char* var = "CAIRN_TEST_KEK_PASSPHRASE";
  ::unsetenv(var);
  LocalKmsOptions o = Opts(path, "", var);
  auto unset = LocalKms::Create(o);
  EXPECT_EQ(unset.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(unset.status().message().find(var), std::string::npos);
  ASSERT_EQ(::setenv(var, kPass.c_str(), 1), 0);
  auto created = LocalKms::Create(o);
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  auto opened = LocalKms::Open(o);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  EXPECT_EQ((*opened)->kek_id(), (*created)->kek_id());
  ASSERT_EQ(::setenv(var, "not the passphrase", 1), 0);
  EXPECT_EQ(LocalKms::Open(o).status().code(), StatusCode::kPermissionDenied);
  ::unsetenv(var);
  EXPECT_EQ(LocalKms::Open(o).status().code(), StatusCode::kFailedPrecondition);

  // Exactly one source.
  const std::string pass_file = tmp.Sub("pass");
  WritePrivate(pass_file, kPass);
  o.passphrase_file = pass_file;
  EXPECT_EQ(LocalKms::Open(o).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(LocalKms::ReadPassphrase(LocalKmsOptions{}).status().code(), StatusCode::kInvalidArgument);
}

TEST(LocalKmsPassphrase, ShortLongPassphrasesAndWeakCostAreRefused) {
  testing::TempDir tmp;
  const std::string path = tmp.Sub("keyring");
  for (const std::string& p : {std::string(), std::string("elevenbytes"), std::string(1025, 'x')}) {
    auto s = LocalKms::CreateWithPassphrase(path, Pass(p), kFast);
    EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument) << p.size();
  }
  EXPECT_TRUE(LocalKms::CreateWithPassphrase(tmp.Sub("twelve"), Pass("twelve bytes"), kFast).ok());
  const std::string pass_file = tmp.Sub("pass");
  WritePrivate(pass_file, "short pass\n");
  EXPECT_EQ(LocalKms::Create(Opts(path, pass_file))
                .status().code(),
            StatusCode::kInvalidArgument);
  for (crypto::ScryptParams weak : {crypto::ScryptParams{1 << 13, 8, 1}, crypto::ScryptParams{1 << 14, 4, 1},
                                    crypto::ScryptParams{1 << 14, 8, 0}, crypto::ScryptParams{1 << 14, 8, 17},
                                    crypto::ScryptParams{uint64_t{1} << 19, 8, 1},
                                    crypto::ScryptParams{uint64_t{1} << 18, 8, 2}}) {
    EXPECT_EQ(LocalKms::CreateWithPassphrase(path, Pass(kPass), weak).status().code(),
              StatusCode::kInvalidArgument);
  }
  EXPECT_EQ(::access(path.c_str(), F_OK), -1);  // nothing was written
  // The default cost (N=2^15) is accepted and recorded.
  ASSERT_TRUE(LocalKms::CreateWithPassphrase(path, Pass(kPass)).ok());
  EXPECT_NE(testing::ReadFile(path).find(" N=32768 r=8 p=1 "), std::string::npos);
}

TEST(LocalKmsPassphrase, OldAndNewKeyringsOpenTogetherForRewrapping) {
  testing::TempDir tmp;
  auto old_kms = LocalKms::Create(tmp.Sub("old"));
  auto new_kms = LocalKms::CreateWithPassphrase(tmp.Sub("new"), Pass(kPass), kFast);
  ASSERT_TRUE(old_kms.ok() && new_kms.ok());
  const std::string secret(32, '\x11');
  auto under_old = (*old_kms)->Wrap(secret, "checkpoint-signing-key");
  ASSERT_TRUE(under_old.ok());
  auto plain = (*old_kms)->Unwrap(*under_old, "checkpoint-signing-key");
  ASSERT_TRUE(plain.ok());
  auto under_new = (*new_kms)->Wrap(plain->view(), "checkpoint-signing-key");
  ASSERT_TRUE(under_new.ok());
  auto reopened = LocalKms::OpenWithPassphrase(tmp.Sub("new"), Pass(kPass));
  ASSERT_TRUE(reopened.ok());
  EXPECT_EQ((*reopened)->Unwrap(*under_new, "checkpoint-signing-key")->view(), secret);
  EXPECT_EQ((*old_kms)->Unwrap(*under_new, "checkpoint-signing-key").status().code(),
            StatusCode::kDataLoss);
}

}  // namespace
}  // namespace cairn::keys
