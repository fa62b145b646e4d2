#include "cli/bench_soak_state.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <thread>

namespace cairn::cli::soak {
namespace {

constexpr int64_t kSleepStepMs = 100;

}  // namespace

SoakState::SoakState(const SoakConfig& c, std::string id)
    : config(c),
      run_id(std::move(id)),
      start(Clock::now()),
      stream_count_(size_t{c.appenders} * c.streams_per_appender),
      acked_(new std::atomic<uint64_t>[stream_count_]) {
  assert(stream_count_ > 0);
  for (size_t i = 0; i < stream_count_; ++i) acked_[i] = 0;
}

std::string SoakState::StreamPrefix() const { return "soak-" + run_id + "-"; }

std::string SoakState::StreamName(size_t index) const {
  assert(index < stream_count_);
  return StreamPrefix() + std::to_string(index);
}

std::atomic<uint64_t>& SoakState::acked(size_t index) {
  assert(index < stream_count_);
  return acked_[index];
}

uint64_t SoakState::Slot() const {
  if (config.forget_interval_s <= 0) return 0;  // no forgets: one set of subjects
  return static_cast<uint64_t>(std::floor(ElapsedS() / config.forget_interval_s));
}

std::string SoakState::Subject(uint64_t slot, uint32_t j) const {
  return "soak-" + run_id + "-subject-" + std::to_string(slot) + "-" + std::to_string(j);
}

double SoakState::ElapsedS() const {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

Clock::time_point SoakState::At(double elapsed_s) const {
  return start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(elapsed_s));
}

bool SoakState::SleepUntil(Clock::time_point t) const {
  while (!stop.load()) {
    const auto now = Clock::now();
    if (now >= t) return true;
    std::this_thread::sleep_for(
        std::min<Clock::duration>(t - now, std::chrono::milliseconds(kSleepStepMs)));
  }
  return false;
}

void SoakState::Error(const std::string& what, const Status& status) {
  assert(!status.ok());
  errors.fetch_add(1);
  std::lock_guard<std::mutex> lock(mu_);
  if (messages_.size() < kSoakErrorsKept) {
    messages_.push_back(std::to_string(static_cast<int64_t>(ElapsedS())) + " s " + what + ": " +
                        status.ToString());
  }
}

std::vector<std::string> SoakState::ErrorMessages() const {
  std::lock_guard<std::mutex> lock(mu_);
  return messages_;
}

SoakTotals SoakState::Totals() const {
  SoakTotals t;
  t.appended = appended.load();
  t.read = read.load();
  t.live_events = live_events.load();
  t.group_events = group_events.load();
  t.errors = errors.load();
  t.lagged = lagged.load();
  t.policy_reloads = policy_reloads.load();
  t.forgets = forgets.load();
  t.storage_rotations = storage_rotations.load();
  t.subject_rotations = subject_rotations.load();
  return t;
}

Result<std::unique_ptr<Client>> ConnectSoakClient(const ClientOptions& options) {
  CAIRN_ASSIGN_OR_RETURN(std::unique_ptr<Client> client, Client::Connect(options));
  CAIRN_RETURN_IF_ERROR(client->ServerInfo().status());
  return client;
}

}  // namespace cairn::cli::soak
