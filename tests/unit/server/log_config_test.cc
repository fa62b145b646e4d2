#include <gtest/gtest.h>

#include <string>

#include "server/config.h"

namespace cairn::server {
namespace CAIRN_UNITY_ID {

TEST(LogConfig, DefaultsToInfoAndParsesEveryLevel) {
  EXPECT_EQ(DefaultConfig().log.level, log::Level::kInfo);
  const std::pair<const char*, log::Level> cases[] = {{"debug", log::Level::kDebug},
                                                      {"info", log::Level::kInfo},
                                                      {"warn", log::Level::kWarn},
                                                      {"error", log::Level::kError}};
  for (const auto& [name, level] : cases) {
    auto c = ParseConfig(std::string("[log]\nlevel = \"") + name + "\"\n", "/etc/cairn", "c.toml");
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    EXPECT_EQ(c->log.level, level) << name;
  }
}

TEST(LogConfig, RejectsUnknownLevelsAndKeys) {
  for (const char* text : {"[log]\nlevel = \"verbose\"\n", "[log]\nlevel = \"INFO\"\n",
                           "[log]\nlevel = 1\n", "[log]\nformat = \"json\"\n"}) {
    auto c = ParseConfig(text, "/etc/cairn", "c.toml");
    ASSERT_FALSE(c.ok()) << text;
    EXPECT_EQ(c.status().code(), StatusCode::kInvalidArgument) << text;
    EXPECT_NE(c.status().message().find("log."), std::string::npos) << c.status().message();
  }
}

}  // namespace
}  // namespace cairn::server
