// EventStore::RevealMany: the same views as Reveal() event by event (plaintext, mask, erased,
// stored), on two threads for long runs, and the error of the lowest failing event.
#include "customer_rules.h"
#include "engine_test_util.h"

namespace cairn::engine {
namespace CAIRN_UNITY_ID {

class RevealManyTest : public EngineTest {
 protected:
  void SetUp() override {
    EngineTest::SetUp();
    ReopenProtected(kCustomerRules);
    // 300 protected events over 50 subjects, every 7th event of an unprotected type.
    for (int i = 0; i < 300; ++i) {
      const bool protect = i % 7 != 0;
      auto r = store_->Append("s", ExpectedVersion::Any(),
                              One(protect ? "CustomerRegistered" : "Note",
                                  Customer("c" + std::to_string(i % 50))));
      ASSERT_TRUE(r.ok()) << r.status().ToString();
    }
    auto forgot = store_->Forget("c3");
    ASSERT_TRUE(forgot.ok()) << forgot.status().ToString();
  }

  std::vector<RecordedEvent> Stored() {
    auto all = store_->ReadAll(0, 1000);
    EXPECT_TRUE(all.ok()) << all.status().ToString();
    return all.ok() ? std::move(all).value() : std::vector<RecordedEvent>();
  }
};

FieldView ViewOf(size_t i) {
  switch (i % 5) {
    case 0: return FieldView::kStored;
    case 1: case 2: return FieldView::kMasked;
    default: return FieldView::kPlain;
  }
}

TEST_F(RevealManyTest, GivesTheViewsThatRevealGivesOneByOne) {
  const std::vector<RecordedEvent> stored = Stored();
  ASSERT_EQ(stored.size(), 300u);
  std::vector<RecordedEvent> many = stored;
  std::vector<FieldView> views;
  for (size_t i = 0; i < many.size(); ++i) views.push_back(ViewOf(i));
  ASSERT_TRUE(store_->RevealMany(many, views).ok());

  size_t plain = 0, masked = 0, erased = 0;
  for (size_t i = 0; i < stored.size(); ++i) {
    SCOPED_TRACE("event " + std::to_string(i));
    if (views[i] == FieldView::kStored) {
      EXPECT_EQ(many[i].data, stored[i].data);  // left as stored
      EXPECT_TRUE(many[i].masked.empty() && many[i].erased.empty());
      continue;
    }
    auto one = store_->Reveal(stored[i], views[i] == FieldView::kPlain);
    ASSERT_TRUE(one.ok()) << one.status().ToString();
    EXPECT_EQ(many[i].data, one->data);
    EXPECT_EQ(many[i].masked, one->masked);
    EXPECT_EQ(many[i].erased, one->erased);
    plain += many[i].data.find("@example.com") != std::string::npos;
    masked += !many[i].masked.empty();
    erased += !many[i].erased.empty();
  }
  // Each kind of view was exercised, and nothing protected stayed in its stored form.
  EXPECT_GT(plain, 50u);
  EXPECT_GT(masked, 50u);
  EXPECT_GT(erased, 0u);
  for (size_t i = 0; i < many.size(); ++i) {
    if (views[i] != FieldView::kStored) {
      EXPECT_EQ(many[i].data.find("\"$enc\""), std::string::npos) << i << ": " << many[i].data;
    }
  }
}

TEST_F(RevealManyTest, ReportsTheLowestFailingEventAndNeverItsCiphertext) {
  std::vector<RecordedEvent> events = Stored();
  ASSERT_EQ(events.size(), 300u);
  // Ciphertext moved from another event fails authentication: at positions 100 and 250.
  events[100].data = events[101].data;
  events[250].data = events[251].data;
  std::vector<FieldView> views(events.size(), FieldView::kPlain);
  Status s = store_->RevealMany(events, views);
  ASSERT_EQ(s.code(), StatusCode::kDataLoss) << s.ToString();
  EXPECT_NE(s.message().find("position 100"), std::string::npos) << s.message();

  // Left as stored, the same forged events are not looked at.
  std::vector<RecordedEvent> again = Stored();
  again[100].data = again[101].data;
  views[100] = FieldView::kStored;
  EXPECT_TRUE(store_->RevealMany(again, views).ok());
}

TEST_F(RevealManyTest, ShortRunsAndEmptyRunsWork) {
  std::vector<RecordedEvent> events = Stored();
  events.resize(3);  // below kParallelRevealMin: the calling thread alone
  std::vector<FieldView> views(3, FieldView::kPlain);
  ASSERT_TRUE(store_->RevealMany(events, views).ok());
  EXPECT_NE(events[1].data.find("c1@example.com"), std::string::npos) << events[1].data;
  EXPECT_TRUE(store_->RevealMany({}, {}).ok());
  // One view short: refused, nothing revealed.
  std::vector<RecordedEvent> stored = Stored();
  stored.resize(3);
  std::vector<RecordedEvent> copy = stored;
  EXPECT_EQ(store_->RevealMany(copy, std::vector<FieldView>(2, FieldView::kPlain)).code(),
            StatusCode::kInvalidArgument);
  for (size_t i = 0; i < copy.size(); ++i) EXPECT_EQ(copy[i].data, stored[i].data);
}

}  // namespace
}  // namespace cairn::engine
