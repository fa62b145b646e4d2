// PersistentRead: one PersistentSubscriptions.Read call — an ESDB consumer of a cairn consumer
// group (issue 9).
//
// The first message must be the options (stream or $all, group, buffer size, UUID format). The
// call then needs `subscribe` on the group's source (for "$all": some `subscribe` grant), exactly
// as cairn.v1's Connect: the group delivers each event only to consumers whose identity may
// `subscribe` to its stream and type under the policy in force at each delivery round, and shows
// protected fields in clear only with `read.pii` (masked otherwise). A consumer that loses
// `subscribe` on the source is ended with access-denied. The answer starts with the subscription
// confirmation ("<stream>::<group>"), then events with retry_count = deliveries before this one.
//
// Acks and nacks name event ids; the call maps them to ack ids (AckIdMap, bounded by the
// consumer's in-flight limit). Nack actions: park → park, retry and unknown → retry, skip → skip,
// stop → the consumer leaves (its unacked events go to the others) and the call ends OK.
// max_subscriber_count is checked through PersistentConnections before joining.
//
// Uses gRPC's callback API: a consumer holds no server thread. Its outgoing queue is bounded by
// its max in-flight plus a small margin; a delivery that does not fit counts as failed and is
// delivered again later.
//
// Thread safety: gRPC and the group's delivery thread call in concurrently; the call synchronises
// itself. Everything in PersistentDeps must outlive every call.
#pragma once

#include <grpcpp/grpcpp.h>

#include "engine/event_store.h"
#include "event_store/client/persistent.grpc.pb.h"
#include "policy/holder.h"
#include "server/call_gate.h"
#include "server/esdb/persistent_connections.h"
#include "server/esdb/persistent_names.h"
#include "subscribe/group_engine.h"

namespace cairn::server::esdb {

struct PersistentDeps {
  engine::EventStore* store = nullptr;
  const CallGate* gate = nullptr;
  const policy::PolicyHolder* policies = nullptr;
  subscribe::GroupEngine* groups = nullptr;
  EsdbGroupRecords* records = nullptr;
  PersistentConnections* connections = nullptr;
};

// Acked or nacked event ids in one message.
inline constexpr int kEsdbAckIdsPerMessageMax = 1000;

// The reactor of one Read call; it deletes itself when the call is done.
grpc::ServerBidiReactor<event_store::client::persistent_subscriptions::ReadReq,
                        event_store::client::persistent_subscriptions::ReadResp>*
StartPersistentRead(grpc::CallbackServerContext* context, const PersistentDeps& deps);

}  // namespace cairn::server::esdb
