// The soak's appenders and readers (see bench_soak.h).
#include <algorithm>
#include <cassert>
#include <random>

#include "cli/bench_load.h"
#include "cli/bench_soak_state.h"

namespace cairn::cli::soak {
namespace {

constexpr uint64_t kStreamTailEventsMax = 50;  // events of a stream read back per check
constexpr uint64_t kAllPageEventsMax = 100;    // events of "$all" per read

v1::AppendRequest MakeRequest(SoakState& s, size_t stream, uint64_t k, bool resync) {
  const SoakConfig& c = s.config;
  v1::AppendRequest request;
  request.set_stream(s.StreamName(stream));
  const uint64_t acked = s.acked(stream).load();
  auto* expected = request.mutable_expected();
  if (resync) {
    expected->set_kind(v1::ExpectedVersion::ANY);
  } else if (acked == 0) {
    expected->set_kind(v1::ExpectedVersion::NO_STREAM);
  } else {
    expected->set_kind(v1::ExpectedVersion::EXACT);
    expected->set_version(acked - 1);
  }
  const bool protect = c.protected_every > 0 && k % c.protected_every == 0;
  const uint64_t slot = s.Slot();
  for (uint32_t i = 0; i < c.batch; ++i) {
    auto* e = request.add_events();
    e->set_data(BenchEventData(k * c.batch + i, c.event_size_bytes));
    if (protect) {
      e->set_type(kSoakProtectedType);
      e->set_subject(s.Subject(slot, i % c.subjects_per_interval));
    } else {
      e->set_type("SoakEvent");
    }
  }
  return request;
}

// Appends one batch; true when it was acknowledged as expected.
bool AppendBatch(SoakState& s, Client& client, size_t stream, uint64_t k, bool resync) {
  const v1::AppendRequest request = MakeRequest(s, stream, k, resync);
  auto result = client.Append(request);
  if (!result.ok()) {
    s.Error("append", result.status());
    return false;
  }
  std::atomic<uint64_t>& acked = s.acked(stream);
  const uint64_t n = static_cast<uint64_t>(request.events_size());
  if (!resync && result->last_version() + 1 != acked.load() + n) {
    s.Error("append", Status::Internal("acknowledged version " +
                                       std::to_string(result->last_version()) + " is not " +
                                       std::to_string(acked.load() + n - 1)));
    return false;
  }
  acked.store(result->last_version() + 1);
  s.appended.fetch_add(n);
  uint64_t seen = s.positions_acked.load();
  while (seen < result->last_position() + 1 &&
         !s.positions_acked.compare_exchange_weak(seen, result->last_position() + 1)) {
  }
  return true;
}

// The tail of a stream: every acknowledged version up to the snapshot, in order.
void CheckStreamTail(SoakState& s, Client& client, size_t stream) {
  const uint64_t acked = s.acked(stream).load();
  if (acked == 0) return;
  v1::ReadRequest request;
  request.set_stream(s.StreamName(stream));
  request.set_from_version(acked > kStreamTailEventsMax ? acked - kStreamTailEventsMax : 0);
  request.set_limit(kStreamTailEventsMax);
  uint64_t next = request.from_version();
  bool in_order = true;
  Status st = client.Read(request, [&](const v1::ReadResponse& chunk) {
    for (const auto& e : chunk.events()) in_order = in_order && e.version() == next++;
    return in_order;
  });
  if (!st.ok()) return s.Error("read stream", st);
  s.read.fetch_add(next - request.from_version());
  if (!in_order || next < acked) {
    s.Error("read stream", Status::DataLoss("acknowledged events missing or out of order below "
                                            "version " + std::to_string(acked)));
  }
}

// A page of "$all": positions strictly increasing, every acknowledged position in the page there
// (as an event, or counted as filtered).
void CheckAllPage(SoakState& s, Client& client, std::mt19937_64& rng) {
  const uint64_t end = s.positions_acked.load();
  if (end == 0) return;
  v1::ReadAllRequest request;
  request.set_from_position(rng() % end);
  request.set_limit(kAllPageEventsMax);
  const uint64_t want = std::min(kAllPageEventsMax, end - request.from_position());
  uint64_t next = request.from_position(), got = 0;
  bool in_order = true;
  Status st = client.ReadAll(request, [&](const v1::ReadResponse& chunk) {
    got += chunk.filtered_events() + chunk.events_size();
    for (const auto& e : chunk.events()) {
      in_order = in_order && e.position() >= next;
      next = e.position() + 1;
    }
    s.read.fetch_add(chunk.events_size());
    return in_order;
  });
  if (!st.ok()) return s.Error("read $all", st);
  if (!in_order || got < want) {
    s.Error("read $all", Status::DataLoss("acknowledged positions missing or out of order from " +
                                          std::to_string(request.from_position())));
  }
}

}  // namespace

// Batches paced to the appender's share of the rate; when behind the schedule it sends at once
// (the achieved rate then says so). An appender owns its streams, so it knows their versions.
void RunAppender(SoakState& s, Client& client, uint32_t index) {
  const SoakConfig& c = s.config;
  assert(c.rate > 0 && c.batch > 0);
  const double interval_s = static_cast<double>(c.batch) * c.appenders / static_cast<double>(c.rate);
  std::vector<bool> resync(c.streams_per_appender, false);
  for (uint64_t k = 0; s.SleepUntil(s.At(k * interval_s)); ++k) {
    if (s.ElapsedS() >= c.duration_s) return;
    const uint32_t own = static_cast<uint32_t>(k % c.streams_per_appender);
    const size_t stream = size_t{index} * c.streams_per_appender + own;
    // After a failed append the stream's version is unknown: the next one learns it.
    resync[own] = !AppendBatch(s, client, stream, k, resync[own]);
  }
}

void RunReader(SoakState& s, Client& client, uint32_t index) {
  std::mt19937_64 rng(index + 1);
  constexpr double kReadIntervalS = 0.01;  // at most 100 reads/s per reader
  for (uint64_t k = 0; s.SleepUntil(s.At(k * kReadIntervalS)); ++k) {
    if (s.ElapsedS() >= s.config.duration_s) return;
    if (k % 2 == 0) {
      CheckStreamTail(s, client, rng() % s.stream_count());
    } else {
      CheckAllPage(s, client, rng);
    }
  }
}

}  // namespace cairn::cli::soak
