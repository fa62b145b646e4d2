// Group summaries (engine/group_summary.h): what they tell opens back exactly, and a summary that
// was altered, truncated, moved to another range of positions or malformed is refused.
#include "engine/group_summary.h"

#include <gtest/gtest.h>

#include "common/bytes.h"
#include "engine_test_util.h"

namespace cairn::engine {
namespace CAIRN_UNITY_ID {

std::string Id(char c) { return std::string(16, c); }

class GroupSummaryTest : public EngineTest {
 protected:
  void SetUp() override {
    EngineTest::SetUp();
    auto keys = keys::StorageKeys::Load(store_->log_store(), store_->kms());
    ASSERT_TRUE(keys.ok()) << keys.status().ToString();
    keys_ = std::move(keys).value();
    cipher_ = std::make_unique<RecordCipher>(keys_.get());
    epoch_ = keys_->current().epoch;
  }

  // Two appends: "orders-1" versions 4..6, then "users-7" version 0.
  std::string SealTwoRuns(uint64_t from) {
    GroupSummaryBuilder b;
    const std::string a = Id('a'), bb = Id('b'), c = Id('c'), d = Id('d');
    b.AddRun("orders-1", 4, {a, bb, c}, {11, 12, 13});
    b.AddRun("users-7", 0, {d}, {14});
    EXPECT_EQ(b.events(), 4u);
    std::string sealed;
    EXPECT_TRUE(b.Seal(*cipher_, epoch_, from, 1234567, &sealed).ok());
    return sealed;
  }

  std::unique_ptr<keys::StorageKeys> keys_;
  std::unique_ptr<RecordCipher> cipher_;
  uint32_t epoch_ = 0;
};

TEST_F(GroupSummaryTest, OpensToOneEntryPerPositionInOrder) {
  const std::string sealed = SealTwoRuns(100);
  std::vector<RemoteEntry> entries;
  ASSERT_TRUE(OpenGroupSummary(*cipher_, 100, 104, sealed, &entries).ok());
  ASSERT_EQ(entries.size(), 4u);
  const char ids[] = {'a', 'b', 'c', 'd'};
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(entries[i].position, 100 + i);
    EXPECT_EQ(entries[i].id, EventIdKey::From(Id(ids[i])));
    EXPECT_EQ(entries[i].recorded_at_ns, 1234567);
    EXPECT_EQ(entries[i].content_tag, 11 + i);  // carried to the other nodes' idempotency windows
  }
  EXPECT_EQ(static_cast<uint8_t>(sealed[0]), kGroupSummaryFormatV2);
  EXPECT_EQ(entries[0].stream_id, "orders-1");
  EXPECT_EQ(entries[0].stream_version, 4u);
  EXPECT_EQ(entries[2].stream_version, 6u);
  EXPECT_EQ(entries[2].stream_tag, StreamTag("orders-1"));
  EXPECT_EQ(entries[3].stream_id, "users-7");
  EXPECT_EQ(entries[3].stream_version, 0u);
  EXPECT_EQ(entries[3].stream_tag, StreamTag("users-7"));
  EXPECT_EQ(sealed.find("orders-1"), std::string::npos) << "stream ids must not be stored in clear";
}

TEST_F(GroupSummaryTest, AnotherRangeOfPositionsDoesNotOpen) {
  const std::string sealed = SealTwoRuns(100);
  for (auto [from, to] : {std::pair<uint64_t, uint64_t>{101, 105}, {100, 103}, {100, 105}, {99, 103}}) {
    std::vector<RemoteEntry> entries;
    Status s = OpenGroupSummary(*cipher_, from, to, sealed, &entries);
    EXPECT_EQ(s.code(), StatusCode::kDataLoss) << from << ".." << to;
  }
  std::vector<RemoteEntry> entries;
  EXPECT_EQ(OpenGroupSummary(*cipher_, 104, 100, sealed, &entries).code(), StatusCode::kDataLoss);
  EXPECT_EQ(OpenGroupSummary(*cipher_, 100, 100, sealed, &entries).code(), StatusCode::kDataLoss);
}

TEST_F(GroupSummaryTest, EveryAlteredOrTruncatedByteIsRefused) {
  const std::string sealed = SealTwoRuns(7);
  for (size_t i = 0; i < sealed.size(); ++i) {
    std::string bad = sealed;
    bad[i] ^= 0x01;
    std::vector<RemoteEntry> entries;
    EXPECT_EQ(OpenGroupSummary(*cipher_, 7, 11, bad, &entries).code(), StatusCode::kDataLoss) << "byte " << i;
  }
  for (size_t n : {size_t{0}, size_t{4}, sealed.size() / 2, sealed.size() - 1}) {
    std::vector<RemoteEntry> entries;
    EXPECT_EQ(OpenGroupSummary(*cipher_, 7, 11, sealed.substr(0, n), &entries).code(), StatusCode::kDataLoss);
  }
  std::vector<RemoteEntry> entries;
  EXPECT_EQ(OpenGroupSummary(*cipher_, 7, 11, sealed + "x", &entries).code(), StatusCode::kDataLoss);
}

// Sealed with the right key and range but not describing it (a bug or a forgery by someone
// holding the storage key): refused, not half-learned.
TEST_F(GroupSummaryTest, AnAuthenticSummaryThatDoesNotDescribeItsRangeIsRefused) {
  auto seal = [&](const std::string& plain) {
    std::string aad = "cairn-grp-v1";
    PutU64(&aad, 10);
    PutU64(&aad, 13);
    std::string out;
    EXPECT_TRUE(cipher_->SealValue(kGroupSummaryFormatV1, epoch_, aad, plain, &out).ok());
    return out;
  };
  auto runs = [](uint32_t count, uint32_t in_run, const std::string& stream) {
    std::string p;
    PutU64(&p, 1);
    PutU32(&p, count);
    for (uint32_t r = 0; r < count; ++r) {
      PutLengthPrefixed(&p, stream);
      PutU64(&p, 0);
      PutU32(&p, in_run);
      p += std::string(16 * in_run, 'x');
    }
    return p;
  };
  std::vector<RemoteEntry> entries;
  ASSERT_TRUE(OpenGroupSummary(*cipher_, 10, 13, seal(runs(1, 3, "s")), &entries).ok());  // control
  EXPECT_EQ(entries.size(), 3u);
  EXPECT_EQ(entries[0].content_tag, 0u);  // format 2 (the previous release's): content not known
  for (const std::string& plain : {runs(1, 2, "s"), runs(1, 4, "s"), runs(2, 2, "s"), runs(1, 3, ""),
                                   runs(1, 0, "s"), runs(1, 3, "s") + "z", runs(1, 3, "s").substr(0, 30)}) {
    entries.clear();
    EXPECT_EQ(OpenGroupSummary(*cipher_, 10, 13, seal(plain), &entries).code(), StatusCode::kDataLoss);
  }
}

TEST_F(GroupSummaryTest, AnEmptyOrOversizedGroupHasNoSummary) {
  GroupSummaryBuilder b;
  std::string sealed;
  EXPECT_FALSE(b.Seal(*cipher_, epoch_, 0, 1, &sealed).ok());
  std::vector<RemoteEntry> entries;
  EXPECT_EQ(OpenGroupSummary(*cipher_, 0, kGroupSummaryEventsMax + 1, "whatever", &entries).code(),
            StatusCode::kDataLoss);
}

}  // namespace
}  // namespace cairn::engine
