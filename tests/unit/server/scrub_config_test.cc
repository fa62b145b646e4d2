#include <gtest/gtest.h>

#include <string>

#include "server/config.h"

namespace cairn::server {
namespace CAIRN_UNITY_ID {

TEST(ScrubConfig, DefaultsAreOnAndEveryKeyParses) {
  const Config d = DefaultConfig();
  EXPECT_TRUE(d.scrub.enabled);
  EXPECT_EQ(d.scrub.interval_s, 3600u);
  EXPECT_EQ(d.scrub.delay_ms, 1000u);
  EXPECT_EQ(d.scrub.records_per_step_max, 4096u);
  EXPECT_EQ(d.scrub.busy_percent_max, 10u);
  auto c = ParseConfig(
      "[scrub]\nenabled = false\ninterval_s = 10\ndelay_ms = 0\nrecords_per_step_max = 65536\n"
      "busy_percent_max = 100\n",
      "/etc/cairn", "c.toml");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_FALSE(c->scrub.enabled);
  EXPECT_EQ(c->scrub.interval_s, 10u);
  EXPECT_EQ(c->scrub.delay_ms, 0u);
  EXPECT_EQ(c->scrub.records_per_step_max, 65536u);
  EXPECT_EQ(c->scrub.busy_percent_max, 100u);
}

TEST(ScrubConfig, RejectsUnknownKeysWrongTypesAndOutOfRangeBounds) {
  for (const char* text : {"[scrub]\ninterval_s = 9\n", "[scrub]\ninterval_s = 604801\n",
                           "[scrub]\ndelay_ms = -1\n", "[scrub]\ndelay_ms = 600001\n",
                           "[scrub]\nrecords_per_step_max = 15\n",
                           "[scrub]\nrecords_per_step_max = 65537\n", "[scrub]\nintervall_s = 60\n",
                           "[scrub]\nenabled = \"no\"\n", "[scrub]\nbusy_percent_max = 0\n",
                           "[scrub]\nbusy_percent_max = 101\n"}) {
    auto c = ParseConfig(text, "/etc/cairn", "c.toml");
    ASSERT_FALSE(c.ok()) << text;
    EXPECT_EQ(c.status().code(), StatusCode::kInvalidArgument) << text;
    EXPECT_NE(c.status().message().find("scrub."), std::string::npos) << c.status().message();
  }
}

}  // namespace
}  // namespace cairn::server
