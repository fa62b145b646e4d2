// The scanner of protect's fast path: it never vouches for a document the strict DOM parser
// refuses, it does vouch for the ordinary ones (or the fast path would silently never run), and
// its spans and pointer resolution agree with the DOM.
#include <gtest/gtest.h>

#include <random>

#include "common/bytes.h"
#include "mutate.h"
#include "protect/field_cipher.h"
#include "protect/json_document.h"
#include "protect/json_scan.h"

namespace cairn::protect {
namespace CAIRN_UNITY_ID {

bool Scans(std::string_view text) {
  JsonScan scan;
  return scan.Scan(text);
}

TEST(JsonScan, VouchesForOrdinaryDocuments) {
  for (std::string_view good : {
           R"({"a":1})", R"( { "a" : [ 1 , 2.5 , -3e-2 , true , false , null ] } )", "[]", "{}",
           "0", "-0", "\"s\"", R"({"e":"caf\u00e9 \"q\" \\ \/ \b\f\n\r\t"})",
           R"(["\ud83d\ude00"])", "\"\xc3\xa9\xe6\x97\xa5\xf0\x9f\x98\x80\x7f\"",
           R"({"deep":{"er":{"est":[[[{}]]]}}})", "123456789012345678901234567890",
           "1E2", "1e-300", "\t\r\n 7 \t\r\n"}) {
    EXPECT_TRUE(Scans(good)) << good;
    EXPECT_TRUE(ParseDocument(good).ok()) << good;
  }
}

TEST(JsonScan, DeclinesEverythingTheDomRefuses) {
  for (std::string_view bad :
       {"", " ", "{", "}", "[1,]", "{\"a\" 1}", "nul", "\"\xff\"", "\"\xc3\"", "1 2", "{} x",
        "1e999", "-1e400", "[1e999]", "/* c */ 1", "{\"a\":1,}", "'a'", "NaN", "\"\\u12\"",
        "01", "1.", ".5", "+1", "-", "1e", "1e+", "[1 2]", "{\"a\":1 \"b\":2}", "{1:2}",
        "{\"a\":1,\"a\":2}", "\"\\ud800\"", "\"\\udc00\"", "\"\\ud800\\u0041\"", "\"\\x\"",
        "\"\xed\xa0\x80\"", "\"\xc0\xaf\"", "\"\xf4\x90\x80\x80\"", "\"\xe0\x80\xaf\"",
        "\"tab\there\"", "truex", "[true,]", "{,}", "[,1]", "\"unterminated"}) {
    EXPECT_FALSE(Scans(bad)) << bad;
    EXPECT_FALSE(ParseDocument(bad).ok()) << bad;
  }
  std::string with_nul("\"a\0b\"", 5);
  EXPECT_FALSE(Scans(with_nul));
  // Depth: the DOM path's limit and beyond.
  const std::string too_deep = std::string(kJsonDocumentDepthMax + 1, '[') +
                               std::string(kJsonDocumentDepthMax + 1, ']');
  EXPECT_FALSE(Scans(too_deep));
  EXPECT_FALSE(ParseDocument(too_deep).ok());
  // Duplicate keys in a large object (the sorted check).
  std::string big = "{";
  for (int i = 0; i < 100; ++i) big += "\"k" + std::to_string(i) + "\":0,";
  EXPECT_TRUE(Scans(big + "\"last\":1}"));
  EXPECT_FALSE(Scans(big + "\"k50\":1}"));
}

TEST(JsonScan, DeclinesWhatOnlyTheDomDecides) {
  // Valid JSON that the scanner leaves to the DOM path: escaped member names (compared after
  // unescaping there), a byte-order mark, and underflowing exponents (accepted as 0 there).
  for (std::string_view text : {R"({"\u0061":1})", "\xef\xbb\xbf{}", "1e-400"}) {
    EXPECT_FALSE(Scans(text)) << text;
    EXPECT_TRUE(ParseDocument(text).ok()) << text;
  }
  // An escaped duplicate: "a" and "\u0061" are the same name; the DOM path refuses it.
  EXPECT_FALSE(ParseDocument(R"({"a":1,"\u0061":2})").ok());
}

TEST(JsonScan, SpansKeysAndCompactness) {
  const std::string text =
      R"( {"s" : "plain", "e":"esc\n", "i":-12, "z":-0, "f":1.50, "l":1234567890123456789,)"
      R"( "o":{"$enc":"v1"}, "a":[true,null]} )";
  JsonScan scan;
  ASSERT_TRUE(scan.Scan(text));
  EXPECT_EQ(scan.enc_objects(), 1u);
  auto at = [&](std::string_view p) { return scan.Resolve(*JsonPointer::Parse(p)); };
  auto text_at = [&](std::string_view p) { return std::string(scan.Text(at(p))); };
  EXPECT_EQ(text_at(""), text.substr(1, text.size() - 2));
  EXPECT_EQ(text_at("/s"), "\"plain\"");
  EXPECT_EQ(text_at("/o"), R"({"$enc":"v1"})");
  EXPECT_EQ(text_at("/a/1"), "null");
  EXPECT_EQ(scan.Key(at("/f")), "f");
  EXPECT_TRUE(scan.nodes()[at("/s")].compact);
  EXPECT_FALSE(scan.nodes()[at("/e")].compact);  // escapes: DumpDocument rewrites them
  EXPECT_TRUE(scan.nodes()[at("/i")].compact);
  EXPECT_FALSE(scan.nodes()[at("/z")].compact);  // -0 dumps as 0
  EXPECT_FALSE(scan.nodes()[at("/f")].compact);  // 1.50 dumps as 1.5
  EXPECT_FALSE(scan.nodes()[at("/l")].compact);  // 19 digits
  EXPECT_TRUE(scan.nodes()[at("/a/0")].compact);
  EXPECT_EQ(at("/a/2"), kNoScanNode);
  EXPECT_EQ(at("/a/01"), kNoScanNode);
  EXPECT_EQ(at("/s/x"), kNoScanNode);
  EXPECT_EQ(at("/missing"), kNoScanNode);
  // "$enc" objects are opaque to ResolveOutsideEnc and found by the walk.
  EXPECT_EQ(scan.ResolveOutsideEnc(*JsonPointer::Parse("/o/$enc")), kNoScanNode);
  EXPECT_NE(at("/o/$enc"), kNoScanNode);
  ASSERT_EQ(scan.EncObjects().size(), 1u);
  EXPECT_EQ(scan.PointerOf(scan.EncObjects()[0]), "/o");
  EXPECT_EQ(scan.PointerOf(at("/a/1")), "/a/1");
}

TEST(JsonScan, PointersWithEscapedTokens) {
  JsonScan scan;
  ASSERT_TRUE(scan.Scan(R"({"a/b":{"m~n":[0,{"$enc":"v1"}]}})"));
  const uint32_t node = scan.Resolve(*JsonPointer::Parse("/a~1b/m~0n/1"));
  ASSERT_NE(node, kNoScanNode);
  EXPECT_EQ(scan.PointerOf(node), "/a~1b/m~0n/1");
  EXPECT_EQ(scan.EncObjects(), std::vector<uint32_t>{node});
}

// Every node's span parses on its own to the value the DOM has at the node's pointer.
void ExpectSpansMatchDom(const std::string& text) {
  JsonScan scan;
  ASSERT_TRUE(scan.Scan(text));
  auto doc = ParseDocument(text);
  ASSERT_TRUE(doc.ok()) << text;
  EXPECT_EQ(scan.enc_objects(), doc->enc_objects) << text;
  for (uint32_t i = 0; i < scan.nodes().size(); ++i) {
    const std::string pointer = scan.PointerOf(i);
    const Json* dom = Resolve(*JsonPointer::Parse(pointer), doc->value);
    ASSERT_NE(dom, nullptr) << pointer << " in " << text;
    auto alone = ParseDocument(scan.Text(i));
    ASSERT_TRUE(alone.ok()) << scan.Text(i);
    EXPECT_EQ(alone->value, *dom) << pointer << " in " << text;
    EXPECT_EQ(scan.Resolve(*JsonPointer::Parse(pointer)), i) << pointer;
    if (scan.nodes()[i].compact) {
      EXPECT_EQ(*DumpDocument(*dom), scan.Text(i)) << pointer;
    }
  }
}

TEST(JsonScan, SpansAgreeWithTheDom) {
  ExpectSpansMatchDom(
      R"({"a":[1,2,{"b":"c~/"}],"d":{"$enc":"v1","kid":"k","iv":"AA==","ct":""},"e":-1.5e3,)"
      R"("f":"\u00e9\ud83d\ude00","g":{},"h":[],"i":[[[]]],"j":"\u0000","k":12345678901234567890})");
  ExpectSpansMatchDom("  [ \"x\" , { \"y\" : null } ]  ");
}

// Random mutations of valid documents: whatever the scanner vouches for, the DOM parser accepts,
// with the same values at the same places.
TEST(JsonScan, RandomMutationsNeverWeakenStrictness) {
  std::mt19937 rng(4242);
  const std::string seeds[] = {
      R"({"a":[1,2,{"b":"c~/"}],"d":{"$enc":"v1","kid":"k","iv":"AA==","ct":""},"e":-1.5e3})",
      R"([[[[{"x":null,"y":true,"z":"\u00e9\ud83d\ude00"}]]]])",
      R"({"customerId":"c-1","email":"customer1@example.com","n":[0,-0,1e5,"\"\\"],"u":"日本"})"};
  const char alphabet[] = "{}[]\":,0123456789-+.eE\\/~ abtrufnl\x00\xff\xc3\xa9\xed\xa0\x80";
  int vouched = 0;
  for (int i = 0; i < 30000; ++i) {
    const int edits = 1 + static_cast<int>(rng() % 6);
    const std::string text =
        Mutate(seeds[i % 3], edits, std::string_view(alphabet, sizeof alphabet - 1), rng);
    if (!Scans(text)) continue;
    ++vouched;
    ASSERT_TRUE(ParseDocument(text).ok()) << "scanner vouched for what the DOM refuses: " << text;
    ExpectSpansMatchDom(text);
  }
  EXPECT_GT(vouched, 1000);
}

TEST(JsonScan, KeepsBuffersSmallAfterALargeDocument) {
  JsonScan scan;
  std::string big = "[";
  for (int i = 0; i < 20000; ++i) big += "0,";
  big += "0]";
  ASSERT_TRUE(scan.Scan(big));
  EXPECT_EQ(scan.nodes().size(), 20002u);
  scan.ShrinkIfLarge();
  EXPECT_LE(scan.nodes().capacity(), kScanNodesKept);
  ASSERT_TRUE(scan.Scan("[1]"));
  EXPECT_EQ(scan.nodes().size(), 2u);
  // More values than the scanner indexes: the DOM path takes it.
  std::string huge = "[";
  for (size_t i = 0; i < kScanNodesMax; ++i) huge += "0,";
  EXPECT_FALSE(scan.Scan(huge + "0]"));
}

TEST(Base64, AppendDecodedAgreesWithBase64Decode) {
  std::mt19937 rng(99);
  const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=-_ ";
  for (int i = 0; i < 20000; ++i) {
    std::string in;
    if (i % 2 == 0) {
      std::string raw(rng() % 40, '\0');
      for (char& c : raw) c = static_cast<char>(rng());
      in = Base64Encode(raw);
      if (!in.empty() && rng() % 2) in[rng() % in.size()] = alphabet[rng() % alphabet.size()];
    } else {
      in.resize(rng() % 13);
      for (char& c : in) c = alphabet[rng() % alphabet.size()];
    }
    std::string out = "prefix";
    const bool ok = AppendBase64Decoded(in, &out);
    const std::optional<std::string> expected = Base64Decode(in);
    ASSERT_EQ(ok, expected.has_value()) << in;
    EXPECT_EQ(out, ok ? "prefix" + *expected : "prefix") << in;
  }
}

}  // namespace
}  // namespace cairn::protect
