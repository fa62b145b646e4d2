#include "integrity/tile.h"

#include <cassert>
#include <optional>
#include <vector>

#include "integrity/merkle.h"

namespace cairn::integrity {
namespace {

constexpr std::string_view kTilePrefix = "tile/";
constexpr std::string_view kEntriesPrefix = "entries/";
constexpr std::string_view kPartialMark = ".p/";

// Digits only, at most 19 of them (no u64 overflow); nullopt otherwise.
std::optional<uint64_t> ParseDigits(std::string_view text) {
  if (text.empty() || text.size() > 19) return std::nullopt;
  uint64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + static_cast<uint64_t>(c - '0');
  }
  return value;
}

// "x001/x234/067" -> 1234067, any spelling of 'x' and 3-digit elements; the canonical spelling
// is checked by the caller.
std::optional<uint64_t> ParseIndex(std::string_view text) {
  uint64_t index = 0;
  while (true) {
    const size_t slash = text.find('/');
    std::string_view element = text.substr(0, slash);
    if (!element.empty() && element[0] == 'x') element.remove_prefix(1);
    if (element.size() != 3) return std::nullopt;
    const std::optional<uint64_t> part = ParseDigits(element);
    if (!part || index > (UINT64_MAX - *part) / 1000) return std::nullopt;
    index = index * 1000 + *part;
    if (slash == std::string_view::npos) return index;
    text.remove_prefix(slash + 1);
  }
}

std::string IndexPath(uint64_t index) {
  std::vector<unsigned> groups;  // least significant first
  do {
    groups.push_back(static_cast<unsigned>(index % 1000));
    index /= 1000;
  } while (index != 0);
  std::string out;
  for (size_t i = groups.size(); i-- > 0;) {
    if (i != 0) out += 'x';
    const unsigned g = groups[i];
    out += static_cast<char>('0' + g / 100);
    out += static_cast<char>('0' + g / 10 % 10);
    out += static_cast<char>('0' + g % 10);
    if (i != 0) out += '/';
  }
  return out;
}

Result<TileId> ParseLoosely(std::string_view path) {
  TileId tile;
  if (path.substr(0, kTilePrefix.size()) != kTilePrefix) {
    return Status::InvalidArgument("a tile path starts with 'tile/'");
  }
  path.remove_prefix(kTilePrefix.size());
  if (path.substr(0, kEntriesPrefix.size()) == kEntriesPrefix) {
    tile.entries = true;
    path.remove_prefix(kEntriesPrefix.size());
  } else {
    const size_t slash = path.find('/');
    const std::optional<uint64_t> level = ParseDigits(path.substr(0, slash));
    if (slash == std::string_view::npos || !level || *level > kTileLevelMax) {
      return Status::InvalidArgument("a tile level is a number from 0 to 63");
    }
    tile.level = static_cast<uint8_t>(*level);
    path.remove_prefix(slash + 1);
  }
  const size_t partial = path.find(kPartialMark);
  if (partial != std::string_view::npos) {
    const std::optional<uint64_t> width = ParseDigits(path.substr(partial + kPartialMark.size()));
    if (!width || *width < 1 || *width >= kTileWidth) {
      return Status::InvalidArgument("a partial tile's width is a number from 1 to 255");
    }
    tile.width = static_cast<uint16_t>(*width);
    path = path.substr(0, partial);
  }
  const std::optional<uint64_t> index = ParseIndex(path);
  if (!index) {
    return Status::InvalidArgument("a tile index is 3-digit path elements, all but the last "
                                   "starting with 'x'");
  }
  tile.index = *index;
  return tile;
}

}  // namespace

Result<TileId> ParseTilePath(std::string_view path) {
  if (path.size() > kTilePathSizeMax) return Status::InvalidArgument("the tile path is too long");
  CAIRN_ASSIGN_OR_RETURN(TileId tile, ParseLoosely(path));
  if (TilePath(tile) != path) {
    return Status::InvalidArgument("not the canonical path of a tile (leading zeros, or index "
                                   "elements that are not needed)");
  }
  return tile;
}

std::string TilePath(const TileId& tile) {
  assert(tile.level <= kTileLevelMax && tile.width >= 1 && tile.width <= kTileWidth);
  assert(!tile.entries || tile.level == 0);
  std::string out(kTilePrefix);
  out += tile.entries ? std::string(kEntriesPrefix) : std::to_string(tile.level) + "/";
  out += IndexPath(tile.index);
  if (tile.width != kTileWidth) {
    out += kPartialMark;
    out += std::to_string(tile.width);
  }
  return out;
}

bool TileInTree(const TileId& tile, uint64_t tree_size) {
  const unsigned shift = unsigned{kTileHeight} * tile.level;
  if (shift >= 64) return false;
  // The tile's hashes are the nodes [index·256, index·256 + width) of height `shift`.
  const uint64_t nodes_in_tree = tree_size >> shift;
  if (nodes_in_tree < tile.width) return false;
  return tile.index <= (nodes_in_tree - tile.width) / kTileWidth;
}

Result<TileId> TileOfTree(uint8_t level, uint64_t index, uint64_t tree_size) {
  TileId tile;
  tile.level = level;
  tile.index = index;
  const unsigned shift = unsigned{kTileHeight} * level;
  const uint64_t nodes_in_tree = shift >= 64 ? 0 : tree_size >> shift;
  if (index > nodes_in_tree / kTileWidth) return Status::NotFound("the tree has no such tile");
  const uint64_t width = nodes_in_tree - index * kTileWidth;
  if (width == 0) return Status::NotFound("the tree has no such tile");
  tile.width = static_cast<uint16_t>(width < kTileWidth ? width : kTileWidth);
  assert(TileInTree(tile, tree_size));
  return tile;
}

Result<std::string> ReadTile(NodeReader& reader, const TileId& tile, uint64_t tree_size) {
  if (tile.entries) return Status::NotFound("entry bundles are not hash tiles");
  if (!TileInTree(tile, tree_size)) return Status::NotFound("the tree has no such tile");
  std::vector<NodeId> ids(tile.width);
  for (uint16_t i = 0; i < tile.width; ++i) {
    ids[i] = NodeId{static_cast<uint8_t>(kTileHeight * tile.level), tile.index * kTileWidth + i};
    assert(ids[i].end() <= tree_size);
  }
  std::vector<Hash> hashes;
  Status read = reader.ReadNodes(ids, &hashes);
  if (!read.ok()) return read.Annotate("tile " + TilePath(tile));
  if (hashes.size() != ids.size()) return Status::Internal("the node reader lost hashes");
  std::string out;
  out.reserve(hashes.size() * sizeof(Hash));
  for (const Hash& h : hashes) out.append(reinterpret_cast<const char*>(h.data()), h.size());
  return out;
}

TileNodeReader::TileNodeReader(uint64_t tree_size, FetchTile fetch)
    : tree_size_(tree_size), fetch_(std::move(fetch)) {
  assert(fetch_);
}

Result<const std::vector<Hash>*> TileNodeReader::Tile(uint8_t level, uint64_t index) {
  const auto key = std::make_pair(level, index);
  if (auto it = tiles_.find(key); it != tiles_.end()) return &it->second;
  CAIRN_ASSIGN_OR_RETURN(TileId tile, TileOfTree(level, index, tree_size_));
  auto fetched = fetch_(tile);
  if (!fetched.ok()) return fetched.status().Annotate("tile " + TilePath(tile));
  if (fetched->size() != size_t{tile.width} * sizeof(Hash)) {
    return Status::DataLoss("tile " + TilePath(tile) + " has " + std::to_string(fetched->size()) +
                            " bytes, not " + std::to_string(tile.width * sizeof(Hash)));
  }
  std::vector<Hash> hashes;
  hashes.reserve(tile.width);
  for (size_t at = 0; at < fetched->size(); at += sizeof(Hash)) {
    hashes.push_back(crypto::HashFromBytes(std::string_view(*fetched).substr(at, sizeof(Hash))));
  }
  if (tiles_.size() >= kTilesCachedMax) tiles_.clear();
  ++tiles_fetched_;
  return &tiles_.emplace(key, std::move(hashes)).first->second;
}

Status TileNodeReader::ReadNodes(std::span<const NodeId> ids, std::vector<Hash>* hashes) {
  hashes->clear();
  hashes->reserve(ids.size());
  for (const NodeId& id : ids) {
    if (id.level > kNodeLevelMax || id.index > (tree_size_ >> id.level) ||
        id.end() > tree_size_ || id.end() <= id.begin()) {
      return Status::NotFound("node (" + std::to_string(id.level) + ", " +
                              std::to_string(id.index) + ") is not in the tree of size " +
                              std::to_string(tree_size_));
    }
    // The node's hashes at the tile level below it: one aligned run of 2^rest inside one tile.
    const auto level = static_cast<uint8_t>(id.level / kTileHeight);
    const unsigned rest = id.level % kTileHeight;
    const uint64_t first = id.index << rest;
    const uint64_t count = uint64_t{1} << rest;
    CAIRN_ASSIGN_OR_RETURN(const std::vector<Hash>* tile, Tile(level, first / kTileWidth));
    const uint64_t offset = first % kTileWidth;
    assert(offset + count <= kTileWidth);
    if (offset + count > tile->size()) return Status::DataLoss("a tile is shorter than its tree");
    const std::span<const Hash> under(tile->data() + offset, count);
    hashes->push_back(count == 1 ? under[0] : RootOfLeafHashes(under));
  }
  return Status::Ok();
}

}  // namespace cairn::integrity
