// WebhookStore's sweep of unused secrets: a secret no indexed webhook uses (a crash between a
// create's writes, a delete or rotation whose destroy did not happen) is destroyed on the second
// look, never on the first; used secrets and names of other forms are left alone. A create or
// rotation whose new secret another node's sweep destroyed between its writes writes it again.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "../engine/faulty_store.h"
#include "subscribe/webhook_store.h"
#include "test_util.h"

namespace cairn::subscribe {
namespace CAIRN_UNITY_ID {

constexpr int64_t kAgeMs = 60000;

class WebhookStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string dir = tmp_.Sub("data");
    ASSERT_TRUE(engine::EventStore::Init({dir, "test.example/log", {}, std::nullopt}).ok());
    engine::Options options;
    options.data_dir = dir;
    options.wrap_store_for_test = [this](std::unique_ptr<storage::LogStore> inner) {
      return std::unique_ptr<storage::LogStore>(new engine::FaultyStore(std::move(inner), &plan_));
    };
    plan_.after_put_meta = [this](std::string_view name) {
      if (name == destroy_after_meta_) {
        ASSERT_TRUE(keys()->DestroyKeyMaterial(destroy_secret_).ok());  // "another node's sweep"
        destroy_after_meta_.clear();
      }
    };
    auto store = engine::EventStore::Open(options);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(store).value();
    webhooks_ = std::make_unique<WebhookStore>(store_.get());
  }

  storage::LogStore* keys() { return store_->log_store(); }
  bool Has(const std::string& name) {
    auto value = keys()->ReadKeyMaterial(name);
    EXPECT_TRUE(value.ok());
    return value.ok() && value->has_value();
  }
  Status Create(const std::string& name, const std::string& secret) {
    WebhookDefinition def;
    def.name = name;
    def.url = "https://hooks.example/" + name;
    def.source = std::string(kAllSource);
    return webhooks_->Create(def, crypto::SecureBytes(secret), 0);
  }

  testing::TempDir tmp_;
  engine::FaultPlan plan_;
  std::string destroy_after_meta_;  // PutMeta of this name destroys destroy_secret_ (once)
  std::string destroy_secret_;
  std::unique_ptr<engine::EventStore> store_;
  std::unique_ptr<WebhookStore> webhooks_;
};

TEST_F(WebhookStoreTest, UnusedSecretsAreDestroyedOnTheSecondLookOnly) {
  ASSERT_TRUE(Create("kept", "secret-kept-1").ok());
  const int64_t now_s = 1700000000;
  ASSERT_TRUE(webhooks_->Rotate("kept", crypto::SecureBytes(std::string("secret-kept-2")), now_s, 60).ok());
  ASSERT_TRUE(webhooks_->Rotate("kept", crypto::SecureBytes(std::string("secret-kept-3")), now_s, 60).ok());
  // A deleted webhook's secret whose destroy never happened, a retired version whose destroy
  // never happened, a rotation that crashed after its secret's write (kept: a retried rotation
  // writes that name again), and names of other forms under the prefix.
  ASSERT_TRUE(keys()->PutKeyMaterial("webhook/gone/secret/1", "WRAPPED-GONE").ok());
  ASSERT_TRUE(keys()->PutKeyMaterial("webhook/kept/secret/1", "WRAPPED-RETIRED").ok());
  ASSERT_TRUE(keys()->PutKeyMaterial("webhook/kept/secret/4", "WRAPPED-CRASHED-ROTATION").ok());
  ASSERT_TRUE(keys()->PutKeyMaterial("webhook/kept/other", "NOT-A-SECRET-NAME").ok());
  ASSERT_TRUE(keys()->PutKeyMaterial("webhook/gone/secret/01", "LEADING-ZERO").ok());

  auto first = webhooks_->SweepUnusedSecrets(1000, kAgeMs);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(*first, 0u) << "the first look only marks";
  auto early = webhooks_->SweepUnusedSecrets(1000 + kAgeMs - 1, kAgeMs);
  ASSERT_TRUE(early.ok());
  EXPECT_EQ(*early, 0u) << "too soon after the first look";
  EXPECT_TRUE(Has("webhook/gone/secret/1"));

  auto second = webhooks_->SweepUnusedSecrets(1000 + kAgeMs, kAgeMs);
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_EQ(*second, 2u);
  EXPECT_FALSE(Has("webhook/gone/secret/1"));
  EXPECT_FALSE(Has("webhook/kept/secret/1"));
  EXPECT_TRUE(Has("webhook/kept/secret/4"));
  EXPECT_TRUE(Has("webhook/kept/other"));
  EXPECT_TRUE(Has("webhook/gone/secret/01"));
  auto current = webhooks_->LoadSecret("kept", 3);
  ASSERT_TRUE(current.ok()) << current.status().ToString();
  EXPECT_EQ(current->view(), "secret-kept-3");
  EXPECT_TRUE(webhooks_->LoadSecret("kept", 2).ok());  // the previous one still signs
}

TEST_F(WebhookStoreTest, ASecretUsedAgainBetweenTheLooksIsKept) {
  ASSERT_TRUE(keys()->PutKeyMaterial("webhook/late/secret/1", "WRAPPED-HALF-CREATED").ok());
  ASSERT_TRUE(webhooks_->SweepUnusedSecrets(1000, kAgeMs).ok());
  ASSERT_TRUE(Create("late", "secret-late-1").ok());  // the create completes meanwhile
  auto second = webhooks_->SweepUnusedSecrets(1000 + 10 * kAgeMs, kAgeMs);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(*second, 0u);
  auto secret = webhooks_->LoadSecret("late", 1);
  ASSERT_TRUE(secret.ok()) << secret.status().ToString();
  EXPECT_EQ(secret->view(), "secret-late-1");
}

// Another node retrying a crashed create writes the name again between two looks: new bytes, so
// the second look starts over instead of destroying the secret the new webhook is about to use.
TEST_F(WebhookStoreTest, ASecretRewrittenBetweenTheLooksStartsOver) {
  ASSERT_TRUE(keys()->PutKeyMaterial("webhook/redo/secret/1", "WRAPPED-FIRST-TRY").ok());
  ASSERT_TRUE(webhooks_->SweepUnusedSecrets(1000, kAgeMs).ok());
  ASSERT_TRUE(keys()->PutKeyMaterial("webhook/redo/secret/1", "WRAPPED-SECOND-TRY").ok());
  auto second = webhooks_->SweepUnusedSecrets(1000 + kAgeMs, kAgeMs);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(*second, 0u);
  EXPECT_TRUE(Has("webhook/redo/secret/1"));
  auto third = webhooks_->SweepUnusedSecrets(1000 + 2 * kAgeMs, kAgeMs);  // still unused
  ASSERT_TRUE(third.ok());
  EXPECT_EQ(*third, 1u);
  EXPECT_FALSE(Has("webhook/redo/secret/1"));
}

// The narrowest race: another node rewrites the name after the second look found the old bytes
// again, just before the destroy. The destroy is conditional on the bytes looked at, so the new
// secret stays.
TEST_F(WebhookStoreTest, ASecretRewrittenRightBeforeTheDestroyIsKept) {
  ASSERT_TRUE(keys()->PutKeyMaterial("webhook/close/secret/1", "WRAPPED-OLD-TRY").ok());
  ASSERT_TRUE(webhooks_->SweepUnusedSecrets(1000, kAgeMs).ok());
  plan_.before_destroy_if = [this] {
    ASSERT_TRUE(keys()->PutKeyMaterial("webhook/close/secret/1", "WRAPPED-NEW-TRY").ok());
  };
  auto second = webhooks_->SweepUnusedSecrets(1000 + kAgeMs, kAgeMs);
  plan_.before_destroy_if = nullptr;
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_EQ(*second, 0u);
  auto kept = keys()->ReadKeyMaterial("webhook/close/secret/1");
  ASSERT_TRUE(kept.ok() && kept->has_value());
  EXPECT_EQ(**kept, "WRAPPED-NEW-TRY");
}

TEST_F(WebhookStoreTest, ACreateOrRotationWritesItsSecretAgainWhenASweepDestroyedIt) {
  destroy_after_meta_ = "component/webhook/index";
  destroy_secret_ = "webhook/raced/secret/1";
  ASSERT_TRUE(Create("raced", "secret-raced-1").ok());
  EXPECT_TRUE(destroy_after_meta_.empty()) << "the race was not staged";
  auto first = webhooks_->LoadSecret("raced", 1);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(first->view(), "secret-raced-1");

  destroy_after_meta_ = "component/webhook/def/raced";
  destroy_secret_ = "webhook/raced/secret/2";
  ASSERT_TRUE(webhooks_->Rotate("raced", crypto::SecureBytes(std::string("secret-raced-2")), 1700000000, 60).ok());
  EXPECT_TRUE(destroy_after_meta_.empty()) << "the race was not staged";
  auto second = webhooks_->LoadSecret("raced", 2);
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_EQ(second->view(), "secret-raced-2");
}

// A KEK rotation that ran between a secret's wrap and its write re-wrapped everything but that
// secret, then retired the KEK it was wrapped under: the webhook could never load it again.
TEST_F(WebhookStoreTest, AKekRotationWaitsForASecretBeingStored) {
  std::atomic<bool> held{false};
  std::atomic<bool> release{false};
  plan_.before_put_key_material = [&](std::string_view name) {
    if (name != "webhook/held/secret/1") return;
    held = true;
    while (!release) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  };
  std::thread create([&] { EXPECT_TRUE(Create("held", "secret-held-1").ok()); });
  for (int i = 0; i < 5000 && !held; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  if (!held) {  // no ASSERT while the thread lives
    release = true;
    create.join();
    FAIL() << "the write was not held";
  }
  std::atomic<bool> rotated{false};
  std::thread rotate([&] {
    auto rotation = store_->RotateKek();
    EXPECT_TRUE(rotation.ok()) << rotation.status().ToString();
    rotated = true;
  });
  // Time enough for a rotation that does not wait to finish and retire the old KEK.
  for (int i = 0; i < 50 && !rotated; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_FALSE(rotated) << "the rotation did not wait for the secret being stored";
  release = true;
  create.join();
  rotate.join();
  auto loaded = webhooks_->LoadSecret("held", 1);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(loaded->view(), "secret-held-1");
}

// A secret no KEK version opens (here damaged; on a token possibly a failure that passes) is
// never made unreadable for good by the rotation: the old KEK versions are kept until it is gone.
TEST_F(WebhookStoreTest, AnUnreadableSecretKeepsTheOldKekUntilItIsGone) {
  ASSERT_TRUE(Create("good", "secret-good-1").ok());
  ASSERT_TRUE(keys()->PutKeyMaterial("webhook/bad/secret/1", "NOT-A-WRAPPED-SECRET").ok());
  auto first = store_->RotateKek();
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(first->unreadable_secrets, 1u);
  EXPECT_TRUE(first->old_kek_kept);
  EXPECT_EQ(store_->kms()->kek_version_count(), 2u);
  auto good = webhooks_->LoadSecret("good", 1);
  ASSERT_TRUE(good.ok()) << good.status().ToString();
  EXPECT_EQ(good->view(), "secret-good-1");

  ASSERT_TRUE(keys()->DestroyKeyMaterial("webhook/bad/secret/1").ok());
  auto second = store_->RotateKek();
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_TRUE(second->resumed);
  EXPECT_EQ(second->unreadable_secrets, 0u);
  EXPECT_FALSE(second->old_kek_kept);
  EXPECT_EQ(store_->kms()->kek_version_count(), 1u);
  good = webhooks_->LoadSecret("good", 1);
  ASSERT_TRUE(good.ok()) << good.status().ToString();
  EXPECT_EQ(good->view(), "secret-good-1");
}

// What Webhooks.List shows as a webhook's last error names the provider and what failed; the
// provider's own text (key names, modules, slots) goes to the server log only.
TEST_F(WebhookStoreTest, ASecretThatDoesNotUnwrapSaysSoWithoutTheProvidersText) {
  ASSERT_TRUE(keys()->PutKeyMaterial("webhook/bad/secret/1", "NOT-A-WRAPPED-SECRET").ok());
  auto loaded = webhooks_->LoadSecret("bad", 1);
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), StatusCode::kDataLoss) << loaded.status().ToString();
  EXPECT_EQ(loaded.status().message(),
            "the local keyring cannot unwrap webhook secrets now (the server log has the reason)");
}

TEST_F(WebhookStoreTest, OnlyComponentNamesTakeComponentSecrets) {
  const crypto::SecureBytes secret(std::string("s"));
  EXPECT_EQ(store_->PutComponentSecret("checkpoint-signing-key", secret).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->PutComponentSecret("webhook/", secret).code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(store_->PutComponentSecret("webhook/x/secret/1", secret).ok());
}

}  // namespace
}  // namespace cairn::subscribe
