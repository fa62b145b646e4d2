#include <gtest/gtest.h>

#include "common/bytes.h"
#include "common/status.h"

namespace cairn {
namespace CAIRN_UNITY_ID {

TEST(Bytes, BigEndianRoundTrip) {
  std::string s;
  PutU8(&s, 0xab);
  PutU32(&s, 0x01020304);
  PutU64(&s, 0x0102030405060708ull);
  PutLengthPrefixed(&s, "xyz");
  EXPECT_EQ(HexEncode(s), "ab010203040102030405060708" "00000003" "78797a");
  ByteReader r(s);
  uint8_t a;
  uint32_t b;
  uint64_t c;
  std::string_view d;
  ASSERT_TRUE(r.GetU8(&a) && r.GetU32(&b) && r.GetU64(&c) && r.GetLengthPrefixed(&d, 16));
  EXPECT_EQ(a, 0xab);
  EXPECT_EQ(b, 0x01020304u);
  EXPECT_EQ(c, 0x0102030405060708ull);
  EXPECT_EQ(d, "xyz");
  EXPECT_EQ(r.remaining(), 0u);
  EXPECT_FALSE(r.GetU8(&a));
}

TEST(Bytes, LengthPrefixRespectsLimitAndTruncation) {
  std::string s;
  PutLengthPrefixed(&s, "abcdef");
  std::string_view v;
  EXPECT_FALSE(ByteReader(s).GetLengthPrefixed(&v, 5));
  EXPECT_FALSE(ByteReader(s.substr(0, 8)).GetLengthPrefixed(&v, 100));
}

TEST(Bytes, HexStrict) {
  EXPECT_EQ(HexDecode("00ffAb").value(), std::string("\x00\xff\xab", 3));
  EXPECT_FALSE(HexDecode("abc").has_value());
  EXPECT_FALSE(HexDecode("zz").has_value());
}

TEST(Bytes, Base64StrictAndCanonical) {
  for (std::string s : {"", "f", "fo", "foo", "foob", "fooba", "foobar"}) {
    EXPECT_EQ(Base64Decode(Base64Encode(s)).value(), s);
  }
  EXPECT_EQ(Base64Encode(std::string_view("foobar")), "Zm9vYmFy");
  EXPECT_FALSE(Base64Decode("Zm9").has_value());     // not a multiple of 4
  EXPECT_FALSE(Base64Decode("Zm9=v").has_value());
  EXPECT_FALSE(Base64Decode("Zg=a").has_value());    // data after padding
  EXPECT_FALSE(Base64Decode("Zh==").has_value());    // non-zero padding bits
  EXPECT_FALSE(Base64Decode("Z!==").has_value());
}

TEST(Bytes, Base64KnownAnswersAndAppend) {
  // RFC 4648 section 10.
  const std::pair<const char*, const char*> cases[] = {
      {"", ""},         {"f", "Zg=="},         {"fo", "Zm8="},        {"foo", "Zm9v"},
      {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"}};
  for (const auto& [in, want] : cases) EXPECT_EQ(Base64Encode(std::string_view(in)), want) << in;
  std::string out = "iv:";
  AppendBase64(AsBytes("\xff\xfe"), &out);  // the last alphabet characters, one pad
  EXPECT_EQ(out, "iv://4=");
  AppendBase64(AsBytes(""), &out);
  EXPECT_EQ(out, "iv://4=");
}

TEST(Bytes, DecodeHashTextAcceptsHexOrBase64Of32Bytes) {
  std::string h(32, '\x5a');
  EXPECT_EQ(DecodeHashText(HexEncode(h)).value(), h);
  EXPECT_EQ(DecodeHashText(Base64Encode(h)).value(), h);
  EXPECT_FALSE(DecodeHashText(HexEncode(h.substr(1))).has_value());
  EXPECT_FALSE(DecodeHashText("nonsense").has_value());
}

TEST(Status, CarriesCodeMessageAndDetail) {
  Status s = Status::WrongExpectedVersion("stream s at version 3", 3);
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.detail().value(), 3);
  EXPECT_EQ(s.ToString(), "WRONG_EXPECTED_VERSION: stream s at version 3");
  EXPECT_EQ(s.Annotate("append").message(), "append: stream s at version 3");
  Result<int> r = 5;
  EXPECT_TRUE(r.ok());
  Result<int> e = Status::NotFound("x");
  EXPECT_EQ(e.status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace cairn
