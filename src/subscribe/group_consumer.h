// GroupConsumer: one connected consumer of a group, as the group engine sees it. The server's
// Connect stream implements it; unit tests implement it with a queue.
//
// The group calls BeginRound, MayReceive and Deliver from its own delivery thread, never
// concurrently for one consumer (so an implementation may keep unsynchronised policy state for
// BeginRound/MayReceive); MayReceive runs under the group's lock and must not call into the
// group. Closed may come from the thread that stops the group. Deliver and Closed may race with
// the consumer's own thread (acks): the implementation synchronises its transport.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "engine/types.h"

namespace cairn::subscribe {

// A delivery taken back before it was sent (GroupConsumer::Withdraw).
struct WithdrawnDelivery {
  uint64_t ack_id = 0;
  uint32_t attempt = 0;  // the GroupDelivery's
};

struct GroupDelivery {
  engine::RecordedEvent event;  // the stored form; the consumer makes its reader's view
  uint64_t ack_id = 0;
  uint32_t attempt = 0;         // 1 for the first delivery
  bool replay = false;
};

// The message of the PERMISSION_DENIED with which the group closes a consumer that an update
// removed from GroupSettings::consumers (the policy may still allow it): Closed can tell this
// end from one for lost access.
inline constexpr std::string_view kNotAGroupConsumerMessage = "no longer one of the group's consumers";

class GroupConsumer {
 public:
  virtual ~GroupConsumer() = default;
  // Before each delivery round: re-take the policy in force. Not OK: the group drops the
  // consumer (its deliveries go to others) and calls Closed with this status.
  virtual Status BeginRound() = 0;
  // May this consumer receive the event (action `subscribe` on its stream and type)?
  virtual bool MayReceive(std::string_view stream_id, std::string_view event_type) const = 0;
  // The principal that joined, for GroupSettings::consumers (checked at every round, so an update
  // that removes it drops the consumer).
  virtual std::string_view principal_id() const = 0;
  // Right after a successful BeginRound: whether a message handed over has waited longer than
  // `stall_ms_max` for the consumer to take it (it stopped reading). The group then drops the
  // consumer and calls Closed with kResourceExhausted.
  virtual bool WriteStalled(int64_t stall_ms_max) {
    (void)stall_ms_max;
    return false;
  }
  // Right after a successful BeginRound: takes back the deliveries handed over but not yet sent
  // that the consumer may no longer receive (MayReceive is now false: a policy reload revoked
  // the type), so that they are never sent, and returns them. The group gives them to other
  // consumers, or keeps them until one that may receive them joins, without counting an
  // attempt. A delivery already being written to the network is not taken back.
  virtual std::vector<WithdrawnDelivery> Withdraw() { return {}; }
  // Hands one delivery over; must not wait for the consumer.
  //  - kHandedOver: queued for the consumer.
  //  - kNotTaken: its queue is full or it is going away; not an attempt, delivered again later.
  //  - kUnreadable: the event cannot be shown to this consumer (its protected fields do not
  //    open); `unreadable_code` says why. A lasting failure (DATA_LOSS, INVALID_ARGUMENT, ...)
  //    is parked at once (reason "unreadable: <code>"), so that it cannot hold the group's
  //    position forever; a transient one (UNAVAILABLE: the KMS is away) is tried again next
  //    round, not counted as an attempt.
  struct DeliverResult {
    enum class Kind : uint8_t { kHandedOver, kNotTaken, kUnreadable };
    Kind kind = Kind::kHandedOver;
    StatusCode unreadable_code = StatusCode::kOk;
    static DeliverResult HandedOver() { return {}; }
    static DeliverResult NotTaken() { return {Kind::kNotTaken, StatusCode::kOk}; }
    static DeliverResult Unreadable(StatusCode code) { return {Kind::kUnreadable, code}; }
  };
  virtual DeliverResult Deliver(GroupDelivery delivery) = 0;
  // The group is done with the consumer (deleted, stopping, access lost); no more deliveries.
  virtual void Closed(const Status& why) = 0;
};

}  // namespace cairn::subscribe
