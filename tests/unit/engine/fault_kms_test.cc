// KMS unavailable: the engine fails closed. With the PKCS#11 token gone (SoftHSM, its token
// directory renamed away) and no unwrapped subject key left in the cache:
//  - appends of protected event types fail with kUnavailable and write nothing (no event, no
//    subject key), unprotected appends go on;
//  - a read of a protected field never shows the plaintext, nor the stored ciphertext as if it
//    were the value: Reveal fails with kUnavailable, with or without read.pii;
//  - once the token is back, both work again.
#include <chrono>
#include <thread>

#include "customer_rules.h"
#include "engine_test_util.h"
#include "unit/keys/softhsm_token.h"

namespace cairn::engine {
namespace CAIRN_UNITY_ID {


class FaultKmsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!testing::SoftHsmInstalled()) GTEST_SKIP() << "SoftHSM is not installed";
    token_ = std::make_unique<testing::SoftHsmToken>(tmp_.Sub("hsm"));
    ASSERT_TRUE(token_->ok());
    testing::WriteFile(tmp_.Sub("protect.toml"), kCustomerRules);
    InitOptions init;
    init.data_dir = tmp_.Sub("data");
    init.kms = token_->Config();
    ASSERT_TRUE(EventStore::Init(init).ok());
    Options o;
    o.data_dir = init.data_dir;
    o.kms = token_->Config();
    o.kms.reopen_interval_ms = 0;
    o.protect_rules_file = tmp_.Sub("protect.toml");
    o.kms_health_interval_ms = 0;
    o.subject_key_cache_ttl_ms = 1;  // every read after a moment asks the KMS
    auto store = EventStore::Open(o);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(store).value();
  }
  void TearDown() override {
    if (token_ != nullptr && hidden_) token_->Show();
  }
  void Hide() {
    ASSERT_TRUE(token_->Hide());
    hidden_ = true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // past the cache TTL
  }
  void Show() {
    ASSERT_TRUE(token_->Show());
    hidden_ = false;
  }
  Result<RecordedEvent> StoredAlice() {
    auto events = store_->ReadStream("c", 0, Direction::kForwards, 10);
    if (!events.ok()) return events.status();
    if (events->events.empty()) return Status::NotFound("no event");
    return events->events[0];
  }

  testing::TempDir tmp_;
  std::unique_ptr<testing::SoftHsmToken> token_;
  std::unique_ptr<EventStore> store_;
  bool hidden_ = false;
};

TEST_F(FaultKmsTest, ProtectedAppendsAndReadsFailClosedWhileTheKmsIsGone) {
  ASSERT_TRUE(store_->Append("c", ExpectedVersion::Any(), One("CustomerRegistered", Customer("alice"))).ok());
  auto stored = StoredAlice();
  ASSERT_TRUE(stored.ok()) << stored.status().ToString();
  EXPECT_EQ(stored->data.find("alice@example.com"), std::string::npos) << "stored in clear";
  const uint64_t size = store_->tree_size();
  auto keys_before = AllKeys(*store_);
  ASSERT_TRUE(keys_before.ok());

  Hide();
  for (const char* who : {"alice", "bob"}) {  // a known subject and a new one
    auto refused = store_->Append("c", ExpectedVersion::Any(), One("CustomerRegistered", Customer(who)));
    ASSERT_FALSE(refused.ok()) << who;
    EXPECT_EQ(refused.status().code(), StatusCode::kUnavailable) << refused.status().ToString();
  }
  EXPECT_EQ(store_->tree_size(), size);
  auto keys_during = AllKeys(*store_);
  ASSERT_TRUE(keys_during.ok());
  EXPECT_EQ(keys_during->size(), keys_before->size()) << "a subject key was made";

  auto revealed = store_->Reveal(*stored, /*may_read_pii=*/true);
  ASSERT_FALSE(revealed.ok()) << "revealed without the KMS: " << revealed->data;
  EXPECT_EQ(revealed.status().code(), StatusCode::kUnavailable) << revealed.status().ToString();
  EXPECT_EQ(revealed.status().message().find("alice@example.com"), std::string::npos);
  // A reader without read.pii fails the same way (the engine checks the field before masking).
  auto masked = store_->Reveal(*stored, /*may_read_pii=*/false);
  ASSERT_FALSE(masked.ok()) << masked->data;
  EXPECT_EQ(masked.status().code(), StatusCode::kUnavailable);
  // Unprotected appends go on.
  EXPECT_TRUE(store_->Append("plain", ExpectedVersion::Any(), One("Note", "{}")).ok());
  EXPECT_EQ(store_->tree_size(), size + 1);

  Show();
  auto again = store_->Reveal(*stored, /*may_read_pii=*/true);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_NE(again->data.find("alice@example.com"), std::string::npos);
  EXPECT_TRUE(store_->Append("c", ExpectedVersion::Any(), One("CustomerRegistered", Customer("bob"))).ok());
  EXPECT_TRUE(store_->Verify().ok);
}

}  // namespace
}  // namespace cairn::engine
