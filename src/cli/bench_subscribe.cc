#include "cli/bench_subscribe.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>

#include "cairn/subscriptions.h"
#include "common/wall_clock.h"

namespace cairn::cli {
namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kAppendLatenciesMax = 1 << 20;
constexpr int64_t kPollMs = 10;
constexpr int64_t kCaughtUpWaitMs = 30000;

double SecondsBetween(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

// Latencies in a fixed histogram: 1 µs steps below 1 ms, 100 µs steps below 100 ms, 10 ms steps
// below 60 s, one overflow bucket. A quantile is its bucket's upper bound.
class LatencyHistogram {
 public:
  void Add(int64_t ns) {
    const int64_t us = std::max<int64_t>(ns / 1000, 0);
    ++buckets_[Index(us)];
    ++count_;
    max_us_ = std::max(max_us_, us);
  }
  void Merge(const LatencyHistogram& other) {
    for (size_t i = 0; i < kBuckets; ++i) buckets_[i] += other.buckets_[i];
    count_ += other.count_;
    max_us_ = std::max(max_us_, other.max_us_);
  }
  LatencyStats Stats() const {
    LatencyStats s;
    s.p50_ms = QuantileUs(0.50) / 1000.0;
    s.p99_ms = QuantileUs(0.99) / 1000.0;
    s.max_ms = max_us_ / 1000.0;
    return s;
  }

 private:
  static constexpr size_t kFine = 1000, kMid = 990, kCoarse = 5990;
  static constexpr size_t kBuckets = kFine + kMid + kCoarse + 1;

  static size_t Index(int64_t us) {
    if (us < 1000) return static_cast<size_t>(us);
    if (us < 100000) return kFine + static_cast<size_t>((us - 1000) / 100);
    if (us < 60000000) return kFine + kMid + static_cast<size_t>((us - 100000) / 10000);
    return kBuckets - 1;
  }
  static int64_t UpperUs(size_t i) {
    if (i < kFine) return static_cast<int64_t>(i) + 1;
    if (i < kFine + kMid) return 1000 + static_cast<int64_t>(i - kFine + 1) * 100;
    if (i < kBuckets - 1) return 100000 + static_cast<int64_t>(i - kFine - kMid + 1) * 10000;
    return INT64_MAX / 2;
  }
  double QuantileUs(double q) const {
    if (count_ == 0) return 0;
    const uint64_t rank = static_cast<uint64_t>(q * static_cast<double>(count_ - 1)) + 1;
    uint64_t seen = 0;
    for (size_t i = 0; i < kBuckets; ++i) {
      seen += buckets_[i];
      if (seen >= rank) return static_cast<double>(std::min(UpperUs(i), max_us_));
    }
    return static_cast<double>(max_us_);
  }

  std::array<uint64_t, kBuckets> buckets_{};
  uint64_t count_ = 0;
  int64_t max_us_ = 0;
};

// One live subscriber on its own connection and thread.
class BenchSubscriber {
 public:
  explicit BenchSubscriber(std::unique_ptr<Client> client) : client_(std::move(client)) {}
  ~BenchSubscriber() { Stop(); }

  Status Start() {
    v1::SubscribeRequest request;
    request.set_stream("$all");
    request.set_from_end(true);
    CAIRN_ASSIGN_OR_RETURN(sub_, Subscription::Start(*client_, request));
    thread_ = std::thread([this] { Run(); });
    return Status::Ok();
  }
  void Stop() {
    if (sub_) sub_->Cancel();
    if (thread_.joinable()) thread_.join();
  }
  // Valid once caught_up().
  uint64_t start_position() const { return start_position_.load(); }
  bool caught_up() const { return caught_up_.load(); }
  bool ended() const { return ended_.load(); }
  uint64_t received() const { return received_.load(); }
  // After Stop(): the wall-clock time of the last receipt (0: none) and every latency. The
  // subscriber thread alone writes both while it runs (no lock per event); joining it publishes
  // them.
  int64_t last_receipt_wall_ns() const { return last_receipt_wall_ns_; }
  const LatencyHistogram& latencies() const { return latencies_; }
  SubscriberResult Result(uint64_t target) {
    std::lock_guard<std::mutex> lock(mu_);
    SubscriberResult r;
    r.received = received_.load();
    r.error = error_;
    r.kept_up = error_.empty() && r.received == target;
    return r;
  }

 private:
  void Run() {
    v1::SubscribeResponse message;  // reused: a consumer at full speed allocates nothing per event
    for (;;) {
      if (Status s = sub_->NextInto(&message); !s.ok()) {
        std::lock_guard<std::mutex> lock(mu_);
        if (!sub_->cancelled()) error_ = s.ToString();
        ended_ = true;
        return;
      }
      if (message.has_caught_up() && !caught_up_) {
        start_position_ = message.caught_up().next_position();
        caught_up_ = true;
        continue;
      }
      if (!message.has_event()) continue;
      // One clock read per event: the bench shares the machine with the server it measures.
      const int64_t now_ns = NowUnixNs();
      const uint64_t expected = start_position_.load() + received_.load();
      if (message.event().position() != expected) {
        std::lock_guard<std::mutex> lock(mu_);
        error_ = "position " + std::to_string(message.event().position()) + " where " +
                 std::to_string(expected) + " was expected";
        ended_ = true;
        return;
      }
      latencies_.Add(now_ns - message.event().recorded_at_ns());
      last_receipt_wall_ns_ = now_ns;
      received_.fetch_add(1, std::memory_order_relaxed);
    }
  }

  std::unique_ptr<Client> client_;
  std::unique_ptr<Subscription> sub_;
  std::thread thread_;
  std::atomic<uint64_t> start_position_{0};
  std::atomic<bool> caught_up_{false};
  std::atomic<bool> ended_{false};
  std::atomic<uint64_t> received_{0};
  std::mutex mu_;  // guards error_
  LatencyHistogram latencies_;      // the subscriber thread's alone until Stop()
  int64_t last_receipt_wall_ns_ = 0;  // likewise
  std::string error_;
};

struct AppendState {
  std::atomic<uint64_t> events{0};
  std::atomic<bool> stop{false};
  std::mutex mu;
  Status error;
  std::vector<int64_t> call_ns;
};

// One appender: batches paced to its share of the target rate; when it falls behind the
// schedule it sends at once (the achieved rate then says so).
void RunAppender(const SubscribeBenchConfig& config, Client* client, uint32_t index,
                 Clock::time_point start, AppendState* state) {
  const double interval_s =
      static_cast<double>(config.batch) * config.clients / static_cast<double>(config.rate);
  const std::string stream = "bench-sub-" + std::to_string(index);
  for (uint64_t k = 0; !state->stop; ++k) {
    const auto due = start + std::chrono::duration_cast<Clock::duration>(
                                 std::chrono::duration<double>(k * interval_s));
    if (SecondsBetween(start, due) >= config.duration_s ||
        SecondsBetween(start, Clock::now()) >= config.duration_s) {
      return;  // the time is up, also when the appends fell behind the schedule
    }
    std::this_thread::sleep_until(due);
    v1::AppendRequest request;
    request.set_stream(stream);
    for (uint32_t i = 0; i < config.batch; ++i) {
      auto* e = request.add_events();
      e->set_type("BenchEvent");
      e->set_data(BenchEventData(k * config.batch + i, config.event_size_bytes));
    }
    const auto sent = Clock::now();
    auto result = client->Append(request);
    const int64_t took_ns =
        std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - sent).count();
    std::lock_guard<std::mutex> lock(state->mu);
    if (!result.ok()) {
      if (state->error.ok()) state->error = result.status();
      state->stop = true;
      return;
    }
    state->events += config.batch;
    if (state->call_ns.size() < kAppendLatenciesMax) state->call_ns.push_back(took_ns);
  }
}

Result<std::unique_ptr<Client>> Connected(const ClientOptions& options) {
  CAIRN_ASSIGN_OR_RETURN(std::unique_ptr<Client> client, Client::Connect(options));
  CAIRN_RETURN_IF_ERROR(client->ServerInfo().status());  // TLS and authentication done now
  return client;
}

// One replayer (SubscribeBenchConfig::replayers) on its own connection and thread: subscribes
// to "$all" from 0 with a type filter that matches nothing, and again each time it catches up.
class BenchReplayer {
 public:
  explicit BenchReplayer(std::unique_ptr<Client> client) : client_(std::move(client)) {}
  ~BenchReplayer() { Stop(); }
  void Start() { thread_ = std::thread([this] { Run(); }); }
  void Stop() {
    stop_ = true;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (sub_) sub_->Cancel();
    }
    if (thread_.joinable()) thread_.join();
  }
  uint64_t replays() const { return replays_.load(); }
  // How it stopped early (a refusal: the server's limits), after Stop(); "" when it did not.
  std::string error() {
    std::lock_guard<std::mutex> lock(mu_);
    return error_;
  }

 private:
  void Run() {
    v1::SubscribeRequest request;
    request.set_stream("$all");
    request.set_from_position(0);
    request.mutable_filter()->add_event_types("BenchReplayMatchesNothing");
    v1::SubscribeResponse message;
    while (!stop_) {
      auto sub = Subscription::Start(*client_, request);
      if (!sub.ok()) return Failed(sub.status());
      {
        std::lock_guard<std::mutex> lock(mu_);
        sub_ = std::move(sub).value();
        if (stop_) sub_->Cancel();
      }
      Status s;
      while ((s = sub_->NextInto(&message)).ok() && !message.has_caught_up()) {
      }
      std::lock_guard<std::mutex> lock(mu_);
      const bool cancelled = sub_->cancelled();
      sub_->Cancel();
      sub_.reset();
      if (!s.ok() && !cancelled) {  // refused or ended by the server: stop, and say why
        error_ = s.ToString();
        return;
      }
      if (s.ok()) replays_.fetch_add(1);
    }
  }
  void Failed(const Status& s) {
    std::lock_guard<std::mutex> lock(mu_);
    error_ = s.ToString();
  }

  std::unique_ptr<Client> client_;
  std::mutex mu_;  // guards sub_ against Stop()'s Cancel
  std::unique_ptr<Subscription> sub_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> replays_{0};
  std::string error_;  // guarded by mu_
};

Status StartSubscribers(const SubscribeBenchConfig& config,
                        std::vector<std::unique_ptr<BenchSubscriber>>* subs) {
  for (uint32_t i = 0; i < config.subscribers; ++i) {
    CAIRN_ASSIGN_OR_RETURN(std::unique_ptr<Client> client, Connected(config.client));
    subs->push_back(std::make_unique<BenchSubscriber>(std::move(client)));
    CAIRN_RETURN_IF_ERROR(subs->back()->Start());
  }
  const auto deadline = Clock::now() + std::chrono::milliseconds(kCaughtUpWaitMs);
  for (auto& sub : *subs) {
    while (!sub->caught_up()) {
      if (sub->ended()) return sub->Result(0).error.empty() ? Status::Unavailable("subscription ended")
                                                            : Status::Unavailable(sub->Result(0).error);
      if (Clock::now() > deadline) return Status::Unavailable("subscribers did not catch up");
      std::this_thread::sleep_for(std::chrono::milliseconds(kPollMs));
    }
  }
  return Status::Ok();
}

}  // namespace

bool SubscribeBenchResult::all_kept_up() const {
  return !subscribers.empty() && replayer_error.empty() &&
         std::all_of(subscribers.begin(), subscribers.end(),
                     [](const SubscriberResult& s) { return s.kept_up; });
}

uint64_t SubscribeBenchResult::delivered() const {
  uint64_t n = 0;
  for (const auto& s : subscribers) n += s.received;
  return n;
}

Result<SubscribeBenchResult> RunSubscribeBench(const SubscribeBenchConfig& config) {
  std::vector<std::unique_ptr<BenchSubscriber>> subs;
  CAIRN_RETURN_IF_ERROR(StartSubscribers(config, &subs));
  std::vector<std::unique_ptr<Client>> appenders;
  for (uint32_t i = 0; i < config.clients; ++i) {
    CAIRN_ASSIGN_OR_RETURN(std::unique_ptr<Client> client, Connected(config.client));
    appenders.push_back(std::move(client));
  }

  std::vector<std::unique_ptr<BenchReplayer>> replayers;
  for (uint32_t i = 0; i < config.replayers; ++i) {
    CAIRN_ASSIGN_OR_RETURN(std::unique_ptr<Client> client, Connected(config.client));
    replayers.push_back(std::make_unique<BenchReplayer>(std::move(client)));
    replayers.back()->Start();
  }

  AppendState state;
  const auto start = Clock::now();
  const int64_t start_wall_ns = NowUnixNs();
  std::vector<std::thread> threads;
  for (uint32_t i = 0; i < config.clients; ++i) {
    threads.emplace_back(
        [&, i] { RunAppender(config, appenders[i].get(), i, start, &state); });
  }
  for (auto& t : threads) t.join();
  SubscribeBenchResult result;
  result.append_seconds = SecondsBetween(start, Clock::now());
  for (auto& r : replayers) {
    r->Stop();
    result.replays += r->replays();
    if (result.replayer_error.empty()) result.replayer_error = r->error();
  }
  if (!state.error.ok()) return state.error.Annotate("append");
  CAIRN_ASSIGN_OR_RETURN(v1::ServerInfoResponse after, appenders.front()->ServerInfo());
  result.appended = state.events.load();
  result.append_call = SummarizeLatencies(&state.call_ns);

  // Everything committed since the subscribers caught up must reach each of them.
  const auto drain_deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                                 std::chrono::duration<double>(config.drain_s_max));
  for (auto& sub : subs) {
    const uint64_t target = after.tree_size() - sub->start_position();
    while (sub->received() < target && !sub->ended() && Clock::now() < drain_deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(kPollMs));
    }
  }
  int64_t last_wall_ns = start_wall_ns;
  LatencyHistogram all;
  for (auto& sub : subs) {
    sub->Stop();
    last_wall_ns = std::max(last_wall_ns, sub->last_receipt_wall_ns());
    all.Merge(sub->latencies());
    result.subscribers.push_back(sub->Result(after.tree_size() - sub->start_position()));
  }
  result.delivery = all.Stats();
  result.delivery_seconds = static_cast<double>(last_wall_ns - start_wall_ns) / 1e9;
  return result;
}

}  // namespace cairn::cli
