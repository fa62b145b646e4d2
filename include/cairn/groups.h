// cairn::Groups and cairn::GroupStream — consumer groups (cairn.v1.PersistentSubscriptions) on
// a Client's connection (docs/consumers.md).
//
//   Groups groups(*client);
//   auto stream = groups.Connect("billing");          // joins; fails if the server refuses
//   for (;;) {
//     auto event = (*stream)->Next(1000);              // nullopt: nothing within 1 s
//     if (!event.ok()) break;                          // the stream ended; see Next()
//     if (!*event) continue;
//     if (Handle((*event)->event())) (*stream)->Ack({(*event)->ack_id()});
//     else (*stream)->Nack({(*event)->ack_id()}, v1::NACK_RETRY, "handler failed");
//   }
//
// Delivery is at least once: handle events idempotently. An event not acked within the group's
// ack timeout, or still unacked when the stream ends, is delivered again (perhaps to another
// consumer of the group).
//
// Thread safety: Groups is stateless over the Client. One GroupStream: Next() from one thread;
// Ack/Nack/Close from any thread. Ownership: the Client must outlive both.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cairn/client.h"
#include "cairn/v1/groups.pb.h"
#include "common/status.h"

namespace cairn {

class GroupStream {
 public:
  virtual ~GroupStream() = default;  // cancels the call if it is still running
  // The server's answer to the join (the first one, should it send more); valid for the
  // stream's lifetime once Groups::Join returned it.
  virtual const v1::GroupJoined& joined() const = 0;
  // The next event, or nullopt when none arrived within timeout_ms. After the end, each call
  // returns the same error: the server's status (UNAVAILABLE: server shutting down; ABORTED:
  // group deleted; PERMISSION_DENIED: lost its grant), or kUnavailable after Close().
  virtual Result<std::optional<v1::GroupEvent>> Next(int64_t timeout_ms) = 0;
  virtual Status Ack(const std::vector<uint64_t>& ack_ids) = 0;
  virtual Status Nack(const std::vector<uint64_t>& ack_ids, v1::NackAction action,
                      const std::string& reason) = 0;
  // Ends the stream after the acks sent so far reached the server; unacked events go back to
  // the group. Returns the call's final status (OK for a clean end). Idempotent, and safe to
  // call from several threads at once. Waits at most 10 s for the server to end the call, then
  // cancels it (CANCELLED).
  virtual Status Close() = 0;
};

class Groups {
 public:
  explicit Groups(const Client& client) : client_(client) {}

  Status Create(const v1::GroupSettings& settings) const;
  Status Update(const v1::GroupSettings& settings) const;
  Status Delete(const std::string& name) const;
  Result<v1::ListGroupsResponse> List() const;
  // Returns how many parked references wait for replay.
  Result<uint64_t> ReplayParked(const std::string& name) const;
  // Joins `group` and waits for the server's GroupJoined (up to the client's timeout_ms).
  // max_in_flight 0: the group's.
  Result<std::unique_ptr<GroupStream>> Connect(const std::string& group,
                                               uint32_t max_in_flight = 0) const;

 private:
  const Client& client_;
};

}  // namespace cairn
