// 16 concurrent appenders: no lost, duplicated or reordered position; every chain intact;
// expected-version races resolved exactly once.
#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "engine_test_util.h"

namespace cairn::engine {
namespace CAIRN_UNITY_ID {

constexpr int kThreads = 16;

struct Ack {
  uint64_t position;
  std::string stream;
  uint64_t version;
  std::string data;
};

TEST_P(EngineBackendTest, SixteenAppendersOverSharedAndDistinctStreams) {
  constexpr int kAppendsPerThread = 60;
  std::mutex mu;
  std::vector<Ack> acks;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kAppendsPerThread; ++i) {
        // Even threads write their own stream; odd threads share four streams.
        std::string stream = t % 2 == 0 ? "own-" + std::to_string(t) : "shared-" + std::to_string(i % 4);
        std::string data = "{\"t\":" + std::to_string(t) + ",\"i\":" + std::to_string(i) + "}";
        std::vector<ProposedEvent> evs;
        evs.push_back(Ev("T", data));
        if (i % 3 == 0) evs.push_back(Ev("T", "{\"second\":true}"));
        auto r = store_->Append(stream, ExpectedVersion::Any(), std::move(evs));
        ASSERT_TRUE(r.ok()) << r.status().ToString();
        std::lock_guard<std::mutex> lock(mu);
        acks.push_back({r->first_position, stream, r->first_version, data});
      }
    });
  }
  for (auto& th : threads) th.join();

  const uint64_t n = store_->tree_size();
  uint64_t expected_events = 0;
  for (int i = 0; i < kAppendsPerThread; ++i) expected_events += (i % 3 == 0) ? 2 : 1;
  EXPECT_EQ(n, expected_events * kThreads);
  auto all = store_->ReadAll(0, n);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), n);
  std::map<std::string, uint64_t> next_version;
  for (uint64_t p = 0; p < n; ++p) {
    const RecordedEvent& e = (*all)[p];
    ASSERT_EQ(e.entry.position, p);  // dense, unique, in order
    EXPECT_EQ(e.entry.stream_version, next_version[e.entry.stream_id]++) << "stream versions dense";
  }
  for (const Ack& a : acks) {  // every acknowledged append is where it was acknowledged
    ASSERT_LT(a.position, n);
    EXPECT_EQ((*all)[a.position].entry.stream_id, a.stream);
    EXPECT_EQ((*all)[a.position].entry.stream_version, a.version);
    EXPECT_EQ((*all)[a.position].data, a.data);
  }
  VerifyReport report = store_->Verify();
  EXPECT_TRUE(report.ok) << report.failure;
  EXPECT_EQ(report.records_checked, n);
}

TEST_P(EngineBackendTest, ExpectedVersionRacesAreResolvedExactlyOnce) {
  constexpr int kAttemptsPerThread = 40;
  std::mutex mu;
  std::map<uint64_t, int> winners;  // version -> number of successful appends claiming it
  std::atomic<int> conflicts{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kAttemptsPerThread; ++i) {
        auto info = store_->GetStreamInfo("race");
        ASSERT_TRUE(info.ok());
        ExpectedVersion ev = info->exists ? ExpectedVersion::Exact(info->last_version) : ExpectedVersion::NoStream();
        auto r = store_->Append("race", ev, One("T", "{\"t\":" + std::to_string(t) + "}"));
        if (r.ok()) {
          std::lock_guard<std::mutex> lock(mu);
          ++winners[r->first_version];
        } else {
          ASSERT_EQ(r.status().code(), StatusCode::kWrongExpectedVersion) << r.status().ToString();
          ++conflicts;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  auto info = store_->GetStreamInfo("race");
  ASSERT_TRUE(info->exists);
  EXPECT_EQ(winners.size(), info->event_count);
  for (const auto& [version, count] : winners) EXPECT_EQ(count, 1) << "version " << version;
  EXPECT_EQ(winners.size() + conflicts.load(), static_cast<size_t>(kThreads * kAttemptsPerThread));
  EXPECT_GT(conflicts.load(), 0);  // the race really happened
  EXPECT_TRUE(store_->Verify().ok);
}

}  // namespace
}  // namespace cairn::engine
