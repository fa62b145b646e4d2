#include "audit/record.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace cairn::audit {
namespace CAIRN_UNITY_ID {

AuditRecord FullRecord() {
  AuditRecord r;
  r.kind = AuditKind::kAccessDenied;
  r.time_unix_ns = 1'795'000'000'123'456'789;
  r.request_id = "req-1";
  r.principal = "alice";
  r.auth_method = "jwt";
  r.source_ip = "127.0.0.1";
  r.action = "append";
  r.resource = "orders-1";
  r.event_type = "OrderPlaced";
  r.decision = "deny";
  r.rule = "deny role=ops stream=orders-* action=append";
  r.outcome = "failure";
  r.error_code = "PERMISSION_DENIED";
  r.reason = "denied by policy";
  r.details = {{"z", "1"}, {"a", "2"}};
  return r;
}

TEST(AuditRecordTest, RoundTripKeepsEveryField) {
  const AuditRecord r = FullRecord();
  const std::string json = EncodeAuditRecordJson(r);
  auto back = DecodeAuditRecordJson(AuditEventType(r.kind), json);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->kind, r.kind);
  EXPECT_EQ(back->time_unix_ns, r.time_unix_ns);
  EXPECT_EQ(back->request_id, r.request_id);
  EXPECT_EQ(back->principal, r.principal);
  EXPECT_EQ(back->auth_method, r.auth_method);
  EXPECT_EQ(back->source_ip, r.source_ip);
  EXPECT_EQ(back->action, r.action);
  EXPECT_EQ(back->resource, r.resource);
  EXPECT_EQ(back->event_type, r.event_type);
  EXPECT_EQ(back->decision, r.decision);
  EXPECT_EQ(back->rule, r.rule);
  EXPECT_EQ(back->outcome, r.outcome);
  EXPECT_EQ(back->error_code, r.error_code);
  EXPECT_EQ(back->reason, r.reason);
  EXPECT_EQ(back->details, r.details);  // order kept
}

TEST(AuditRecordTest, FieldsInFixedOrderAndTimeIsRfc3339Utc) {
  const std::string json = EncodeAuditRecordJson(FullRecord());
  EXPECT_EQ(json.rfind("{\"time\":\"2026-11-18T", 0), 0u) << json;
  EXPECT_NE(json.find(".123456789Z\""), std::string::npos) << json;
  const char* order[] = {"\"time\"",     "\"request_id\"", "\"principal\"", "\"auth_method\"",
                         "\"source_ip\"", "\"action\"",     "\"resource\"",  "\"event_type\"",
                         "\"decision\"",  "\"rule\"",       "\"outcome\"",   "\"error_code\"",
                         "\"reason\"",    "\"details\""};
  size_t last = 0;
  for (const char* name : order) {
    const size_t at = json.find(name);
    ASSERT_NE(at, std::string::npos) << name;
    EXPECT_GE(at, last) << name;
    last = at;
  }
}

TEST(AuditRecordTest, EscapesControlCharactersQuotesAndInvalidUtf8) {
  AuditRecord r;
  r.kind = AuditKind::kAuthFailure;
  r.time_unix_ns = 1;
  r.reason = std::string("a\"b\\c\n\x01") + "\xff" + "\xC3\xA9";
  const std::string json = EncodeAuditRecordJson(r);
  EXPECT_EQ(json.find('\n'), std::string::npos);
  EXPECT_EQ(json.find('\x01'), std::string::npos);
  EXPECT_EQ(json.find('\xff'), std::string::npos);
  auto parsed = nlohmann::json::parse(json, nullptr, false);
  ASSERT_FALSE(parsed.is_discarded()) << json;
  EXPECT_EQ(parsed["reason"], "a\"b\\c\n\x01\xEF\xBF\xBD\xC3\xA9");
}

TEST(AuditRecordTest, LongFieldsAreCutAtACharacterBoundary) {
  AuditRecord r;
  r.kind = AuditKind::kAdmin;
  r.time_unix_ns = 1;
  r.resource = std::string(kAuditFieldBytesMax - 1, 'x') + "\xC3\xA9" + "tail";
  auto back = DecodeAuditRecordJson("$admin", EncodeAuditRecordJson(r));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->resource, std::string(kAuditFieldBytesMax - 1, 'x'));
}

TEST(AuditRecordTest, DecodeRefusesUnknownTypesAndNonObjects) {
  const std::string json = EncodeAuditRecordJson(FullRecord());
  EXPECT_EQ(DecodeAuditRecordJson("OrderPlaced", json).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(DecodeAuditRecordJson("$admin", "[1]").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(DecodeAuditRecordJson("$admin", "{\"time\":\"yesterday\"}").status().code(),
            StatusCode::kInvalidArgument);
}

TEST(AuditRecordTest, EventTypesAreDistinctAndInvertible) {
  for (uint32_t i = 0; i < kAuditKindCount; ++i) {
    const auto kind = static_cast<AuditKind>(i);
    EXPECT_EQ(AuditEventType(kind).front(), '$');
    EXPECT_EQ(AuditKindOfEventType(AuditEventType(kind)), kind);
  }
  EXPECT_EQ(AuditEventType(AuditKind::kAuthFailure), "$auth.failure");
  EXPECT_EQ(AuditEventType(AuditKind::kDataPlane), "$data");
  EXPECT_FALSE(AuditKindOfEventType("$other").has_value());
}

TEST(AuditRecordTest, ParsesRfc3339WithOffsetsAndMilliseconds) {
  auto z = ParseRfc3339("2026-11-30T17:00:00.123Z");
  ASSERT_TRUE(z.ok());
  auto off = ParseRfc3339("2026-11-30T18:00:00.123+01:00");
  ASSERT_TRUE(off.ok());
  EXPECT_EQ(*z, *off);
  EXPECT_EQ(*z % 1'000'000'000, 123'000'000);
  EXPECT_EQ(FormatRfc3339Ns(*z), "2026-11-30T17:00:00.123000000Z");
  EXPECT_FALSE(ParseRfc3339("2026-11-30T17:00:00").ok());  // no zone
  EXPECT_FALSE(ParseRfc3339("2026-13-30T17:00:00Z").ok());
  // Days that do not exist are refused, not rolled into the next month.
  EXPECT_FALSE(ParseRfc3339("2026-02-31T00:00:00Z").ok());
  EXPECT_FALSE(ParseRfc3339("2026-02-29T00:00:00Z").ok());
  EXPECT_FALSE(ParseRfc3339("2026-04-31T00:00:00Z").ok());
  EXPECT_FALSE(ParseRfc3339("2100-02-29T00:00:00Z").ok());
  EXPECT_TRUE(ParseRfc3339("2028-02-29T00:00:00Z").ok());
  EXPECT_TRUE(ParseRfc3339("2000-02-29T00:00:00Z").ok());
  // A leap second counts as :59 of the same minute, not the next minute.
  auto leap = ParseRfc3339("2016-12-31T23:59:60Z");
  auto before = ParseRfc3339("2016-12-31T23:59:59Z");
  ASSERT_TRUE(leap.ok() && before.ok());
  EXPECT_EQ(*leap, *before);
  EXPECT_FALSE(ParseRfc3339("2026-11-30T17:00:00Zjunk").ok());
  EXPECT_FALSE(ParseRfc3339("2999-01-01T00:00:00Z").ok());  // past the int64 nanosecond range
  EXPECT_TRUE(ParseRfc3339("2261-12-31T23:59:59Z").ok());
}

}  // namespace
}  // namespace cairn::audit
