#include "integrity/entry.h"

#include <gtest/gtest.h>

#include "common/bytes.h"
#include "tree_fixture.h"

namespace cairn::integrity {
namespace CAIRN_UNITY_ID {

using testing::HashFromHex;
using testing::Hex;

Entry GoldenEntry() {
  Entry e;
  e.position = 0x0102030405060708;
  e.stream_id = "orders-42";
  e.stream_version = 7;
  e.event_id = std::string("\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f", 16);
  e.event_type = "OrderPlaced";
  e.content_type = "application/json";
  e.recorded_at_ns = -2;
  e.metadata_hash.fill(0xaa);
  e.data_hash.fill(0xbb);
  e.stream_prev.fill(0xcc);
  return e;
}

// The layout of DESIGN.md written out field by field, so a change to the encoder cannot
// silently change the public format.
const std::string kGoldenHex =
    "01"                                                                 // format
    "0102030405060708"                                                   // position
    "00000009" "6f72646572732d3432"                                      // "orders-42"
    "0000000000000007"                                                   // stream_version
    "000102030405060708090a0b0c0d0e0f"                                   // event_id
    "0000000b" "4f72646572506c61636564"                                  // "OrderPlaced"
    "00000010" "6170706c69636174696f6e2f6a736f6e"                        // "application/json"
    "fffffffffffffffe"                                                   // recorded_at_ns = -2
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"   // metadata_hash
    "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"   // data_hash
    "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc";  // stream_prev

TEST(EntryTest, GoldenEncoding) {
  const std::string bytes = EncodeEntry(GoldenEntry());
  EXPECT_EQ(HexEncode(bytes), kGoldenHex);
  EXPECT_EQ(bytes.size(), EncodedEntrySizeBytes(GoldenEntry()));
  EXPECT_EQ(bytes.size(), 185u);
  // SHA-256(0x00 || entry), computed independently (Python hashlib).
  EXPECT_EQ(Hex(LeafHash(bytes)),
            "2c15e4f463e3e29cdd5eca2ab8e836b00ecb52e106b3b7d602d6b2c8762e80c3");
}

TEST(EntryTest, EncodeAppends) {
  std::string out = "prefix";
  EncodeEntry(GoldenEntry(), &out);
  EXPECT_EQ(out, "prefix" + EncodeEntry(GoldenEntry()));
}

TEST(EntryTest, RoundTrip) {
  Entry e = GoldenEntry();
  Entry decoded;
  ASSERT_TRUE(DecodeEntry(EncodeEntry(e), &decoded).ok());
  EXPECT_EQ(decoded, e);

  // Limits at their maxima and minima also round-trip.
  e.stream_id = std::string(kStreamIdSizeBytesMax, 's');
  e.event_type = std::string(kEventTypeSizeBytesMax, 't');
  e.content_type = std::string(kContentTypeSizeBytesMax, 'c');
  e.recorded_at_ns = INT64_MIN;
  e.position = UINT64_MAX;
  ASSERT_TRUE(DecodeEntry(EncodeEntry(e), &decoded).ok());
  EXPECT_EQ(decoded, e);
  e.stream_id = "s";
  e.event_type = "t";
  e.content_type = "";
  e.stream_prev = kZeroHash;
  ASSERT_TRUE(DecodeEntry(EncodeEntry(e), &decoded).ok());
  EXPECT_EQ(decoded, e);
}

TEST(EntryTest, DecodeRejectsEveryTruncation) {
  const std::string bytes = EncodeEntry(GoldenEntry());
  for (size_t n = 0; n < bytes.size(); ++n) {
    Entry decoded;
    Status s = DecodeEntry(std::string_view(bytes).substr(0, n), &decoded);
    EXPECT_EQ(s.code(), StatusCode::kDataLoss) << "length " << n;
  }
}

TEST(EntryTest, DecodeRejectsTrailingBytes) {
  Entry decoded;
  Status s = DecodeEntry(EncodeEntry(GoldenEntry()) + '\0', &decoded);
  EXPECT_EQ(s.code(), StatusCode::kDataLoss);
  EXPECT_NE(s.message().find("trailing"), std::string::npos) << s.message();
}

TEST(EntryTest, DecodeRejectsWrongFormatByte) {
  for (int format : {0x00, 0x02, 0xff}) {
    std::string bytes = EncodeEntry(GoldenEntry());
    bytes[0] = static_cast<char>(format);
    Entry decoded;
    Status s = DecodeEntry(bytes, &decoded);
    EXPECT_EQ(s.code(), StatusCode::kDataLoss);
    EXPECT_NE(s.message().find("format"), std::string::npos) << s.message();
  }
}

// Rewrites the u32 length prefix at `offset` of an encoded golden entry.
std::string WithLength(size_t offset, uint32_t length) {
  std::string bytes = EncodeEntry(GoldenEntry());
  std::string prefix;
  PutU32(&prefix, length);
  bytes.replace(offset, 4, prefix);
  return bytes;
}

TEST(EntryTest, DecodeRejectsBadLengths) {
  const size_t stream_id_at = 9;
  const size_t event_type_at = stream_id_at + 4 + 9 + 8 + 16;
  const size_t content_type_at = event_type_at + 4 + 11;
  Entry decoded;
  for (uint32_t bad : {0u, 513u, 0xffffffffu, 10u, 8u}) {  // empty, too long, wrong
    EXPECT_EQ(DecodeEntry(WithLength(stream_id_at, bad), &decoded).code(), StatusCode::kDataLoss)
        << bad;
  }
  for (uint32_t bad : {0u, 257u, 0xffffffffu, 12u, 10u}) {
    EXPECT_EQ(DecodeEntry(WithLength(event_type_at, bad), &decoded).code(), StatusCode::kDataLoss)
        << bad;
  }
  for (uint32_t bad : {257u, 0xffffffffu, 17u, 15u}) {
    EXPECT_EQ(DecodeEntry(WithLength(content_type_at, bad), &decoded).code(),
              StatusCode::kDataLoss)
        << bad;
  }
  // Oversized fields that are internally consistent are rejected too.
  Entry big = GoldenEntry();
  big.stream_id = std::string(kStreamIdSizeBytesMax + 1, 's');
  std::string bytes;
  PutU8(&bytes, kEntryFormatV1);
  PutU64(&bytes, 0);
  PutLengthPrefixed(&bytes, big.stream_id);
  bytes += EncodeEntry(GoldenEntry()).substr(stream_id_at + 4 + 9);
  EXPECT_EQ(DecodeEntry(bytes, &decoded).code(), StatusCode::kDataLoss);
}

TEST(EntryTest, ValidateEntry) {
  EXPECT_TRUE(ValidateEntry(GoldenEntry()).ok());
  Entry e = GoldenEntry();
  e.stream_id = "";
  EXPECT_EQ(ValidateEntry(e).code(), StatusCode::kInvalidArgument);
  e = GoldenEntry();
  e.stream_id = std::string(513, 'x');
  EXPECT_EQ(ValidateEntry(e).code(), StatusCode::kInvalidArgument);
  e = GoldenEntry();
  e.event_type = "";
  EXPECT_EQ(ValidateEntry(e).code(), StatusCode::kInvalidArgument);
  e = GoldenEntry();
  e.content_type = std::string(257, 'x');
  EXPECT_EQ(ValidateEntry(e).code(), StatusCode::kInvalidArgument);
  e = GoldenEntry();
  e.event_id = "short";
  EXPECT_EQ(ValidateEntry(e).code(), StatusCode::kInvalidArgument);
}

TEST(EntryTest, HashFunctions) {
  EXPECT_EQ(Hex(EmptyRoot()), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Hex(LeafHash("")), "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d");
  Hash l, r;
  l.fill(0x11);
  r.fill(0x22);
  EXPECT_EQ(Hex(HashChildren(l, r)),
            "1d8f52d3ec81ac02cd97cb3281523be47af850c0f0295af866f04bc245f46bbf");
  EXPECT_NE(HashChildren(l, r), HashChildren(r, l));
  // Domain separation: a leaf never hashes like a node over the same bytes.
  EXPECT_NE(LeafHash(std::string(crypto::HashView(l)) + std::string(crypto::HashView(r))),
            HashChildren(l, r));
}

}  // namespace
}  // namespace cairn::integrity
