// JSON pointers (RFC 6901) and the strict document parser.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include "mutate.h"
#include "protect/json_document.h"
#include "protect/json_pointer.h"

namespace cairn::protect {
namespace CAIRN_UNITY_ID {

Json Doc(std::string_view text) {
  auto parsed = ParseDocument(text);
  EXPECT_TRUE(parsed.ok()) << parsed.status().ToString();
  return parsed.ok() ? parsed->value : Json();
}

const Json* Get(const Json& doc, std::string_view pointer) {
  auto p = JsonPointer::Parse(pointer);
  EXPECT_TRUE(p.ok()) << pointer << ": " << p.status().ToString();
  return p.ok() ? Resolve(*p, doc) : nullptr;
}

// RFC 6901 section 5, every example.
TEST(JsonPointer, Rfc6901Examples) {
  const Json doc = Doc(R"({"foo": ["bar", "baz"], "": 0, "a/b": 1, "c%d": 2, "e^f": 3,
                           "g|h": 4, "i\\j": 5, "k\"l": 6, " ": 7, "m~n": 8})");
  EXPECT_EQ(*Get(doc, ""), doc);
  EXPECT_EQ(*Get(doc, "/foo"), Json::parse(R"(["bar","baz"])"));
  EXPECT_EQ(*Get(doc, "/foo/0"), "bar");
  EXPECT_EQ(*Get(doc, "/"), 0);
  EXPECT_EQ(*Get(doc, "/a~1b"), 1);
  EXPECT_EQ(*Get(doc, "/c%d"), 2);
  EXPECT_EQ(*Get(doc, "/e^f"), 3);
  EXPECT_EQ(*Get(doc, "/g|h"), 4);
  EXPECT_EQ(*Get(doc, "/i\\j"), 5);
  EXPECT_EQ(*Get(doc, "/k\"l"), 6);
  EXPECT_EQ(*Get(doc, "/ "), 7);
  EXPECT_EQ(*Get(doc, "/m~0n"), 8);
}

TEST(JsonPointer, TokensAndEscapes) {
  auto p = JsonPointer::Parse("/a~1b/m~0n/~01");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->tokens(), (std::vector<std::string>{"a/b", "m~n", "~1"}));
  EXPECT_EQ(JsonPointer::Format(p->tokens()), "/a~1b/m~0n/~01");  // canonical text round-trips
  EXPECT_EQ(JsonPointer::EscapeToken("~/"), "~0~1");
  EXPECT_TRUE(JsonPointer::Parse("")->is_root());
  EXPECT_EQ(JsonPointer::Parse("/")->tokens(), std::vector<std::string>{""});
  EXPECT_EQ(JsonPointer::Parse("//")->tokens(), (std::vector<std::string>{"", ""}));
}

TEST(JsonPointer, RejectsBadSyntax) {
  for (std::string_view bad : {"a", "a/b", "/~", "/a~", "/~2", "/a~x/b", "/~~", "#/a"}) {
    auto p = JsonPointer::Parse(bad);
    EXPECT_FALSE(p.ok()) << bad;
    if (!p.ok()) {
      EXPECT_EQ(p.status().code(), StatusCode::kInvalidArgument);
    }
  }
  EXPECT_TRUE(JsonPointer::Parse("/" + std::string(kJsonPointerSizeBytesMax - 1, 'a')).ok());
  EXPECT_FALSE(JsonPointer::Parse("/" + std::string(kJsonPointerSizeBytesMax, 'a')).ok());
  std::string many;
  for (size_t i = 0; i < kJsonPointerTokensMax; ++i) many += "/a";
  EXPECT_TRUE(JsonPointer::Parse(many).ok());
  EXPECT_FALSE(JsonPointer::Parse(many + "/a").ok());
}

TEST(JsonPointer, ArrayIndices) {
  const Json doc = Doc(R"({"a": [10, 11, [20, 21]], "o": {"01": "key", "-": "dash"}})");
  EXPECT_EQ(*Get(doc, "/a/0"), 10);
  EXPECT_EQ(*Get(doc, "/a/2/1"), 21);
  EXPECT_EQ(Get(doc, "/a/3"), nullptr);    // out of range
  EXPECT_EQ(Get(doc, "/a/01"), nullptr);   // leading zero
  EXPECT_EQ(Get(doc, "/a/-"), nullptr);    // "-" never resolves on read
  EXPECT_EQ(Get(doc, "/a/-1"), nullptr);
  EXPECT_EQ(Get(doc, "/a/1x"), nullptr);
  EXPECT_EQ(Get(doc, "/a/"), nullptr);
  EXPECT_EQ(Get(doc, "/a/99999999999999999999999"), nullptr);  // no overflow
  EXPECT_EQ(*Get(doc, "/o/01"), "key");   // on objects the same tokens are member names
  EXPECT_EQ(*Get(doc, "/o/-"), "dash");
  EXPECT_EQ(Get(doc, "/a/0/x"), nullptr);  // through a scalar
  EXPECT_EQ(Get(doc, "/missing"), nullptr);
  EXPECT_EQ(ParseArrayIndex("0"), 0u);
  EXPECT_EQ(ParseArrayIndex("120"), 120u);
  EXPECT_FALSE(ParseArrayIndex("00"));
  EXPECT_FALSE(ParseArrayIndex("-"));
  EXPECT_FALSE(ParseArrayIndex("+1"));
}

TEST(JsonPointer, PrefixIsTokenWise) {
  auto a = *JsonPointer::Parse("/a");
  EXPECT_TRUE(a.IsPrefixOf(*JsonPointer::Parse("/a/b")));
  EXPECT_TRUE(a.IsPrefixOf(a));
  EXPECT_FALSE(a.IsPrefixOf(*JsonPointer::Parse("/ab")));
  EXPECT_FALSE(JsonPointer::Parse("/a/b")->IsPrefixOf(a));
  EXPECT_TRUE(JsonPointer().IsPrefixOf(a));
}

TEST(JsonDocument, KeepsKeyOrderAndCountsEncMembers) {
  auto doc = ParseDocument(R"({"z":1,"a":{"$enc":"x"},"m":[{"$enc":1}]})");
  ASSERT_TRUE(doc.ok());
  EXPECT_EQ(doc->value.dump(), R"({"z":1,"a":{"$enc":"x"},"m":[{"$enc":1}]})");
  EXPECT_EQ(doc->enc_objects, 2u);
  EXPECT_EQ(ParseDocument(R"({"s":"$enc"})")->enc_objects, 0u);  // a value, not a member name
}

TEST(JsonDocument, RejectsHostileInput) {
  // Deep nesting: rejected, not a stack overflow.
  const std::string deep_array = std::string(100000, '[') + std::string(100000, ']');
  EXPECT_FALSE(ParseDocument(deep_array).ok());
  std::string deep_object;
  for (int i = 0; i < 50000; ++i) deep_object += "{\"a\":";
  deep_object += "1" + std::string(50000, '}');
  EXPECT_FALSE(ParseDocument(deep_object).ok());
  const std::string ok_depth = std::string(kJsonDocumentDepthMax, '[') +
                               std::string(kJsonDocumentDepthMax, ']');
  EXPECT_TRUE(ParseDocument(ok_depth).ok());
  const std::string too_deep = "[" + ok_depth + "]";
  EXPECT_FALSE(ParseDocument(too_deep).ok());
  // Duplicate keys, small and large objects.
  EXPECT_FALSE(ParseDocument(R"({"email":"a","email":"b"})").ok());
  std::string big = "{";
  for (int i = 0; i < 1000; ++i) big += "\"k" + std::to_string(i) + "\":0,";
  EXPECT_TRUE(ParseDocument(big + "\"last\":1}").ok());
  EXPECT_FALSE(ParseDocument(big + "\"k500\":1}").ok());
  // Many keys in one object stays fast (no quadratic insertion).
  std::string huge = "{";
  for (int i = 0; i < 100000; ++i) huge += "\"k" + std::to_string(i) + "\":0,";
  huge += "\"end\":0}";
  EXPECT_TRUE(ParseDocument(huge).ok());
  // Malformed inputs, invalid UTF-8, trailing data, numbers out of range, comments.
  for (std::string_view bad :
       {"", "{", "}", "[1,]", "{\"a\" 1}", "nul", "\"\xff\"", "\"\xc3\"", "1 2", "{} x",
        "1e999", "-1e400", "[1e999]", "/* c */ 1", "{\"a\":1,}", "'a'", "NaN", "\"\\u12\""}) {
    EXPECT_FALSE(ParseDocument(bad).ok()) << bad;
  }
  std::string with_nul("\"a\0b\"", 5);
  EXPECT_FALSE(ParseDocument(with_nul).ok());
  EXPECT_TRUE(ParseDocument("\"a\\u0000b\"").ok());
}

}  // namespace
}  // namespace cairn::protect

namespace cairn::protect {
namespace CAIRN_UNITY_ID {

// Random bytes and random mutations of valid documents and pointers: never a crash, and anything
// accepted re-serialises.
TEST(JsonDocument, SurvivesRandomMutations) {
  std::mt19937 rng(12345);
  const std::string seeds[] = {
      R"({"a":[1,2,{"b":"c~/"}],"d":{"$enc":"v1","kid":"k","iv":"AA==","ct":""},"e":-1.5e3})",
      R"([[[[{"x":null,"y":true,"z":"\u00e9\ud83d\ude00"}]]]])"};
  const char alphabet[] = "{}[]\":,0123456789-+.eE\\/~ abtrufnl\x00\xff\xc3";
  for (int i = 0; i < 20000; ++i) {
    const int edits = 1 + static_cast<int>(rng() % 8);
    const std::string text =
        Mutate(seeds[i % 2], edits, std::string_view(alphabet, sizeof alphabet - 1), rng);
    auto doc = ParseDocument(text);
    if (doc.ok()) {
      EXPECT_TRUE(DumpDocument(doc->value).ok());
      auto pointer = JsonPointer::Parse(text.substr(0, std::min<size_t>(text.size(), 40)));
      if (pointer.ok()) (void)Resolve(*pointer, doc->value);
    }
    (void)JsonPointer::Parse("/" + text.substr(0, std::min<size_t>(text.size(), 300)));
  }
}

}  // namespace
}  // namespace cairn::protect
