#include "server/tile_route.h"

#include <string>

#include "engine/store_node_reader.h"
#include "integrity/tile.h"

namespace cairn::server {
namespace {

HttpResponse TextResponse(int status, std::string text) {
  return HttpResponse{status, "text/plain; charset=utf-8", std::move(text) + "\n"};
}

}  // namespace

HttpResponse TileRoute(engine::EventStore& store, std::string_view path) {
  if (path.empty() || path[0] != '/') return TextResponse(404, "not a tile path");
  auto tile = integrity::ParseTilePath(path.substr(1));
  if (!tile.ok()) return TextResponse(404, "not a tile path: " + tile.status().message());
  if (tile->entries) {
    return TextResponse(404, "entry bundles are not served: entries name streams and event "
                             "types; read them through the authenticated API");
  }
  storage::LogStore* log = store.log_store();
  auto checkpoint = store.LatestStoredCheckpoint();
  if (checkpoint.status().code() == StatusCode::kNotFound) {
    return TextResponse(404, "the log has no checkpoint yet");
  }
  if (log == nullptr || !checkpoint.ok()) return TextResponse(503, "the log cannot be read");
  if (!integrity::TileInTree(*tile, checkpoint->size)) {
    return TextResponse(404, "the latest checkpoint's tree has no such tile");
  }
  engine::StoreNodeReader reader(log);
  auto hashes = integrity::ReadTile(reader, *tile, checkpoint->size);
  if (!hashes.ok()) return TextResponse(503, "the tile cannot be read");
  HttpResponse response{200, "application/octet-stream", std::move(hashes).value()};
  response.cache_control = kTileCacheControl;
  return response;
}

}  // namespace cairn::server
