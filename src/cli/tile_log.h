// TileLog: a transparency log read over HTTP(S) as C2SP tlog-tiles (https://c2sp.org/tlog-tiles):
// its latest checkpoint (`<url>/checkpoint`) and proofs built from its tiles
// (`<url>/tile/...`, integrity/tile.h). For `cairn checkpoint --log-url`: a witness of a cairn
// log (the admin listener serves tlog-tiles) or of any other tlog-tiles log, that needs neither
// the data directory nor credentials, only the log's verifier key.
//
// Nothing fetched is trusted: the caller verifies the checkpoint's signature and checks every
// proof against signed roots. URLs follow auth::HttpGet's rules (https, or http to loopback only;
// no redirects); each response is bounded (a checkpoint 64 KiB, a tile 8 KiB) and each request
// times out after kHttpTimeoutMs.
//
// Thread safety: a TileLog is a value with no mutable state; concurrent use is safe.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "crypto/sha256.h"
#include "engine/types.h"
#include "integrity/tile.h"

namespace cairn::cli {

inline constexpr size_t kTileLogCheckpointBytesMax = 64 * 1024;
inline constexpr size_t kTileLogCaFileBytesMax = 1024 * 1024;

class TileLog {
 public:
  // `url`: the log's prefix ("https://log.example/cairn"; a trailing '/' is dropped). `ca_pem`:
  // the only trust roots for https (empty: the system's). kInvalidArgument for a URL that
  // auth::HttpGet would refuse, or that has a query, a fragment or user information.
  static Result<TileLog> Open(std::string url, std::string ca_pem);

  // The body of `<url>/checkpoint`, unverified.
  Result<std::string> FetchCheckpoint() const;
  // RFC 9162 consistency proof between the trees of size1 and size2 (0 < size1 <= size2), from
  // the tiles of the tree of size2, whose signed root is `root2`. The tiles are checked first:
  // kUnavailable when they do not give root2 (a tile changed on the way, e.g. by a cache or a
  // proxy, or a broken server), so that a proof that then fails to verify is about the log's
  // history, not about its transport. A partial tile that cannot be fetched is taken from the
  // full tile of the same index (tlog-tiles lets a log drop partial tiles once full).
  Result<std::vector<crypto::Hash>> ProveConsistency(uint64_t size1, uint64_t size2,
                                                     const crypto::Hash& root2) const;

  // The inclusion proof of leaf `index` in the tree of `size` (index < size), with the leaf hash
  // and the root, all from the tiles: the caller compares the root with a checkpoint it verified.
  Result<engine::InclusionProof> ProveInclusion(uint64_t index, uint64_t size) const;
  // The consistency proof between the trees of size1 and size2 with both roots, all from the
  // tiles of the tree of size2 (0 < size1 <= size2); the caller compares the roots with
  // checkpoints it verified.
  Result<engine::ConsistencyProof> ProveConsistencyWithRoots(uint64_t size1, uint64_t size2) const;

 private:
  Result<std::string> Get(const std::string& path, size_t body_size_max_bytes) const;
  Result<std::string> FetchTile(const integrity::TileId& tile) const;

  TileLog(std::string url, std::string ca_pem) : url_(std::move(url)), ca_pem_(std::move(ca_pem)) {}

  std::string url_;
  std::string ca_pem_;
};

struct CliContext;

// The TileLog of a command's `--log-url URL [--log-ca FILE]`. kInvalidArgument (a usage error)
// when a data directory (`data_dir`, or the global --data-dir) or --server names another source,
// or for a URL TileLog::Open refuses; ReadOwnedFile's error for the CA file.
Result<TileLog> OpenLogUrl(const CliContext& ctx, const std::string& url,
                           const std::string& ca_file, const std::string& data_dir);

}  // namespace cairn::cli
