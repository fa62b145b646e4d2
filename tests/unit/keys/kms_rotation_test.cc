// KEK versions of the data-directory providers (LocalKeyring, Pkcs11Keyring), their health
// re-checks, recovery of a token that comes back, and the [keys] combination checks.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>

#include "keys/kms_config.h"
#include "keys/local_keyring.h"
#include "keys/pkcs11_keyring.h"
#include "test_util.h"
#include "unit/keys/softhsm_token.h"

namespace cairn::keys {
namespace CAIRN_UNITY_ID {

size_t LineCount(const std::string& path) {
  const std::string text = testing::ReadFile(path);
  return static_cast<size_t>(std::count(text.begin(), text.end(), '\n'));
}

mode_t ModeOf(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0);
  return st.st_mode & 07777;
}

TEST(LocalKeyringTest, RotationKeepsOldBlobsReadableUntilRetiredAndSurvivesReopen) {
  testing::TempDir tmp;
  LocalKmsOptions o;
  o.keyring_path = tmp.Sub("keyring");
  auto k = LocalKeyring::Create(o);
  ASSERT_TRUE(k.ok()) << k.status().ToString();
  const std::string v1 = (*k)->kek_id();
  auto old_blob = (*k)->Wrap("old-secret-0123456789abcdef0123", "ctx");
  ASSERT_TRUE(old_blob.ok());

  auto v2 = (*k)->AddKekVersion();
  ASSERT_TRUE(v2.ok()) << v2.status().ToString();
  EXPECT_NE(*v2, v1);
  EXPECT_EQ((*k)->kek_id(), *v2);
  EXPECT_TRUE((*k)->HasKek(v1));
  EXPECT_EQ((*k)->kek_version_count(), 2u);
  EXPECT_EQ(LineCount(o.keyring_path), 2u);
  EXPECT_EQ(ModeOf(o.keyring_path), 0600u);
  EXPECT_FALSE(std::filesystem::exists(o.keyring_path + ".new"));
  auto new_blob = (*k)->Wrap("new-secret-0123456789abcdef0123", "ctx");
  ASSERT_TRUE(new_blob.ok());

  // A restart in the middle of a rotation: both versions are there.
  auto reopened = LocalKeyring::Open(o);
  ASSERT_TRUE(reopened.ok()) << reopened.status().ToString();
  EXPECT_EQ((*reopened)->kek_id(), *v2);
  EXPECT_EQ((*reopened)->Unwrap(*old_blob, "ctx")->view(), "old-secret-0123456789abcdef0123");
  EXPECT_EQ((*reopened)->Unwrap(*new_blob, "ctx")->view(), "new-secret-0123456789abcdef0123");
  EXPECT_EQ((*reopened)->Unwrap(*new_blob, "other").status().code(), StatusCode::kDataLoss);

  ASSERT_TRUE((*k)->RetireOldKekVersions().ok());
  EXPECT_EQ(LineCount(o.keyring_path), 1u);
  EXPECT_FALSE((*k)->HasKek(v1));
  auto after = LocalKeyring::Open(o);
  ASSERT_TRUE(after.ok()) << after.status().ToString();
  EXPECT_EQ((*after)->kek_id(), *v2);
  EXPECT_TRUE((*after)->Unwrap(*new_blob, "ctx").ok());
  EXPECT_EQ((*after)->Unwrap(*old_blob, "ctx").status().code(), StatusCode::kDataLoss);
}

// A keyring in `tmp` opened by the passphrase in tmp/pass ("correct horse battery staple"), at
// the cheapest scrypt cost a keyring accepts.
LocalKmsOptions PassphraseKeyringOptions(const testing::TempDir& tmp) {
  LocalKmsOptions o;
  o.keyring_path = tmp.Sub("keyring");
  o.passphrase_file = tmp.Sub("pass");
  o.scrypt = kKeyringScryptMin;
  testing::WriteFile(o.passphrase_file, "correct horse battery staple\n");
  EXPECT_EQ(::chmod(o.passphrase_file.c_str(), 0600), 0);
  return o;
}

TEST(LocalKeyringTest, PassphraseKeyringRotatesUnderTheSamePassphrase) {
  testing::TempDir tmp;
  const LocalKmsOptions o = PassphraseKeyringOptions(tmp);
  auto k = LocalKeyring::Create(o);
  ASSERT_TRUE(k.ok()) << k.status().ToString();
  auto blob = (*k)->Wrap("0123456789abcdef0123456789abcdef", "c");
  ASSERT_TRUE(blob.ok());
  ASSERT_TRUE((*k)->AddKekVersion().ok());
  EXPECT_EQ(testing::ReadFile(o.keyring_path).find("cairn-local-kek-v1"), std::string::npos);

  auto reopened = LocalKeyring::Open(o);
  ASSERT_TRUE(reopened.ok()) << reopened.status().ToString();
  EXPECT_EQ((*reopened)->kek_version_count(), 2u);
  EXPECT_TRUE((*reopened)->Unwrap(*blob, "c").ok());

  // A different passphrase configured now must not start a version that the old one opens.
  testing::WriteFile(o.passphrase_file, "another passphrase entirely\n");
  auto refused = (*reopened)->AddKekVersion();
  EXPECT_EQ(refused.status().code(), StatusCode::kPermissionDenied) << refused.status().ToString();
  EXPECT_EQ(LineCount(o.keyring_path), 2u);
}

// A passphrase change seals every KEK version under the new passphrase (v3 lines): the same
// keys (ids, blobs), opened by the new passphrase only; a wrong old passphrase changes nothing.
TEST(LocalKeyringTest, APassphraseChangeKeepsTheKeysAndOnlyTheNewPassphraseOpensThem) {
  testing::TempDir tmp;
  const LocalKmsOptions o = PassphraseKeyringOptions(tmp);
  auto k = LocalKeyring::Create(o);
  ASSERT_TRUE(k.ok()) << k.status().ToString();
  auto old_blob = (*k)->Wrap("0123456789abcdef0123456789abcdef", "c");
  ASSERT_TRUE(old_blob.ok());
  ASSERT_TRUE((*k)->AddKekVersion().ok());  // two versions, as in an unfinished rotation
  const std::string current = (*k)->kek_id();
  auto new_blob = (*k)->Wrap("fedcba9876543210fedcba9876543210", "c");
  ASSERT_TRUE(new_blob.ok());
  const std::string before = testing::ReadFile(o.keyring_path);
  const struct timespec long_ago[2] = {{1'600'000'000, 0}, {1'600'000'000, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, o.keyring_path.c_str(), long_ago, 0), 0);

  const crypto::SecureBytes old_pass("correct horse battery staple");
  const crypto::SecureBytes new_pass("a much better passphrase now");
  const crypto::SecureBytes wrong("not the passphrase at all");
  EXPECT_EQ(LocalKeyring::ChangePassphrase(o.keyring_path, &wrong, new_pass, o.scrypt).status().code(),
            StatusCode::kPermissionDenied);
  EXPECT_EQ(LocalKeyring::ChangePassphrase(o.keyring_path, nullptr, new_pass, o.scrypt).status().code(),
            StatusCode::kFailedPrecondition) << "a passphrase keyring needs its passphrase";
  EXPECT_EQ(testing::ReadFile(o.keyring_path), before) << "nothing changed on a refusal";

  auto changed = LocalKeyring::ChangePassphrase(o.keyring_path, &old_pass, new_pass, o.scrypt);
  ASSERT_TRUE(changed.ok()) << changed.status().ToString();
  EXPECT_EQ(*changed, 2u);
  const std::string after = testing::ReadFile(o.keyring_path);
  EXPECT_EQ(LineCount(o.keyring_path), 2u);
  EXPECT_EQ(after.find("cairn-local-kek-v2"), std::string::npos) << after;
  EXPECT_NE(after.find("cairn-local-kek-v3 scrypt N=16384 r=8 p=1 salt="), std::string::npos) << after;
  EXPECT_EQ(ModeOf(o.keyring_path), 0600u);
  EXPECT_FALSE(std::filesystem::exists(o.keyring_path + ".new"));
  struct stat st {};
  ASSERT_EQ(::stat(o.keyring_path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mtim.tv_sec, 1'600'000'000) << "the keys' age (doctor's CAIRN-KEY-002) is kept";

  auto refused = LocalKeyring::Open(o);  // the configured file still holds the old passphrase
  EXPECT_EQ(refused.status().code(), StatusCode::kPermissionDenied) << refused.status().ToString();
  EXPECT_EQ(refused.status().message().find("correct horse"), std::string::npos);
  testing::WriteFile(o.passphrase_file, "a much better passphrase now\n");
  auto reopened = LocalKeyring::Open(o);
  ASSERT_TRUE(reopened.ok()) << reopened.status().ToString();
  EXPECT_EQ((*reopened)->kek_id(), current);
  EXPECT_EQ((*reopened)->kek_version_count(), 2u);
  EXPECT_EQ((*reopened)->Unwrap(*old_blob, "c")->view(), "0123456789abcdef0123456789abcdef");
  EXPECT_EQ((*reopened)->Unwrap(*new_blob, "c")->view(), "fedcba9876543210fedcba9876543210");
  // Rotation goes on under the new passphrase (a v2 line beside the v3 ones) and retires.
  auto rotated = (*reopened)->AddKekVersion();
  ASSERT_TRUE(rotated.ok()) << rotated.status().ToString();
  ASSERT_TRUE((*reopened)->RetireOldKekVersions().ok());
  EXPECT_TRUE(LocalKeyring::Open(o).ok());

  // A flipped byte of a sealed KEK fails its tag: refused as a wrong passphrase would be.
  ASSERT_TRUE(LocalKeyring::ChangePassphrase(o.keyring_path, &new_pass, new_pass, o.scrypt).ok());
  std::string sealed = testing::ReadFile(o.keyring_path);
  const size_t kek_at = sealed.find(" kek=") + 10;
  sealed[kek_at] = sealed[kek_at] == 'A' ? 'B' : 'A';
  testing::WriteFile(o.keyring_path, sealed);
  ASSERT_EQ(::chmod(o.keyring_path.c_str(), 0600), 0);
  EXPECT_EQ(LocalKeyring::Open(o).status().code(), StatusCode::kPermissionDenied);
}

// A keyring that holds its key (v1) gets a passphrase the same way: its KEK sealed under it.
TEST(LocalKeyringTest, AKeyringWithoutAPassphraseCanBeGivenOne) {
  testing::TempDir tmp;
  LocalKmsOptions o;
  o.keyring_path = tmp.Sub("keyring");
  auto k = LocalKeyring::Create(o);
  ASSERT_TRUE(k.ok()) << k.status().ToString();
  auto blob = (*k)->Wrap("0123456789abcdef0123456789abcdef", "c");
  ASSERT_TRUE(blob.ok());
  const crypto::SecureBytes pass("a passphrase from now on");
  auto changed = LocalKeyring::ChangePassphrase(o.keyring_path, nullptr, pass, kKeyringScryptMin);
  ASSERT_TRUE(changed.ok()) << changed.status().ToString();
  const std::string text = testing::ReadFile(o.keyring_path);
  EXPECT_EQ(text.find("cairn-local-kek-v1"), std::string::npos) << "the key is no longer in clear";
  EXPECT_EQ(LocalKeyring::Open(o).status().code(), StatusCode::kFailedPrecondition)
      << "it now needs a passphrase";
  o.passphrase_file = tmp.Sub("pass");
  testing::WriteFile(o.passphrase_file, "a passphrase from now on");
  ASSERT_EQ(::chmod(o.passphrase_file.c_str(), 0600), 0);
  auto reopened = LocalKeyring::Open(o);
  ASSERT_TRUE(reopened.ok()) << reopened.status().ToString();
  EXPECT_EQ((*reopened)->kek_id(), (*k)->kek_id());
  EXPECT_TRUE((*reopened)->Unwrap(*blob, "c").ok());
}

TEST(LocalKeyringTest, HealthRechecksTheKeyringFileAndWrapFailsClosed) {
  testing::TempDir tmp;
  LocalKmsOptions o;
  o.keyring_path = tmp.Sub("keyring");
  auto k = LocalKeyring::Create(o);
  ASSERT_TRUE(k.ok());
  auto blob = (*k)->Wrap("0123456789abcdef0123456789abcdef", "c");
  ASSERT_TRUE(blob.ok());
  ASSERT_TRUE((*k)->Health().ok());

  ASSERT_EQ(::chmod(o.keyring_path.c_str(), 0644), 0);  // exposed: refused like at start-up
  Status h = (*k)->Health();
  EXPECT_EQ(h.code(), StatusCode::kUnavailable);
  EXPECT_NE(h.message().find(o.keyring_path), std::string::npos) << h.message();
  EXPECT_EQ((*k)->Wrap("0123456789abcdef0123456789abcdef", "c").status().code(),
            StatusCode::kUnavailable);
  EXPECT_TRUE((*k)->Unwrap(*blob, "c").ok()) << "the KEK in memory still unwraps";
  ASSERT_EQ(::chmod(o.keyring_path.c_str(), 0600), 0);
  EXPECT_TRUE((*k)->Health().ok());

  // Replaced by another keyring: nothing may be wrapped under a KEK a restart would not find.
  const std::string saved = tmp.Sub("saved");
  std::filesystem::rename(o.keyring_path, saved);
  EXPECT_EQ((*k)->Health().code(), StatusCode::kUnavailable);
  ASSERT_TRUE(LocalKms::Create(o.keyring_path).ok());
  EXPECT_EQ((*k)->Health().code(), StatusCode::kUnavailable);
  EXPECT_EQ((*k)->AddKekVersion().status().code(), StatusCode::kUnavailable);
  std::filesystem::rename(saved, o.keyring_path);
  EXPECT_TRUE((*k)->Health().ok());
}

TEST(LocalKeyringTest, UnusableKeyringAtStartIsOneLineNamingTheFile) {
  testing::TempDir tmp;
  LocalKmsOptions o;
  o.keyring_path = tmp.Sub("keyring");
  ASSERT_TRUE(LocalKeyring::Create(o).ok());
  ASSERT_EQ(::chmod(o.keyring_path.c_str(), 0640), 0);
  auto k = LocalKeyring::Open(o);
  ASSERT_FALSE(k.ok());
  EXPECT_NE(k.status().message().find(o.keyring_path), std::string::npos);
  EXPECT_EQ(k.status().message().find('\n'), std::string::npos);
  std::filesystem::remove(o.keyring_path);
  k = LocalKeyring::Open(o);
  ASSERT_FALSE(k.ok());
  EXPECT_NE(k.status().message().find(o.keyring_path), std::string::npos);
}

TEST(KmsConfigTest, RefusesBadCombinationsWithOneLine) {
  KmsConfig c;
  EXPECT_TRUE(CheckKmsConfig(c).ok());
  c.provider = "vault";
  EXPECT_EQ(CheckKmsConfig(c).code(), StatusCode::kInvalidArgument);
  c = {};
  c.pkcs11.module_path = "/x.so";
  EXPECT_NE(CheckKmsConfig(c).message().find("provider = \"local\""), std::string::npos);
  c = {};
  c.local.passphrase_file = "a";
  c.local.passphrase_env = "B";
  EXPECT_FALSE(CheckKmsConfig(c).ok());
  c = {};
  c.provider = "pkcs11";
  EXPECT_NE(CheckKmsConfig(c).message().find("module"), std::string::npos);
  c.pkcs11.module_path = "/x.so";
  c.pkcs11.token_label = "t";
  c.pkcs11.key_label = "k";
  EXPECT_NE(CheckKmsConfig(c).message().find("pin_file"), std::string::npos);
  c.pkcs11.pin_env = "PIN";
  EXPECT_TRUE(CheckKmsConfig(c).ok());
  c.local.keyring_path = "/k";
  EXPECT_FALSE(CheckKmsConfig(c).ok());
}

TEST(Pkcs11LabelTest, VersionLabels) {
  EXPECT_EQ(Pkcs11Keyring::VersionOfLabel("kek", "kek"), 1u);
  EXPECT_EQ(Pkcs11Keyring::VersionOfLabel("kek", "kek.v2"), 2u);
  EXPECT_EQ(Pkcs11Keyring::VersionOfLabel("kek", "kek.v17"), 17u);
  EXPECT_EQ(Pkcs11Keyring::VersionOfLabel("kek", "kek.v1"), 0u);
  EXPECT_EQ(Pkcs11Keyring::VersionOfLabel("kek", "kek.v02"), 0u);
  EXPECT_EQ(Pkcs11Keyring::VersionOfLabel("kek", "kek.v2x"), 0u);
  EXPECT_EQ(Pkcs11Keyring::VersionOfLabel("kek", "kekx"), 0u);
  EXPECT_EQ(Pkcs11Keyring::VersionOfLabel("kek", "other"), 0u);
  EXPECT_EQ(Pkcs11Keyring::LabelOfVersion("kek", 1), "kek");
  EXPECT_EQ(Pkcs11Keyring::LabelOfVersion("kek", 3), "kek.v3");
}

class Pkcs11KeyringTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!testing::SoftHsmInstalled()) GTEST_SKIP() << "SoftHSM is not installed";
    token_ = std::make_unique<testing::SoftHsmToken>(tmp_.path());
    ASSERT_TRUE(token_->ok());
  }
  testing::TempDir tmp_;
  std::unique_ptr<testing::SoftHsmToken> token_;
};

TEST_F(Pkcs11KeyringTest, RotationAddsAVersionOnTheTokenAndRetiresTheOldOne) {
  EXPECT_EQ(Pkcs11Keyring::Open(token_->Options(), /*create_if_missing=*/false).status().code(),
            StatusCode::kNotFound);
  std::string old_blob, new_blob, v1, v2;
  {
    auto k = Pkcs11Keyring::Open(token_->Options(), /*create_if_missing=*/true);
    ASSERT_TRUE(k.ok()) << k.status().ToString();
    v1 = (*k)->kek_id();
    old_blob = *(*k)->Wrap("0123456789abcdef0123456789abcdef", "c");
    auto added = (*k)->AddKekVersion();
    ASSERT_TRUE(added.ok()) << added.status().ToString();
    v2 = *added;
    EXPECT_NE(v1, v2);
    new_blob = *(*k)->Wrap("fedcba9876543210fedcba9876543210", "c");
  }
  auto labels = Pkcs11Kms::ListKeyLabels(token_->Options());
  ASSERT_TRUE(labels.ok()) << labels.status().ToString();
  EXPECT_EQ(std::count(labels->begin(), labels->end(), "cairn-kek.v2"), 1);
  {
    auto k = Pkcs11Keyring::Open(token_->Options(), false);
    ASSERT_TRUE(k.ok()) << k.status().ToString();
    EXPECT_EQ((*k)->kek_id(), v2);
    EXPECT_EQ((*k)->kek_version_count(), 2u);
    EXPECT_EQ((*k)->Unwrap(old_blob, "c")->view(), "0123456789abcdef0123456789abcdef");
    EXPECT_EQ((*k)->Unwrap(new_blob, "c")->view(), "fedcba9876543210fedcba9876543210");
    ASSERT_TRUE((*k)->RetireOldKekVersions().ok());
    EXPECT_FALSE((*k)->HasKek(v1));
  }
  auto k = Pkcs11Keyring::Open(token_->Options(), false);
  ASSERT_TRUE(k.ok()) << k.status().ToString();
  EXPECT_EQ((*k)->kek_version_count(), 1u);
  EXPECT_EQ((*k)->kek_id(), v2);
  EXPECT_TRUE((*k)->Unwrap(new_blob, "c").ok());
  EXPECT_EQ((*k)->Unwrap(old_blob, "c").status().code(), StatusCode::kDataLoss);
}

// A token with more AES keys than one C_FindObjects call returns (cairn reads them in batches of
// 256): the KEK versions are found however many other keys come before them.
TEST_F(Pkcs11KeyringTest, VersionsAreFoundAmongMoreKeysThanOneSearchCallReturns) {
  auto k = Pkcs11Keyring::Open(token_->Options(), /*create_if_missing=*/true);
  ASSERT_TRUE(k.ok()) << k.status().ToString();
  ASSERT_TRUE((*k)->AddKekVersion().ok());
  constexpr int kFillers = 300;
  for (int i = 0; i < kFillers; ++i) {
    Pkcs11Options o = token_->Options();
    o.key_label = "filler-" + std::to_string(i);
    o.create_key_if_missing = true;
    auto filler = Pkcs11Kms::Open(o);
    ASSERT_TRUE(filler.ok()) << filler.status().ToString();
  }
  ASSERT_TRUE((*k)->AddKekVersion().ok());  // created after the fillers: last in the search
  auto labels = Pkcs11Kms::ListKeyLabels(token_->Options());
  ASSERT_TRUE(labels.ok()) << labels.status().ToString();
  EXPECT_EQ(labels->size(), 3u + kFillers);
  EXPECT_EQ(std::count(labels->begin(), labels->end(), "cairn-kek.v3"), 1);
  auto reopened = Pkcs11Keyring::Open(token_->Options(), false);
  ASSERT_TRUE(reopened.ok()) << reopened.status().ToString();
  EXPECT_EQ((*reopened)->kek_version_count(), 3u);
  EXPECT_EQ((*reopened)->kek_id(), (*k)->kek_id());
}

// Two nodes on one token: A rotates the KEK and re-wraps a key under the new version; B, opened
// before, cannot open that blob with the versions it loaded, looks at the token again, finds the
// new version and opens it — and wraps under it from then on.
TEST_F(Pkcs11KeyringTest, AnotherNodesNewerVersionIsFoundWhenItsBlobArrives) {
  auto a = Pkcs11Keyring::Open(token_->Options(), /*create_if_missing=*/true);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  auto b = Pkcs11Keyring::Open(token_->Options(), false, /*reopen_interval_ms=*/0);
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  auto v2 = (*a)->AddKekVersion();
  ASSERT_TRUE(v2.ok()) << v2.status().ToString();
  EXPECT_NE((*b)->kek_id(), *v2);
  auto blob = (*a)->Wrap("0123456789abcdef0123456789abcdef", "c");
  ASSERT_TRUE(blob.ok());
  auto opened = (*b)->Unwrap(*blob, "c");
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  EXPECT_EQ(opened->view(), "0123456789abcdef0123456789abcdef");
  EXPECT_EQ((*b)->kek_id(), *v2);
  EXPECT_EQ((*b)->kek_version_count(), 2u);
  // A blob no version opens still fails closed, after one more look at the token.
  std::string forged = *blob;
  forged.back() ^= 1;
  EXPECT_EQ((*b)->Unwrap(forged, "c").status().code(), StatusCode::kDataLoss);
}

// B looks at the token for A's new version and that look fails (here: the PIN file became
// readable by others, which cairn refuses). B's token works; it keeps the versions it had and
// goes on wrapping and unwrapping with them, and finds the new version once the look succeeds.
TEST_F(Pkcs11KeyringTest, AFailedLookForANewerVersionKeepsTheVersionsLoaded) {
  auto a = Pkcs11Keyring::Open(token_->Options(), /*create_if_missing=*/true);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  auto b = Pkcs11Keyring::Open(token_->Options(), false, /*reopen_interval_ms=*/0);
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  const std::string v1 = (*b)->kek_id();
  auto old_blob = (*b)->Wrap("0123456789abcdef0123456789abcdef", "c");
  ASSERT_TRUE(old_blob.ok());
  ASSERT_TRUE((*a)->AddKekVersion().ok());
  auto new_blob = (*a)->Wrap("fedcba9876543210fedcba9876543210", "c");
  ASSERT_TRUE(new_blob.ok());
  ASSERT_EQ(::chmod(token_->pin_file().c_str(), 0644), 0);
  EXPECT_FALSE((*b)->Unwrap(*new_blob, "c").ok());
  EXPECT_EQ((*b)->kek_id(), v1);
  auto again = (*b)->Unwrap(*old_blob, "c");
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->view(), "0123456789abcdef0123456789abcdef");
  auto wrapped = (*b)->Wrap("0123456789abcdef0123456789abcdef", "c");
  ASSERT_TRUE(wrapped.ok()) << wrapped.status().ToString();
  EXPECT_TRUE((*b)->Health().ok());
  ASSERT_EQ(::chmod(token_->pin_file().c_str(), 0600), 0);
  auto opened = (*b)->Unwrap(*new_blob, "c");
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  EXPECT_EQ(opened->view(), "fedcba9876543210fedcba9876543210");
  EXPECT_EQ((*b)->kek_version_count(), 2u);
}

TEST_F(Pkcs11KeyringTest, TokenGoneIsUnavailableAndATokenThatComesBackIsUsedAgain) {
  auto k = Pkcs11Keyring::Open(token_->Options(), true, /*reopen_interval_ms=*/0);
  ASSERT_TRUE(k.ok()) << k.status().ToString();
  auto blob = (*k)->Wrap("0123456789abcdef0123456789abcdef", "c");
  ASSERT_TRUE(blob.ok());
  ASSERT_TRUE(token_->Hide());
  EXPECT_EQ((*k)->Health().code(), StatusCode::kUnavailable);
  EXPECT_EQ((*k)->Wrap("0123456789abcdef0123456789abcdef", "c").status().code(),
            StatusCode::kUnavailable);
  EXPECT_EQ((*k)->Unwrap(*blob, "c").status().code(), StatusCode::kUnavailable);
  ASSERT_TRUE(token_->Show());
  Status h = (*k)->Health();
  EXPECT_TRUE(h.ok()) << h.ToString();
  auto back = (*k)->Unwrap(*blob, "c");
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->view(), "0123456789abcdef0123456789abcdef");
  EXPECT_TRUE((*k)->Wrap("0123456789abcdef0123456789abcdef", "c").ok());
}

// A PIN the token refuses is not offered again and again (many HSMs lock the user after a few
// wrong PINs): after one refused reopen the keyring waits until the PIN source changes. Here the
// right PIN is put back with the file's inode, size and mtime unchanged, and is not tried; once
// the file is touched it is, and the token is used again.
TEST_F(Pkcs11KeyringTest, ARefusedPinIsNotRetriedUntilThePinFileChanges) {
  auto k = Pkcs11Keyring::Open(token_->Options(), true, /*reopen_interval_ms=*/0);
  ASSERT_TRUE(k.ok()) << k.status().ToString();
  const std::string right = testing::ReadFile(token_->pin_file());
  std::string wrong = right;
  wrong[0] = wrong[0] == '9' ? '1' : static_cast<char>(wrong[0] + 1);
  struct stat before {};
  ASSERT_EQ(::stat(token_->pin_file().c_str(), &before), 0);
  testing::WriteFile(token_->pin_file(), wrong);
  ASSERT_TRUE(token_->Hide());  // the token goes away; the session and login with it
  EXPECT_EQ((*k)->Health().code(), StatusCode::kUnavailable);
  ASSERT_TRUE(token_->Show());
  const Status refused = (*k)->Health();  // the reopen logs in with the wrong PIN
  EXPECT_EQ(refused.code(), StatusCode::kUnavailable) << refused.ToString();
  EXPECT_NE(refused.message().find("PIN"), std::string::npos) << refused.ToString();
  struct stat after_wrong {};
  ASSERT_EQ(::stat(token_->pin_file().c_str(), &after_wrong), 0);
  testing::WriteFile(token_->pin_file(), right);  // same inode and size ...
  const struct timespec times[2] = {after_wrong.st_atim, after_wrong.st_mtim};
  ASSERT_EQ(::utimensat(AT_FDCWD, token_->pin_file().c_str(), times, 0), 0);  // ... and mtime
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ((*k)->Health().code(), StatusCode::kUnavailable) << "the refused PIN source is not tried";
  }
  const struct timespec later[2] = {{after_wrong.st_mtim.tv_sec + 2, 0}, {after_wrong.st_mtim.tv_sec + 2, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, token_->pin_file().c_str(), later, 0), 0);
  const Status back = (*k)->Health();
  EXPECT_TRUE(back.ok()) << back.ToString();
  EXPECT_TRUE((*k)->Wrap("0123456789abcdef0123456789abcdef", "c").ok());
}

}  // namespace
}  // namespace cairn::keys
