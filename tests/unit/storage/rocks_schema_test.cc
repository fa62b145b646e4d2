// Key and value encodings of the RocksDB layout: order, round trips, strict decoding.
#include "storage/rocksdb/rocks_schema.h"

#include <gtest/gtest.h>

namespace cairn::storage::rocks {
namespace CAIRN_UNITY_ID {

TEST(RocksSchemaTest, RecordAndCheckpointKeysSortNumerically) {
  EXPECT_LT(RecordKey(9), RecordKey(10));
  EXPECT_LT(RecordKey(255), RecordKey(256));
  EXPECT_LT(CheckpointKey(1), CheckpointKey(UINT64_MAX));
  EXPECT_EQ(RecordKey(1), std::string("\0\0\0\0\0\0\0\1", 8));
  EXPECT_EQ(DecodeRecordKey(RecordKey(123456789)), 123456789u);
  EXPECT_EQ(DecodeRecordKey("short"), std::nullopt);
  EXPECT_EQ(DecodeCheckpointKey(CheckpointKey(77)), 77u);
  EXPECT_EQ(DecodeCheckpointKey("123456789"), std::nullopt);
}

TEST(RocksSchemaTest, StreamIndexKeysAreLengthPrefixed) {
  EXPECT_EQ(StreamIndexKey("ab", 1), std::string("\0\0\0\2ab\0\0\0\0\0\0\0\1", 14));
  const std::string prefix = StreamIndexPrefix("a");
  EXPECT_EQ(DecodeStreamIndexVersion(StreamIndexKey("a", 42), prefix), 42u);
  EXPECT_EQ(DecodeStreamIndexVersion(StreamIndexKey("ab", 42), prefix), std::nullopt);
  EXPECT_EQ(StreamIndexPrefixSize(StreamIndexKey("abc", 0)), 7u);
  EXPECT_EQ(StreamIndexPrefixSize(std::string("\0\0\0\5ab", 6)), std::nullopt);
  EXPECT_EQ(StreamIndexPrefixSize("\0\0"), std::nullopt);
  // Within a stream, versions sort numerically.
  EXPECT_LT(StreamIndexKey("s", 255), StreamIndexKey("s", 256));
  EXPECT_TRUE(IsValidStreamId(std::string(512, 'x')));
  EXPECT_FALSE(IsValidStreamId(std::string(513, 'x')));
  EXPECT_FALSE(IsValidStreamId(""));
}

TEST(RocksSchemaTest, NodeKeysAndTreeStateKeyNeverCollide) {
  const NodeKey key{3, 0x0102030405060708};
  EXPECT_EQ(EncodeNodeKey(key), std::string("\3\1\2\3\4\5\6\7\x08", 9));
  const std::optional<NodeKey> decoded = DecodeNodeKey(EncodeNodeKey(key));
  ASSERT_TRUE(decoded.has_value());
  EXPECT_EQ(decoded->level, 3);
  EXPECT_EQ(decoded->index, key.index);
  EXPECT_EQ(DecodeNodeKey(kTreeStateKey), std::nullopt);
  EXPECT_EQ(DecodeNodeKey(std::string("\x40\0\0\0\0\0\0\0\0", 9)), std::nullopt);  // level 64
  EXPECT_LT(EncodeNodeKey({0, UINT64_MAX}), EncodeNodeKey({1, 0}));
}

TEST(RocksSchemaTest, StreamHeadRoundTripAndStrictDecode) {
  const StreamHead head{7, 99, std::string(32, '\xab'), true};
  const std::string encoded = EncodeStreamHead(head);
  EXPECT_EQ(encoded.size(), 8u + 8 + 32 + 1);
  EXPECT_EQ(DecodeStreamHead(encoded), head);
  const StreamHead empty{0, 0, "", true};
  EXPECT_EQ(EncodeStreamHead(empty).size(), 17u);
  EXPECT_EQ(DecodeStreamHead(EncodeStreamHead(empty)), empty);
  std::string bad_flag = encoded;
  bad_flag.back() = 2;
  EXPECT_EQ(DecodeStreamHead(bad_flag), std::nullopt);
  EXPECT_EQ(DecodeStreamHead(encoded.substr(1)), std::nullopt);
  EXPECT_EQ(DecodeStreamHead(""), std::nullopt);
}

TEST(RocksSchemaTest, TreeStateAndFormatVersion) {
  const TreeState state{5, std::string("\0range", 6)};
  const std::optional<TreeState> decoded = DecodeTreeState(EncodeTreeState(state));
  ASSERT_TRUE(decoded.has_value());
  EXPECT_EQ(decoded->size, 5u);
  EXPECT_EQ(decoded->compact_range, state.compact_range);
  EXPECT_EQ(DecodeTreeState("1234567"), std::nullopt);

  EXPECT_EQ(EncodeFormatVersion(1), "1");
  EXPECT_EQ(DecodeFormatVersion("1"), 1u);
  EXPECT_EQ(DecodeFormatVersion("4294967295"), 4294967295u);
  for (std::string_view bad : {"", "01", "1 ", "-1", "x", "4294967296", "99999999999"}) {
    EXPECT_EQ(DecodeFormatVersion(bad), std::nullopt) << bad;
  }
}

}  // namespace
}  // namespace cairn::storage::rocks
