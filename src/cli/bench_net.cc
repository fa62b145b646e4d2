#include "cli/bench_net.h"

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

#include "crypto/secure.h"

namespace cairn::cli {
namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Shared by the client threads of one phase: the first error stops everyone.
struct PhaseState {
  std::atomic<uint64_t> events{0};
  std::atomic<uint64_t> calls{0};
  std::atomic<bool> stop{false};
  std::mutex mu;
  Status error;
  std::vector<int64_t> latencies_ns;

  void Fail(const Status& s) {
    std::lock_guard<std::mutex> lock(mu);
    if (error.ok()) error = s;
    stop = true;
  }
};

Result<std::vector<std::unique_ptr<Client>>> ConnectAll(const NetBenchConfig& config) {
  std::vector<std::unique_ptr<Client>> clients;
  for (uint32_t i = 0; i < config.clients; ++i) {
    auto client = Client::Connect(config.client);
    if (!client.ok()) return client.status();
    clients.push_back(std::move(client).value());
  }
  return clients;
}

v1::AppendRequest MakeBatch(const NetBenchConfig& config, const std::string& stream, uint64_t seq) {
  v1::AppendRequest request;
  request.set_stream(stream);
  for (uint32_t i = 0; i < config.batch; ++i) {
    auto* event = request.add_events();
    event->set_type("BenchEvent");
    event->set_data(BenchEventData(seq + i, config.event_size_bytes));
  }
  return request;
}

void AppendLoop(const NetBenchConfig& config, Client& client, uint32_t index,
                const std::string& run_id, Clock::time_point start, PhaseState* state) {
  const std::string stream = config.stream_prefix + "-" + run_id + "-" + std::to_string(index);
  std::vector<int64_t> latencies;
  uint64_t seq = 0;
  while (!state->stop && SecondsSince(start) < config.duration_s) {
    if (state->events.fetch_add(config.batch) >= config.events_max) break;
    const v1::AppendRequest request = MakeBatch(config, stream, seq);
    const auto t0 = Clock::now();
    auto result = client.Append(request);
    if (!result.ok()) {
      state->Fail(result.status());
      break;
    }
    latencies.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count());
    seq += config.batch;
  }
  std::lock_guard<std::mutex> lock(state->mu);
  state->latencies_ns.insert(state->latencies_ns.end(), latencies.begin(), latencies.end());
}

void ReadLoop(const NetBenchConfig& config, Client& client, Clock::time_point start,
              PhaseState* state) {
  while (!state->stop && SecondsSince(start) < config.duration_s) {
    v1::ReadAllRequest request;
    uint64_t got = 0;
    const auto t0 = Clock::now();
    Status s = client.ReadAll(request, [&](const v1::ReadResponse& chunk) {
      got += chunk.events_size();
      state->events.fetch_add(chunk.events_size(), std::memory_order_relaxed);
      return SecondsSince(start) < config.duration_s;
    });
    if (!s.ok()) {
      state->Fail(s);
      return;
    }
    if (got == 0) {
      state->Fail(Status::FailedPrecondition("the log is empty: run bench append first"));
      return;
    }
    std::lock_guard<std::mutex> lock(state->mu);
    state->latencies_ns.push_back(
        std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count());
  }
}

// A short random tag, so that repeated runs append to fresh streams.
std::string RunId() {
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (unsigned char c : crypto::RandomString(4)) out += {kHex[c >> 4], kHex[c & 15]};
  return out;
}

template <typename Body>
Result<PhaseResult> RunClients(const NetBenchConfig& config, const Body& body) {
  CAIRN_ASSIGN_OR_RETURN(auto clients, ConnectAll(config));
  for (auto& client : clients) {  // connect (TLS handshake) before the clock starts
    auto info = client->ServerInfo();
    if (!info.ok()) return info.status();
  }
  PhaseState state;
  const auto start = Clock::now();
  std::vector<std::thread> threads;
  for (uint32_t i = 0; i < config.clients; ++i) {
    threads.emplace_back([&, i] { body(*clients[i], i, start, &state); });
  }
  for (auto& t : threads) t.join();
  if (!state.error.ok()) return state.error;
  PhaseResult result;
  result.seconds = SecondsSince(start);
  result.batches = state.latencies_ns.size();
  result.latency = SummarizeLatencies(&state.latencies_ns);
  result.events = state.events.load();
  return result;
}

}  // namespace

Result<PhaseResult> RunNetAppend(const NetBenchConfig& config) {
  const std::string run_id = RunId();
  auto result = RunClients(config, [&](Client& client, uint32_t i, Clock::time_point start,
                                       PhaseState* state) {
    AppendLoop(config, client, i, run_id, start, state);
  });
  if (!result.ok()) return result;
  result->events = result->batches * config.batch;  // acknowledged events only
  return result;
}

Result<PhaseResult> RunNetRead(const NetBenchConfig& config) {
  return RunClients(config, [&](Client& client, uint32_t, Clock::time_point start,
                                PhaseState* state) { ReadLoop(config, client, start, state); });
}

}  // namespace cairn::cli
