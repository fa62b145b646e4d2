// The local KMS provider and the storage-key epochs.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/bytes.h"
#include "keys/local_keyring.h"
#include "keys/local_kms.h"
#include "keys/storage_keys.h"
#include "storage/rocksdb/rocks_log_store.h"
#include "test_util.h"

namespace cairn::keys {
namespace CAIRN_UNITY_ID {

TEST(LocalKms, CreatesAPrivateKeyringAndWrapsRoundTrip) {
  testing::TempDir tmp;
  const std::string path = tmp.Sub("keyring");
  auto kms = LocalKms::Create(path);
  ASSERT_TRUE(kms.ok()) << kms.status().ToString();
  struct stat st;
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ((*kms)->provider_name(), "local");
  EXPECT_EQ((*kms)->kek_id().rfind("local:", 0), 0u);

  const std::string secret(32, '\x7e');
  auto wrapped = (*kms)->Wrap(secret, "storage-epoch/0");
  ASSERT_TRUE(wrapped.ok());
  EXPECT_EQ(wrapped->find(secret), std::string::npos);
  auto back = (*kms)->Unwrap(*wrapped, "storage-epoch/0");
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->view(), secret);

  // Reopened from the file: same KEK, same id.
  auto again = LocalKms::Open(path);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ((*again)->kek_id(), (*kms)->kek_id());
  EXPECT_EQ((*again)->Unwrap(*wrapped, "storage-epoch/0")->view(), secret);
}

TEST(LocalKms, RefusesWrongContextTamperingAndAnotherKek) {
  testing::TempDir tmp;
  auto kms = LocalKms::Create(tmp.Sub("a"));
  auto other = LocalKms::Create(tmp.Sub("b"));
  ASSERT_TRUE(kms.ok() && other.ok());
  auto wrapped = (*kms)->Wrap(std::string(32, 'k'), "checkpoint-signing-key");
  ASSERT_TRUE(wrapped.ok());
  EXPECT_EQ((*kms)->Unwrap(*wrapped, "storage-epoch/0").status().code(), StatusCode::kDataLoss);
  EXPECT_EQ((*other)->Unwrap(*wrapped, "checkpoint-signing-key").status().code(), StatusCode::kDataLoss);
  for (size_t i = 0; i < wrapped->size(); ++i) {
    std::string bad = *wrapped;
    bad[i] ^= 0x04;
    EXPECT_FALSE((*kms)->Unwrap(bad, "checkpoint-signing-key").ok()) << "byte " << i;
  }
  EXPECT_FALSE((*kms)->Unwrap("", "checkpoint-signing-key").ok());
  EXPECT_EQ((*kms)->Wrap("", "x").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ((*kms)->Wrap(std::string(4097, 'x'), "x").status().code(), StatusCode::kInvalidArgument);
}

TEST(LocalKms, RefusesExposedMissingMalformedOrExistingKeyrings) {
  testing::TempDir tmp;
  const std::string path = tmp.Sub("keyring");
  ASSERT_TRUE(LocalKms::Create(path).ok());
  EXPECT_EQ(LocalKms::Create(path).status().code(), StatusCode::kAlreadyExists);
  for (mode_t mode : {0640, 0604, 0660}) {
    ASSERT_EQ(::chmod(path.c_str(), mode), 0);
    auto s = LocalKms::Open(path);
    EXPECT_EQ(s.status().code(), StatusCode::kFailedPrecondition) << std::oct << mode;
    EXPECT_NE(s.status().message().find("chmod 600"), std::string::npos);
  }
  ASSERT_EQ(::chmod(path.c_str(), 0600), 0);
  EXPECT_TRUE(LocalKms::Open(path).ok());
  EXPECT_EQ(LocalKms::Open(tmp.Sub("missing")).status().code(), StatusCode::kNotFound);
  const std::string bad = tmp.Sub("bad");
  testing::WriteFile(bad, "cairn-local-kek-v1 c2hvcnQ=\n");
  ASSERT_EQ(::chmod(bad.c_str(), 0600), 0);
  auto s = LocalKms::Open(bad);
  EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.status().message().find("c2hvcnQ"), std::string::npos);  // never echo key material
}

// The checks are made on the file that was opened: a FIFO put where the keyring was is refused
// at once (opening it does not wait for a writer), and so is a symlink.
TEST(LocalKms, RefusesAFifoOrASymlinkInPlaceOfTheKeyringWithoutBlocking) {
  testing::TempDir tmp;
  const std::string fifo = tmp.Sub("fifo");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  auto s = LocalKms::Open(fifo);
  EXPECT_EQ(s.status().code(), StatusCode::kFailedPrecondition) << s.status().ToString();
  EXPECT_NE(s.status().message().find("not a regular file"), std::string::npos);
  const std::string real = tmp.Sub("keyring");
  ASSERT_TRUE(LocalKms::Create(real).ok());
  const std::string link = tmp.Sub("link");
  ASSERT_EQ(::symlink(real.c_str(), link.c_str()), 0);
  EXPECT_EQ(LocalKms::Open(link).status().code(), StatusCode::kFailedPrecondition);
  EXPECT_TRUE(LocalKms::Open(real).ok());
}

// A fresh RocksDB store and a local KMS in a temp directory.
struct StoreAndKms {
  testing::TempDir tmp;
  Result<std::unique_ptr<LocalKms>> kms = LocalKms::Create(tmp.Sub("keyring"));
  Result<std::unique_ptr<storage::LogStore>> store = Open(tmp.Sub("db"));

  static Result<std::unique_ptr<storage::LogStore>> Open(const std::string& path) {
    storage::RocksOptions o;
    o.path = path;
    o.create_if_missing = true;
    return storage::OpenRocksLogStore(o);
  }
};

TEST(StorageKeys, InitializeLoadRotateAndFailClosed) {
  StoreAndKms env;
  auto& tmp = env.tmp;
  auto& kms = env.kms;
  auto& store = env.store;
  ASSERT_TRUE(kms.ok() && store.ok());
  EXPECT_EQ(StorageKeys::Load(store->get(), kms->get()).status().code(), StatusCode::kNotFound);
  ASSERT_TRUE(StorageKeys::Initialize(store->get(), kms->get()).ok());
  EXPECT_EQ(StorageKeys::Initialize(store->get(), kms->get()).code(), StatusCode::kAlreadyExists);
  auto keys = StorageKeys::Load(store->get(), kms->get());
  ASSERT_TRUE(keys.ok()) << keys.status().ToString();
  EXPECT_EQ((*keys)->current().epoch, 0u);
  auto k0 = (*keys)->Key(0);
  ASSERT_NE(k0, nullptr);
  EXPECT_EQ(k0->size(), 32u);
  ASSERT_TRUE((*keys)->Rotate(100).ok());
  EXPECT_EQ((*keys)->current().epoch, 1u);
  EXPECT_EQ((*keys)->current().start_position, 100u);
  ASSERT_TRUE((*keys)->Rotate(50).ok());  // an earlier start is clamped: starts never decrease
  EXPECT_EQ((*keys)->current().start_position, 100u);
  EXPECT_EQ((*keys)->Key(7), nullptr);

  auto reloaded = StorageKeys::Load(store->get(), kms->get());
  ASSERT_TRUE(reloaded.ok()) << reloaded.status().ToString();
  EXPECT_EQ((*reloaded)->epoch_count(), 3u);
  EXPECT_EQ((*reloaded)->Key(0)->view(), k0->view());
  EXPECT_NE((*reloaded)->Key(1)->view(), k0->view());

  // Another KEK cannot unwrap them: loading fails closed.
  auto other = LocalKms::Create(tmp.Sub("other"));
  EXPECT_EQ(StorageKeys::Load(store->get(), other->get()).status().code(), StatusCode::kDataLoss);
  // Neither can a swapped epoch (the wrap is bound to its name).
  auto e0 = (*store)->ReadKeyMaterial("storage-epoch/0");
  ASSERT_TRUE(e0.ok() && e0->has_value());
  ASSERT_TRUE((*store)->PutKeyMaterial("storage-epoch/1", **e0).ok());
  EXPECT_EQ(StorageKeys::Load(store->get(), kms->get()).status().code(), StatusCode::kDataLoss);
}

// A rotation that stored its epoch's key but stopped before recording it current (a crash): the
// next load takes the epoch, and the next rotation goes past it instead of refusing forever.
TEST(StorageKeys, ARotationInterruptedBeforeItWasRecordedIsAdoptedNotAnEndlessConflict) {
  StoreAndKms env;
  ASSERT_TRUE(env.kms.ok() && env.store.ok());
  storage::LogStore* store = env.store->get();
  KmsProvider* kms = env.kms->get();
  ASSERT_TRUE(StorageKeys::Initialize(store, kms).ok());
  auto keys = StorageKeys::Load(store, kms);
  ASSERT_TRUE(keys.ok());
  ASSERT_TRUE((*keys)->Rotate(10).ok());
  auto e1 = (*keys)->Key(1);
  ASSERT_NE(e1, nullptr);
  // Undo only the record of the current epoch, as a crash between the two writes leaves it.
  std::string zero(4, '\0');
  ASSERT_TRUE(store->PutMeta("storage_epoch_current", zero).ok());

  auto reloaded = StorageKeys::Load(store, kms);
  ASSERT_TRUE(reloaded.ok()) << reloaded.status().ToString();
  EXPECT_EQ((*reloaded)->current().epoch, 1u);
  EXPECT_EQ((*reloaded)->Key(1)->view(), e1->view()) << "records of epoch 1 stay readable";
  Status rotated = (*reloaded)->Rotate(20);
  ASSERT_TRUE(rotated.ok()) << rotated.ToString();
  EXPECT_EQ((*reloaded)->current().epoch, 2u);
  auto again = StorageKeys::Load(store, kms);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ((*again)->epoch_count(), 3u);
}

// An epoch this object does not know (stored by another StorageKeys of the store, or by this one
// before its record of the current epoch failed) is taken at the next rotation, on a store of
// one node too, instead of refusing every rotation (and so every append past the limit) until
// a restart.
TEST(StorageKeys, ARotationTakesEpochsItDidNotMakeAlsoOnOneNode) {
  StoreAndKms env;
  ASSERT_TRUE(env.kms.ok() && env.store.ok());
  storage::LogStore* store = env.store->get();
  ASSERT_FALSE(store->shared());
  KmsProvider* kms = env.kms->get();
  ASSERT_TRUE(StorageKeys::Initialize(store, kms).ok());
  auto stale = StorageKeys::Load(store, kms);
  auto other = StorageKeys::Load(store, kms);
  ASSERT_TRUE(stale.ok() && other.ok());
  ASSERT_TRUE((*other)->Rotate(10).ok());  // epoch 1, unknown to `stale`
  const Status rotated = (*stale)->Rotate(20);
  ASSERT_TRUE(rotated.ok()) << rotated.ToString();
  EXPECT_EQ((*stale)->current().epoch, 2u);
  EXPECT_EQ((*stale)->Key(1)->view(), (*other)->Key(1)->view());
}

// A KEK rotation re-wraps every epoch in the store, also one this object does not know (its own
// rotation stored the epoch, then failed to record it current): left under the retired KEK, it
// made the store fail to open.
TEST(StorageKeys, AKekRewrapTakesEpochsItDidNotMakeAlsoOnOneNode) {
  testing::TempDir tmp;
  LocalKmsOptions o;
  o.keyring_path = tmp.Sub("keyring");
  auto kms = LocalKeyring::Create(o);
  auto store = StoreAndKms::Open(tmp.Sub("db"));
  ASSERT_TRUE(kms.ok() && store.ok());
  ASSERT_FALSE((*store)->shared());
  ASSERT_TRUE(StorageKeys::Initialize(store->get(), kms->get()).ok());
  auto stale = StorageKeys::Load(store->get(), kms->get());
  auto other = StorageKeys::Load(store->get(), kms->get());
  ASSERT_TRUE(stale.ok() && other.ok());
  ASSERT_TRUE((*other)->Rotate(10).ok());  // epoch 1, unknown to `stale`
  ASSERT_TRUE((*kms)->AddKekVersion().ok());
  auto rewrapped = (*stale)->RewrapAll();
  ASSERT_TRUE(rewrapped.ok()) << rewrapped.status().ToString();
  EXPECT_EQ(*rewrapped, 2u);
  ASSERT_TRUE((*kms)->RetireOldKekVersions().ok());
  auto reloaded = StorageKeys::Load(store->get(), kms->get());
  ASSERT_TRUE(reloaded.ok()) << reloaded.status().ToString();
  EXPECT_EQ((*reloaded)->Key(1)->view(), (*other)->Key(1)->view());
}

}  // namespace
}  // namespace cairn::keys
