#include "cli/bench_load.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <mutex>
#include <thread>
#include <vector>

#include "common/bytes.h"
#include "crypto/secure.h"

namespace cairn::cli {
namespace {

using Clock = std::chrono::steady_clock;

// State shared by the append workers.
struct LoadState {
  LoadState(const BenchConfig& c, engine::EventStore& st, std::string id)
      : config(c), store(st), run_id(std::move(id)) {}

  const BenchConfig& config;
  engine::EventStore& store;
  std::string run_id;
  Clock::time_point deadline;
  std::atomic<uint64_t> next_seq{0};
  std::atomic<bool> stop{false};
  std::mutex mu;
  Status first_error;
  std::vector<int64_t> latencies_ns;
  uint64_t events = 0;
  uint64_t batches = 0;
};

std::vector<engine::ProposedEvent> MakeBatch(uint64_t first_seq, uint64_t count, size_t size) {
  std::vector<engine::ProposedEvent> events(count);
  for (uint64_t i = 0; i < count; ++i) {
    events[i].event_type = "BenchEvent";
    events[i].data = BenchEventData(first_seq + i, size);
  }
  return events;
}

// The stream a worker's next batch goes to and the version it expects there.
struct Target {
  std::string stream;
  engine::ExpectedVersion expected;
};

Target NextTarget(const LoadState& s, uint32_t thread, uint64_t seq,
                  std::optional<uint64_t> last_version) {
  if (s.config.shared_streams > 0) {
    const uint64_t k = (seq / s.config.batch) % s.config.shared_streams;
    return {"bench-" + s.run_id + "-shared-" + std::to_string(k), engine::ExpectedVersion::Any()};
  }
  // A stream of its own: the worker knows the exact version, as an event-sourced writer would.
  return {"bench-" + s.run_id + "-t" + std::to_string(thread),
          last_version ? engine::ExpectedVersion::Exact(*last_version)
                       : engine::ExpectedVersion::NoStream()};
}

void Worker(LoadState& s, uint32_t thread) {
  std::vector<int64_t> latencies;
  uint64_t events = 0, batches = 0;
  std::optional<uint64_t> last_version;
  while (!s.stop.load(std::memory_order_relaxed) && Clock::now() < s.deadline) {
    const uint64_t seq = s.next_seq.fetch_add(s.config.batch);
    if (seq >= s.config.events) break;
    const uint64_t n = std::min<uint64_t>(s.config.batch, s.config.events - seq);
    Target target = NextTarget(s, thread, seq, last_version);
    auto batch = MakeBatch(seq, n, s.config.event_size_bytes);
    const auto t0 = Clock::now();
    auto result = s.store.Append(target.stream, target.expected, std::move(batch));
    const auto t1 = Clock::now();
    if (!result.ok()) {
      std::lock_guard lock(s.mu);
      if (s.first_error.ok()) s.first_error = result.status();
      s.stop = true;
      break;
    }
    last_version = result->last_version;
    latencies.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count());
    events += n;
    batches += 1;
  }
  std::lock_guard lock(s.mu);
  s.latencies_ns.insert(s.latencies_ns.end(), latencies.begin(), latencies.end());
  s.events += events;
  s.batches += batches;
}

double Percentile(const std::vector<int64_t>& sorted, double q) {
  const size_t rank = static_cast<size_t>(std::ceil(q * static_cast<double>(sorted.size())));
  return static_cast<double>(sorted[std::max<size_t>(rank, 1) - 1]) / 1e6;
}

}  // namespace

std::string BenchEventData(uint64_t seq, size_t size_bytes) {
  std::string out = "{\"seq\":" + std::to_string(seq) + ",\"pad\":\"";
  const size_t tail = 2;  // "}
  if (out.size() + tail < size_bytes) out.append(size_bytes - out.size() - tail, 'x');
  out += "\"}";
  return out;
}

std::string CustomerEventData(uint64_t seq, size_t size_bytes) {
  const std::string id = std::to_string(seq % kCustomerSubjects);
  std::string out = "{\"customerId\":\"c-" + id + "\",\"email\":\"customer" + id +
                    "@example.com\",\"name\":\"Customer Number " + id + "\",\"street\":\"" + id +
                    " Benchmark Street\",\"pad\":\"";
  const size_t tail = 2;  // "}
  if (out.size() + tail < size_bytes) out.append(size_bytes - out.size() - tail, 'x');
  out += "\"}";
  return out;
}

LatencyStats SummarizeLatencies(std::vector<int64_t>* latencies_ns) {
  LatencyStats stats;
  if (latencies_ns->empty()) return stats;
  std::sort(latencies_ns->begin(), latencies_ns->end());
  stats.p50_ms = Percentile(*latencies_ns, 0.50);
  stats.p99_ms = Percentile(*latencies_ns, 0.99);
  stats.max_ms = static_cast<double>(latencies_ns->back()) / 1e6;
  return stats;
}

Result<PhaseResult> RunAppendLoad(engine::EventStore& store, const BenchConfig& config) {
  LoadState state(config, store, HexEncode(crypto::RandomString(4)));
  const auto start = Clock::now();
  state.deadline = start + std::chrono::duration_cast<Clock::duration>(
                               std::chrono::duration<double>(config.seconds));
  std::vector<std::thread> workers;
  for (uint32_t t = 0; t < config.threads; ++t) {
    workers.emplace_back([&state, t] { Worker(state, t); });
  }
  for (auto& w : workers) w.join();
  if (!state.first_error.ok()) return state.first_error;
  PhaseResult result;
  result.seconds = SecondsSince(start);
  result.events = state.events;
  result.batches = state.batches;
  result.latency = SummarizeLatencies(&state.latencies_ns);
  return result;
}

Result<PhaseResult> RunReadAll(engine::EventStore& store, double seconds_max) {
  const uint64_t page = engine::Limits{}.read_events_max;
  const uint64_t end = store.tree_size();
  PhaseResult result;
  const auto start = Clock::now();
  uint64_t from = 0;
  while (from < end && SecondsSince(start) < seconds_max) {
    auto events = store.ReadAll(from, std::min(page, end - from));
    if (!events.ok()) return events.status();
    if (events->empty()) break;
    result.events += events->size();
    from = events->back().entry.position + 1;
  }
  result.seconds = SecondsSince(start);
  return result;
}

PhaseResult RunVerify(engine::EventStore& store, engine::VerifyReport* report) {
  const auto start = Clock::now();
  *report = store.Verify();
  PhaseResult result;
  result.seconds = SecondsSince(start);
  result.events = report->records_checked;
  return result;
}

}  // namespace cairn::cli
