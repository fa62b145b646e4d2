// The numeric option validator: plain digits only, no leading zero (CLI11 reads "010" as octal 8),
// and nothing above UINT64_MAX (CLI11 would turn strtoull's overflow into the largest value).
#include "cli/args.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

namespace cairn::cli {
namespace {

uint64_t Parsed(const std::vector<std::string>& args, bool* ok) {
  CLI::App app;
  uint64_t value = 0;
  app.add_option("--n", value)->check(DecimalDigits());
  std::vector<std::string> argv = args;
  std::reverse(argv.begin(), argv.end());
  try {
    app.parse(argv);
    *ok = true;
  } catch (const CLI::ParseError&) {
    *ok = false;
  }
  return value;
}

TEST(DecimalDigits, AcceptsUint64AndRefusesAnythingElse) {
  bool ok = false;
  EXPECT_EQ(Parsed({"--n", "18446744073709551615"}, &ok), UINT64_MAX);
  EXPECT_TRUE(ok);
  EXPECT_EQ(Parsed({"--n", "0"}, &ok), 0u);
  EXPECT_TRUE(ok);
  EXPECT_EQ(Parsed({"--n", "10"}, &ok), 10u);
  EXPECT_TRUE(ok);
  for (const char* bad : {"18446744073709551616", "99999999999999999999", "123456789012345678901",
                          "-1", "+1", "0x10", "1e3", "", "010", "00"}) {
    Parsed({"--n", bad}, &ok);
    EXPECT_FALSE(ok) << bad;
  }
}

}  // namespace
}  // namespace cairn::cli
