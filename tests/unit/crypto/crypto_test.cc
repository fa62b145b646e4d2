// Known-answer and negative tests for the crypto/ wrappers.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <set>

#include "common/bytes.h"
#include "crypto/aes_gcm.h"
#include "crypto/ed25519.h"
#include "crypto/hkdf.h"
#include "crypto/secure.h"
#include "crypto/sha256.h"

namespace cairn::crypto {
namespace CAIRN_UNITY_ID {

std::string Unhex(std::string_view h) { return HexDecode(h).value(); }

TEST(Sha256, KnownAnswers) {
  EXPECT_EQ(HexEncode(HashView(Sha256(""))),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(HexEncode(HashView(Sha256("abc"))),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(HexEncode(HashView(Sha256("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"))),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST(Sha256, IncrementalEqualsOneShotAndResets) {
  Sha256Hasher h;
  h.Update("abcdbcdecdefdefgefghfghighij");
  h.Update("hijkijkljklmklmnlmnomnopnopq");
  EXPECT_EQ(h.Final(), Sha256("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"));
  h.Update(static_cast<uint8_t>('a'));
  h.Update("bc");
  EXPECT_EQ(h.Final(), Sha256("abc"));  // Final() reset the hasher
}

// The GCM specification's test cases 13, 14 and 16 (AES-256).
TEST(AesGcm, KnownAnswers) {
  std::string zero_key(32, '\0'), zero_iv(12, '\0');
  auto g = AesGcm::Create(zero_key);
  ASSERT_TRUE(g.ok());
  std::string out;
  ASSERT_TRUE(g->SealWithIvForTest(zero_iv, "", "", &out).ok());
  EXPECT_EQ(HexEncode(out.substr(12)), "530f8afbc74536b9a963b4f1c4cb738b");
  out.clear();
  ASSERT_TRUE(g->SealWithIvForTest(zero_iv, "", std::string(16, '\0'), &out).ok());
  EXPECT_EQ(HexEncode(out.substr(12)),
            "cea7403d4d606b6e074ec5d3baf39d18d0d1c8a799996bf0265b98b5d48ab919");

  auto g16 = AesGcm::Create(Unhex("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308"));
  ASSERT_TRUE(g16.ok());
  std::string pt = Unhex(
      "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e24"
      "49a6b525b16aedf5aa0de657ba637b39");
  std::string aad = Unhex("feedfacedeadbeeffeedfacedeadbeefabaddad2");
  out.clear();
  ASSERT_TRUE(g16->SealWithIvForTest(Unhex("cafebabefacedbaddecaf888"), aad, pt, &out).ok());
  EXPECT_EQ(HexEncode(out.substr(12)),
            "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b10"
            "56828838c5f61e6393ba7a0abcc9f66276fc6ece0f4e1768cddf8853bb2d551b");
  std::string back;
  ASSERT_TRUE(g16->Open(aad, out, &back).ok());
  EXPECT_EQ(back, pt);
}

TEST(AesGcm, RejectsTamperingWrongAadAndWrongKey) {
  auto g = AesGcm::Create(std::string(32, '\x42'));
  ASSERT_TRUE(g.ok());
  std::string sealed;
  ASSERT_TRUE(g->Seal("place-1", "secret payload", &sealed).ok());
  std::string out;
  ASSERT_TRUE(g->Open("place-1", sealed, &out).ok());
  EXPECT_EQ(out, "secret payload");
  EXPECT_EQ(g->Open("place-2", sealed, &out).code(), StatusCode::kDataLoss);
  EXPECT_TRUE(out.empty());
  for (size_t i = 0; i < sealed.size(); ++i) {
    std::string bad = sealed;
    bad[i] ^= 0x01;
    EXPECT_EQ(g->Open("place-1", bad, &out).code(), StatusCode::kDataLoss) << "byte " << i;
  }
  EXPECT_EQ(g->Open("place-1", sealed.substr(0, 27), &out).code(), StatusCode::kDataLoss);
  auto other = AesGcm::Create(std::string(32, '\x43'));
  EXPECT_EQ(other->Open("place-1", sealed, &out).code(), StatusCode::kDataLoss);
  EXPECT_EQ(AesGcm::Create(std::string(16, 'k')).status().code(), StatusCode::kInvalidArgument);
}

TEST(AesGcm, IvsAreRandomAndNeverRepeat) {
  auto g = AesGcm::Create(std::string(32, '\x01'));
  std::set<std::string> ivs;
  for (int i = 0; i < 10000; ++i) {
    std::string sealed;
    ASSERT_TRUE(g->Seal("", "same plaintext", &sealed).ok());
    ivs.insert(sealed.substr(0, kGcmIvSizeBytes));
  }
  EXPECT_EQ(ivs.size(), 10000u);
}

// RFC 5869 test cases 1 and 3.
TEST(Hkdf, Rfc5869KnownAnswers) {
  auto okm = HkdfSha256(std::string(22, '\x0b'), Unhex("000102030405060708090a0b0c"),
                        Unhex("f0f1f2f3f4f5f6f7f8f9"), 42);
  ASSERT_TRUE(okm.ok());
  EXPECT_EQ(HexEncode(okm->view()),
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865");
  auto okm3 = HkdfSha256(std::string(22, '\x0b'), "", "", 42);
  ASSERT_TRUE(okm3.ok());
  EXPECT_EQ(HexEncode(okm3->view()),
            "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8");
  EXPECT_FALSE(HkdfSha256("k", "", "", 0).ok());
  EXPECT_FALSE(HkdfSha256("k", "", "", 255 * 32 + 1).ok());
}

// RFC 8032 section 7.1, tests 1 and 2.
TEST(Ed25519, Rfc8032KnownAnswers) {
  auto k1 = Ed25519PrivateKey::FromSeed(
      Unhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"));
  ASSERT_TRUE(k1.ok());
  EXPECT_EQ(HexEncode(k1->public_key()),
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
  auto sig = k1->Sign("");
  ASSERT_TRUE(sig.ok());
  EXPECT_EQ(HexEncode(*sig),
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e3970"
            "1cf9b46bd25bf5f0595bbe24655141438e7a100b");
  EXPECT_TRUE(Ed25519Verify(k1->public_key(), "", *sig));

  auto k2 = Ed25519PrivateKey::FromSeed(
      Unhex("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb"));
  ASSERT_TRUE(k2.ok());
  auto sig2 = k2->Sign(Unhex("72"));
  EXPECT_EQ(HexEncode(*sig2),
            "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613"
            "d0f11d8c387b2eaeb4302aeeb00d291612bb0c00");
}

TEST(Ed25519, RejectsForgeriesAndMalformedInput) {
  auto k = Ed25519PrivateKey::Generate();
  ASSERT_TRUE(k.ok());
  auto sig = k->Sign("checkpoint 42");
  ASSERT_TRUE(sig.ok());
  EXPECT_TRUE(Ed25519Verify(k->public_key(), "checkpoint 42", *sig));
  EXPECT_FALSE(Ed25519Verify(k->public_key(), "checkpoint 43", *sig));
  std::string bad = *sig;
  bad[10] ^= 0x20;
  EXPECT_FALSE(Ed25519Verify(k->public_key(), "checkpoint 42", bad));
  auto other = Ed25519PrivateKey::Generate();
  EXPECT_FALSE(Ed25519Verify(other->public_key(), "checkpoint 42", *sig));
  EXPECT_FALSE(Ed25519Verify(k->public_key(), "checkpoint 42", sig->substr(0, 63)));
  EXPECT_FALSE(Ed25519Verify(k->public_key().substr(1), "checkpoint 42", *sig));
  EXPECT_FALSE(Ed25519PrivateKey::FromSeed("short").ok());
}

TEST(Secure, ConstantTimeEqualsAndRandom) {
  EXPECT_TRUE(ConstantTimeEquals("abc", "abc"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abd"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "ab"));
  EXPECT_TRUE(ConstantTimeEquals("", ""));
  EXPECT_NE(RandomString(32), RandomString(32));
  EXPECT_EQ(RandomString(17).size(), 17u);
}

TEST(Secure, SecureBytesWipesOnClearAndMove) {
  SecureBytes a(std::string_view("0123456789abcdef0123456789abcdef"));
  SecureBytes b = a.Clone();
  EXPECT_EQ(a.view(), b.view());
  SecureBytes c = std::move(a);
  EXPECT_TRUE(a.empty());  // NOLINT: moved-from is specified to be empty
  EXPECT_EQ(c.view(), b.view());
  c.Clear();
  EXPECT_TRUE(c.empty());
}

}  // namespace
}  // namespace cairn::crypto

namespace cairn::crypto {
namespace CAIRN_UNITY_ID {

TEST(Secure, PublicRandomNeverRepeatsAcrossFork) {
  uint8_t warm[16];
  ASSERT_TRUE(RandomPublicBytes(warm).ok());  // fills this thread's pool
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    uint8_t child[16];
    bool ok = RandomPublicBytes(child).ok() && write(fds[1], child, sizeof child) == sizeof child;
    _exit(ok ? 0 : 1);
  }
  uint8_t parent[16], child[16];
  ASSERT_TRUE(RandomPublicBytes(parent).ok());
  ASSERT_EQ(read(fds[0], child, sizeof child), static_cast<ssize_t>(sizeof child));
  int status = 0;
  waitpid(pid, &status, 0);
  close(fds[0]);
  close(fds[1]);
  EXPECT_NE(std::memcmp(parent, child, sizeof parent), 0) << "the child reused the parent's pool";
  std::set<std::string> seen;
  for (int i = 0; i < 5000; ++i) {
    uint8_t b[12];
    ASSERT_TRUE(RandomPublicBytes(b).ok());
    seen.insert(std::string(reinterpret_cast<char*>(b), sizeof b));
  }
  EXPECT_EQ(seen.size(), 5000u);
}

}  // namespace
}  // namespace cairn::crypto
