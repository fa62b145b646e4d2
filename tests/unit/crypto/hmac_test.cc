// Known answers for HMAC-SHA256 (RFC 4231) and the properties a MAC must have.
#include <gtest/gtest.h>

#include "common/bytes.h"
#include "crypto/hmac.h"

namespace cairn::crypto {
namespace CAIRN_UNITY_ID {

std::string HmacHex(std::string_view key, std::string_view message) {
  auto mac = HmacSha256(key, message);
  EXPECT_TRUE(mac.ok());
  return HexEncode(HashView(*mac));
}

TEST(HmacSha256, Rfc4231TestCases) {
  // Test case 1: 20-byte key of 0x0b, "Hi There".
  EXPECT_EQ(HmacHex(std::string(20, '\x0b'), "Hi There"),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
  // Test case 2: a key shorter than the output.
  EXPECT_EQ(HmacHex("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  // Test case 6: a 131-byte key (longer than the block, hashed first).
  EXPECT_EQ(HmacHex(std::string(131, '\xaa'),
                    "Test Using Larger Than Block-Size Key - Hash Key First"),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

TEST(HmacSha256, KeyAndMessageBothMatter) {
  const std::string base = HmacHex("key", "message");
  EXPECT_NE(HmacHex("kez", "message"), base);
  EXPECT_NE(HmacHex("key", "messagf"), base);
  EXPECT_EQ(HmacHex("key", "message"), base);
}

TEST(HmacSha256, EmptyKeyAndMessage) {
  EXPECT_EQ(HmacHex("", ""), "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
}

}  // namespace
}  // namespace cairn::crypto
