// A Read with the subscription option (EventStoreDB catch-up subscription to a stream or to
// `$all`), served by the server's LiveHub (subscribe/live_hub.h): the hub does the catch-up from
// storage, the switch to live events on commit, `subscribe` per event (re-taking the policy for
// every batch), the request's filter, then Reveal with the caller's `read.pii` (an event the
// filter drops is never decrypted, so it cannot end the subscription), and the bounds
// (subscribers_max; a live subscriber too far behind is ended).
//
// The answers, in order: confirmation (subscription_id), the events (after the request's filter),
// caught_up once the catch-up reached the live log, and — for filtered subscriptions — a
// checkpoint every ReadSpec::checkpoint_events events considered (and at the hub's own
// checkpoints) whose position is the last log position considered (subscribing again from it,
// which is exclusive, loses nothing). A subscriber that
// fell behind is ended with RESOURCE_EXHAUSTED; it re-subscribes from its last event.
//
// Start points: a stream from a revision starts after that revision, `$all` from a position
// after that position (both exclusive, as EventStoreDB does); start and end as named.
//
// Thread safety: the reactor serialises the hub's Deliver/End with gRPC's callbacks through
// its mutex; at most one write is in flight.
#pragma once

#include <grpcpp/support/server_callback.h>

#include "server/call_gate.h"
#include "server/esdb/streams_read.h"
#include "subscribe/live_hub.h"

namespace cairn::server::esdb {

// A reactor for a subscription of `id` (already admitted; the hub checks `subscribe`). `hub`
// must outlive the call.
ReadReactor* StartSubscription(grpc::CallbackServerContext* context, subscribe::LiveHub* hub,
                               CallIdentity id, ReadSpec spec);

}  // namespace cairn::server::esdb
