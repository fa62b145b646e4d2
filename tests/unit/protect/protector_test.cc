// Protecting and revealing personal fields of events.
#include <gtest/gtest.h>

#include <random>

#include "common/bytes.h"
#include "fake_key_source.h"
#include "protect/field_cipher.h"
#include "protect/protector.h"
#include "protect/rules.h"

namespace cairn::protect {
namespace CAIRN_UNITY_ID {

constexpr std::string_view kRules = R"(
[[rule]]
event_type = "CustomerRegistered"
subject = "/customerId"
fields = ["/email", "/name", "/address/street", "/phones/1"]

[[rule]]
event_type = "Typed"
subject = "/id"
fields = ["/n", "/obj", "/arr", "/flag", "/nothing", "/s"]

[[rule]]
event_type = "Payment"
subject = "$subject"
fields = ["/card"]
mask = '"[hidden]"'
erased = '"[erased]"'
)";

constexpr std::string_view kCustomer =
    R"({"customerId":"cust-1","email":"alice@example.com","name":"Alice Liddell",)"
    R"("address":{"street":"1 Rabbit Hole","city":"Oxford"},"phones":["+44-1","+44-2"],"tier":3})";

const std::string kEvent1(16, '\x01');
const std::string kEvent2(16, '\x02');

class ProtectorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto rules = ParseRules(kRules, "rules.toml");
    ASSERT_TRUE(rules.ok()) << rules.status().ToString();
    rules_ = *rules;
  }
  const Rule& R(std::string_view type) { return *rules_->Find(type); }

  std::string Protect(std::string_view type, std::string_view data,
                      const std::string& event_id = kEvent1, std::string_view stream = "cust-1",
                      std::string_view subject = "") {
    auto out = ProtectEvent(R(type), stream, event_id, data, subject, keys_);
    EXPECT_TRUE(out.ok()) << out.status().ToString();
    return out.ok() ? *out : std::string();
  }
  Result<ReadView> Reveal(std::string_view type, std::string_view stored, bool pii,
                          const std::string& event_id = kEvent1,
                          std::string_view stream = "cust-1") {
    return RevealEvent(R(type), stream, event_id, stored, pii, keys_);
  }

  std::shared_ptr<const RuleSet> rules_;
  FakeKeySource keys_;
};

Json J(std::string_view text) { return Json::parse(text); }

TEST_F(ProtectorTest, StoredFormHasNoPlaintextAndTheDocumentedShape) {
  const std::string stored = Protect("CustomerRegistered", kCustomer);
  for (std::string_view secret : {"alice@example.com", "Alice Liddell", "1 Rabbit Hole", "+44-2"}) {
    EXPECT_EQ(stored.find(secret), std::string::npos) << secret << " in " << stored;
  }
  const Json doc = J(stored);
  // Unprotected values and key order are kept; the subject stays in the clear.
  EXPECT_EQ(doc["customerId"], "cust-1");
  EXPECT_EQ(doc["address"]["city"], "Oxford");
  EXPECT_EQ(doc["phones"][0], "+44-1");
  EXPECT_EQ(doc["tier"], 3);
  EXPECT_EQ(doc.begin().key(), "customerId");
  const Json& email = doc["email"];
  ASSERT_TRUE(email.is_object());
  std::vector<std::string> keys;
  for (auto it = email.begin(); it != email.end(); ++it) keys.push_back(it.key());
  EXPECT_EQ(keys, (std::vector<std::string>{"$enc", "kid", "iv", "ct"}));
  EXPECT_EQ(email["$enc"], "v1");
  EXPECT_EQ(email["kid"], keys_.CurrentKid("cust-1"));
  EXPECT_EQ(Base64Decode(email["iv"].get<std::string>())->size(), 12u);
  // ct = ciphertext || tag; the plaintext is the JSON text "\"alice@example.com\"" (19 bytes).
  EXPECT_EQ(Base64Decode(email["ct"].get<std::string>())->size(), 19u + 16u);
  // A fresh IV per field and per event.
  EXPECT_NE(doc["email"]["iv"], doc["name"]["iv"]);
  const Json again = J(Protect("CustomerRegistered", kCustomer));
  EXPECT_NE(again["email"]["iv"], email["iv"]);
  EXPECT_NE(again["email"]["ct"], email["ct"]);
}

TEST_F(ProtectorTest, AadIsLengthPrefixed) {
  const std::string aad = FieldAad("ab", kEvent1, "/c", "k1");
  std::string expected = "cairn-field-v1";
  expected += std::string("\0\0\0\x02", 4) + "ab" + kEvent1 + std::string("\0\0\0\x02", 4) + "/c" +
              std::string("\0\0\0\x02", 4) + "k1";
  EXPECT_EQ(aad, expected);
  // Moving bytes between parts changes the AAD.
  EXPECT_NE(FieldAad("a", kEvent1, "b/c", "k1"), FieldAad("ab", kEvent1, "/c", "k1"));
}

TEST_F(ProtectorTest, RoundTripWithReadPii) {
  const std::string stored = Protect("CustomerRegistered", kCustomer);
  auto view = Reveal("CustomerRegistered", stored, /*pii=*/true);
  ASSERT_TRUE(view.ok()) << view.status().ToString();
  EXPECT_EQ(J(view->data_json), J(kCustomer));
  EXPECT_EQ(view->data_json, J(kCustomer).dump());  // same key order
  EXPECT_TRUE(view->masked.empty());
  EXPECT_TRUE(view->erased.empty());
}

TEST_F(ProtectorTest, WithoutReadPiiReadersSeeMasks) {
  const std::string stored = Protect("CustomerRegistered", kCustomer);
  auto view = Reveal("CustomerRegistered", stored, /*pii=*/false);
  ASSERT_TRUE(view.ok()) << view.status().ToString();
  const Json doc = J(view->data_json);
  EXPECT_EQ(doc["email"], "***");
  EXPECT_EQ(doc["name"], "***");
  EXPECT_EQ(doc["address"]["street"], "***");
  EXPECT_EQ(doc["phones"], J(R"(["+44-1","***"])"));
  EXPECT_EQ(doc["customerId"], "cust-1");
  EXPECT_EQ(view->masked, (std::vector<std::string>{"/email", "/name", "/address/street",
                                                    "/phones/1"}));
  EXPECT_TRUE(view->erased.empty());
  EXPECT_EQ(view->data_json.find("alice"), std::string::npos);
}

TEST_F(ProtectorTest, NonStringValuesRoundTripAndMaskToNull) {
  const std::string data =
      R"({"id":42,"n":-12.5,"obj":{"a":[1,{"b":null}],"c":"x"},"arr":[1,"two",3.0],)"
      R"("flag":false,"s":"","other":1})";
  const std::string stored = Protect("Typed", data);
  EXPECT_EQ(stored.find("\"two\""), std::string::npos);  // quoted: base64 holds no quote
  EXPECT_EQ(J(stored)["id"], 42);  // an integer subject stays in the clear
  EXPECT_TRUE(J(stored)["n"].is_object());
  EXPECT_TRUE(J(stored)["flag"].is_object());
  EXPECT_EQ(keys_.CurrentKid("42"), J(stored)["n"]["kid"]);  // integer subject -> "42"

  auto pii = Reveal("Typed", stored, true);
  ASSERT_TRUE(pii.ok()) << pii.status().ToString();
  EXPECT_EQ(J(pii->data_json), J(data));
  auto masked = Reveal("Typed", stored, false);
  ASSERT_TRUE(masked.ok()) << masked.status().ToString();
  const Json doc = J(masked->data_json);
  EXPECT_TRUE(doc["n"].is_null());
  EXPECT_TRUE(doc["obj"].is_null());
  EXPECT_TRUE(doc["arr"].is_null());
  EXPECT_TRUE(doc["flag"].is_null());
  EXPECT_EQ(doc["s"], "***");  // the default mask follows the plaintext's type
  EXPECT_EQ(doc["other"], 1);
  EXPECT_EQ(masked->masked.size(), 5u);
}

// A number the DOM cannot hold exactly (an integer beyond 64 bits, which nlohmann reads as a
// double) would be rounded in the stored form: such an event is refused, whichever path (splice
// or DOM) handles it, and a number that fits keeps its value.
TEST_F(ProtectorTest, NumbersThatWouldLosePrecisionAreRefusedNotRounded) {
  for (const std::string& big : {std::string("123456789012345678901234567890"),
                                 std::string("-98765432109876543210987"),
                                 std::string("18446744073709551616"),
                                 std::string("-9223372036854775809"),
                                 std::string("-9999999999999999999")}) {
    for (const std::string& data :
         {R"({"customerId":"cust-1","email":"a@example.com","n":)" + big + "}",
          R"({"customerId":"cust-1","email":)" + big + "}",  // the protected field itself
          R"({"customerId":"cust-1","email":"a@example.com","n":)" + big +
              R"(,"x\u0031":1})"}) {  // an escaped member name sends it to the DOM path
      auto out = ProtectEvent(R("CustomerRegistered"), "cust-1", kEvent1, data, "", keys_);
      if (out.ok()) {
        ADD_FAILURE() << "stored as " << *out;
        continue;
      }
      EXPECT_EQ(out.status().code(), StatusCode::kInvalidArgument) << out.status().ToString();
      EXPECT_NE(out.status().message().find("64 bits"), std::string::npos) << out.status().ToString();
    }
  }
  // A non-zero number below the smallest double would be stored as 0: refused too.
  for (const std::string tiny : {"1e-400", "-2.5E-999", "0.00001e-330"}) {
    auto out = ProtectEvent(R("CustomerRegistered"), "cust-1", kEvent1,
                            R"({"customerId":"cust-1","email":"a@example.com","r":)" + tiny + "}",
                            "", keys_);
    EXPECT_EQ(out.status().code(), StatusCode::kInvalidArgument) << tiny;
    EXPECT_NE(out.status().message().find("too small"), std::string::npos) << out.status().ToString();
  }
  for (const std::string zero : {"0e-400", "0.000e-999", "-0.0", "1e-300"}) {
    EXPECT_TRUE(ProtectEvent(R("CustomerRegistered"), "cust-1", kEvent1,
                             R"({"customerId":"cust-1","email":"a@example.com","r":)" + zero + "}",
                             "", keys_).ok()) << zero;
  }
  const std::string fits =
      R"({"customerId":"cust-1","email":"a@example.com","n":18446744073709551615,"m":-9223372036854775808,"f":1.5e300})";
  const std::string stored = Protect("CustomerRegistered", fits);
  EXPECT_EQ(J(stored)["n"], 18446744073709551615u);
  EXPECT_EQ(J(stored)["m"], INT64_MIN);
  // An event stored before the rule, with such an integer outside the protected fields, reads.
  const std::string old = "{\"z\":123456789012345678901234567890," + stored.substr(1);
  auto view = Reveal("CustomerRegistered", old, true);
  ASSERT_TRUE(view.ok()) << view.status().ToString();
  EXPECT_NE(view->data_json.find("123456789012345678901234567890"), std::string::npos)
      << view->data_json;
}

TEST_F(ProtectorTest, AbsentFieldsAreSkipped) {
  const std::string data = R"({"customerId":"c9","email":"e@x","phones":["only-one"]})";
  const std::string stored = Protect("CustomerRegistered", data);
  const Json doc = J(stored);
  EXPECT_TRUE(doc["email"].is_object());
  EXPECT_FALSE(doc.contains("name"));
  EXPECT_FALSE(doc.contains("address"));
  EXPECT_EQ(doc["phones"], J(R"(["only-one"])"));  // /phones/1 absent
  auto view = Reveal("CustomerRegistered", stored, false);
  ASSERT_TRUE(view.ok());
  EXPECT_EQ(view->masked, std::vector<std::string>{"/email"});
  EXPECT_EQ(J(view->data_json), J(R"({"customerId":"c9","email":"***","phones":["only-one"]})"));

  // No protected field present: the data is stored as given and no key is created.
  const int writes = keys_.write_calls();
  const std::string bare = R"({"customerId":"c10", "tier": 1})";
  EXPECT_EQ(Protect("CustomerRegistered", bare), bare);
  EXPECT_EQ(keys_.write_calls(), writes);
  EXPECT_EQ(keys_.CurrentKid("c10"), "");
}

TEST_F(ProtectorTest, ErasedAfterTheSubjectKeyIsDestroyedForEveryReader) {
  const std::string stored = Protect("CustomerRegistered", kCustomer);
  keys_.Destroy("cust-1");
  for (bool pii : {true, false}) {
    auto view = Reveal("CustomerRegistered", stored, pii);
    ASSERT_TRUE(view.ok()) << view.status().ToString();
    const Json doc = J(view->data_json);
    EXPECT_TRUE(doc["email"].is_null());
    EXPECT_TRUE(doc["address"]["street"].is_null());
    EXPECT_EQ(doc["address"]["city"], "Oxford");
    EXPECT_EQ(view->erased, (std::vector<std::string>{"/email", "/name", "/address/street",
                                                      "/phones/1"}));
    EXPECT_TRUE(view->masked.empty());
  }
}

TEST_F(ProtectorTest, ForgettingOneSubjectLeavesAnotherReadable) {
  const std::string a = Protect("CustomerRegistered", kCustomer);
  const std::string b_data = R"({"customerId":"cust-2","email":"bob@example.com"})";
  const std::string b = Protect("CustomerRegistered", b_data, kEvent2);
  keys_.Destroy("cust-1");
  auto va = Reveal("CustomerRegistered", a, true);
  ASSERT_TRUE(va.ok());
  EXPECT_EQ(va->erased.size(), 4u);
  auto vb = Reveal("CustomerRegistered", b, true, kEvent2);
  ASSERT_TRUE(vb.ok()) << vb.status().ToString();
  EXPECT_EQ(J(vb->data_json), J(b_data));
  EXPECT_TRUE(vb->erased.empty());
}

TEST_F(ProtectorTest, OldKeyVersionsStayReadableAfterRotation) {
  const std::string old_stored = Protect("CustomerRegistered", kCustomer);
  const std::string old_kid = keys_.CurrentKid("cust-1");
  keys_.Rotate("cust-1");
  const std::string new_stored = Protect("CustomerRegistered", kCustomer, kEvent2);
  EXPECT_NE(J(new_stored)["email"]["kid"], old_kid);
  for (auto [stored, id] : {std::pair{old_stored, kEvent1}, std::pair{new_stored, kEvent2}}) {
    auto view = Reveal("CustomerRegistered", stored, true, id);
    ASSERT_TRUE(view.ok()) << view.status().ToString();
    EXPECT_EQ(J(view->data_json), J(kCustomer));
  }
}

// A ciphertext object cut from one place and pasted into another never decrypts.
TEST_F(ProtectorTest, MovedCiphertextIsDataLossNotPlaintext) {
  const std::string stored = Protect("CustomerRegistered", kCustomer);
  const Json doc = J(stored);
  auto expect_data_loss = [&](const Json& pasted, const std::string& event_id,
                              std::string_view stream, const std::string& pointer) {
    for (bool pii : {true, false}) {
      auto view = Reveal("CustomerRegistered", pasted.dump(), pii, event_id, stream);
      ASSERT_FALSE(view.ok()) << pasted.dump();
      EXPECT_EQ(view.status().code(), StatusCode::kDataLoss) << view.status().ToString();
      const std::string& m = view.status().message();
      EXPECT_NE(m.find(std::string(stream)), std::string::npos) << m;
      EXPECT_NE(m.find(pointer), std::string::npos) << m;
      EXPECT_EQ(m.find("alice"), std::string::npos) << m;
    }
  };
  // Another stream, same event id and pointer.
  expect_data_loss(doc, kEvent1, "cust-other", "/email");
  // Another event id.
  expect_data_loss(doc, kEvent2, "cust-1", "/email");
  // Another pointer in the same event: the email ciphertext pasted over the name.
  Json swapped = doc;
  swapped["name"] = doc["email"];
  expect_data_loss(swapped, kEvent1, "cust-1", "/name");
  // Another kid: relabelled with another subject's key.
  Protect("CustomerRegistered", R"({"customerId":"cust-2","email":"b@x"})", kEvent2);
  Json relabelled = doc;
  relabelled["email"]["kid"] = keys_.CurrentKid("cust-2");
  expect_data_loss(relabelled, kEvent1, "cust-1", "/email");
  // Pasted into another event of the same stream and subject.
  Json other = J(Protect("CustomerRegistered", kCustomer, kEvent2));
  other["email"] = doc["email"];
  expect_data_loss(other, kEvent2, "cust-1", "/email");
  // The event id is printed as a UUID.
  auto view = Reveal("CustomerRegistered", stored, true, kEvent2);
  EXPECT_NE(view.status().message().find("02020202-0202-0202-0202-020202020202"),
            std::string::npos) << view.status().message();
}

TEST_F(ProtectorTest, TamperedOrMalformedStoredFieldsAreDataLoss) {
  const Json doc = J(Protect("CustomerRegistered", kCustomer));
  auto flip = [](const std::string& b64) {
    std::string raw = *Base64Decode(b64);
    raw[raw.size() / 2] ^= 0x01;
    return Base64Encode(raw);
  };
  std::vector<Json> bad;
  Json t = doc; t["email"]["ct"] = flip(doc["email"]["ct"]); bad.push_back(t);
  t = doc; t["email"]["iv"] = flip(doc["email"]["iv"]); bad.push_back(t);
  t = doc; t["email"]["ct"] = Base64Encode(std::string(15, 'x')); bad.push_back(t);  // < tag
  t = doc; t["email"]["iv"] = "not base64!"; bad.push_back(t);
  t = doc; t["email"]["iv"] = Base64Encode(std::string(8, 'x')); bad.push_back(t);
  t = doc; t["email"]["$enc"] = "v2"; bad.push_back(t);
  t = doc; t["email"]["kid"] = 7; bad.push_back(t);
  t = doc; t["email"]["kid"] = "has space"; bad.push_back(t);
  t = doc; t["email"]["extra"] = "x"; bad.push_back(t);
  t = doc; t["email"].erase("ct"); bad.push_back(t);
  for (const Json& b : bad) {
    for (bool pii : {true, false}) {
      auto view = Reveal("CustomerRegistered", b.dump(), pii);
      ASSERT_FALSE(view.ok()) << b.dump();
      EXPECT_EQ(view.status().code(), StatusCode::kDataLoss) << view.status().ToString();
      EXPECT_NE(view.status().message().find("/email"), std::string::npos);
    }
  }
  auto garbage = Reveal("CustomerRegistered", "{not json", true);
  EXPECT_EQ(garbage.status().code(), StatusCode::kDataLoss);
}

// A value that blocks a protected field's path (a string where /address was to be an object,
// an array named by a member name) could hold the personal data itself: the append is refused
// on both the splice path and the DOM path (forced by an escaped member name), naming the rule's
// pointer and never the value. A null or missing parent is just an absent field.
TEST_F(ProtectorTest, FieldsBlockedByAScalarOrArrayParentAreRefused) {
  for (const std::string extra : {"", R"(,"t\u0069er":1)"}) {
    for (const std::string& data : {
             R"({"customerId":"c","address":"1 Main Street")" + extra + "}",
             R"({"customerId":"c","address":[{"street":"1 Main Street"}])" + extra + "}",
             R"({"customerId":"c","address":42)" + extra + "}",
             R"({"customerId":"c","phones":"1 Main Street")" + extra + "}",
             R"({"customerId":"c","address":{"street":{"x":1}},"phones":true)" + extra + "}"}) {
      auto out = ProtectEvent(R("CustomerRegistered"), "s", kEvent1, data, "", keys_);
      ASSERT_FALSE(out.ok()) << data;
      EXPECT_EQ(out.status().code(), StatusCode::kInvalidArgument) << data;
      EXPECT_NE(out.status().message().find("blocked"), std::string::npos) << out.status().ToString();
      EXPECT_EQ(out.status().message().find("Main"), std::string::npos) << out.status().ToString();
    }
    for (const std::string& data : {R"({"customerId":"c","address":null)" + extra + "}",
                                    R"({"customerId":"c","address":{},"phones":[])" + extra + "}",
                                    R"({"customerId":"c","phones":{"1":"x"})" + extra + "}"}) {
      auto out = ProtectEvent(R("CustomerRegistered"), "s", kEvent1, data, "", keys_);
      EXPECT_TRUE(out.ok()) << data << ": " << out.status().ToString();
    }
  }
}

TEST_F(ProtectorTest, InjectedCiphertextObjectsAreRejectedOnAppend) {
  const Json stored = J(Protect("CustomerRegistered", kCustomer));
  for (const std::string& data : {
           // A real stored object replayed by a client at a protected pointer.
           R"({"customerId":"cust-1","email":)" + stored["email"].dump() + "}",
           // A fake one at an unprotected, deeply nested place.
           std::string(R"({"customerId":"c","x":[{"y":{"$enc":"v1"}}]})"),
           std::string(R"({"customerId":"c","$enc":1})")}) {
    auto out = ProtectEvent(R("CustomerRegistered"), "s", kEvent1, data, "", keys_);
    ASSERT_FALSE(out.ok()) << data;
    EXPECT_EQ(out.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(out.status().message().find("$enc"), std::string::npos);
  }
}

TEST_F(ProtectorTest, MissingSubjectIsRejectedNamingThePointerNotTheData) {
  struct Case {
    std::string data;
    std::string what;
  };
  for (const Case& c : std::vector<Case>{
           {R"({"email":"secret@example.com"})", "/customerId is missing"},
           {R"({"customerId":"","email":"secret@example.com"})", "/customerId is empty"},
           {R"({"customerId":null,"email":"secret@example.com"})", "not a string or an integer"},
           {R"({"customerId":1.5,"email":"secret@example.com"})", "not a string or an integer"},
           {R"({"customerId":{"v":"secret-id"},"email":"secret@example.com"})",
            "not a string or an integer"},
           {R"({"customerId":")" + std::string(257, 's') + R"(","email":"secret@example.com"})",
            "longer than 256"}}) {
    auto out = ProtectEvent(R("CustomerRegistered"), "s", kEvent1, c.data, "", keys_);
    ASSERT_FALSE(out.ok()) << c.data;
    EXPECT_EQ(out.status().code(), StatusCode::kInvalidArgument);
    const std::string& m = out.status().message();
    EXPECT_NE(m.find("event type CustomerRegistered needs a subject"), std::string::npos) << m;
    EXPECT_NE(m.find(c.what), std::string::npos) << m;
    EXPECT_EQ(m.find("secret"), std::string::npos) << m;
  }
  EXPECT_EQ(keys_.write_calls(), 0);
  // Not JSON at all, and a bad event id.
  EXPECT_EQ(ProtectEvent(R("CustomerRegistered"), "s", kEvent1, "{", "", keys_).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(ProtectEvent(R("CustomerRegistered"), "s", "short", kCustomer, "", keys_)
                .status().code(),
            StatusCode::kInvalidArgument);
}

TEST_F(ProtectorTest, AppendSubjectMode) {
  const std::string data = R"({"card":"4111 1111 1111 1111","amount":10})";
  auto missing = ProtectEvent(R("Payment"), "pay-1", kEvent1, data, "", keys_);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(missing.status().message().find("$subject"), std::string::npos);
  EXPECT_EQ(ProtectEvent(R("Payment"), "pay-1", kEvent1, data, std::string(257, 'x'), keys_)
                .status().code(),
            StatusCode::kInvalidArgument);

  const std::string stored = Protect("Payment", data, kEvent1, "pay-1", "user-7");
  EXPECT_EQ(stored.find("4111 1111"), std::string::npos);  // a space: not in base64 either
  EXPECT_EQ(J(stored)["card"]["kid"], keys_.CurrentKid("user-7"));
  auto pii = Reveal("Payment", stored, true, kEvent1, "pay-1");
  ASSERT_TRUE(pii.ok());
  EXPECT_EQ(J(pii->data_json), J(data));
  auto masked = Reveal("Payment", stored, false, kEvent1, "pay-1");
  ASSERT_TRUE(masked.ok());
  EXPECT_EQ(J(masked->data_json)["card"], "[hidden]");  // the configured mask
  keys_.Destroy("user-7");
  auto erased = Reveal("Payment", stored, false, kEvent1, "pay-1");
  ASSERT_TRUE(erased.ok());
  EXPECT_EQ(J(erased->data_json), J(R"({"card":"[erased]","amount":10})"));
  EXPECT_EQ(erased->erased, std::vector<std::string>{"/card"});
}

TEST_F(ProtectorTest, KeySourceUnavailableFailsClosed) {
  const std::string stored = Protect("CustomerRegistered", kCustomer);
  keys_.set_unavailable(true);
  auto append = ProtectEvent(R("CustomerRegistered"), "cust-1", kEvent2, kCustomer, "", keys_);
  ASSERT_FALSE(append.ok());
  EXPECT_EQ(append.status().code(), StatusCode::kUnavailable);
  for (bool pii : {true, false}) {
    auto read = Reveal("CustomerRegistered", stored, pii);
    ASSERT_FALSE(read.ok());
    EXPECT_EQ(read.status().code(), StatusCode::kUnavailable);
  }
  keys_.set_unavailable(false);
  EXPECT_TRUE(Reveal("CustomerRegistered", stored, true).ok());
}

TEST_F(ProtectorTest, OneKeyLookupPerKidPerEvent) {
  const std::string stored = Protect("CustomerRegistered", kCustomer);
  const int before = keys_.read_calls();
  ASSERT_TRUE(Reveal("CustomerRegistered", stored, true).ok());
  EXPECT_EQ(keys_.read_calls() - before, 1);
}

// The rule changed after events were written.
TEST_F(ProtectorTest, RuleChangesAfterWriting) {
  const std::string stored = Protect("CustomerRegistered", kCustomer);
  // A newer rule no longer lists /email and /name but adds /tier (stored in the clear).
  auto newer = ParseRules(R"(
[[rule]]
event_type = "CustomerRegistered"
subject = "/customerId"
fields = ["/tier", "/address/street"]
)", "new.toml");
  ASSERT_TRUE(newer.ok());
  const Rule& rule = *(*newer)->Find("CustomerRegistered");
  auto pii = RevealEvent(rule, "cust-1", kEvent1, stored, true, keys_);
  ASSERT_TRUE(pii.ok()) << pii.status().ToString();
  EXPECT_EQ(J(pii->data_json), J(kCustomer));  // every $enc object found and decrypted
  auto masked = RevealEvent(rule, "cust-1", kEvent1, stored, false, keys_);
  ASSERT_TRUE(masked.ok());
  const Json doc = J(masked->data_json);
  EXPECT_EQ(doc["email"], "***");
  EXPECT_EQ(doc["phones"][1], "***");
  EXPECT_TRUE(doc["tier"].is_null());  // plaintext at a rule pointer is masked too
  EXPECT_EQ(masked->masked.size(), 5u);
  EXPECT_EQ(masked->data_json.find("alice"), std::string::npos);
}

TEST_F(ProtectorTest, PointersWithEscapesBindTheirText) {
  auto rules = ParseRules(R"(
[[rule]]
event_type = "E"
subject = "/s"
fields = ["/a~1b", "/m~0n"]
)", "r");
  ASSERT_TRUE(rules.ok());
  const Rule& rule = *(*rules)->Find("E");
  const std::string data = R"({"s":"x","a/b":"slash","m~n":"tilde","a":{"b":"nested"}})";
  auto stored = ProtectEvent(rule, "s", kEvent1, data, "", keys_);
  ASSERT_TRUE(stored.ok());
  const Json doc = J(*stored);
  EXPECT_TRUE(doc["a/b"].is_object());
  EXPECT_TRUE(doc["m~n"].is_object());
  EXPECT_EQ(doc["a"]["b"], "nested");
  auto view = RevealEvent(rule, "s", kEvent1, *stored, false, keys_);
  ASSERT_TRUE(view.ok());
  EXPECT_EQ(view->masked, (std::vector<std::string>{"/a~1b", "/m~0n"}));
  auto pii = RevealEvent(rule, "s", kEvent1, *stored, true, keys_);
  ASSERT_TRUE(pii.ok());
  EXPECT_EQ(J(pii->data_json), J(data));
}

}  // namespace
}  // namespace cairn::protect

namespace cairn::protect {
namespace CAIRN_UNITY_ID {

// Random corruption of a stored event: never a crash, never plaintext under a mutated field.
TEST_F(ProtectorTest, RevealSurvivesRandomCorruption) {
  const std::string stored = Protect("CustomerRegistered", kCustomer);
  std::mt19937 rng(777);
  int ok = 0;
  for (int i = 0; i < 3000; ++i) {
    std::string text = stored;
    const size_t at = rng() % text.size();
    text[at] = static_cast<char>("{}[]\":,AZaz09+/=~$\\"[rng() % 19]);
    for (bool pii : {true, false}) {
      auto view = Reveal("CustomerRegistered", text, pii);
      if (!view.ok()) {
        EXPECT_TRUE(view.status().code() == StatusCode::kDataLoss) << view.status().ToString();
        continue;
      }
      ++ok;
      if (!pii) {
        EXPECT_EQ(view->data_json.find("alice"), std::string::npos);
      }
    }
  }
  EXPECT_GT(ok, 0);  // some mutations hit unprotected parts
}

// A key source that keeps no reference to the keys it hands out: as if each key were dropped
// (forgotten, expired) right after KeyForWrite returned it.
class DroppingKeySource : public keys::SubjectKeySource {
 public:
  Result<keys::SubjectKey> KeyForWrite(std::string_view) override {
    return keys::SubjectKey{"k1", std::make_shared<const crypto::SecureBytes>(key_.Clone())};
  }
  Result<keys::SubjectKey> KeyForRead(std::string_view) override {
    return Status::NotFound("destroyed");
  }

 private:
  crypto::SecureBytes key_ = crypto::RandomSecret(32);
};

TEST_F(ProtectorTest, AKeyDroppedDuringTheWriteLeavesNoCachedContext) {
  // The key schedule of a key the source dropped while an append sealed with it (a concurrent
  // forget) must not stay in the cipher cache: the write path used to keep its own copy of the
  // key reference, so the lease never saw itself as the last holder.
  DroppingKeySource source;
  CipherCache ciphers;
  const std::string escaped =  // an escaped member name: the DOM path, not the splice
      R"({"customerId":"cust-1","email":"alice@example.com","ti\u0065r":3})";
  for (std::string_view data : {kCustomer, std::string_view(escaped)}) {
    auto out = ProtectEvent(R("CustomerRegistered"), "cust-1", kEvent1, data, "", source, &ciphers);
    ASSERT_TRUE(out.ok()) << out.status().ToString();
    EXPECT_EQ(out->find("alice@example.com"), std::string::npos);
    EXPECT_EQ(ciphers.entries(), 0u) << data;
  }
  EXPECT_EQ(ciphers.stats().creates, 2u);
}

}  // namespace
}  // namespace cairn::protect
