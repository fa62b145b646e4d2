// Text printed for humans: stored bytes never drive the terminal, never reorder the line, and a
// value never poses as further fields of a key=value line (`cairn audit`).
#include "cli/utf8.h"

#include <gtest/gtest.h>

#include <string>

namespace cairn::cli {
namespace CAIRN_UNITY_ID {

TEST(TerminalSafeTest, ControlsAndInvalidBytesAreEscaped) {
  EXPECT_EQ(TerminalSafe("a\nb\tc\x1b[31m"), "a\\nb\\tc\\x1b[31m");
  EXPECT_EQ(TerminalSafe("\x7f"), "\\x7f");
  EXPECT_EQ(TerminalSafe("\xc2\x9b"), "\\u009b");  // C1 CSI
  EXPECT_EQ(TerminalSafe("\xff"), "\\xff");
  EXPECT_EQ(TerminalSafe("caf\xc3\xa9 \xe2\x9c\x93"), "caf\xc3\xa9 \xe2\x9c\x93");  // kept
}

TEST(TerminalSafeTest, BidiControlsAreEscaped) {
  // U+202E RIGHT-TO-LEFT OVERRIDE, U+2066 LEFT-TO-RIGHT ISOLATE, U+200F RIGHT-TO-LEFT MARK,
  // U+061C ARABIC LETTER MARK.
  EXPECT_EQ(TerminalSafe("a\xe2\x80\xae" "b"), "a\\u202eb");
  EXPECT_EQ(TerminalSafe("\xe2\x81\xa6x\xe2\x81\xa9"), "\\u2066x\\u2069");
  EXPECT_EQ(TerminalSafe("\xe2\x80\x8f"), "\\u200f");
  EXPECT_EQ(TerminalSafe("\xd8\x9c"), "\\u061c");
  EXPECT_EQ(TerminalSafe("\xe2\x80\x8d"), "\xe2\x80\x8d") << "a zero-width joiner does not reorder";
}

TEST(KeyValueSafeTest, AValueCannotPoseAsMoreFields) {
  EXPECT_EQ(KeyValueSafe("order-1"), "order-1");
  EXPECT_EQ(KeyValueSafe("x decision=allow rule=role:admin/grant[0]"),
            "\"x decision=allow rule=role:admin/grant[0]\"");
  EXPECT_EQ(KeyValueSafe("a=b"), "\"a=b\"");
  EXPECT_EQ(KeyValueSafe("say \"hi\""), "\"say \\\"hi\\\"\"");
  EXPECT_EQ(KeyValueSafe("back\\slash"), "\"back\\\\slash\"");
  EXPECT_EQ(KeyValueSafe(""), "\"\"");
  EXPECT_EQ(KeyValueSafe("a b\n"), "\"a b\\n\"");
}

}  // namespace
}  // namespace cairn::cli
