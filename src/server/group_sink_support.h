// What the two group consumer sinks share (cairn.v1 Groups.Connect and the EventStoreDB
// persistent Read): GroupDeliveryTag, what a consumer's send queue keeps beside each delivery, so
// that a policy reload can take back, before they are sent, the deliveries whose event type (or
// whose protected fields in clear) the consumer may no longer receive (QueuedBidiReactor::WithdrawLocked, GroupConsumer::Withdraw);
// and GroupSinkBase, the part of a sink that is not protocol: the consumer's access, the reader's
// view of an event, the stall check and the withdrawal.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/wall_clock.h"
#include "engine/event_store.h"

#include "subscribe/group_consumer.h"
#include "subscribe/live_access.h"

namespace cairn::server {

struct GroupDeliveryTag {
  bool delivery = false;  // false: a message that is not an event (join confirmation)
  uint64_t ack_id = 0;
  uint32_t attempt = 0;
  std::string stream_id;
  std::string event_type;
  std::string event_id;  // the 16 bytes; the ESDB protocol acks by event id
  bool pii_revealed = false;  // protected fields are in clear in the message (read.pii)
};

// Whether `access` (as of its last Refresh) no longer lets the consumer receive the delivery as
// it was rendered: its type is revoked, or its plaintext fields are (read.pii). Taken back, the
// event is rendered again for whoever gets it next, masked for a consumer without read.pii.
inline bool RevokedFor(const subscribe::LiveAccess& access, const GroupDeliveryTag& tag) {
  if (!tag.delivery) return false;
  if (!access.MaySubscribe(tag.stream_id, tag.event_type)) return true;
  return tag.pii_revealed && !access.MayReadPii(tag.stream_id, tag.event_type);
}

inline std::vector<subscribe::WithdrawnDelivery> WithdrawnOf(
    const std::vector<GroupDeliveryTag>& tags) {
  std::vector<subscribe::WithdrawnDelivery> out;
  out.reserve(tags.size());
  for (const GroupDeliveryTag& tag : tags) out.push_back({tag.ack_id, tag.attempt});
  return out;
}

// Judges a sink's queue again only after the policy changed: `seen` is the sink's memory of
// LiveAccess::policy_changes() at its last judgement.
inline bool PolicyChangedSince(const subscribe::LiveAccess& access, uint64_t* seen) {
  if (access.policy_changes() == *seen) return false;
  *seen = access.policy_changes();
  return true;
}

// The audit rule of a group member's end that the group, not the policy, decided: an update that
// no longer names the consumer; "" for every other end (AuditAccessEnd asks the policy).
inline std::string_view RuleOf(const Status& why) {
  const bool not_a_consumer = why.code() == StatusCode::kPermissionDenied &&
                              why.message() == subscribe::kNotAGroupConsumerMessage;
  return not_a_consumer ? std::string_view("group-consumers") : std::string_view();
}

// A group consumer on the call `Conn`, which has WriteStalled(int64_t stall_ms_max) and
// WithdrawRevoked(const subscribe::LiveAccess&) -> std::vector<subscribe::WithdrawnDelivery>,
// each taking the call's own lock. The sink outlives the call while the group holds it: Detach()
// (from the call's OnDone) cuts the link, after which deliveries fail. Lock order: the sink's mu_,
// then the call's.
template <typename Conn>
class GroupSinkBase : public subscribe::GroupConsumer {
 public:
  GroupSinkBase(engine::EventStore* store, subscribe::LiveAccess access, Conn* conn)
      : store_(store),
        conn_(conn),
        access_(std::move(access)),
        policy_changes_judged_(access_.policy_changes()) {}

  Status BeginRound() override {
    return access_.Refresh(NowUnixSeconds());
  }
  bool MayReceive(std::string_view stream, std::string_view type) const override {
    return access_.MaySubscribe(stream, type);
  }
  std::string_view principal_id() const override { return access_.principal().id; }
  bool WriteStalled(int64_t stall_ms_max) override {
    std::lock_guard<std::mutex> lock(mu_);
    return conn_ != nullptr && conn_->WriteStalled(stall_ms_max);
  }
  std::vector<subscribe::WithdrawnDelivery> Withdraw() override {
    if (!PolicyChangedSince(access_, &policy_changes_judged_)) return {};
    std::lock_guard<std::mutex> lock(mu_);
    if (conn_ == nullptr) return {};
    return conn_->WithdrawRevoked(access_);
  }
  void Detach() {
    std::lock_guard<std::mutex> lock(mu_);
    conn_ = nullptr;
  }

 protected:
  // What the consumer may see of a stored event: plaintext with read.pii, the mask otherwise,
  // erased after forget; never ciphertext. Not OK: the delivery fails (retried, then parked).
  Result<engine::RecordedEvent> ReaderView(engine::RecordedEvent event) const {
    if (!store_->IsProtected(event.entry.event_type)) return event;
    const bool pii = access_.MayReadPii(event.entry.stream_id, event.entry.event_type);
    return store_->Reveal(std::move(event), pii);
  }

  engine::EventStore* const store_;
  std::mutex mu_;  // guards conn_
  Conn* conn_;

 private:
  subscribe::LiveAccess access_;    // the group's delivery thread only
  uint64_t policy_changes_judged_;  // the group's delivery thread only
};

}  // namespace cairn::server
