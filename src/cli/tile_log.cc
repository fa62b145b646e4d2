#include "cli/tile_log.h"

#include "auth/http_fetch.h"
#include "integrity/proof.h"
#include "integrity/tile.h"

namespace cairn::cli {

Result<TileLog> TileLog::Open(std::string url, std::string ca_pem) {
  while (!url.empty() && url.back() == '/') url.pop_back();
  Status allowed = auth::CheckFetchUrl(url + "/checkpoint");
  if (!allowed.ok()) return allowed.Annotate("--log-url");
  return TileLog(std::move(url), std::move(ca_pem));
}

Result<std::string> TileLog::FetchCheckpoint() const {
  auth::HttpGetOptions options;
  options.ca_pem = ca_pem_;
  options.body_size_max_bytes = kTileLogCheckpointBytesMax;
  auto note = auth::HttpGet(url_ + "/checkpoint", options);
  if (!note.ok()) return note.status().Annotate("fetching the log's checkpoint");
  return note;
}

Result<std::vector<crypto::Hash>> TileLog::ProveConsistency(uint64_t size1, uint64_t size2) const {
  integrity::TileNodeReader tiles(size2, [this](const integrity::TileId& tile) {
    auth::HttpGetOptions options;
    options.ca_pem = ca_pem_;
    options.body_size_max_bytes = size_t{integrity::kTileWidth} * sizeof(crypto::Hash);
    return auth::HttpGet(url_ + "/" + integrity::TilePath(tile), options);
  });
  return integrity::ConsistencyProof(tiles, size1, size2);
}

}  // namespace cairn::cli
