// GET /checkpoint on the admin listener, for witnesses: the latest STORED signed checkpoint as
// text (a C2SP signed note). The background checkpointer signs one about every second while the
// log grows, so the answer is at most about a second behind.
//
// The route has no authentication, so it never signs on a request's behalf: signing stores a
// checkpoint (kept forever) and costs a signature and a durable write, which any peer could
// otherwise trigger in a loop. The one exception is a store that has no checkpoint at all yet
// (a fresh log): it signs that first one, once.
//
// Thread safety: as engine::EventStore (the admin listener's thread calls it).
#pragma once

#include "engine/event_store.h"
#include "server/admin_http.h"

namespace cairn::server {

HttpResponse CheckpointRoute(engine::EventStore& store);

}  // namespace cairn::server
