// What the two group consumer sinks share (cairn.v1 Groups.Connect and the EventStoreDB
// persistent Read): GroupDeliveryTag, what a consumer's send queue keeps beside each delivery, so
// that a policy reload can take back, before they are sent, the deliveries whose event type the
// consumer may no longer receive (QueuedBidiReactor::WithdrawLocked, GroupConsumer::Withdraw).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

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
};

// Whether `access` (as of its last Refresh) no longer lets the consumer receive the delivery.
inline bool RevokedFor(const subscribe::LiveAccess& access, const GroupDeliveryTag& tag) {
  return tag.delivery && !access.MaySubscribe(tag.stream_id, tag.event_type);
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

}  // namespace cairn::server
