// Verification anchored outside the data directory (VerifyAnchor): with the directory's own key
// alone, a copy cut back to an earlier size, or rewritten after it and signed again with the
// same key, verifies; a pinned key and a checkpoint kept from an earlier run catch both.
#include <filesystem>

#include "engine_test_util.h"

namespace cairn::engine {
namespace CAIRN_UNITY_ID {

class VerifyAnchorTest : public EngineTest {
 protected:
  void AppendN(int n, const std::string& tag) {
    for (int i = 0; i < n; ++i) {
      ASSERT_TRUE(store_->Append("s-" + std::to_string(i % 2), ExpectedVersion::Any(),
                                 One("T", "{\"" + tag + "\":" + std::to_string(i) + "}")).ok());
    }
  }
  // The log at 5 events copied aside (its keyring and signing key too: whoever can write the
  // directory), then 5 more events and a checkpoint at 10 in the original.
  void MakeOriginalAndCopyAt5() {
    AppendN(5, "first");
    vkey_ = store_->verifier_key();
    Close();
    copy_ = tmp_.Sub("copy");
    std::filesystem::copy(dir_, copy_, std::filesystem::copy_options::recursive);
    Reopen();
    AppendN(5, "second");
    auto cp = store_->Checkpoint();
    ASSERT_TRUE(cp.ok()) << cp.status().ToString();
    ASSERT_EQ(cp->size, 10u);
    trusted_ = cp->note;
    Close();
  }
  // Appends to the copy (the same keys): a rewritten history after position 5.
  void RewriteCopy(int events) {
    Options o;
    o.data_dir = copy_;
    auto copy = EventStore::Open(o);
    ASSERT_TRUE(copy.ok()) << copy.status().ToString();
    for (int i = 0; i < events; ++i) {
      ASSERT_TRUE((*copy)->Append("s-0", ExpectedVersion::Any(), One("T", "{\"forged\":" + std::to_string(i) + "}")).ok());
    }
    ASSERT_TRUE((*copy)->Checkpoint().ok());
  }

  std::string vkey_;
  std::string trusted_;
  std::string copy_;
};

TEST_F(VerifyAnchorTest, TheLogThatHoldsTheTrustedCheckpointVerifiesAnchored) {
  MakeOriginalAndCopyAt5();
  const VerifyReport r = EventStore::VerifyDataDir(dir_, {}, std::nullopt, {vkey_, trusted_});
  ASSERT_TRUE(r.ok) << r.failure;
  EXPECT_TRUE(r.key_pinned);
  EXPECT_EQ(r.anchored_size, std::optional<uint64_t>(10));
  EXPECT_EQ(r.latest_checkpoint, trusted_);
  EXPECT_NE(r.root, crypto::Hash{});
  const VerifyReport unanchored = EventStore::VerifyDataDir(dir_);
  ASSERT_TRUE(unanchored.ok) << unanchored.failure;
  EXPECT_FALSE(unanchored.key_pinned);
  EXPECT_FALSE(unanchored.anchored_size.has_value());
  EXPECT_EQ(unanchored.root, r.root);
}

TEST_F(VerifyAnchorTest, ALogCutBackBelowTheTrustedCheckpointFails) {
  MakeOriginalAndCopyAt5();
  ASSERT_TRUE(EventStore::VerifyDataDir(copy_).ok) << "unanchored, the cut-back copy verifies";
  const VerifyReport r = EventStore::VerifyDataDir(copy_, {}, std::nullopt, {vkey_, trusted_});
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.failure.find("fewer than the trusted checkpoint's 10"), std::string::npos) << r.failure;
  EXPECT_EQ(r.bad_position, std::optional<uint64_t>(5));
}

TEST_F(VerifyAnchorTest, ALogRewrittenAndSignedAgainWithTheSameKeyFails) {
  MakeOriginalAndCopyAt5();
  RewriteCopy(5);  // its own checkpoint at 10: another root
  ASSERT_TRUE(EventStore::VerifyDataDir(copy_).ok) << "unanchored, the rewritten copy verifies";
  const VerifyReport same_size = EventStore::VerifyDataDir(copy_, {}, std::nullopt, {vkey_, trusted_});
  EXPECT_FALSE(same_size.ok);
  EXPECT_NE(same_size.failure.find("another root than the trusted checkpoint"), std::string::npos)
      << same_size.failure;
  RewriteCopy(3);  // 13 events, a checkpoint at 13: no stored one at 10 any more to compare with
  const VerifyReport longer = EventStore::VerifyDataDir(copy_, {}, std::nullopt, {vkey_, trusted_});
  EXPECT_FALSE(longer.ok);
  EXPECT_NE(longer.failure.find("another root than the trusted checkpoint"), std::string::npos)
      << longer.failure << " (the stored checkpoint at 10 is still there)";
}

TEST_F(VerifyAnchorTest, TheRootAtTheTrustedSizeIsComparedWhenNoStoredCheckpointHasIt) {
  MakeOriginalAndCopyAt5();
  // The original's checkpoint at 10, against a copy whose history after 5 differs and which
  // stored no checkpoint at 10 (it signed at 12 only).
  Options o;
  o.data_dir = copy_;
  {
    auto copy = EventStore::Open(o);
    ASSERT_TRUE(copy.ok()) << copy.status().ToString();
    for (int i = 0; i < 7; ++i) {
      ASSERT_TRUE((*copy)->Append("s-1", ExpectedVersion::Any(), One("T", "{\"other\":" + std::to_string(i) + "}")).ok());
    }
    ASSERT_TRUE((*copy)->Checkpoint().ok());
  }
  const VerifyReport r = EventStore::VerifyDataDir(copy_, {}, std::nullopt, {vkey_, trusted_});
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.failure.find("differs from the trusted checkpoint's"), std::string::npos) << r.failure;
  EXPECT_EQ(r.bad_position, std::optional<uint64_t>(9));
}

TEST_F(VerifyAnchorTest, AnotherKeyOrABadAnchorIsRefused) {
  MakeOriginalAndCopyAt5();
  // Another log's key (same origin name, another key pair): the directory was re-keyed.
  testing::TempDir other_tmp;
  const std::string other = other_tmp.Sub("other");
  ASSERT_TRUE(EventStore::Init({other, "test.example/log", {}, std::nullopt}).ok());
  std::string other_vkey;
  {
    Options o;
    o.data_dir = other;
    auto store = EventStore::Open(o);
    ASSERT_TRUE(store.ok());
    other_vkey = (*store)->verifier_key();
  }
  VerifyReport r = EventStore::VerifyDataDir(dir_, {}, std::nullopt, {other_vkey, ""});
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.failure.find("not the pinned verifier key"), std::string::npos) << r.failure;

  std::string tampered = trusted_;
  tampered[tampered.find('\n') + 1] ^= 1;  // the size line
  r = EventStore::VerifyDataDir(dir_, {}, std::nullopt, {vkey_, tampered});
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.failure.find("does not verify under the pinned key"), std::string::npos) << r.failure;

  r = EventStore::VerifyDataDir(dir_, {}, std::nullopt, {"", trusted_});
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.failure.find("needs the pinned verifier key"), std::string::npos) << r.failure;

  r = EventStore::VerifyDataDir(dir_, {}, std::nullopt, {"not a key", ""});
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.failure.find("not one"), std::string::npos) << r.failure;
}

}  // namespace
}  // namespace cairn::engine
