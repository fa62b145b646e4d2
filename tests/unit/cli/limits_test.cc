// [limits]' append limits (DESIGN.md: configurable, enforced with a clear error) reach the
// engine the offline tools open with a directory's configuration, as they reach the server's
// (server.cc takes the same server::EngineLimits).
#include <gtest/gtest.h>

#include "cli/data_dir.h"
#include "engine/event_store.h"
#include "server/config.h"
#include "test_util.h"

namespace cairn::cli {
namespace {

engine::ProposedEvent Event(size_t data_bytes) {
  engine::ProposedEvent e;
  e.event_type = "T";
  e.data = "\"" + std::string(data_bytes - 2, 'x') + "\"";
  return e;
}

TEST(LimitsConfig, ParsedCheckedAndHandedToTheEngine) {
  auto config = server::ParseConfig(
      "[limits]\nevent_size_bytes_max = 2048\nbatch_size_bytes_max = 4096\nbatch_events_max = 3\n",
      "/etc/cairn", "c.toml");
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  const engine::Limits limits = server::EngineLimits(config->limits);
  EXPECT_EQ(limits.event_size_bytes_max, 2048u);
  EXPECT_EQ(limits.batch_size_bytes_max, 4096u);
  EXPECT_EQ(limits.batch_events_max, 3u);
  const engine::Limits defaults = server::EngineLimits(server::DefaultConfig().limits);
  EXPECT_EQ(defaults.event_size_bytes_max, engine::Limits{}.event_size_bytes_max);
  EXPECT_EQ(defaults.batch_size_bytes_max, engine::Limits{}.batch_size_bytes_max);
  EXPECT_EQ(defaults.batch_events_max, engine::Limits{}.batch_events_max);
  for (const char* bad : {"[limits]\nevent_size_bytes_max = 1023\n",
                          "[limits]\nevent_size_bytes_max = 67108865\n",
                          "[limits]\nbatch_events_max = 0\n", "[limits]\nbatch_events_max = 10001\n",
                          "[limits]\nevent_size_bytes_max = 8192\nbatch_size_bytes_max = 4096\n"}) {
    auto refused = server::ParseConfig(bad, "/etc/cairn", "c.toml");
    EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument) << bad;
  }
}

TEST(LimitsConfig, OfflineAppendsFollowTheDirectorysLimits) {
  testing::TempDir tmp;
  const std::string dir = tmp.Sub("data");
  engine::InitOptions init;
  init.data_dir = dir;
  init.origin = "test.example/log";
  ASSERT_TRUE(engine::EventStore::Init(init).ok());
  auto config = server::ParseConfig(
      "[limits]\nevent_size_bytes_max = 2048\nbatch_size_bytes_max = 4096\nbatch_events_max = 3\n",
      dir, "c.toml");
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  auto store = OpenStoreWith(dir, *config);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  auto append = [&](std::vector<engine::ProposedEvent> events) {
    return (*store)->Append("s", engine::ExpectedVersion::Any(), std::move(events)).status();
  };
  EXPECT_TRUE(append({Event(2048)}).ok());
  const Status big = append({Event(2049)});
  EXPECT_EQ(big.code(), StatusCode::kResourceExhausted) << big.ToString();
  EXPECT_NE(big.message().find("the limit is 2048"), std::string::npos) << big.ToString();
  EXPECT_EQ(append({Event(1500), Event(1500), Event(1500)}).code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(append({Event(10), Event(10), Event(10), Event(10)}).code(), StatusCode::kResourceExhausted);
  EXPECT_TRUE(append({Event(10), Event(10), Event(10)}).ok());
  EXPECT_EQ((*store)->tree_size(), 4u);
}

}  // namespace
}  // namespace cairn::cli
