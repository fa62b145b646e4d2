// C2SP tlog-tiles paths (integrity/tile.h) over hostile text: the admin listener parses every
// `/tile/...` request path with ParseTilePath. Properties: never crashes; a path it accepts is
// the canonical path of the tile it names (TilePath gives the input back), within the grammar's
// bounds; and for trees of several sizes, the tile is within the tree exactly when the tree's
// tile of that level and index (TileOfTree) is at least as wide.
#include "fuzz_util.h"
#include "integrity/tile.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace cairn;
  const std::string_view input = fuzz::AsView(data, size);
  auto tile = integrity::ParseTilePath(input);
  if (!tile.ok()) {
    FUZZ_CHECK(tile.status().code() == StatusCode::kInvalidArgument);
    return 0;
  }
  FUZZ_CHECK(integrity::TilePath(*tile) == input);
  FUZZ_CHECK(tile->level <= integrity::kTileLevelMax);
  FUZZ_CHECK(tile->width >= 1 && tile->width <= integrity::kTileWidth);
  FUZZ_CHECK(!tile->entries || tile->level == 0);
  for (uint64_t tree_size : {uint64_t{0}, uint64_t{1}, uint64_t{255}, uint64_t{256},
                             uint64_t{70000}, uint64_t{1} << 56, UINT64_MAX - 1}) {
    auto of_tree = integrity::TileOfTree(tile->level, tile->index, tree_size);
    const bool wide_enough = of_tree.ok() && of_tree->width >= tile->width;
    FUZZ_CHECK(integrity::TileInTree(*tile, tree_size) == wide_enough);
  }
  return 0;
}
