// Stored forms of consumer groups: settings and positions round-trip; damaged bytes are
// reported as data loss, never taken as an empty group.
#include <gtest/gtest.h>

#include "subscribe/group_parked.h"
#include "subscribe/group_store.h"

namespace cairn::subscribe {
namespace CAIRN_UNITY_ID {

TEST(GroupStoreFormat, SettingsAndPositionRoundTrip) {
  GroupSettings s;
  s.name = "billing";
  s.source = "order-1";
  s.stream_prefixes = {"order-"};
  s.event_types = {"OrderCreated"};
  s.start_position = 7;
  s.max_in_flight = 3;
  s.retry_limit = 4;
  s.ack_timeout_ms = 1234;
  auto back = DecodeGroupSettings(EncodeGroupSettings(s));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, s);
  EXPECT_EQ(EncodeGroupSettings(s).find("consumers"), std::string::npos)
      << "no list: stored as before the field existed";
  s.consumers = {"apikey:billing", "jwt:billing-*"};
  back = DecodeGroupSettings(EncodeGroupSettings(s));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->consumers, s.consumers);
  // Version 2, which builds without the list refuse rather than read as "anyone may join".
  EXPECT_NE(EncodeGroupSettings(s).find("\"v\":2"), std::string::npos) << EncodeGroupSettings(s);
  GroupPosition p{10, {12, 15}, 3, 9};
  auto pos = DecodeGroupPosition(EncodeGroupPosition(p));
  ASSERT_TRUE(pos.ok());
  EXPECT_EQ(*pos, p);
}

TEST(GroupStoreFormat, DamagedBytesAreDataLoss) {
  EXPECT_EQ(DecodeGroupSettings("{").status().code(), StatusCode::kDataLoss);
  EXPECT_EQ(DecodeGroupSettings(R"({"v":1,"name":"x"})").status().code(), StatusCode::kDataLoss);
  // A version of another JSON type: unreadable, not a type_error thrown at the caller.
  EXPECT_EQ(DecodeGroupSettings(R"({"v":"1"})").status().code(), StatusCode::kDataLoss);
  EXPECT_EQ(DecodeGroupPosition(R"({"v":[1]})").status().code(), StatusCode::kDataLoss);
  EXPECT_EQ(DecodeGroupPosition(R"({"v":1,"done_below":5,"done_above":[4],"replay_next":0,"replay_end":0})")
                .status()
                .code(),
            StatusCode::kDataLoss);
}

TEST(GroupParked, ReferenceCarriesNoPayloadAndReasonsAreCleaned) {
  ParkedRef ref{42, "order-1", std::string(16, '\x11'), std::string(1000, 'r') + "\n", 3};
  engine::ProposedEvent e = EncodeParkedRef(ref);
  EXPECT_EQ(e.event_type, "$parked");
  engine::RecordedEvent recorded;
  recorded.entry.event_type = e.event_type;
  recorded.data = e.data;
  auto back = DecodeParkedRef(recorded);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->position, 42u);
  EXPECT_EQ(back->event_id, ref.event_id);
  EXPECT_EQ(back->reason.size(), kParkReasonSizeBytesMax);
  EXPECT_EQ(ParkedStreamId("g"), "$parked-g");
}

}  // namespace
}  // namespace cairn::subscribe
