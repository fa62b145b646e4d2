// GET /checkpoint on the admin listener, for witnesses: the latest STORED signed checkpoint as
// text (a C2SP signed note). The background checkpointer signs one about every second while the
// log grows, so the answer is at most about a second behind. With witnesses configured
// (server/witness_pusher.h) the note carries the cosignatures collected for it so far.
//
// GET /checkpoint/cosigned: the latest checkpoint that at least one witness cosigned, with every
// cosignature collected for it (503 until the first; 404 without witnesses configured). It may be
// a checkpoint or two behind /checkpoint: what a client that requires cosignatures fetches.
//
// The routes have no authentication, so they never sign on a request's behalf: signing stores a
// checkpoint (kept forever) and costs a signature and a durable write, which any peer could
// otherwise trigger in a loop. The one exception is a store that has no checkpoint at all yet
// (a fresh log): it signs that first one, once.
//
// Thread safety: as engine::EventStore and WitnessPusher (the admin listener's thread calls it).
#pragma once

#include "engine/event_store.h"
#include "server/admin_http.h"
#include "server/witness_pusher.h"

namespace cairn::server {

// `witnesses` may be null (none configured).
HttpResponse CheckpointRoute(engine::EventStore& store, const WitnessPusher* witnesses);
HttpResponse CosignedCheckpointRoute(const WitnessPusher& witnesses);

}  // namespace cairn::server
