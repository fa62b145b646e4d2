// GroupEngine: the consumer groups of one event store (docs/consumers.md, "Persistent
// subscriptions"). It keeps their definitions and positions in the store (GroupStore), runs one
// GroupRunner per group, and wakes them after every commit (EventStore::AddCommitObserver).
//
// Start() loads the stored groups and resumes each from its saved position; Stop() saves every
// position and ends every consumer with UNAVAILABLE. Authorization is the caller's business (the
// server checks `admin` and `subscribe` before calling); the engine validates names, settings
// and limits (GroupLimits) and returns kInvalidArgument, kAlreadyExists, kNotFound or
// kResourceExhausted.
//
// Thread safety: every method is safe to call concurrently. The store must outlive the engine.
#pragma once

#include <map>
#include <set>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "engine/event_store.h"
#include "subscribe/group_consumer.h"
#include "subscribe/group_runner.h"
#include "subscribe/group_settings.h"
#include "subscribe/group_store.h"

namespace cairn::subscribe {

struct GroupInfo {
  GroupSettings settings;
  GroupCounters counters;
};

// A consumer's membership in a group: acks and nacks go straight to its runner. Leave() (or the
// destructor) hands its unacked deliveries to the other consumers.
class GroupMembership {
 public:
  GroupMembership(std::shared_ptr<GroupRunner> runner, JoinResult joined)
      : runner_(std::move(runner)), joined_(joined) {}
  ~GroupMembership() { Leave(); }
  GroupMembership(const GroupMembership&) = delete;
  GroupMembership& operator=(const GroupMembership&) = delete;

  uint64_t consumer_id() const { return joined_.consumer_id; }
  uint32_t max_in_flight() const { return joined_.max_in_flight; }
  void Ack(const std::vector<uint64_t>& ack_ids) { runner_->Ack(joined_.consumer_id, ack_ids); }
  void Nack(const std::vector<uint64_t>& ack_ids, NackAction action, std::string_view reason) {
    runner_->Nack(joined_.consumer_id, ack_ids, action, reason);
  }
  void Leave();

 private:
  std::shared_ptr<GroupRunner> runner_;
  JoinResult joined_;
  std::once_flag left_;
};

class GroupEngine {
 public:
  GroupEngine(engine::EventStore* store, GroupLimits limits);
  ~GroupEngine();

  Status Start();
  void Stop();

  Status Create(GroupSettings settings);
  Status Update(GroupSettings settings);
  Status Delete(const std::string& name);
  std::vector<GroupInfo> List() const;
  Result<GroupSettings> Get(const std::string& name) const;
  // Returns how many parked references wait for replay. `count_max`: queue at most that many
  // more (GroupRunner::ReplayParked).
  Result<uint64_t> ReplayParked(const std::string& name,
                                std::optional<uint64_t> count_max = std::nullopt);
  Result<std::unique_ptr<GroupMembership>> Join(const std::string& name,
                                                std::shared_ptr<GroupConsumer> consumer,
                                                uint32_t max_in_flight,
                                                InFlightBound bound = InFlightBound::kGroup);

  const GroupLimits& limits() const { return limits_; }

 private:
  Result<std::shared_ptr<GroupRunner>> Find(const std::string& name) const;
  std::vector<std::string> NamesLocked() const;  // mu_ held
  void WakeAll();

  engine::EventStore* const store_;
  const GroupLimits limits_;
  GroupStore groups_;
  // Serialises Create/Update/Delete/Stop, held across their durable writes; taken before mu_.
  std::mutex admin_mu_;
  // Guards runners_, deleting_ and started_; never held across a store write (commits take it).
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<GroupRunner>> runners_;
  std::set<std::string> deleting_;  // deleted, their stored state not yet removed (guarded by mu_)
  bool started_ = false;
  uint64_t observer_ = 0;
};

}  // namespace cairn::subscribe
