// Internal to the soak run (bench_soak*.cc): the state its worker threads share, and the
// workers. Not a public interface.
//
// SoakState is thread-safe: counters are atomics, the error list is under a mutex. The per-stream
// `acked` counts have one writer each (the stream's appender) and any number of readers.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "cairn/client.h"
#include "cairn/groups.h"
#include "cairn/subscriptions.h"
#include "cli/bench_soak.h"

namespace cairn::cli::soak {

using Clock = std::chrono::steady_clock;

class SoakState {
 public:
  SoakState(const SoakConfig& config, std::string run_id);

  const SoakConfig& config;
  const std::string run_id;
  const Clock::time_point start;

  std::atomic<bool> stop{false};
  std::atomic<uint64_t> appended{0}, read{0}, live_events{0}, group_events{0};
  std::atomic<uint64_t> errors{0}, lagged{0};
  std::atomic<uint64_t> policy_reloads{0}, forgets{0}, storage_rotations{0}, subject_rotations{0};
  // Highest log position acknowledged by an append so far (+1; 0: none yet).
  std::atomic<uint64_t> positions_acked{0};

  size_t stream_count() const { return stream_count_; }
  std::string StreamName(size_t index) const;  // "soak-<run>-<index>"
  std::string StreamPrefix() const;            // "soak-<run>-"
  // Events of stream `index` acknowledged so far (its last acknowledged version + 1).
  std::atomic<uint64_t>& acked(size_t index);
  // Subjects change every forget interval ("slot"): the admin forgets the finished slots.
  uint64_t Slot() const;
  std::string Subject(uint64_t slot, uint32_t j) const;

  double ElapsedS() const;
  // Sleeps until `t` in short steps; false when the run stops first.
  bool SleepUntil(Clock::time_point t) const;
  Clock::time_point At(double elapsed_s) const;
  void Error(const std::string& what, const Status& status);
  std::vector<std::string> ErrorMessages() const;
  SoakTotals Totals() const;

 private:
  const size_t stream_count_;
  std::unique_ptr<std::atomic<uint64_t>[]> acked_;
  mutable std::mutex mu_;
  std::vector<std::string> messages_;  // at most kSoakErrorsKept
};

// One connection, authenticated by a first call before it is used.
Result<std::unique_ptr<Client>> ConnectSoakClient(const ClientOptions& options);

// Worker bodies; each returns when state.stop is set (or the duration is over).
void RunAppender(SoakState& state, Client& client, uint32_t index);
void RunReader(SoakState& state, Client& client, uint32_t index);
void RunAdmin(SoakState& state, Client& client);

// A live subscriber on "$all" from the end, on its own thread. Stop() cancels and joins.
class LiveSubscriber {
 public:
  LiveSubscriber(SoakState& state, std::unique_ptr<Client> client);
  ~LiveSubscriber();
  void Start();
  void Stop();
  uint64_t received() const { return received_.load(); }

 private:
  void Run();
  bool Consume(uint64_t* last_position);

  SoakState& state_;
  std::unique_ptr<Client> client_;
  std::mutex mu_;
  std::unique_ptr<Subscription> sub_;  // replaced on resubscribe, under mu_
  std::thread thread_;
  std::atomic<uint64_t> received_{0};
};

// A consumer of the run's group that acks everything it gets, on its own thread.
class GroupConsumer {
 public:
  GroupConsumer(SoakState& state, std::unique_ptr<Client> client, std::string group);
  ~GroupConsumer();
  void Start();
  void Stop();
  uint64_t received() const { return received_.load(); }

 private:
  void Run();
  bool Consume();

  SoakState& state_;
  std::unique_ptr<Client> client_;
  const std::string group_;
  std::mutex mu_;
  std::unique_ptr<GroupStream> stream_;  // under mu_
  std::thread thread_;
  std::atomic<uint64_t> received_{0};
};

}  // namespace cairn::cli::soak
