// C2SP tlog-tiles (https://c2sp.org/tlog-tiles): the tile path grammar, and a tile's hashes read
// from the stored full subtrees of the log's Merkle tree.
//
// The tile at level L and index N holds the hashes of the full subtrees of height 8·L with
// indexes N·256 .. N·256 + W - 1, 32 bytes each, in order: W = 256 for a full tile, 1..255 for a
// partial one (`.p/<W>`). Level 0 tiles hold leaf hashes. A tile's content never changes: a
// partial tile of width W is the prefix of the full tile of the same index.
//
// Paths are parsed strictly: only the canonical spelling of a tile is accepted (no leading zeros,
// 3-digit index elements, every element but the last starting with `x`), so that one tile has
// one path and caches cannot be filled with aliases.
//
// Thread safety: the functions are thread-safe if the NodeReader is.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"
#include "integrity/proof.h"

namespace cairn::integrity {

inline constexpr uint16_t kTileWidth = 256;      // hashes in a full tile
inline constexpr uint8_t kTileHeight = 8;        // tree levels one tile level spans
inline constexpr uint8_t kTileLevelMax = 63;     // the path grammar's bound
inline constexpr size_t kTilePathSizeMax = 128;  // longer paths are refused before parsing

struct TileId {
  uint8_t level = 0;            // 0..kTileLevelMax (a u64 tree has tiles at levels 0..7 only)
  uint64_t index = 0;           // N
  uint16_t width = kTileWidth;  // 1..kTileWidth; kTileWidth: a full tile (no `.p/<W>`)
  bool entries = false;         // an entry bundle (`tile/entries/...`), level 0

  bool operator==(const TileId&) const = default;
};

// Parses "tile/<L>/<N>[.p/<W>]" or "tile/entries/<N>[.p/<W>]" (a path relative to the log's URL
// prefix, no leading '/'). kInvalidArgument for anything that is not the canonical path of a
// tile; the message names the rule broken, never echoes the path.
Result<TileId> ParseTilePath(std::string_view path);

// The canonical path of `tile` ("tile/0/x001/x234/067.p/8"). Requires a valid TileId.
std::string TilePath(const TileId& tile);

// True when every hash of `tile` is the hash of a full subtree of the tree of `tree_size`
// leaves: (index·256 + width) · 256^level <= tree_size, without overflow.
bool TileInTree(const TileId& tile, uint64_t tree_size);

// The tile for the tree of `tree_size` leaves that a client reading that tree fetches at
// `level` and `index` (full when the tree covers it, else partial); kNotFound when the tree has
// no hash of that tile yet (an empty tile is never served).
Result<TileId> TileOfTree(uint8_t level, uint64_t index, uint64_t tree_size);

// The W·32 bytes of a hash tile of the tree of `tree_size` leaves, in one ReadNodes call.
// kNotFound when the tile is not in that tree (TileInTree) or names an entry bundle;
// the reader's error (annotated) when a node cannot be read.
Result<std::string> ReadTile(NodeReader& reader, const TileId& tile, uint64_t tree_size);

// A NodeReader over the tiles of the tree of `tree_size` leaves, for a tlog-tiles client: it
// fetches each tile it needs once (through `fetch`, e.g. an HTTP GET of `<prefix>/` + TilePath)
// and computes any full subtree of that tree from the tile that holds its level (heights that
// are multiples of 8) or from the hashes under it in one tile. With it, InclusionProof and
// ConsistencyProof (integrity/proof.h) build proofs from tiles. It trusts what `fetch` returns
// beyond its size (W·32 bytes, else kDataLoss): the proofs built from it are what a caller
// verifies against a signed root, and a lying server fails that verification.
//
// Thread safety: none (it caches fetched tiles, at most kTilesCachedMax, then starts over).
class TileNodeReader final : public NodeReader {
 public:
  static constexpr size_t kTilesCachedMax = 1024;  // 8 MiB of full tiles
  using FetchTile = std::function<Result<std::string>(const TileId&)>;

  // `fetch` must not be empty.
  TileNodeReader(uint64_t tree_size, FetchTile fetch);

  // kNotFound for a node that is not a full subtree of the tree; the fetch's errors, annotated.
  Status ReadNodes(std::span<const NodeId> ids, std::vector<Hash>* hashes) override;
  size_t tiles_fetched() const { return tiles_fetched_; }

 private:
  Result<const std::vector<Hash>*> Tile(uint8_t level, uint64_t index);

  uint64_t tree_size_;
  FetchTile fetch_;
  std::map<std::pair<uint8_t, uint64_t>, std::vector<Hash>> tiles_;
  size_t tiles_fetched_ = 0;
};

}  // namespace cairn::integrity
