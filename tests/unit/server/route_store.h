// A store for the admin route tests: initialised in a temp dir, with no background
// checkpointer, so that only the checkpoints a test signs exist.
#pragma once

#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "engine/event_store.h"
#include "test_util.h"

namespace cairn::testing {

inline std::unique_ptr<engine::EventStore> OpenRouteStore(const TempDir& dir,
                                                           const std::string& origin) {
  const std::string data_dir = dir.Sub("data");
  EXPECT_TRUE(engine::EventStore::Init({data_dir, origin, {}, std::nullopt}).ok());
  engine::Options options;
  options.data_dir = data_dir;
  options.checkpoint_interval_ms = 0;  // no background checkpointer: only what the test signs
  auto opened = engine::EventStore::Open(options);
  EXPECT_TRUE(opened.ok()) << opened.status().ToString();
  return opened.ok() ? std::move(opened).value() : nullptr;
}

}  // namespace cairn::testing
