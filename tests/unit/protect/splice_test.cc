// The splice path against the DOM path (protector_paths.h): the same stored form and plaintexts,
// the same reader views, the same refusals. And that the splice path really runs for ordinary
// events, and the DOM path for what it declines.
#include <gtest/gtest.h>

#include <random>

#include "fake_key_source.h"
#include "protect/protector.h"
#include "protect/protector_paths.h"
#include "protect/rules.h"

namespace cairn::protect {
namespace CAIRN_UNITY_ID {

constexpr std::string_view kRules = R"(
[[rule]]
event_type = "C"
subject = "/customerId"
fields = ["/email", "/name", "/address/street", "/phones/1", "/obj", "/arr", "/num", "/u"]

[[rule]]
event_type = "P"
subject = "$subject"
fields = ["/card"]
mask = '{"hidden":true}'
erased = '"[gone]"'
)";

const std::string kId(16, '\x05');
constexpr std::string_view kStream = "s-1";

class SpliceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto rules = ParseRules(kRules, "rules.toml");
    ASSERT_TRUE(rules.ok()) << rules.status().ToString();
    rules_ = *rules;
  }
  const Rule& R(std::string_view type = "C") { return *rules_->Find(type); }

  // The splice path's result, or nullopt when it declines (or the scanner does).
  std::optional<Result<std::string>> ProtectSplice(std::string_view data,
                                                   std::string_view subject = "",
                                                   std::string_view type = "C") {
    JsonScan scan;
    if (!scan.Scan(data)) return std::nullopt;
    return internal::ProtectWithSplice(R(type), kStream, kId, data, scan, subject, keys_,
                                       &ciphers_);
  }
  Result<std::string> ProtectDom(std::string_view data, std::string_view subject = "",
                                 std::string_view type = "C") {
    return internal::ProtectWithDom(R(type), kStream, kId, data, subject, keys_, &ciphers_);
  }
  std::optional<Result<ReadView>> RevealSplice(std::string_view stored, bool pii,
                                               std::string_view type = "C") {
    JsonScan scan;
    if (!scan.Scan(stored)) return std::nullopt;
    return internal::RevealWithSplice(R(type), kStream, kId, stored, scan, pii, keys_,
                                      &ciphers_);
  }
  Result<ReadView> RevealDom(std::string_view stored, bool pii, std::string_view type = "C") {
    return internal::RevealWithDom(R(type), kStream, kId, stored, pii, keys_, &ciphers_);
  }

  // Both reveal paths give the same view of `stored` (bytes, when the DOM path's output is the
  // stored text's canonical form: `same_bytes`).
  void ExpectSameViews(const std::string& stored, bool same_bytes, std::string_view type = "C") {
    for (bool pii : {true, false}) {
      auto splice = RevealSplice(stored, pii, type);
      ASSERT_TRUE(splice.has_value()) << "splice path declined " << stored;
      ASSERT_TRUE(splice->ok()) << splice->status().ToString();
      auto dom = RevealDom(stored, pii, type);
      ASSERT_TRUE(dom.ok()) << dom.status().ToString();
      EXPECT_EQ(Json::parse((*splice)->data_json), Json::parse(dom->data_json)) << stored;
      if (same_bytes) {
        EXPECT_EQ((*splice)->data_json, dom->data_json);
      }
      EXPECT_EQ((*splice)->masked, dom->masked);
      EXPECT_EQ((*splice)->erased, dom->erased);
      EXPECT_EQ((*splice)->masked_in_clear, dom->masked_in_clear);
    }
  }

  std::shared_ptr<const RuleSet> rules_;
  FakeKeySource keys_;
  CipherCache ciphers_;
};

Json J(std::string_view text) { return Json::parse(text); }

TEST_F(SpliceTest, OrdinaryEventsTakeTheSplicePathAndKeepTheirBytes) {
  const std::string data =
      R"({ "customerId" : "c-1", "email":"a@example.com" ,"tier": 1.50, "name":"Al"})";
  auto stored = ProtectSplice(data);
  ASSERT_TRUE(stored.has_value());
  ASSERT_TRUE(stored->ok()) << stored->status().ToString();
  // Everything but the two values is kept byte for byte.
  const std::string& s = **stored;
  EXPECT_EQ(s.rfind(R"({ "customerId" : "c-1", "email":{"$enc":"v1",)", 0), 0u) << s;
  EXPECT_NE(s.find(R"(} ,"tier": 1.50, "name":{"$enc":"v1",)"), std::string::npos) << s;
  EXPECT_EQ(s.find("a@example.com"), std::string::npos);
  EXPECT_EQ(s.find("\"Al\""), std::string::npos);
  // The public entry point takes the same path (the bytes show it).
  auto entry = ProtectEvent(R(), kStream, kId, data, "", keys_, &ciphers_);
  ASSERT_TRUE(entry.ok());
  EXPECT_NE(entry->find(R"(,"tier": 1.50,)"), std::string::npos) << *entry;
  // Read back by both paths; the plaintext view keeps the bytes around the fields.
  ExpectSameViews(s, /*same_bytes=*/false);
  auto view = RevealEvent(R(), kStream, kId, s, true, keys_, &ciphers_);
  ASSERT_TRUE(view.ok());
  EXPECT_EQ(view->data_json, data);
}

TEST_F(SpliceTest, StoredFormAndPlaintextAreTheDomPathsForEveryValueKind) {
  const std::string data =
      R"({"customerId":"c-2","email":"e\u00e9\"\\\/\n","name":"日本😀",)"
      R"("address":{"street":"1 Main St","city":"X"},"phones":["+1",{"n":"+2"}],)"
      R"("obj":{"a":[1,{"b":null}],"c":"\u0041"},"arr":[1.0,"two",-0,1e2],"num":-12,)"
      R"("u":12345678901234567890})";
  auto splice = ProtectSplice(data);
  ASSERT_TRUE(splice.has_value());
  ASSERT_TRUE(splice->ok()) << splice->status().ToString();
  auto dom = ProtectDom(data);
  ASSERT_TRUE(dom.ok());
  // The data was compact and canonical outside the protected values: the stored documents differ
  // only in their IVs and ciphertexts.
  const Json a = J(**splice), b = J(*dom);
  ASSERT_EQ(a.size(), b.size());
  for (auto it = a.begin(); it != a.end(); ++it) {
    if (it.value().is_object() && it.value().contains("$enc")) {
      EXPECT_EQ(it.value()["kid"], b[it.key()]["kid"]) << it.key();
      EXPECT_EQ(it.value()["ct"].get<std::string>().size(),
                b[it.key()]["ct"].get<std::string>().size()) << it.key();
    }
  }
  // Each reveals, through either path, to the DOM's reading of the data.
  for (const std::string& stored : {**splice, *dom}) {
    ExpectSameViews(stored, /*same_bytes=*/true);
    auto pii = RevealEvent(R(), kStream, kId, stored, true, keys_, &ciphers_);
    ASSERT_TRUE(pii.ok());
    EXPECT_EQ(J(pii->data_json), J(data));
    auto masked = RevealEvent(R(), kStream, kId, stored, false, keys_, &ciphers_);
    ASSERT_TRUE(masked.ok());
    const Json m = J(masked->data_json);
    EXPECT_EQ(m["email"], "***");
    EXPECT_EQ(m["name"], "***");
    EXPECT_TRUE(m["obj"].is_null());
    EXPECT_TRUE(m["phones"][1].is_null());
    EXPECT_EQ(m["address"]["city"], "X");
    EXPECT_EQ(masked->masked, (std::vector<std::string>{"/email", "/name", "/address/street",
                                                        "/phones/1", "/obj", "/arr", "/num",
                                                        "/u"}));
  }
}

TEST_F(SpliceTest, MissingFieldsNoFieldsAndSubjectForms) {
  // Only some fields present; none present (returned unchanged, no key).
  auto some = ProtectSplice(R"({"customerId":"c-3","address":{"city":"Y"},"phones":["x"],"num":1})");
  ASSERT_TRUE(some.has_value() && some->ok());
  EXPECT_TRUE(J(**some)["num"].is_object());
  EXPECT_EQ(J(**some)["phones"], J(R"(["x"])"));
  const int writes = keys_.write_calls();
  const std::string bare = R"({"customerId":"c-4",  "x":1})";
  auto none = ProtectSplice(bare);
  ASSERT_TRUE(none.has_value() && none->ok());
  EXPECT_EQ(**none, bare);
  EXPECT_EQ(keys_.write_calls(), writes);
  // An integer subject names the same key as its decimal string.
  auto by_int = ProtectSplice(R"({"customerId":42,"email":"x"})");
  ASSERT_TRUE(by_int.has_value() && by_int->ok());
  EXPECT_EQ(J(**by_int)["email"]["kid"], keys_.CurrentKid("42"));
  // The append's subject.
  auto card = ProtectSplice(R"({"card":"4111","amount":3})", "user-9", "P");
  ASSERT_TRUE(card.has_value() && card->ok());
  EXPECT_EQ(J(**card)["card"]["kid"], keys_.CurrentKid("user-9"));
  ExpectSameViews(**card, true, "P");
  auto masked = RevealEvent(R("P"), kStream, kId, **card, false, keys_, &ciphers_);
  ASSERT_TRUE(masked.ok());
  EXPECT_EQ(masked->data_json, R"({"card":{"hidden":true},"amount":3})");
  keys_.Destroy("user-9");
  ExpectSameViews(**card, true, "P");
  auto erased = RevealEvent(R("P"), kStream, kId, **card, true, keys_, &ciphers_);
  ASSERT_TRUE(erased.ok());
  EXPECT_EQ(erased->data_json, R"({"card":"[gone]","amount":3})");
}

TEST_F(SpliceTest, DeclinesBeforeAskingForKeys) {
  const int writes = keys_.write_calls();
  // Subjects with escapes or in a non-compact number form: the DOM path reads them.
  EXPECT_FALSE(ProtectSplice(R"({"customerId":"c\u002d5","email":"x"})").has_value());
  EXPECT_FALSE(ProtectSplice(R"({"customerId":-0,"email":"x"})").has_value());
  EXPECT_FALSE(ProtectSplice(R"({"customerId":1.0,"email":"x"})").has_value());
  EXPECT_EQ(keys_.write_calls(), writes);
  // ... and the entry point still protects them, as the DOM path did.
  auto escaped = ProtectEvent(R(), kStream, kId, R"({"customerId":"c\u002d5","email":"x"})", "",
                              keys_, &ciphers_);
  ASSERT_TRUE(escaped.ok());
  EXPECT_EQ(J(*escaped)["email"]["kid"], keys_.CurrentKid("c-5"));
  auto float_subject =
      ProtectEvent(R(), kStream, kId, R"({"customerId":1.0,"email":"x"})", "", keys_, &ciphers_);
  EXPECT_EQ(float_subject.status().code(), StatusCode::kInvalidArgument);
  // An escaped member name anywhere: the scanner declines, the DOM path resolves the pointer on
  // unescaped names (so "\u0065mail" is /email and gets encrypted).
  auto escaped_name = ProtectEvent(R(), kStream, kId, R"({"customerId":"c-6","\u0065mail":"x"})",
                                   "", keys_, &ciphers_);
  ASSERT_TRUE(escaped_name.ok());
  EXPECT_TRUE(J(*escaped_name)["email"].is_object());
  // A stored member with an escape: the DOM path reads it.
  auto stored = ProtectSplice(R"({"customerId":"c-7","email":"x"})");
  ASSERT_TRUE(stored.has_value() && stored->ok());
  std::string escaped_stored = **stored;
  escaped_stored.replace(escaped_stored.find("\"v1\""), 4, R"("v\u0031")");
  const int reads = keys_.read_calls();
  EXPECT_FALSE(RevealSplice(escaped_stored, true).has_value());
  EXPECT_EQ(keys_.read_calls(), reads);
  auto view = RevealEvent(R(), kStream, kId, escaped_stored, true, keys_, &ciphers_);
  ASSERT_TRUE(view.ok()) << view.status().ToString();
  EXPECT_EQ(J(view->data_json)["email"], "x");
}

TEST_F(SpliceTest, RefusesWhatTheDomPathRefuses) {
  for (std::string_view data : {
           R"({"customerId":"c","email":"a","email":"b"})",  // the same member twice
           R"({"customerId":"c","address":{"street":"a","street":"b"}})",
           R"({"customerId":"c","email":{"$enc":"v1"}})",    // client-made ciphertext
           R"({"customerId":"c","x":[{"$enc":1}]})",
           R"({"customerId":"c","x":{"\u0024enc":"v1"}})",  // the same, with an escaped name
           R"({"email":"x"})",                               // no subject
           R"({"customerId":"","email":"x"})",
           R"({"customerId":true,"email":"x"})",
           "{\"customerId\":\"c\",\"email\":\"\xff\"}",      // invalid UTF-8
           R"({"customerId":"c","email":"\ud800"})",         // lone surrogate
           R"({"customerId":"c","email":1e999})",
           R"({"customerId":"c","email":"x"} trailing)"}) {
    auto entry = ProtectEvent(R(), kStream, kId, data, "", keys_, &ciphers_);
    auto dom = ProtectDom(data);
    ASSERT_FALSE(entry.ok()) << data;
    ASSERT_FALSE(dom.ok()) << data;
    EXPECT_EQ(entry.status().code(), StatusCode::kInvalidArgument) << data;
    EXPECT_EQ(entry.status().message(), dom.status().message()) << data;
  }
  // A rule may not list the same pointer twice.
  EXPECT_FALSE(ParseRules(R"(
[[rule]]
event_type = "D"
subject = "/s"
fields = ["/a", "/a"]
)", "r").ok());
}

TEST_F(SpliceTest, SameKidTwiceIsOneLookupAndCiphersAreReused) {
  auto stored = ProtectSplice(R"({"customerId":"c-8","email":"e","name":"n","num":3})");
  ASSERT_TRUE(stored.has_value() && stored->ok());
  const int reads = keys_.read_calls();
  auto view = RevealSplice(**stored, true);
  ASSERT_TRUE(view.has_value() && view->ok());
  EXPECT_EQ(keys_.read_calls() - reads, 1);
  const CipherCacheStats before = ciphers_.stats();
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(RevealSplice(**stored, true).value().ok());
  const CipherCacheStats after = ciphers_.stats();
  EXPECT_EQ(after.reuses - before.reuses, 5u);
  EXPECT_EQ(after.creates, before.creates);
}

TEST_F(SpliceTest, RuleChangedSinceWritingFindsEveryEncObject) {
  auto stored = ProtectSplice(R"({"customerId":"c-9","email":"e","phones":["a","b"],"tier":2})");
  ASSERT_TRUE(stored.has_value() && stored->ok());
  auto newer = ParseRules(R"(
[[rule]]
event_type = "C"
subject = "/customerId"
fields = ["/tier"]
)", "new.toml");
  ASSERT_TRUE(newer.ok());
  const Rule& rule = *(*newer)->Find("C");
  JsonScan scan;
  ASSERT_TRUE(scan.Scan(**stored));
  for (bool pii : {true, false}) {
    auto splice = internal::RevealWithSplice(rule, kStream, kId, **stored, scan, pii, keys_,
                                             &ciphers_);
    ASSERT_TRUE(splice.has_value() && splice->ok());
    auto dom = internal::RevealWithDom(rule, kStream, kId, **stored, pii, keys_, &ciphers_);
    ASSERT_TRUE(dom.ok());
    EXPECT_EQ((*splice)->data_json, dom->data_json);
    EXPECT_EQ((*splice)->masked, dom->masked);
    // /tier is stored in clear: counted for a reader it is masked for, on both paths.
    EXPECT_EQ((*splice)->masked_in_clear, pii ? 0u : 1u);
    EXPECT_EQ(dom->masked_in_clear, pii ? 0u : 1u);
  }
  auto masked = RevealEvent(rule, kStream, kId, **stored, false, keys_, &ciphers_);
  ASSERT_TRUE(masked.ok());
  EXPECT_EQ(masked->masked, (std::vector<std::string>{"/email", "/phones/1", "/tier"}));
  EXPECT_EQ(masked->masked_in_clear, 1u);
  // Under the rule it was written with, nothing is in clear.
  auto current = RevealEvent(R(), kStream, kId, **stored, false, keys_, &ciphers_);
  ASSERT_TRUE(current.ok());
  EXPECT_EQ(current->masked.size(), 2u);
  EXPECT_EQ(current->masked_in_clear, 0u);
}

// A field widened to its parent after events were stored ("/address/street" → "/address"), and
// a "$enc"-shaped value planted inside a field before any rule covered it: the targets nest. The
// splice path declines (it replaces disjoint spans only; it used to abort the server here) and the
// entry point reads them as the DOM path does.
TEST_F(SpliceTest, NestedTargetsAfterARuleWasWidenedGoToTheDomPath) {
  auto stored = ProtectSplice(
      R"({"customerId":"c-11","address":{"street":"Main St 1","city":"X"},"email":"e"})");
  ASSERT_TRUE(stored.has_value() && stored->ok());
  auto rules_with = [](const std::string& fields) {
    auto parsed = ParseRules("[[rule]]\nevent_type = \"C\"\nsubject = \"/customerId\"\nfields = " +
                                 fields + "\n",
                             "changed.toml");
    EXPECT_TRUE(parsed.ok()) << parsed.status().ToString();
    return std::move(parsed).value();
  };
  const auto widened = rules_with(R"(["/address", "/email"])");
  const Rule& rule = *widened->Find("C");
  const std::string planted =
      R"({"customerId":"c-12","profile":{"card":{"$enc":"v1","kid":"nope","iv":"AA","ct":"AA"}},"p":1})";
  const auto planted_rules = rules_with(R"(["/profile", "/p"])");
  const Rule& planted_rule = *planted_rules->Find("C");
  for (auto [text, r] : {std::pair<std::string, const Rule*>{**stored, &rule},
                         std::pair<std::string, const Rule*>{planted, &planted_rule}}) {
    for (bool pii : {true, false}) {
      SCOPED_TRACE(text + (pii ? " pii" : " no pii"));
      JsonScan scan;
      ASSERT_TRUE(scan.Scan(text));
      auto splice =
          internal::RevealWithSplice(*r, kStream, kId, text, scan, pii, keys_, &ciphers_);
      auto dom = internal::RevealWithDom(*r, kStream, kId, text, pii, keys_, &ciphers_);
      auto entry = RevealEvent(*r, kStream, kId, text, pii, keys_, &ciphers_);
      if (!pii) {
        EXPECT_FALSE(splice.has_value()) << "nested spans: the DOM path's work";
      }
      ASSERT_EQ(entry.ok(), dom.ok()) << entry.status().ToString() << dom.status().ToString();
      if (!dom.ok()) {
        EXPECT_EQ(entry.status().code(), dom.status().code());
        continue;
      }
      EXPECT_EQ(entry->data_json, dom->data_json);
      EXPECT_EQ(entry->masked, dom->masked);
      if (!pii) {
        EXPECT_EQ(entry->data_json.find("Main St"), std::string::npos) << entry->data_json;
      }
    }
  }
}

// Random corruption of stored events: both paths agree on success, error code and view.
TEST_F(SpliceTest, CorruptedStoredEventsReadTheSameThroughBothPaths) {
  auto stored = ProtectDom(
      R"({"customerId":"c-10","email":"alice@example.com","obj":{"k":[1,"v"]},"n":1})");
  ASSERT_TRUE(stored.ok());
  std::mt19937 rng(31337);
  int compared = 0;
  for (int i = 0; i < 4000; ++i) {
    std::string text = *stored;
    const size_t at = rng() % text.size();
    text[at] = static_cast<char>("{}[]\":,AZaz09+/=~$\\ u"[rng() % 22]);
    const bool pii = i % 2 == 0;
    auto splice = RevealSplice(text, pii);
    if (!splice) continue;  // declined: only the DOM path reads it
    ++compared;
    auto dom = RevealDom(text, pii);
    ASSERT_EQ(splice->ok(), dom.ok()) << text << "\n" << splice->status().ToString() << "\n"
                                      << dom.status().ToString();
    if (!dom.ok()) {
      EXPECT_EQ(splice->status().code(), dom.status().code()) << text;
      EXPECT_EQ(splice->status().message(), dom.status().message()) << text;
      continue;
    }
    EXPECT_EQ((*splice)->data_json, dom->data_json) << text;
    EXPECT_EQ((*splice)->masked, dom->masked);
    if (!pii) {
      EXPECT_EQ((*splice)->data_json.find("alice"), std::string::npos);
    }
  }
  EXPECT_GT(compared, 1000);
}

}  // namespace
}  // namespace cairn::protect
