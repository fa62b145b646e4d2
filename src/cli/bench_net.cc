#include "cli/bench_net.h"

#include <atomic>
#include <condition_variable>
#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

#include "crypto/secure.h"

namespace cairn::cli {
namespace {

using Clock = std::chrono::steady_clock;

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

// One client (one connection) per simulated client, each connected — TLS handshake and
// authentication done with a first call — before the clock starts.
Result<std::vector<std::unique_ptr<Client>>> ConnectAll(const NetBenchConfig& config) {
  std::vector<std::unique_ptr<Client>> clients;
  for (uint32_t i = 0; i < config.clients; ++i) {
    auto client = Client::Connect(config.client);
    if (!client.ok()) return client.status();
    auto info = (*client)->ServerInfo();
    if (!info.ok()) return info.status();
    clients.push_back(std::move(client).value());
  }
  return clients;
}

v1::AppendRequest MakeBatch(const NetBenchConfig& config, const std::string& stream, uint64_t seq) {
  v1::AppendRequest request;
  request.set_stream(stream);
  for (uint32_t i = 0; i < config.batch; ++i) {
    auto* event = request.add_events();
    if (config.customer_payload) {
      event->set_type(kCustomerEventType);
      event->set_data(CustomerEventData(seq + i, config.event_size_bytes));
    } else {
      event->set_type("BenchEvent");
      event->set_data(BenchEventData(seq + i, config.event_size_bytes));
    }
  }
  return request;
}

// One client's appends: one call in flight at a time, the next started from the completion of
// the previous (gRPC's callback API, so no client thread blocks per call).
class AppendChain {
 public:
  AppendChain(const NetBenchConfig& config, Client* client, std::string stream,
              Clock::time_point start, PhaseState* state)
      : config_(config), client_(client), stream_(std::move(stream)), start_(start),
        state_(state) {}

  void Start() { Next(); }
  void Wait() {
    std::unique_lock<std::mutex> lock(mu_);
    done_cv_.wait(lock, [&] { return done_; });
  }
  std::vector<int64_t>& latencies() { return latencies_; }

 private:
  void Next() {
    if (state_->stop || SecondsSince(start_) >= config_.duration_s ||
        state_->events.fetch_add(config_.batch) >= config_.events_max) {
      Finish();
      return;
    }
    v1::AppendRequest request = MakeBatch(config_, stream_, seq_);
    call_start_ = Clock::now();
    client_->AppendAsync(std::move(request), [this](Result<v1::AppendResponse> result) {
      if (!result.ok()) {
        state_->Fail(result.status());
        Finish();
        return;
      }
      latencies_.push_back(
          std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - call_start_).count());
      seq_ += config_.batch;
      Next();
    });
  }
  void Finish() {
    std::lock_guard<std::mutex> lock(mu_);
    done_ = true;
    done_cv_.notify_all();
  }

  const NetBenchConfig& config_;
  Client* client_;
  const std::string stream_;
  const Clock::time_point start_;
  PhaseState* state_;
  uint64_t seq_ = 0;
  Clock::time_point call_start_;
  std::vector<int64_t> latencies_;
  std::mutex mu_;
  std::condition_variable done_cv_;
  bool done_ = false;
};

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
  CAIRN_ASSIGN_OR_RETURN(auto clients, ConnectAll(config));
  PhaseState state;
  const auto start = Clock::now();
  std::vector<std::unique_ptr<AppendChain>> chains;
  for (uint32_t i = 0; i < config.clients; ++i) {
    chains.push_back(std::make_unique<AppendChain>(
        config, clients[i].get(),
        config.stream_prefix + "-" + run_id + "-" + std::to_string(i), start, &state));
  }
  for (auto& chain : chains) chain->Start();
  for (auto& chain : chains) chain->Wait();
  if (!state.error.ok()) return state.error;
  PhaseResult result;
  result.seconds = SecondsSince(start);
  for (auto& chain : chains) {
    state.latencies_ns.insert(state.latencies_ns.end(), chain->latencies().begin(),
                              chain->latencies().end());
  }
  result.batches = state.latencies_ns.size();
  result.events = result.batches * config.batch;  // acknowledged events only
  result.latency = SummarizeLatencies(&state.latencies_ns);
  return result;
}

Result<PhaseResult> RunNetRead(const NetBenchConfig& config) {
  return RunClients(config, [&](Client& client, uint32_t, Clock::time_point start,
                                PhaseState* state) { ReadLoop(config, client, start, state); });
}

}  // namespace cairn::cli
