// The PKCS#11 KMS provider against a real SoftHSMv2 token that each test creates in a temp dir.
#include "keys/pkcs11_kms.h"

#include <dlfcn.h>
#include <gtest/gtest.h>
#include <p11-kit/pkcs11.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <thread>
#include <vector>

#include "crypto/secure.h"
#include "keys/local_kms.h"
#include "test_util.h"
#include "unit/keys/softhsm_token.h"

namespace cairn::keys {
namespace CAIRN_UNITY_ID {

constexpr char kModule[] = "/usr/lib/softhsm/libsofthsm2.so";
constexpr char kTokenLabel[] = "cairn-test";
constexpr char kPin[] = "1234";

using testing::RunTool;

void WritePrivate(const std::string& path, const std::string& contents, mode_t mode = 0600) {
  testing::WriteFile(path, contents);
  ASSERT_EQ(::chmod(path.c_str(), mode), 0);
}

// KEK attributes read independently of Pkcs11Kms (its own C_Initialize/C_Finalize), so call it
// only while no provider is open.
struct KekFlags {
  bool found = false;
  CK_BBOOL extractable = CK_TRUE, sensitive = CK_FALSE, token = CK_FALSE, never_extractable = 0;
};
KekFlags ReadKekFlags(const std::string& key_label) {
  KekFlags out;
  void* lib = ::dlopen(kModule, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
  if (lib == nullptr) return out;
  auto get_list = reinterpret_cast<CK_C_GetFunctionList>(::dlsym(lib, "C_GetFunctionList"));
  CK_FUNCTION_LIST* f = nullptr;
  if (get_list == nullptr || get_list(&f) != CKR_OK || f->C_Initialize(nullptr) != CKR_OK) {
    return out;
  }
  CK_SLOT_ID slots[16];
  CK_ULONG n = 16;
  if (f->C_GetSlotList(CK_TRUE, slots, &n) == CKR_OK) {
    for (CK_ULONG i = 0; i < n && !out.found; ++i) {
      CK_TOKEN_INFO ti;
      if (f->C_GetTokenInfo(slots[i], &ti) != CKR_OK) continue;
      std::string label(reinterpret_cast<char*>(ti.label), sizeof ti.label);
      if (label.rfind(std::string(kTokenLabel) + " ", 0) != 0) continue;
      CK_SESSION_HANDLE s;
      if (f->C_OpenSession(slots[i], CKF_SERIAL_SESSION, nullptr, nullptr, &s) != CKR_OK) continue;
      std::string pin = kPin;
      f->C_Login(s, CKU_USER, reinterpret_cast<CK_BYTE*>(pin.data()), pin.size());
      std::string kl = key_label;
      CK_ATTRIBUTE find = {CKA_LABEL, kl.data(), kl.size()};
      CK_OBJECT_HANDLE h;
      CK_ULONG found = 0;
      f->C_FindObjectsInit(s, &find, 1);
      f->C_FindObjects(s, &h, 1, &found);
      f->C_FindObjectsFinal(s);
      if (found == 1) {
        CK_ATTRIBUTE a[] = {
            {CKA_EXTRACTABLE, &out.extractable, sizeof(CK_BBOOL)},
            {CKA_SENSITIVE, &out.sensitive, sizeof(CK_BBOOL)},
            {CKA_TOKEN, &out.token, sizeof(CK_BBOOL)},
            {CKA_NEVER_EXTRACTABLE, &out.never_extractable, sizeof(CK_BBOOL)},
        };
        out.found = f->C_GetAttributeValue(s, h, a, 4) == CKR_OK;
      }
      f->C_Logout(s);
      f->C_CloseSession(s);
    }
  }
  f->C_Finalize(nullptr);
  return out;
}

class Pkcs11KmsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::access(kModule, R_OK) != 0) GTEST_SKIP() << kModule << " is not installed";
    tokens_ = tmp_.Sub("tokens");
    ASSERT_TRUE(std::filesystem::create_directory(tokens_));
    conf_ = tmp_.Sub("softhsm2.conf");
    testing::WriteFile(conf_, "directories.tokendir = " + tokens_ +
                                  "\nobjectstore.backend = file\nlog.level = ERROR\n");
    ASSERT_EQ(::setenv("SOFTHSM2_CONF", conf_.c_str(), 1), 0);
    ASSERT_EQ(RunTool({"softhsm2-util", "--init-token", "--free", "--label", kTokenLabel, "--pin",
                       kPin, "--so-pin", "5678"}),
              0);
    pin_file_ = tmp_.Sub("pin");
    WritePrivate(pin_file_, std::string(kPin) + "\n");
  }

  Pkcs11Options Options(const std::string& key_label = "cairn-kek", bool create = true) const {
    Pkcs11Options o;
    o.module_path = kModule;
    o.token_label = kTokenLabel;
    o.pin_file = pin_file_;
    o.key_label = key_label;
    o.create_key_if_missing = create;
    return o;
  }

  std::unique_ptr<Pkcs11Kms> MustOpen(const Pkcs11Options& o) {
    auto kms = Pkcs11Kms::Open(o);
    EXPECT_TRUE(kms.ok()) << kms.status().ToString();
    return kms.ok() ? std::move(kms).value() : nullptr;
  }

  testing::TempDir tmp_;
  std::string tokens_, conf_, pin_file_;
};

TEST_F(Pkcs11KmsTest, WrapsAndUnwrapsRoundTrip) {
  auto kms = MustOpen(Options());
  ASSERT_TRUE(kms);
  EXPECT_EQ(kms->provider_name(), "pkcs11");
  EXPECT_EQ(kms->kek_id().rfind("pkcs11:", 0), 0u);
  EXPECT_EQ(kms->kek_id().size(), 7u + 16u);
  EXPECT_TRUE(kms->Health().ok());
  for (size_t size : {size_t{1}, size_t{32}, size_t{4096}}) {
    const std::string secret = crypto::RandomString(size);
    auto wrapped = kms->Wrap(secret, "subject/alice/v1");
    ASSERT_TRUE(wrapped.ok()) << size << ": " << wrapped.status().ToString();
    EXPECT_NE(*wrapped, secret);
    EXPECT_LE(wrapped->size(), kPkcs11WrappedSizeBytesMax);
    if (size >= 8) {
      EXPECT_EQ(wrapped->find(secret), std::string::npos) << size;
    }
    auto back = kms->Unwrap(*wrapped, "subject/alice/v1");
    ASSERT_TRUE(back.ok()) << size << ": " << back.status().ToString();
    EXPECT_EQ(back->view(), secret) << size;
  }
  // Trailing zero bytes survive (the length is explicit, not inferred from KWP's padding).
  const std::string zeros("k\0\0\0\0\0", 6);
  auto wz = kms->Wrap(zeros, "z");
  ASSERT_TRUE(wz.ok());
  EXPECT_EQ(kms->Unwrap(*wz, "z")->view(), zeros);
  EXPECT_EQ(kms->Wrap("", "c").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(kms->Wrap(std::string(kWrapPlaintextSizeBytesMax + 1, 'x'), "c").status().code(),
            StatusCode::kInvalidArgument);
}

TEST_F(Pkcs11KmsTest, RefusesAnotherContextAndAnyModifiedByte) {
  auto kms = MustOpen(Options());
  ASSERT_TRUE(kms);
  const std::string secret(32, '\x5a');
  auto wrapped = kms->Wrap(secret, "storage-epoch/0");
  ASSERT_TRUE(wrapped.ok());
  EXPECT_EQ(kms->Unwrap(*wrapped, "storage-epoch/1").status().code(), StatusCode::kDataLoss);
  EXPECT_EQ(kms->Unwrap(*wrapped, "").status().code(), StatusCode::kDataLoss);
  for (size_t i = 0; i < wrapped->size(); ++i) {
    std::string bad = *wrapped;
    bad[i] ^= 0x01;
    auto r = kms->Unwrap(bad, "storage-epoch/0");
    EXPECT_EQ(r.status().code(), StatusCode::kDataLoss)
        << "byte " << i << ": " << r.status().ToString();
  }
  EXPECT_EQ(kms->Unwrap(wrapped->substr(0, wrapped->size() - 8), "storage-epoch/0").status().code(),
            StatusCode::kDataLoss);
  EXPECT_EQ(kms->Unwrap(*wrapped + std::string(8, '\0'), "storage-epoch/0").status().code(),
            StatusCode::kDataLoss);
  EXPECT_EQ(kms->Unwrap("", "storage-epoch/0").status().code(), StatusCode::kDataLoss);
  // A blob of the local provider is refused cleanly.
  auto local = LocalKms::Create(tmp_.Sub("keyring"));
  ASSERT_TRUE(local.ok());
  auto local_blob = (*local)->Wrap(secret, "storage-epoch/0");
  ASSERT_TRUE(local_blob.ok());
  auto r = kms->Unwrap(*local_blob, "storage-epoch/0");
  EXPECT_EQ(r.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(r.status().message().find("unknown format"), std::string::npos);
  // Still healthy after all those refusals.
  EXPECT_TRUE(kms->Health().ok());
  EXPECT_EQ(kms->Unwrap(*wrapped, "storage-epoch/0")->view(), secret);
}

TEST_F(Pkcs11KmsTest, RefusesABlobFromAnotherKey) {
  auto a = MustOpen(Options("kek-a"));
  auto b = MustOpen(Options("kek-b"));
  ASSERT_TRUE(a && b);
  EXPECT_NE(a->kek_id(), b->kek_id());
  const std::string secret(32, '\x11');
  auto from_a = a->Wrap(secret, "ctx");
  auto from_b = b->Wrap(secret, "ctx");
  ASSERT_TRUE(from_a.ok() && from_b.ok());
  auto r = b->Unwrap(*from_a, "ctx");
  EXPECT_EQ(r.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(r.status().message().find(a->kek_id()), std::string::npos) << r.status().ToString();
  // A forged header (B's) on A's ciphertext gets past the header check; the token's KWP
  // integrity check must refuse it.
  std::string forged = from_b->substr(0, 13) + from_a->substr(13);
  r = b->Unwrap(forged, "ctx");
  EXPECT_EQ(r.status().code(), StatusCode::kDataLoss) << r.status().ToString();
  EXPECT_TRUE(b->Health().ok());
}

TEST_F(Pkcs11KmsTest, WrongPinIsAnErrorThatDoesNotShowThePin) {
  WritePrivate(pin_file_, "98765432\n");
  auto kms = Pkcs11Kms::Open(Options());
  ASSERT_FALSE(kms.ok());
  EXPECT_EQ(kms.status().code(), StatusCode::kPermissionDenied) << kms.status().ToString();
  EXPECT_NE(kms.status().message().find("CKR_PIN_INCORRECT"), std::string::npos);
  EXPECT_EQ(kms.status().message().find("98765432"), std::string::npos);

  ASSERT_EQ(::setenv("CAIRN_TEST_P11_PIN", "55554444", 1), 0);
  Pkcs11Options o = Options();
  o.pin_file.clear();
  o.pin_env = "CAIRN_TEST_P11_PIN";
  kms = Pkcs11Kms::Open(o);
  ASSERT_FALSE(kms.ok());
  EXPECT_EQ(kms.status().message().find("55554444"), std::string::npos);
  ::unsetenv("CAIRN_TEST_P11_PIN");
}

TEST_F(Pkcs11KmsTest, PinFromTheEnvironment) {
  Pkcs11Options o = Options();
  o.pin_file.clear();
  o.pin_env = "CAIRN_TEST_P11_PIN";
  ::unsetenv("CAIRN_TEST_P11_PIN");
  EXPECT_EQ(Pkcs11Kms::Open(o).status().code(), StatusCode::kInvalidArgument);
  ASSERT_EQ(::setenv("CAIRN_TEST_P11_PIN", kPin, 1), 0);
  {
    auto kms = MustOpen(o);
    EXPECT_TRUE(kms);
  }
  o.pin_file = pin_file_;  // both: ambiguous
  EXPECT_EQ(Pkcs11Kms::Open(o).status().code(), StatusCode::kInvalidArgument);
  ::unsetenv("CAIRN_TEST_P11_PIN");
}

TEST_F(Pkcs11KmsTest, RefusesAPinFileOthersCanRead) {
  ASSERT_EQ(::chmod(pin_file_.c_str(), 0644), 0);
  auto kms = Pkcs11Kms::Open(Options());
  ASSERT_FALSE(kms.ok());
  EXPECT_EQ(kms.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(kms.status().message().find("chmod 600"), std::string::npos);
}

TEST_F(Pkcs11KmsTest, MissingKeyWithoutCreateNamesTheLabel) {
  auto kms = Pkcs11Kms::Open(Options("no-such-kek", /*create=*/false));
  ASSERT_FALSE(kms.ok());
  EXPECT_EQ(kms.status().code(), StatusCode::kNotFound);
  EXPECT_NE(kms.status().message().find("'no-such-kek'"), std::string::npos);
  EXPECT_NE(kms.status().message().find(kTokenLabel), std::string::npos);
}

TEST_F(Pkcs11KmsTest, UnknownTokenOrModule) {
  Pkcs11Options o = Options();
  o.token_label = "no-such-token";
  EXPECT_EQ(Pkcs11Kms::Open(o).status().code(), StatusCode::kUnavailable);
  o = Options();
  o.module_path = tmp_.Sub("missing.so");
  EXPECT_EQ(Pkcs11Kms::Open(o).status().code(), StatusCode::kFailedPrecondition);
}

TEST_F(Pkcs11KmsTest, CreatesANonExtractableKeyWhoseIdIsStable) {
  std::string id, blob;
  {
    auto kms = MustOpen(Options("dev-kek", /*create=*/true));
    ASSERT_TRUE(kms);
    id = kms->kek_id();
    auto w = kms->Wrap("0123456789abcdef0123456789abcdef", "ckpt");
    ASSERT_TRUE(w.ok());
    blob = *w;
  }
  KekFlags flags = ReadKekFlags("dev-kek");
  ASSERT_TRUE(flags.found);
  EXPECT_EQ(flags.extractable, CK_FALSE);
  EXPECT_EQ(flags.never_extractable, CK_TRUE);
  EXPECT_EQ(flags.sensitive, CK_TRUE);
  EXPECT_EQ(flags.token, CK_TRUE);

  auto again = MustOpen(Options("dev-kek", /*create=*/false));
  ASSERT_TRUE(again);
  EXPECT_EQ(again->kek_id(), id);
  auto back = again->Unwrap(blob, "ckpt");
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->view(), "0123456789abcdef0123456789abcdef");
}

TEST_F(Pkcs11KmsTest, TokenGoneFailsClosed) {
  std::string blob;
  {
    auto kms = MustOpen(Options());
    ASSERT_TRUE(kms);
    auto w = kms->Wrap(std::string(32, 'k'), "ctx");
    ASSERT_TRUE(w.ok());
    blob = *w;
    for (const auto& e : std::filesystem::directory_iterator(tokens_)) {
      std::filesystem::remove_all(e.path());
    }
    Status h = kms->Health();
    EXPECT_EQ(h.code(), StatusCode::kUnavailable) << h.ToString();
    auto wrapped = kms->Wrap(std::string(32, 'k'), "ctx");
    EXPECT_EQ(wrapped.status().code(), StatusCode::kUnavailable) << wrapped.status().ToString();
    auto unwrapped = kms->Unwrap(blob, "ctx");
    EXPECT_EQ(unwrapped.status().code(), StatusCode::kUnavailable) << unwrapped.status().ToString();
  }
  auto reopened = Pkcs11Kms::Open(Options());
  EXPECT_EQ(reopened.status().code(), StatusCode::kUnavailable) << reopened.status().ToString();
}

TEST_F(Pkcs11KmsTest, ConcurrentRoundTrips) {
  auto kms = MustOpen(Options());
  ASSERT_TRUE(kms);
  constexpr int kThreads = 8, kRounds = 200;
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kRounds; ++i) {
        const std::string secret = crypto::RandomString(32);
        const std::string ctx = "subject/" + std::to_string(t) + "/" + std::to_string(i);
        auto w = kms->Wrap(secret, ctx);
        if (!w.ok()) continue;
        auto u = kms->Unwrap(*w, ctx);
        if (u.ok() && u->view() == secret) ok.fetch_add(1);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(ok.load(), kThreads * kRounds);
  EXPECT_TRUE(kms->Health().ok());
}

// Not a benchmark: prints the per-call cost against SoftHSM so the numbers can be quoted.
TEST_F(Pkcs11KmsTest, ReportsPerCallCost) {
  auto kms = MustOpen(Options());
  ASSERT_TRUE(kms);
  constexpr int kCalls = 1000;
  const std::string secret = crypto::RandomString(32);
  std::vector<double> wrap_us, unwrap_us;
  std::string blob;
  for (int i = 0; i < kCalls; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    auto w = kms->Wrap(secret, "subject/bench");
    auto t1 = std::chrono::steady_clock::now();
    ASSERT_TRUE(w.ok());
    auto u = kms->Unwrap(*w, "subject/bench");
    auto t2 = std::chrono::steady_clock::now();
    ASSERT_TRUE(u.ok());
    wrap_us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
    unwrap_us.push_back(std::chrono::duration<double, std::micro>(t2 - t1).count());
  }
  auto median = [](std::vector<double> v) {
    std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
    return v[v.size() / 2];
  };
  std::printf("pkcs11 (SoftHSM %s): wrap median %.1f us, unwrap median %.1f us (%d calls, 32 B)\n",
              kModule, median(wrap_us), median(unwrap_us), kCalls);
}

}  // namespace
}  // namespace cairn::keys
