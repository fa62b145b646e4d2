// The CloudEvents 1.0 structured JSON body of a webhook delivery.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "common/bytes.h"
#include "subscribe/webhook_cloudevent.h"

namespace cairn::subscribe {
namespace CAIRN_UNITY_ID {

engine::RecordedEvent Event(std::string content_type, std::string data) {
  engine::RecordedEvent e;
  e.entry.position = 4294967301ull;  // beyond 32 bits: extension values are strings
  e.entry.stream_id = "order-17";
  e.entry.stream_version = 3;
  e.entry.event_id = *engine::ParseUuid("0f8fad5b-d9cb-469f-a165-70867728950e");
  e.entry.event_type = "OrderPlaced";
  e.entry.content_type = std::move(content_type);
  e.entry.recorded_at_ns = 1614265330123456789;
  e.data = std::move(data);
  return e;
}

TEST(WebhookCloudEvent, JsonEventIsStructuredWithExtensions) {
  auto text = CloudEventJson(Event("application/json", R"({"total":12.5,"sku":"a"})"),
                             "cairn.local/abc");
  ASSERT_TRUE(text.ok());
  auto j = nlohmann::json::parse(*text);
  EXPECT_EQ(j["specversion"], "1.0");
  EXPECT_EQ(j["id"], "0f8fad5b-d9cb-469f-a165-70867728950e");
  EXPECT_EQ(j["source"], "cairn://cairn.local/abc");
  EXPECT_EQ(j["type"], "OrderPlaced");
  EXPECT_EQ(j["time"], "2021-02-25T15:02:10.123456789Z");
  EXPECT_EQ(j["datacontenttype"], "application/json");
  EXPECT_EQ(j["data"]["total"], 12.5);
  EXPECT_EQ(j["data"]["sku"], "a");
  EXPECT_FALSE(j.contains("data_base64"));
  EXPECT_EQ(j["position"], "4294967301");
  EXPECT_EQ(j["stream"], "order-17");
  EXPECT_EQ(j["version"], "3");
  EXPECT_FALSE(j.contains("subject"));
  for (const auto& [name, value] : j.items()) {  // CloudEvents attribute naming
    for (char c : name) {
      if (name == "data_base64") break;
      EXPECT_TRUE((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) << name;
    }
  }
}

// The data reaches the receiver byte for byte as stored: a number beyond a double's precision
// (an amount) is not rounded, members keep their order, whitespace and escapes stay.
TEST(WebhookCloudEvent, JsonDataIsSentByteForByte) {
  const std::string data = "{\"b\": 1, \"a\":12345678901234567.89,\n \"n\":\"\\u00e9\"}";
  auto text = CloudEventJson(Event("application/json", data), "o");
  ASSERT_TRUE(text.ok()) << text.status().ToString();
  EXPECT_NE(text->find(",\"data\":" + data + "}"), std::string::npos) << *text;
  EXPECT_EQ(text->back(), '}');
  auto j = nlohmann::json::parse(*text);  // still one valid document
  EXPECT_EQ(j["id"], "0f8fad5b-d9cb-469f-a165-70867728950e");
  EXPECT_EQ(j["data"]["b"], 1);
  // A byte-order mark (which the parser skips) does not go into the middle of the document.
  auto bom = CloudEventJson(Event("application/json", "\xEF\xBB\xBF{\"a\":1}"), "o");
  ASSERT_TRUE(bom.ok()) << bom.status().ToString();
  EXPECT_EQ(bom->find("\xEF\xBB\xBF"), std::string::npos);
  EXPECT_TRUE(nlohmann::json::accept(*bom)) << *bom;
}

TEST(WebhookCloudEvent, BinaryEventUsesDataBase64) {
  const std::string bytes("\x00\x01\xfe\xff", 4);
  auto text = CloudEventJson(Event("application/octet-stream", bytes), "o");
  ASSERT_TRUE(text.ok());
  auto j = nlohmann::json::parse(*text);
  EXPECT_FALSE(j.contains("data"));
  EXPECT_EQ(j["data_base64"], Base64Encode(bytes));
  EXPECT_EQ(j["datacontenttype"], "application/octet-stream");
}

TEST(WebhookCloudEvent, PlusJsonIsJsonAndBadJsonIsRefused) {
  auto ok = CloudEventJson(Event("application/vnd.acme+json; charset=utf-8", "[1,2]"), "o");
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(nlohmann::json::parse(*ok)["data"][1], 2);
  EXPECT_FALSE(CloudEventJson(Event("application/json", "{not json"), "o").ok());
}

// The webhook judges JSON by the engine's rule, which validated the data at append: a bare
// "+json" is not a JSON type (the engine stored "not json" under it, and the webhook then
// refused to encode it on every retry), and case does not matter.
TEST(WebhookCloudEvent, JsonTypesAreTheEnginesJsonTypes) {
  auto bare = CloudEventJson(Event("+json", "not json"), "o");
  ASSERT_TRUE(bare.ok()) << bare.status().ToString();
  EXPECT_TRUE(nlohmann::json::parse(*bare).contains("data_base64"));
  auto upper = CloudEventJson(Event("Application/JSON", "{\"a\":1}"), "o");
  ASSERT_TRUE(upper.ok());
  EXPECT_EQ(nlohmann::json::parse(*upper)["data"]["a"], 1);
}

TEST(WebhookCloudEvent, Rfc3339Nanos) {
  EXPECT_EQ(Rfc3339Nanos(0), "1970-01-01T00:00:00.000000000Z");
  EXPECT_EQ(Rfc3339Nanos(1000000001), "1970-01-01T00:00:01.000000001Z");
}

}  // namespace
}  // namespace cairn::subscribe
