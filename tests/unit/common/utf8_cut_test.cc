#include "common/utf8_cut.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace cairn {
namespace CAIRN_UNITY_ID {

TEST(CutUtf8Test, NeverEndsInsideASequence) {
  EXPECT_EQ(CutUtf8("abc", 3), "abc");
  EXPECT_EQ(CutUtf8("abcd", 3), "abc");
  const std::string text = "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80";  // a é € 😀: 1+2+3+4 bytes
  EXPECT_EQ(CutUtf8(text, 1), "a");
  EXPECT_EQ(CutUtf8(text, 2), "a") << "é would be cut in half";
  EXPECT_EQ(CutUtf8(text, 3), "a\xc3\xa9");
  EXPECT_EQ(CutUtf8(text, 5), "a\xc3\xa9");
  EXPECT_EQ(CutUtf8(text, 6), "a\xc3\xa9\xe2\x82\xac");
  EXPECT_EQ(CutUtf8(text, 9), "a\xc3\xa9\xe2\x82\xac");
  EXPECT_EQ(CutUtf8(text, 10), text);
  EXPECT_EQ(CutUtf8("\xc3\xa9", 1), "");
  // Every cut of a valid text is valid: a JSON encoder takes it (a cut sequence would throw).
  for (size_t n = 0; n <= text.size(); ++n) {
    EXPECT_NO_THROW(nlohmann::json(CutUtf8(text, n)).dump()) << n;
  }
}

}  // namespace CAIRN_UNITY_ID
}  // namespace cairn
