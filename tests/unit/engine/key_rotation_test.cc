// Manual key rotation in the engine: storage epochs started by RotateStorageKey (also while
// appends run concurrently) and subject key versions by RotateSubjectKey; ListKeys.
#include <atomic>
#include <thread>

#include "engine_test_util.h"

namespace cairn::engine {
namespace {

size_t CountKind(const std::vector<KeyInfo>& keys, const std::string& kind) {
  size_t n = 0;
  for (const auto& k : keys) n += k.kind == kind;
  return n;
}

TEST_F(EngineTest, ManualStorageRotationStartsANewEpochAndEverythingStaysReadable) {
  ASSERT_TRUE(store_->Append("s", ExpectedVersion::Any(), One("T", "0")).ok());
  auto epoch = store_->RotateStorageKey();
  ASSERT_TRUE(epoch.ok()) << epoch.status().ToString();
  EXPECT_EQ(*epoch, 1u);
  ASSERT_TRUE(store_->Append("s", ExpectedVersion::Any(), One("T", "1")).ok());
  auto again = store_->RotateStorageKey();
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, 2u);
  auto keys = store_->ListKeys();
  ASSERT_TRUE(keys.ok()) << keys.status().ToString();
  ASSERT_EQ(CountKind(*keys, "storage"), 3u);
  EXPECT_FALSE((*keys)[0].current);
  EXPECT_TRUE((*keys)[2].current);
  EXPECT_EQ((*keys)[2].id, "2");

  Reopen();
  ASSERT_TRUE(store_->Append("s", ExpectedVersion::Any(), One("T", "2")).ok());
  auto all = store_->ReadAll(0, 100);
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[0].data, "0");
  EXPECT_EQ((*all)[2].data, "2");
  EXPECT_TRUE(store_->Verify().ok) << store_->Verify().failure;
  auto reopened = store_->ListKeys();
  ASSERT_TRUE(reopened.ok());
  EXPECT_EQ(CountKind(*reopened, "storage"), 3u);
  Close();
  EXPECT_TRUE(EventStore::VerifyDataDir(dir_).ok);
}

TEST_F(EngineTest, StorageRotationDuringConcurrentAppendsLosesNothing) {
  constexpr int kThreads = 4, kPerThread = 100, kRotations = 20;
  std::atomic<int> failures{0};
  std::vector<std::thread> writers;
  for (int t = 0; t < kThreads; ++t) {
    writers.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        auto r = store_->Append("w-" + std::to_string(t), ExpectedVersion::Any(),
                                One("T", std::to_string(i)));
        if (!r.ok()) ++failures;
      }
    });
  }
  for (int r = 0; r < kRotations; ++r) {
    auto epoch = store_->RotateStorageKey();
    ASSERT_TRUE(epoch.ok()) << epoch.status().ToString();
  }
  for (auto& w : writers) w.join();
  EXPECT_EQ(failures.load(), 0);
  auto keys = store_->ListKeys();
  ASSERT_TRUE(keys.ok());
  EXPECT_EQ(CountKind(*keys, "storage"), size_t{kRotations + 1});
  Reopen();
  auto all = store_->ReadAll(0, 10000);
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  EXPECT_EQ(all->size(), size_t{kThreads * kPerThread});
  EXPECT_TRUE(store_->Verify().ok) << store_->Verify().failure;
}

TEST_F(EngineTest, SubjectRotationMakesNewEventsUseTheNewVersion) {
  const std::string rules = tmp_.Sub("protect.toml");
  testing::WriteFile(rules, R"(
[[rule]]
event_type = "CustomerRegistered"
subject = "/customerId"
fields = ["/email"]
)");
  Options o;
  o.protect_rules_file = rules;
  Reopen(o);
  EXPECT_EQ(store_->RotateSubjectKey("alice").status().code(), StatusCode::kNotFound);
  ASSERT_TRUE(store_->Append("c", ExpectedVersion::Any(),
                             One("CustomerRegistered", R"({"customerId":"alice","email":"old@x"})"))
                  .ok());
  auto kid = store_->RotateSubjectKey("alice");
  ASSERT_TRUE(kid.ok()) << kid.status().ToString();
  ASSERT_TRUE(store_->Append("c", ExpectedVersion::Any(),
                             One("CustomerRegistered", R"({"customerId":"alice","email":"new@x"})"))
                  .ok());
  auto events = store_->ReadStream("c", 0, Direction::kForwards, 10);
  ASSERT_TRUE(events.ok());
  ASSERT_EQ(events->events.size(), 2u);
  EXPECT_EQ(events->events[0].data.find(*kid), std::string::npos) << events->events[0].data;
  EXPECT_NE(events->events[1].data.find(*kid), std::string::npos) << events->events[1].data;
  auto old_view = store_->Reveal(events->events[0], /*may_read_pii=*/true);
  ASSERT_TRUE(old_view.ok()) << old_view.status().ToString();
  EXPECT_NE(old_view->data.find("old@x"), std::string::npos);
  auto new_view = store_->Reveal(events->events[1], /*may_read_pii=*/true);
  ASSERT_TRUE(new_view.ok()) << new_view.status().ToString();
  EXPECT_NE(new_view->data.find("new@x"), std::string::npos);

  auto keys = store_->ListKeys();
  ASSERT_TRUE(keys.ok());
  ASSERT_EQ(CountKind(*keys, "subject"), 2u);
  const KeyInfo& last = keys->back();
  EXPECT_EQ(last.kind, "subject");
  EXPECT_EQ(last.id, *kid);
  EXPECT_EQ(last.version, 2u);
  EXPECT_TRUE(last.current);
  EXPECT_GT(last.created_unix_s, 0);
  for (const auto& k : *keys) {
    EXPECT_EQ(k.id.find("alice"), std::string::npos);
    EXPECT_EQ(k.subject_hash_hex.find("alice"), std::string::npos);
  }
}

}  // namespace
}  // namespace cairn::engine
