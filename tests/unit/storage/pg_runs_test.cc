// How the PostgreSQL commit writer packs records, stream-index entries and Merkle nodes into runs
// (storage/postgres/pg_runs.h), and how a reader expands them again. No server needed.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "storage/postgres/pg_runs.h"

namespace cairn::storage::pg {
namespace CAIRN_UNITY_ID {

std::string Hash(uint8_t b) { return std::string(kHashSizeBytes, static_cast<char>(b)); }

std::vector<uint64_t> Versions(const std::vector<StreamIndexEntry>& entries) {
  std::vector<uint64_t> out;
  for (const StreamIndexEntry& e : entries) out.push_back(e.version);
  return out;
}

TEST(RecordRunBuilderTest, RunsAreBoundedByBytesAndCountAndALargeRecordIsARunOfItsOwn) {
  RecordRunBuilder b;
  uint64_t p = 100;
  // 100 records of 100 bytes: runs of 64 (count bound) and 36.
  for (int i = 0; i < 100; ++i) b.Add(p++, std::string(100, static_cast<char>('a' + i % 26)));
  // 30 records of 1000 bytes: 4 still fit in the second run (7600 bytes), then 7 per run (7000).
  for (int i = 0; i < 30; ++i) b.Add(p++, std::string(1000, 'x'));
  b.Add(p++, std::string(kRecordRunBytesMax + 1, 'L'));  // alone, although the last run has room
  b.Add(p++, "");                                        // an empty record is kept
  b.Add(p++, "tail");
  std::vector<std::pair<uint64_t, size_t>> shape;  // (first position, count) per run
  for (const RecordRun& run : b.runs()) {
    shape.emplace_back(run.first_position, run.count());
    EXPECT_EQ(static_cast<size_t>(run.ends.back()), run.records.size());
    EXPECT_TRUE(run.count() == 1 || run.records.size() <= kRecordRunBytesMax);
  }
  EXPECT_EQ(shape, (std::vector<std::pair<uint64_t, size_t>>{
                       {100, 64}, {164, 40}, {204, 7}, {211, 7}, {218, 7}, {225, 5}, {230, 1}, {231, 2}}));
  EXPECT_EQ(b.records(), 133u);
  EXPECT_EQ(b.last_record(), "tail");
  EXPECT_EQ(b.runs()[1].records.substr(0, 100), std::string(100, static_cast<char>('a' + 64 % 26)));
  EXPECT_EQ(b.runs()[1].ends[0], 100);
  EXPECT_EQ(b.runs()[7].ends, (std::vector<int32_t>{0, 4}));
}

TEST(SplitRecordRunTest, SplitsWhatTheBuilderWroteAndRefusesMalformedRows) {
  std::vector<std::string_view> out;
  ASSERT_TRUE(SplitRecordRun(7, "{3,3,9}", "abcdefghi", &out).ok());
  EXPECT_EQ(out, (std::vector<std::string_view>{"abc", "", "defghi"}));
  ASSERT_TRUE(SplitRecordRun(7, "{0}", "", &out).ok());
  EXPECT_EQ(out, (std::vector<std::string_view>{""}));
  for (const char* ends : {"", "{}", "{3,2,9}", "{3,10}", "{3,8}", "{3,,9}", "{3,9", "3,9}", "{3,9}x",
                           "{-1,9}", "{3 ,9}", "{99999999999,9}"}) {
    const Status s = SplitRecordRun(7, ends, "abcdefghi", &out);
    EXPECT_EQ(s.code(), StatusCode::kDataLoss) << ends;
    EXPECT_NE(s.message().find("position 7"), std::string::npos) << s.ToString();
  }
}

TEST(IndexRunBuilderTest, ConsecutiveEntriesOfAStreamJoinAndInterleavedStreamsSplit) {
  IndexRunBuilder b;
  b.Add("a", 0, 10);
  b.Add("a", 1, 11);
  b.Add("a", 2, 12);
  b.Add("b", 5, 13);  // another stream's append
  b.Add("a", 3, 14);  // the next version of a, but not the next position: a new run
  b.Add("b", 6, 15);  // b's next position was taken by a: a new run
  b.Add("b", 7, 16);
  ASSERT_EQ(b.runs().size(), 4u);
  EXPECT_EQ(b.runs()[0].stream_id, "a");
  EXPECT_EQ(b.runs()[0].first_version, 0u);
  EXPECT_EQ(b.runs()[0].first_position, 10u);
  EXPECT_EQ(b.runs()[0].count, 3u);
  EXPECT_EQ(b.runs()[1].stream_id, "b");
  EXPECT_EQ(b.runs()[1].count, 1u);
  EXPECT_EQ(b.runs()[2].stream_id, "a");
  EXPECT_EQ(b.runs()[2].first_version, 3u);
  EXPECT_EQ(b.runs()[3].first_version, 6u);
  EXPECT_EQ(b.runs()[3].first_position, 15u);
  EXPECT_EQ(b.runs()[3].count, 2u);
}

TEST(NodeRunBuilderTest, LevelsRunSeparatelyAndARunHoldsAtMost48Hashes) {
  NodeRunBuilder b;
  for (uint64_t i = 0; i < 100; ++i) {
    b.Add(NodeKey{0, 1000 + i}, Hash(static_cast<uint8_t>(i)));
    if (i % 2 == 1) b.Add(NodeKey{1, 500 + i / 2}, Hash(200));
  }
  b.Add(NodeKey{0, 2000}, Hash(7));  // a gap: a new run
  std::vector<std::pair<int, size_t>> shape;  // (level, count) per run
  for (const NodeRun& run : b.runs()) shape.emplace_back(run.level, run.count());
  EXPECT_EQ(shape, (std::vector<std::pair<int, size_t>>{{0, 48}, {1, 48}, {0, 48}, {0, 4}, {1, 2}, {0, 1}}));
  EXPECT_EQ(b.runs()[0].first_index, 1000u);
  EXPECT_EQ(b.runs()[2].first_index, 1048u);
  EXPECT_EQ(b.runs()[3].first_index, 1096u);
  EXPECT_EQ(b.runs()[4].first_index, 548u);
  EXPECT_EQ(b.runs()[5].first_index, 2000u);
  EXPECT_EQ(b.runs()[2].hashes.substr(kHashSizeBytes * 5, kHashSizeBytes), Hash(53));
}

TEST(ExpandIndexRunsTest, ForwardsAndBackwardsAcrossRunsWithLimits) {
  // Versions 0..2 at 10..12, 3 at 20, 4..7 at 30..33; given out of order, as a UNION returns them.
  const std::vector<IndexRun> rows = {{"", 4, 30, 4}, {"", 0, 10, 3}, {"", 3, 20, 1}};
  auto expand = [&](uint64_t from, bool backwards, uint64_t limit) {
    std::vector<IndexRun> runs = rows;
    std::vector<StreamIndexEntry> out;
    ExpandIndexRuns(&runs, from, backwards, limit, &out);
    for (const StreamIndexEntry& e : out) {
      const uint64_t want = e.version < 3 ? 10 + e.version : e.version == 3 ? 20 : 26 + e.version;
      EXPECT_EQ(e.position, want) << e.version;
    }
    return Versions(out);
  };
  EXPECT_EQ(expand(0, false, 100), (std::vector<uint64_t>{0, 1, 2, 3, 4, 5, 6, 7}));
  EXPECT_EQ(expand(1, false, 3), (std::vector<uint64_t>{1, 2, 3}));
  EXPECT_EQ(expand(5, false, 100), (std::vector<uint64_t>{5, 6, 7}));
  EXPECT_TRUE(expand(8, false, 100).empty());
  EXPECT_TRUE(expand(0, false, 0).empty());
  EXPECT_EQ(expand(5, true, 100), (std::vector<uint64_t>{5, 4, 3, 2, 1, 0}));
  EXPECT_EQ(expand(UINT64_MAX, true, 2), (std::vector<uint64_t>{7, 6}));
  EXPECT_EQ(expand(3, true, 2), (std::vector<uint64_t>{3, 2}));
  EXPECT_EQ(expand(0, true, 5), (std::vector<uint64_t>{0}));
}

}  // namespace
}  // namespace cairn::storage::pg
