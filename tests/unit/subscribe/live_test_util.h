// Shared fixture of the live subscription tests: a real EventStore in a temp dir, a policy
// holder, a LiveHub over both, and FakeSink, a LiveSink that records what it is given.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "engine/event_store.h"
#include "policy/holder.h"
#include "policy/parse.h"
#include "subscribe/live_hub.h"
#include "test_util.h"

namespace cairn::subscribe {

// Grants used by the tests: "reader" may subscribe to everything but "Secret" events and has
// read.pii; "masked" subscribes to everything without read.pii; "none" has no subscribe grant.
inline constexpr char kLivePolicy[] = R"(
[[role]]
name = "reader"
grants = [ { actions = ["subscribe", "read.pii"], streams = ["*"], event_types = ["*"] } ]
denies = [ { actions = ["subscribe"], streams = ["*"], event_types = ["Secret"] } ]

[[role]]
name = "masked"
grants = [ { actions = ["subscribe"], streams = ["*"], event_types = ["*"] } ]

[[role]]
name = "orders"
grants = [ { actions = ["subscribe"], streams = ["order-*"], event_types = ["*"] } ]

[[role]]
name = "none"
grants = [ { actions = ["read"], streams = ["*"], event_types = ["*"] } ]
)";

inline Principal PrincipalWith(const std::string& role) {
  Principal p;
  p.id = "apikey:" + role;
  p.roles = {role};
  p.method = AuthMethod::kApiKey;
  return p;
}

class FakeSink final : public LiveSink {
 public:
  explicit FakeSink(bool auto_ack = true) : auto_ack_(auto_ack) {}

  void Attach(std::shared_ptr<LiveSubscription> sub) { sub_ = std::move(sub); }
  // What the transport does when its call is over (OnDone): the hub forgets the subscription.
  void CloseSubscription() { sub_->Close(); }

  void Deliver(LiveBatch batch) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      EXPECT_FALSE(ended_) << "Deliver after End";
      EXPECT_FALSE(in_flight_) << "two writes in flight";
      in_flight_ = true;
      ++deliveries_;
      for (const auto& e : batch.events) {
        events_.push_back(*e);
        wires_.push_back(e->wire);
      }
      if (batch.kind == LiveBatch::Kind::kCaughtUp) caught_up_ = batch.next_position;
      for (const LiveBatch::Checkpoint& c : batch.checkpoints) {
        if (batch.kind == LiveBatch::Kind::kEvents) checkpoints_.push_back(c.next_position);
      }
      if (batch.kind == LiveBatch::Kind::kCheckpoint) checkpoints_.push_back(batch.next_position);
      cv_.notify_all();
    }
    if (auto_ack_) Ack();
  }
  void End(const Status& status) override {
    std::lock_guard<std::mutex> lock(mu_);
    EXPECT_FALSE(ended_) << "End twice";
    ended_ = status;
    cv_.notify_all();
  }

  // Completes the write in flight (auto_ack = false).
  void Ack() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!in_flight_) return;
      in_flight_ = false;
    }
    sub_->WriteDone(true);
  }

  // Waits up to timeout_ms for `pred` over this sink's state.
  template <typename Pred>
  bool WaitFor(Pred pred, int64_t timeout_ms = 10000) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms), [&] { return pred(*this); });
  }
  bool WaitEvents(size_t n, int64_t timeout_ms = 10000) {
    return WaitFor([n](const FakeSink& s) { return s.events_.size() >= n || s.ended_; }, timeout_ms);
  }
  bool WaitEnded(int64_t timeout_ms = 10000) {
    return WaitFor([](const FakeSink& s) { return s.ended_.has_value(); }, timeout_ms);
  }

  std::vector<engine::RecordedEvent> events() const {
    std::lock_guard<std::mutex> lock(mu_);
    return events_;
  }
  std::optional<Status> ended() const {
    std::lock_guard<std::mutex> lock(mu_);
    return ended_;
  }
  std::optional<uint64_t> caught_up() const {
    std::lock_guard<std::mutex> lock(mu_);
    return caught_up_;
  }
  std::vector<uint64_t> checkpoints() const {
    std::lock_guard<std::mutex> lock(mu_);
    return checkpoints_;
  }

  size_t deliveries() const {
    std::lock_guard<std::mutex> lock(mu_);
    return deliveries_;
  }

  std::vector<std::string> wires() const {
    std::lock_guard<std::mutex> lock(mu_);
    return wires_;
  }

  std::vector<engine::RecordedEvent> events_;  // read under mu_ (or through events())
  std::vector<std::string> wires_;              // each event's LiveEvent::wire
  std::optional<Status> ended_;
  std::optional<uint64_t> caught_up_;
  std::vector<uint64_t> checkpoints_;
  size_t deliveries_ = 0;  // batches delivered

 private:
  const bool auto_ack_;
  std::shared_ptr<LiveSubscription> sub_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool in_flight_ = false;
};

class LiveTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = tmp_.Sub("data");
    ASSERT_TRUE(engine::EventStore::Init({dir_, "test.example/live", {}, std::nullopt}).ok());
    InstallPolicy(kLivePolicy);
  }
  void TearDown() override {
    for (auto& sub : subs_) sub->Close();
    subs_.clear();
    if (hub_) hub_->Shutdown();
    hub_.reset();
    store_.reset();
  }

  void OpenStore(const std::string& protect_rules = "") {
    engine::Options o;
    o.data_dir = dir_;
    if (!protect_rules.empty()) {
      testing::WriteFile(tmp_.Sub("protect.toml"), protect_rules);
      o.protect_rules_file = tmp_.Sub("protect.toml");
    }
    auto s = engine::EventStore::Open(o);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(s).value();
  }

  void StartHub(LiveHubOptions options = {}) {
    if (!store_) OpenStore();
    if (options.tick_ms == LiveHubOptions{}.tick_ms) options.tick_ms = 50;  // unless the test chose
    auto hub = LiveHub::Start(store_.get(), &policies_, options);
    ASSERT_TRUE(hub.ok()) << hub.status().ToString();
    hub_ = std::move(hub).value();
  }

  void InstallPolicy(const std::string& text) {
    auto policy = policy::ParsePolicy(text, "test-policy");
    ASSERT_TRUE(policy.ok()) << policy.status().ToString();
    policies_.Install(std::move(policy).value());
  }

  // A sink that lives until TearDown has closed every subscription (a sink must outlive its
  // subscription's Close()).
  FakeSink& NewSink(bool auto_ack = true) {
    sinks_.push_back(std::make_unique<FakeSink>(auto_ack));
    return *sinks_.back();
  }

  // Subscribes `sink` and starts delivery; the handle is closed in TearDown.
  Status Subscribe(const LiveRequest& request, const std::string& role, FakeSink* sink) {
    auto sub = hub_->Subscribe(request, PrincipalWith(role), sink);
    if (!sub.ok()) return sub.status();
    sink->Attach(*sub);
    subs_.push_back(*sub);
    (*sub)->Start();
    return Status::Ok();
  }

  engine::AppendResult Append(const std::string& stream, const std::string& type, int count = 1,
                              const std::string& data = R"({"n":1})") {
    std::vector<engine::ProposedEvent> events(count);
    for (auto& e : events) {
      e.event_type = type;
      e.data = data;
    }
    auto r = store_->Append(stream, engine::ExpectedVersion::Any(), std::move(events));
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : engine::AppendResult{};
  }

  static LiveRequest AllFrom(uint64_t position) {
    LiveRequest r;
    r.stream = "$all";
    r.from = position;
    return r;
  }

  testing::TempDir tmp_;
  std::string dir_;
  std::unique_ptr<engine::EventStore> store_;
  policy::PolicyHolder policies_{""};
  std::unique_ptr<LiveHub> hub_;
  std::vector<std::unique_ptr<FakeSink>> sinks_;  // declared before subs_: destroyed after
  std::vector<std::shared_ptr<LiveSubscription>> subs_;
};

}  // namespace cairn::subscribe
