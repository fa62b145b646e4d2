#include "server/checkpoint_route.h"

namespace cairn::server {

HttpResponse CheckpointRoute(engine::EventStore& store, const WitnessPusher* witnesses) {
  auto checkpoint = store.LatestStoredCheckpoint();
  if (checkpoint.status().code() == StatusCode::kNotFound) checkpoint = store.Checkpoint();
  if (!checkpoint.ok()) {
    return HttpResponse{503, "text/plain; charset=utf-8", "no checkpoint available\n"};
  }
  return HttpResponse{200, "text/plain; charset=utf-8",
                      witnesses != nullptr ? witnesses->WithCosignatures(checkpoint->note)
                                           : checkpoint->note};
}

HttpResponse CosignedCheckpointRoute(const WitnessPusher& witnesses) {
  std::string cosigned = witnesses.Cosigned();
  if (cosigned.empty()) {
    return HttpResponse{503, "text/plain; charset=utf-8", "no checkpoint is cosigned yet\n"};
  }
  return HttpResponse{200, "text/plain; charset=utf-8", std::move(cosigned)};
}

}  // namespace cairn::server
