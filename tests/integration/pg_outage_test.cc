// PostgreSQL restarted under load (issue 8, "Must show"): a `cairn serve` on PostgreSQL takes
// appends from a few clients; the database is stopped (fast shutdown: every connection cut) and
// started again on the same port, while cairn keeps running. Checked:
// - while the database is down, appends fail with UNAVAILABLE (never INTERNAL or another code),
//   each answered within a few seconds rather than hanging;
// - after the restart appends succeed again, without restarting cairn;
// - every acknowledged append (before, during, after) is in the log afterwards, at its
//   acknowledged positions, in each client's order; a failed batch whose commit was cut is
//   wholly present or wholly absent; nothing else is in the log; the checkpoint's root is the
//   root of the leaves read and `cairn verify --config` passes.
// The outage test has a PostgreSQL server of its own, so that stopping it never touches another
// test's database.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "engine/types.h"
#include "log_check.h"
#include "pg/pg_test_server.h"
#include "server_env.h"

namespace cairn::testing {
namespace CAIRN_UNITY_ID {

constexpr int kClients = 3;
constexpr int kEventsPerBatch = 2;
constexpr int kAcksBeforeMin = 3;          // per client, before the database stops
constexpr int kLoadBeforeMs = 500;
constexpr int kDownMs = 3000;
constexpr int kRecoverWaitMs = 30000;      // bounds the clients' loop after the restart
constexpr int kAcksAfterMin = 5;           // per client, after the restart
constexpr int kAttemptsPerClientMax = 2000;
constexpr int kRetryPauseMs = 50;
constexpr int64_t kAnswerWhileDownMsMax = 5000;
constexpr int kWaitStepMs = 10;

// The phases of the database, as the clients see them at the start and end of each append.
enum Phase : int { kUp = 0, kStopping, kDown, kStarting, kUpAgain, kDone };

struct Attempt {
  v1::AppendRequest request;
  Result<v1::AppendResponse> result = Status::Unavailable("not sent");
  int phase_begin = kUp, phase_end = kUp;
  int64_t duration_ms = 0;
};

// One client: appends batches to its own stream with `any` until kDone, pausing after failures.
class Appender {
 public:
  Appender(int client, std::unique_ptr<Client> conn) : client_(client), conn_(std::move(conn)) {}

  void Run(const std::atomic<int>& phase) {
    for (int i = 0; i < kAttemptsPerClientMax && phase.load() != kDone; ++i) {
      Attempt a;
      a.request.set_stream("outage-" + std::to_string(client_));
      for (int e = 0; e < kEventsPerBatch; ++e) {
        auto* event = a.request.add_events();
        event->set_id(engine::NewUuidV4());
        event->set_type("Outage");
        event->set_data("{\"i\":" + std::to_string(i) + ",\"e\":" + std::to_string(e) + "}");
      }
      a.phase_begin = phase.load();
      const auto start = Clock::now();
      a.result = conn_->Append(a.request);
      a.duration_ms = MsSince(start);
      a.phase_end = phase.load();
      const bool ok = a.result.ok();
      if (ok) acks_.fetch_add(1);
      if (ok && a.phase_begin == kUpAgain) acks_after_.fetch_add(1);
      attempts.push_back(std::move(a));
      if (acks_after_.load() >= kAcksAfterMin) return;
      if (!ok) std::this_thread::sleep_for(std::chrono::milliseconds(kRetryPauseMs));
    }
  }

  int acks() const { return acks_.load(); }
  int acks_after() const { return acks_after_.load(); }
  std::vector<Attempt> attempts;  // read after the thread is joined

 private:
  const int client_;
  std::unique_ptr<Client> conn_;
  std::atomic<int> acks_{0}, acks_after_{0};
};

// Waits (bounded) until `done` holds; false on timeout.
template <typename Pred>
bool WaitFor(Pred done, int timeout_ms) {
  const auto start = Clock::now();
  while (!done()) {
    if (MsSince(start) > timeout_ms) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(kWaitStepMs));
  }
  return true;
}

struct Tally {
  int acked = 0, failed = 0, failed_while_down = 0, failed_present = 0;
  int64_t slowest_down_ms = 0;
  uint64_t log_events_claimed = 0;
};

// Checks one client's attempts against the log: acked batches where acknowledged and in the
// client's order; failures UNAVAILABLE, quick while down, wholly present or absent.
void CheckClient(const std::vector<Attempt>& attempts, const LogView& log, Tally* t,
                 Errors* errors) {
  uint64_t last_position = 0;
  bool any_acked = false;
  for (const Attempt& a : attempts) {
    const auto& events = a.request.events();
    if (a.result.ok()) {
      ++t->acked;
      t->log_events_claimed += static_cast<uint64_t>(events.size());
      const uint64_t first = a.result->first_position();
      if (any_acked && first <= last_position) errors->Add("acknowledged out of order");
      any_acked = true;
      last_position = first;
      for (int i = 0; i < events.size(); ++i) {
        const uint64_t p = first + static_cast<uint64_t>(i);
        if (p >= log.events.size() || log.events[p].id() != events[i].id()) {
          errors->Add("acknowledged event lost: position " + std::to_string(p) + " of " +
                      a.request.stream());
        }
      }
      continue;
    }
    ++t->failed;
    if (a.result.status().code() != StatusCode::kUnavailable) {
      errors->Add("an append failed with " + a.result.status().ToString());
    }
    if (a.phase_begin == kDown) {
      t->slowest_down_ms = std::max(t->slowest_down_ms, a.duration_ms);
      if (a.duration_ms > kAnswerWhileDownMsMax) {
        errors->Add("an append while down took " + std::to_string(a.duration_ms) + " ms");
      }
    }
    if (a.phase_begin == kDown && a.phase_end == kDown) ++t->failed_while_down;
    int present = 0;
    for (const auto& e : events) present += log.position_of_id.count(e.id()) ? 1 : 0;
    if (present != 0 && present != events.size()) errors->Add("a failed batch is partly present");
    if (present == events.size()) {
      ++t->failed_present;
      t->log_events_claimed += static_cast<uint64_t>(events.size());
    }
  }
}

TEST(PgOutageTest, AppendsFailUnavailableWhileDownAndRecoverWithoutRestart) {
  PgTestServer pg;  // its own: Stop() below must not touch another test's database
  pg.Start();
  ServerEnv env(PostgresStorageToml(pg.CreateDatabase()));
  ASSERT_TRUE(env.Start()) << env.server().output();

  std::atomic<int> phase{kUp};
  std::vector<std::unique_ptr<Appender>> appenders;
  for (int c = 0; c < kClients; ++c) {
    appenders.push_back(std::make_unique<Appender>(c, env.ClientWith(env.admin_key)));
  }
  std::vector<std::thread> threads;
  for (auto& a : appenders) threads.emplace_back([&phase, &a] { a->Run(phase); });
  const auto all_acked = [&](auto count, int min) {
    for (auto& a : appenders) {
      if (count(*a) < min) return false;
    }
    return true;
  };
  const bool loaded = WaitFor([&] { return all_acked([](const Appender& a) { return a.acks(); }, kAcksBeforeMin); }, kRecoverWaitMs);
  std::this_thread::sleep_for(std::chrono::milliseconds(kLoadBeforeMs));

  phase.store(kStopping);
  pg.Stop();
  phase.store(kDown);
  std::this_thread::sleep_for(std::chrono::milliseconds(kDownMs));
  phase.store(kStarting);
  pg.StartAgain();
  phase.store(kUpAgain);
  const auto up_again = Clock::now();
  const bool recovered = WaitFor([&] { return all_acked([](const Appender& a) { return a.acks_after(); }, kAcksAfterMin); }, kRecoverWaitMs);
  const int64_t recovery_ms = MsSince(up_again);
  phase.store(kDone);
  for (auto& t : threads) t.join();
  ASSERT_TRUE(loaded) << "the clients were not acknowledged before the outage";
  EXPECT_TRUE(recovered) << "appends did not succeed again within " << kRecoverWaitMs << " ms";

  auto client = env.ClientWith(env.admin_key);
  LogView log;
  Status read = ReadWholeLog(*client, &log.events);
  ASSERT_TRUE(read.ok()) << read.ToString();
  Errors errors;
  IndexLog(&log, &errors);
  Tally t;
  for (auto& a : appenders) CheckClient(a->attempts, log, &t, &errors);
  EXPECT_EQ(t.log_events_claimed, log.events.size()) << "the log holds events no client sent";
  EXPECT_GE(t.failed_while_down, kClients) << "too few appends were tried while it was down";
  EXPECT_TRUE(errors.empty()) << errors.Text() << "\nserver output:\n" << env.server().output();

  auto vkey = client->GetVerifierKey();
  ASSERT_TRUE(vkey.ok()) << vkey.status().ToString();
  auto key = integrity::ParseVerifierKey(vkey->vkey());
  ASSERT_TRUE(key.ok()) << key.status().ToString();
  auto cp = SignedCheckpoint(*client, *key);
  ASSERT_TRUE(cp.ok()) << cp.status().ToString();
  EXPECT_EQ(cp->size, log.events.size());
  EXPECT_EQ(cp->root, integrity::RootOfLeafHashes(log.leaves));
  std::printf("[ outage   ] %d acked, %d failed (%d wholly while down, slowest %lld ms; %d of the "
              "failed were committed), recovered %lld ms after the restart; log %zu events\n",
              t.acked, t.failed, t.failed_while_down, static_cast<long long>(t.slowest_down_ms),
              t.failed_present, static_cast<long long>(recovery_ms), log.events.size());

  EXPECT_EQ(env.server().Stop(), 0) << env.server().output();
  CommandResult verify = RunCairn(
      {"verify", "--data-dir", env.DataDir(), "--config", env.ConfigPath(), "--json"});
  ASSERT_EQ(verify.exit_code, 0) << verify.out << verify.err;
  auto json = nlohmann::json::parse(verify.out, nullptr, false);
  ASSERT_FALSE(json.is_discarded()) << verify.out;
  EXPECT_EQ(json.value("records_checked", int64_t{-1}), static_cast<int64_t>(log.events.size()));
}

}  // namespace
}  // namespace cairn::testing
