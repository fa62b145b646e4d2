// cairn.v1.Subscriptions over the LiveHub (subscribe/live_hub.h), behind the CallGate.
//
// Subscribe is a server stream on gRPC's callback API: each call is a reactor, not a thread.
// The hub's delivery threads hand it batches (at most one write in flight per subscriber); a
// single event goes out as `event`, several as `events`, then `checkpoint` and `caught_up`
// markers as the hub produces them. Authentication happens once, at the start (CallGate); the
// policy is re-taken by the hub for every batch (see LiveAccess). When the hub ends a
// subscription the call is finished with the mapped status (status_map.h); for
// RESOURCE_EXHAUSTED and UNAVAILABLE, ErrorDetail.position is the position to resume from.
//
// Thread safety: gRPC calls Subscribe concurrently; the service holds no mutable state. The hub
// and the gate must outlive every call (the server shuts the hub down before the gRPC server,
// and destroys it after).
#pragma once

#include "cairn/v1/subscriptions.grpc.pb.h"
#include "server/call_gate.h"
#include "subscribe/live_hub.h"

namespace cairn::server {

// Subscribe is a raw method (bytes in, bytes out): the request is parsed here and the responses
// are written as frames (subscribe_frame.h) that reuse each event's wire form, encoded once.
class SubscriptionsService final
    : public v1::Subscriptions::WithRawCallbackMethod_Subscribe<v1::Subscriptions::Service> {
 public:
  SubscriptionsService(subscribe::LiveHub* hub, const CallGate* gate);

  grpc::ServerWriteReactor<grpc::ByteBuffer>* Subscribe(grpc::CallbackServerContext* context,
                                                        const grpc::ByteBuffer* request) override;

 private:
  subscribe::LiveHub* hub_;
  const CallGate* gate_;
};

// The hub's request for a wire request (start kind, filters, checkpoint interval clamped).
subscribe::LiveRequest FromWire(const v1::SubscribeRequest& request);

}  // namespace cairn::server
