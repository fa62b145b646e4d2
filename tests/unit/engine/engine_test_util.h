// Shared fixture for engine tests: a fresh initialised data directory per test.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "engine/event_store.h"
#include "test_util.h"

namespace cairn::engine {

inline ProposedEvent Ev(std::string type, std::string data, std::string id = "") {
  ProposedEvent e;
  e.event_type = std::move(type);
  e.data = std::move(data);
  e.event_id = std::move(id);
  return e;
}

inline std::vector<ProposedEvent> One(std::string type, std::string data) {
  std::vector<ProposedEvent> v;
  v.push_back(Ev(std::move(type), std::move(data)));
  return v;
}

class EngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = tmp_.Sub("data");
    ASSERT_TRUE(EventStore::Init({dir_, "test.example/log", {}}).ok());
    Reopen();
  }
  void Reopen(Options o = {}) {
    store_.reset();
    o.data_dir = dir_;
    auto s = EventStore::Open(o);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(s).value();
  }
  void Close() { store_.reset(); }

  testing::TempDir tmp_;
  std::string dir_;
  std::unique_ptr<EventStore> store_;
};

}  // namespace cairn::engine
