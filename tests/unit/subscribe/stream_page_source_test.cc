// StreamPageSource against a real EventStore: a group on one stream reads only that stream's
// events (through the stream index), from any position, with the cursor moved past other
// streams; a restart in the middle finds its version; a deleted stream is read as the log is.
#include "subscribe/stream_page_source.h"

#include <gtest/gtest.h>

#include "group_test_util.h"

namespace cairn::subscribe {
namespace CAIRN_UNITY_ID {

std::vector<uint64_t> PositionsOf(const StreamPageSource::Page& page) {
  std::vector<uint64_t> out;
  for (const auto& e : page.events) out.push_back(e.entry.position);
  return out;
}

class StreamPageSourceTest : public GroupTest {
 protected:
  // 300 events: "wanted" at every 10th position (0, 10, ..., 290), "other" elsewhere.
  void SetUp() override {
    GroupTest::SetUp();
    for (int i = 0; i < 300; ++i) AppendN(i % 10 == 0 ? "wanted" : "other", 1);
  }
};

TEST_F(StreamPageSourceTest, ReadsOnlyTheStreamAndMovesPastTheRestOfTheLog) {
  StreamPageSource source(store_.get(), "wanted");
  auto page = source.Read(0, 7);
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  EXPECT_EQ(PositionsOf(*page), (std::vector<uint64_t>{0, 10, 20, 30, 40, 50, 60}));
  EXPECT_EQ(page->read_to, 61u);
  page = source.Read(61, 100);  // to the stream's end: the cursor moves to the log's end
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  EXPECT_EQ(page->events.size(), 23u);
  EXPECT_EQ(page->events.front().entry.position, 70u);
  EXPECT_EQ(page->read_to, 300u);
  EXPECT_EQ(source.version_searches(), 1u) << "the next version was kept between pages";
  page = source.Read(300, 10);  // nothing new
  ASSERT_TRUE(page.ok());
  EXPECT_TRUE(page->events.empty());
  EXPECT_EQ(page->read_to, 300u);
  AppendN("other", 2);
  AppendN("wanted", 1);  // position 302, version 30
  page = source.Read(300, 10);
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(PositionsOf(*page), (std::vector<uint64_t>{302}));
  EXPECT_EQ(page->events.front().entry.stream_version, 30u);
  EXPECT_EQ(source.version_searches(), 1u);
}

// A position it did not hand out (a restart from a saved position, or a page the group took only
// part of) is found by a search: the first version at or after it, whatever it falls between.
TEST_F(StreamPageSourceTest, AnyStartPositionFindsTheFirstVersionAtOrAfterIt) {
  for (uint64_t from : {uint64_t{0}, uint64_t{1}, uint64_t{9}, uint64_t{10}, uint64_t{11},
                        uint64_t{155}, uint64_t{289}, uint64_t{290}, uint64_t{291}}) {
    StreamPageSource source(store_.get(), "wanted");
    auto page = source.Read(from, 1);
    ASSERT_TRUE(page.ok()) << page.status().ToString();
    if (from > 290) {
      EXPECT_TRUE(page->events.empty()) << from;
      EXPECT_EQ(page->read_to, 300u) << from;
      continue;
    }
    ASSERT_EQ(page->events.size(), 1u) << from;
    EXPECT_EQ(page->events[0].entry.position, (from + 9) / 10 * 10) << from;
  }
  StreamPageSource source(store_.get(), "wanted");
  ASSERT_TRUE(source.Read(0, 3).ok());
  ASSERT_TRUE(source.Read(15, 1).ok());  // not where the last page ended
  EXPECT_EQ(source.version_searches(), 2u);
  // A caller that stopped at an event it read (position 20, version 2) resumes there unsearched.
  source.Rewind(20, 2);
  auto page = source.Read(20, 2);
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(PositionsOf(*page), (std::vector<uint64_t>{20, 30}));
  EXPECT_EQ(source.version_searches(), 2u);
}

TEST_F(StreamPageSourceTest, AStreamThatDoesNotExistYetIsWaitedForFromVersionZero) {
  StreamPageSource source(store_.get(), "later");
  auto page = source.Read(5, 10);
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  EXPECT_TRUE(page->events.empty());
  EXPECT_EQ(page->read_to, 300u);
  AppendN("later", 2);
  page = source.Read(300, 10);
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(PositionsOf(*page), (std::vector<uint64_t>{300, 301}));
}

// The index no longer answers for a deleted stream: the source reads the log (the group's filter
// keeps the stream's events), so what was appended before the tombstone is still delivered.
TEST_F(StreamPageSourceTest, ADeletedStreamIsReadAsTheLogIs) {
  StreamPageSource source(store_.get(), "wanted");
  ASSERT_TRUE(store_->DeleteStream("wanted", engine::ExpectedVersion::Any()).ok());
  auto page = source.Read(280, 50);
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  ASSERT_EQ(page->events.size(), 21u);  // 280..299 and the tombstone at 300
  EXPECT_EQ(page->events.front().entry.position, 280u);
  EXPECT_EQ(page->read_to, 301u);
}

// The group on a stream delivers exactly that stream's events, across a restart in its middle.
TEST_F(StreamPageSourceTest, AGroupOnAStreamDeliversItsEventsAcrossARestart) {
  GroupSettings s = Settings("g");
  s.source = "wanted";
  ASSERT_TRUE(groups_->Create(s).ok());
  auto consumer = std::make_shared<FakeConsumer>();
  auto member = JoinOrDie("g", consumer);
  auto first = consumer->Take(12);
  ASSERT_EQ(first.size(), 12u);
  for (size_t i = 0; i < first.size(); ++i) {
    EXPECT_EQ(first[i].event.entry.stream_id, "wanted");
    EXPECT_EQ(first[i].event.entry.position, 10 * i);
  }
  member->Ack(AckIds(first));
  member.reset();
  CloseAll();
  OpenAll();
  auto again = std::make_shared<FakeConsumer>();
  auto member2 = JoinOrDie("g", again);
  auto rest = again->Take(16);  // the group's max_in_flight
  ASSERT_EQ(rest.size(), 16u);
  EXPECT_EQ(rest.front().event.entry.position, 120u) << "resumed after the acked ones";
  member2->Ack(AckIds(rest));
  auto tail = again->Take(2);
  ASSERT_EQ(tail.size(), 2u);
  EXPECT_EQ(tail.back().event.entry.position, 290u);
  member2->Ack(AckIds(tail));
  EXPECT_EQ(again->Take(1, 200).size(), 0u);
  AppendN("wanted", 1);
  auto live = again->Take(1);
  ASSERT_EQ(live.size(), 1u);
  EXPECT_EQ(live[0].event.entry.position, 300u);
  auto groups = groups_->List();
  ASSERT_EQ(groups.size(), 1u);
  EXPECT_GT(groups[0].counters.index_pages, 0u) << "read through the stream's index";
}

// Deleted while the group reads it: the events before the tombstone still come (through the
// log), and the source then stops at the tombstone instead of scanning the rest of the log.
TEST_F(StreamPageSourceTest, AStreamDeletedAfterItsVersionWasKeptIsReadUpToItsTombstone) {
  StreamPageSource source(store_.get(), "wanted");
  auto page = source.Read(0, 5);  // versions 0..4; version 5 kept for the next page
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  ASSERT_TRUE(store_->DeleteStream("wanted", engine::ExpectedVersion::Any()).ok());  // at 300
  AppendN("other", 50);
  page = source.Read(page->read_to, 1000);
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  EXPECT_EQ(page->events.front().entry.position, 41u);
  EXPECT_EQ(page->events.back().entry.position, 300u) << "up to the tombstone, not beyond";
  EXPECT_EQ(page->read_to, 301u);
  page = source.Read(301, 1000);
  ASSERT_TRUE(page.ok());
  EXPECT_TRUE(page->events.empty()) << "nothing follows a tombstone: the rest is not read";
  EXPECT_EQ(page->read_to, 351u);  // the log's end: 300 events, the tombstone, 50 more
  EXPECT_TRUE(page->at_end);
  EXPECT_TRUE(page->stream_deleted);
}

// The buffer fills in the middle of a page: the rest is read again from the first event not
// taken (its version found again), nothing skipped or repeated.
TEST_F(StreamPageSourceTest, AGroupWhoseBufferFillsMidPageLosesAndRepeatsNothing) {
  CloseAll();
  limits_.buffer_events_max = 7;
  OpenAll();
  GroupSettings s = Settings("g");
  s.source = "wanted";
  s.max_in_flight = 5;
  ASSERT_TRUE(groups_->Create(s).ok());
  auto consumer = std::make_shared<FakeConsumer>();
  auto member = JoinOrDie("g", consumer);
  std::vector<uint64_t> seen;
  while (seen.size() < 30) {
    auto got = consumer->Take(1, 5000);
    ASSERT_EQ(got.size(), 1u) << "after " << seen.size();
    seen.push_back(got[0].event.entry.position);
    member->Ack(AckIds(got));
  }
  for (size_t i = 0; i < seen.size(); ++i) EXPECT_EQ(seen[i], 10 * i);
  EXPECT_EQ(consumer->Take(1, 200).size(), 0u);
}

// A group whose filter drops most of the log reads on round after round until it has something
// (or the log's end), not one page per tick: with a tick of a minute, the one wanted event after
// 3,000 others arrives at once (a page per tick would take 12 minutes).
TEST_F(GroupTest, AGroupPassesOverFilteredEventsWithoutWaitingForTicks) {
  CloseAll();
  limits_.tick_ms = 60000;
  OpenAll();
  AppendN("other", 3000);
  AppendN("needle", 1);
  GroupSettings s = Settings("g");
  s.stream_prefixes = {"needle"};
  ASSERT_TRUE(groups_->Create(s).ok());
  auto consumer = std::make_shared<FakeConsumer>();
  auto member = JoinOrDie("g", consumer);
  auto got = consumer->Take(1, 20000);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].event.entry.position, 3000u);
}

}  // namespace
}  // namespace cairn::subscribe
