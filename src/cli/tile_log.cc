#include "cli/tile_log.h"

#include "auth/http_fetch.h"
#include "cli/connection.h"
#include "cli/context.h"
#include "common/trusted_file.h"
#include "integrity/proof.h"

namespace cairn::cli {

Result<TileLog> TileLog::Open(std::string url, std::string ca_pem) {
  while (!url.empty() && url.back() == '/') url.pop_back();
  if (url.find_first_of("?#@") != std::string::npos) {
    return Status::InvalidArgument("--log-url: a log's URL prefix has no query, fragment or "
                                   "user information");
  }
  Status allowed = auth::CheckFetchUrl(url + "/checkpoint");
  if (!allowed.ok()) return allowed.Annotate("--log-url");
  return TileLog(std::move(url), std::move(ca_pem));
}

Result<std::string> TileLog::Get(const std::string& path, size_t body_size_max_bytes) const {
  auth::HttpGetOptions options;
  options.ca_pem = ca_pem_;
  options.body_size_max_bytes = body_size_max_bytes;
  return auth::HttpGet(url_ + "/" + path, options);
}

Result<std::string> TileLog::FetchCheckpoint() const {
  auto note = Get("checkpoint", kTileLogCheckpointBytesMax);
  if (!note.ok()) return note.status().Annotate("fetching the log's checkpoint");
  return note;
}

Result<std::string> TileLog::FetchTile(const integrity::TileId& tile) const {
  constexpr size_t kFullTileBytes = size_t{integrity::kTileWidth} * sizeof(crypto::Hash);
  auto got = Get(integrity::TilePath(tile), kFullTileBytes);
  if (got.ok() || tile.width == integrity::kTileWidth) return got;
  integrity::TileId full = tile;
  full.width = integrity::kTileWidth;
  auto whole = Get(integrity::TilePath(full), kFullTileBytes);
  if (!whole.ok() || whole->size() != kFullTileBytes) return got;  // the partial tile's error
  whole->resize(size_t{tile.width} * sizeof(crypto::Hash));
  return whole;
}

Result<std::vector<crypto::Hash>> TileLog::ProveConsistency(uint64_t size1, uint64_t size2,
                                                            const crypto::Hash& root2) const {
  integrity::TileNodeReader tiles(
      size2, [this](const integrity::TileId& tile) { return FetchTile(tile); });
  auto root = integrity::RootAt(tiles, size2);
  if (!root.ok()) return root.status().Annotate("reading the log's tiles");
  if (*root != root2) {
    return Status::Unavailable("the log's tiles do not match its signed checkpoint of size " +
                               std::to_string(size2) +
                               " (changed on the way, e.g. by a cache or a proxy, or a broken "
                               "server); nothing was checked or kept");
  }
  return integrity::ConsistencyProof(tiles, size1, size2);
}

Result<engine::InclusionProof> TileLog::ProveInclusion(uint64_t index, uint64_t size) const {
  if (index >= size) return Status::InvalidArgument("the position must be below the tree size");
  integrity::TileNodeReader tiles(
      size, [this](const integrity::TileId& tile) { return FetchTile(tile); });
  engine::InclusionProof proof;
  proof.index = index;
  proof.size = size;
  std::vector<crypto::Hash> leaf;
  const integrity::NodeId leaf_id{0, index};
  CAIRN_RETURN_IF_ERROR(tiles.ReadNodes(std::span(&leaf_id, 1), &leaf));
  proof.leaf_hash = leaf.at(0);
  CAIRN_ASSIGN_OR_RETURN(proof.root, integrity::RootAt(tiles, size));
  CAIRN_ASSIGN_OR_RETURN(proof.proof, integrity::InclusionProof(tiles, index, size));
  return proof;
}

Result<engine::ConsistencyProof> TileLog::ProveConsistencyWithRoots(uint64_t size1,
                                                                    uint64_t size2) const {
  if (size1 == 0 || size1 > size2) {
    return Status::InvalidArgument("consistency proofs need 0 < SIZE1 <= SIZE2");
  }
  integrity::TileNodeReader tiles(
      size2, [this](const integrity::TileId& tile) { return FetchTile(tile); });
  engine::ConsistencyProof proof;
  proof.size1 = size1;
  proof.size2 = size2;
  // The nodes of the smaller tree are full subtrees of the larger one: one set of tiles.
  CAIRN_ASSIGN_OR_RETURN(proof.root1, integrity::RootAt(tiles, size1));
  CAIRN_ASSIGN_OR_RETURN(proof.root2, integrity::RootAt(tiles, size2));
  CAIRN_ASSIGN_OR_RETURN(proof.proof, integrity::ConsistencyProof(tiles, size1, size2));
  return proof;
}

Result<TileLog> OpenLogUrl(const CliContext& ctx, const std::string& url,
                           const std::string& ca_file, const std::string& data_dir) {
  if (!data_dir.empty() || !ctx.global_data_dir.empty() || !GlobalConnectionFlags().server.empty()) {
    return Status::InvalidArgument("--log-url and --data-dir or --server name two sources: give one");
  }
  std::string ca_pem;
  if (!ca_file.empty()) {
    CAIRN_ASSIGN_OR_RETURN(ca_pem, ReadOwnedFile(ca_file, "--log-ca", kTileLogCaFileBytesMax));
  }
  return TileLog::Open(url, std::move(ca_pem));
}

}  // namespace cairn::cli
