// Shared fixture of the group engine tests: a real EventStore in a temp dir, a GroupEngine over
// it, and FakeConsumer, a GroupConsumer that queues what it receives.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "engine/event_store.h"
#include "subscribe/group_engine.h"
#include "test_util.h"

namespace cairn::subscribe {

class FakeConsumer final : public GroupConsumer {
 public:
  // Types this consumer may not receive.
  std::set<std::string> denied_types;
  // Set to make the next BeginRound fail (as a policy reload that removed the grant would).
  std::atomic<bool> lose_access{false};

  Status BeginRound() override {
    rounds++;
    if (lose_access) return Status::PermissionDenied("permission denied: subscribe");
    return Status::Ok();
  }
  std::atomic<int> rounds{0};  // BeginRound calls
  // Set to report its transport as stalled (a consumer that stopped reading).
  std::atomic<bool> stalled{false};
  int64_t stall_ms_max_seen = -1;  // the group's delivery thread only
  bool WriteStalled(int64_t stall_ms_max) override {
    stall_ms_max_seen = stall_ms_max;
    return stalled;
  }
  std::string principal = "apikey:consumer";  // set before joining
  std::string_view principal_id() const override { return principal; }
  bool MayReceive(std::string_view stream, std::string_view type) const override {
    std::lock_guard<std::mutex> lock(mu_);
    return denied_types.count(std::string(type)) == 0 && revoked_.count(std::string(type)) == 0;
  }
  // As a policy reload that revokes `type` while the consumer runs: the next round withdraws
  // what is queued here (not yet taken) of that type.
  void Revoke(const std::string& type) {
    std::lock_guard<std::mutex> lock(mu_);
    revoked_.insert(type);
  }
  std::vector<WithdrawnDelivery> Withdraw() override {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<WithdrawnDelivery> out;
    for (auto it = received_.begin(); it != received_.end();) {
      if (revoked_.count(it->event.entry.event_type) == 0) {
        ++it;
        continue;
      }
      out.push_back({it->ack_id, it->attempt});
      it = received_.erase(it);
    }
    withdrawn_ += out.size();
    return out;
  }
  size_t withdrawn() {
    std::lock_guard<std::mutex> lock(mu_);
    return withdrawn_;
  }
  // Deliveries refused (as a full transport queue refuses them) before the next is taken.
  std::atomic<int> refuse_next{0};
  // Events at these positions cannot be shown to this consumer (as a protected field that does
  // not open): Deliver answers kUnreadable with DATA_LOSS.
  std::set<uint64_t> unreadable_positions;
  StatusCode unreadable_code = StatusCode::kDataLoss;
  void ClearUnreadable() {
    std::lock_guard<std::mutex> lock(mu_);
    unreadable_positions.clear();
  }

  // Runs once, at the start of the next Deliver (before a refusal): e.g. the consumer's Leave,
  // as when its call ends while the group hands it an event.
  std::function<void()> before_next_deliver;
  std::atomic<int> deliver_calls{0};

  DeliverResult Deliver(GroupDelivery delivery) override {
    deliver_calls++;
    if (before_next_deliver) std::exchange(before_next_deliver, nullptr)();
    for (int left = refuse_next.load(); left > 0;) {
      if (refuse_next.compare_exchange_weak(left, left - 1)) return DeliverResult::NotTaken();
    }
    std::lock_guard<std::mutex> lock(mu_);
    if (unreadable_positions.count(delivery.event.entry.position) > 0) {
      unreadable_calls_++;
      return DeliverResult::Unreadable(unreadable_code);
    }
    received_.push_back(std::move(delivery));
    cv_.notify_all();
    return DeliverResult::HandedOver();
  }
  size_t unreadable_calls() {
    std::lock_guard<std::mutex> lock(mu_);
    return unreadable_calls_;
  }
  void Closed(const Status& why) override {
    std::lock_guard<std::mutex> lock(mu_);
    closed_ = why;
    cv_.notify_all();
  }

  // Waits until `n` deliveries are queued (or timeout_ms passes) and takes them.
  std::vector<GroupDelivery> Take(size_t n, int64_t timeout_ms = 5000) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms), [&] { return received_.size() >= n; });
    std::vector<GroupDelivery> out;
    while (!received_.empty() && out.size() < n) {
      out.push_back(std::move(received_.front()));
      received_.pop_front();
    }
    return out;
  }
  size_t queued() {
    std::lock_guard<std::mutex> lock(mu_);
    return received_.size();
  }
  std::optional<Status> closed() {
    std::lock_guard<std::mutex> lock(mu_);
    return closed_;
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<GroupDelivery> received_;
  std::set<std::string> revoked_;
  size_t withdrawn_ = 0;
  size_t unreadable_calls_ = 0;
  std::optional<Status> closed_;
};

inline std::vector<uint64_t> AckIds(const std::vector<GroupDelivery>& deliveries) {
  std::vector<uint64_t> ids;
  for (const auto& d : deliveries) ids.push_back(d.ack_id);
  return ids;
}

class GroupTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = tmp_.Sub("data");
    ASSERT_TRUE(engine::EventStore::Init({dir_, "test.example/log", {}, std::nullopt}).ok());
    limits_.tick_ms = 10;
    limits_.ack_timeout_ms_min = 10;
    OpenAll();
  }
  void TearDown() override { CloseAll(); }

  void OpenAll() {
    engine::Options options;
    options.data_dir = dir_;
    auto store = engine::EventStore::Open(options);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(store).value();
    groups_ = std::make_unique<GroupEngine>(store_.get(), limits_);
    ASSERT_TRUE(groups_->Start().ok());
  }
  void CloseAll() {
    groups_.reset();  // saves positions
    store_.reset();
  }

  GroupSettings Settings(const std::string& name) {
    GroupSettings s;
    s.name = name;
    s.source = "$all";
    s.ack_timeout_ms = 60000;
    return s;
  }

  void AppendN(const std::string& stream, int n, const std::string& type = "Happened") {
    for (int i = 0; i < n; ++i) {
      engine::ProposedEvent e;
      e.event_type = type;
      e.data = "{\"i\":" + std::to_string(i) + "}";
      std::vector<engine::ProposedEvent> batch;
      batch.push_back(std::move(e));
      auto r = store_->Append(stream, engine::ExpectedVersion::Any(), std::move(batch));
      ASSERT_TRUE(r.ok()) << r.status().ToString();
    }
  }

  std::unique_ptr<GroupMembership> JoinOrDie(const std::string& group,
                                             std::shared_ptr<FakeConsumer> consumer,
                                             uint32_t max_in_flight = 0) {
    auto m = groups_->Join(group, consumer, max_in_flight);
    EXPECT_TRUE(m.ok()) << m.status().ToString();
    return m.ok() ? std::move(m).value() : nullptr;
  }

  testing::TempDir tmp_;
  std::string dir_;
  GroupLimits limits_;
  std::unique_ptr<engine::EventStore> store_;
  std::unique_ptr<GroupEngine> groups_;
};

}  // namespace cairn::subscribe
