#include "server/checkpoint_route.h"

namespace cairn::server {

HttpResponse CheckpointRoute(engine::EventStore& store) {
  auto checkpoint = store.LatestStoredCheckpoint();
  if (checkpoint.status().code() == StatusCode::kNotFound) checkpoint = store.Checkpoint();
  if (!checkpoint.ok()) {
    return HttpResponse{503, "text/plain; charset=utf-8", "no checkpoint available\n"};
  }
  return HttpResponse{200, "text/plain; charset=utf-8", checkpoint->note};
}

}  // namespace cairn::server
