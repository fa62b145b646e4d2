// C2SP tlog-tiles: path grammar, which tiles a tree has, and tile contents checked against
// RFC 6962's MTH computed from the leaves.
#include "integrity/tile.h"

#include <gtest/gtest.h>

#include "integrity/merkle.h"
#include "tree_fixture.h"

namespace cairn::integrity {
namespace CAIRN_UNITY_ID {

using testing::GrownTree;

TEST(TilePathTest, ParsesTheSpecExamples) {
  auto tile = ParseTilePath("tile/0/x001/x234/067");
  ASSERT_TRUE(tile.ok()) << tile.status().ToString();
  EXPECT_EQ(tile->level, 0);
  EXPECT_EQ(tile->index, 1234067u);
  EXPECT_EQ(tile->width, kTileWidth);
  EXPECT_FALSE(tile->entries);

  tile = ParseTilePath("tile/1/001.p/17");
  ASSERT_TRUE(tile.ok()) << tile.status().ToString();
  EXPECT_EQ((TileId{1, 1, 17, false}), *tile);

  tile = ParseTilePath("tile/entries/x001/000.p/255");
  ASSERT_TRUE(tile.ok()) << tile.status().ToString();
  EXPECT_EQ((TileId{0, 1000, 255, true}), *tile);

  tile = ParseTilePath("tile/63/000");
  ASSERT_TRUE(tile.ok()) << tile.status().ToString();
  EXPECT_EQ(tile->level, 63);
}

TEST(TilePathTest, FormatsAndParsesBackEveryKindOfIndex) {
  const uint64_t indexes[] = {0, 7, 999, 1000, 1001, 999999, 1000000, 1234067,
                              UINT64_MAX / 256, UINT64_MAX};
  for (uint64_t index : indexes) {
    for (uint16_t width : {uint16_t{1}, uint16_t{112}, uint16_t{255}, kTileWidth}) {
      for (bool entries : {false, true}) {
        const TileId tile{static_cast<uint8_t>(entries ? 0 : 5), index, width, entries};
        const std::string path = TilePath(tile);
        auto parsed = ParseTilePath(path);
        ASSERT_TRUE(parsed.ok()) << path << ": " << parsed.status().ToString();
        EXPECT_EQ(tile, *parsed) << path;
      }
    }
  }
  EXPECT_EQ("tile/0/000", TilePath(TileId{}));
  EXPECT_EQ("tile/2/x001/x234/067.p/8", TilePath(TileId{2, 1234067, 8, false}));
  EXPECT_EQ("tile/entries/x018/x446/x744/x073/x709/x551/615",
            TilePath(TileId{0, UINT64_MAX, kTileWidth, true}));
}

TEST(TilePathTest, RefusesEveryPathThatIsNotCanonical) {
  const char* bad[] = {
      "",                           // empty
      "/tile/0/000",                // leading slash
      "tiles/0/000",                // wrong prefix
      "tile/0",                     // no index
      "tile/0/",                    // empty index
      "tile/00/000",                // leading zero in the level
      "tile/64/000",                // level beyond 63
      "tile/-1/000",                // not a number
      "tile/0/0",                   // short index element
      "tile/0/0000",                // long index element
      "tile/0/00a",                 // not digits
      "tile/0/001/002",             // inner element without 'x'
      "tile/0/x001/x002",           // last element with 'x'
      "tile/0/x000/005",            // an element that is not needed
      "tile/0/x1/000",              // short inner element
      "tile/0/000/",                // trailing slash
      "tile/0/../000",              // traversal
      "tile/0/000.p/0",             // empty partial tile
      "tile/0/000.p/256",           // a partial tile as wide as a full one
      "tile/0/000.p/07",            // leading zero in the width
      "tile/0/000.p/",              // no width
      "tile/0/000.p/5.p/3",         // two widths
      "tile/0/000.p/1/2",           // junk after the width
      "tile/0/000?x=1",             // a query is the server's business, not the tile's
      "tile/entries/entries/000",   // doubled
      "tile/entries/1/000",         // a level for an entry bundle
      "tile/0/x018/x446/x744/x073/x709/x551/616",  // beyond u64
      "tile/0/x999/x999/x999/x999/x999/x999/x999/999",  // far beyond u64
  };
  for (const char* path : bad) {
    auto tile = ParseTilePath(path);
    EXPECT_FALSE(tile.ok()) << "accepted '" << path << "'";
    if (!tile.ok()) {
      EXPECT_EQ(StatusCode::kInvalidArgument, tile.status().code()) << path;
      EXPECT_EQ(std::string::npos, tile.status().message().find(path[0] == '\0' ? "\x01" : path))
          << "the error echoes the path: " << tile.status().ToString();
    }
  }
  EXPECT_FALSE(ParseTilePath("tile/0/" + std::string(200, '0')).ok());
}

// The spec's example: a tree of size 70,000 is 273 full level 0 tiles, one partial level 0 tile
// of width 112, one full level 1 tile, one partial level 1 tile of width 17, and one partial
// level 2 tile of width 1.
TEST(TileOfTreeTest, MatchesTheSpecExampleOf70000) {
  constexpr uint64_t kSize = 70000;
  for (uint64_t n = 0; n < 273; ++n) {
    auto tile = TileOfTree(0, n, kSize);
    ASSERT_TRUE(tile.ok()) << n;
    EXPECT_EQ(kTileWidth, tile->width);
  }
  EXPECT_EQ((TileId{0, 273, 112, false}), *TileOfTree(0, 273, kSize));
  EXPECT_EQ(StatusCode::kNotFound, TileOfTree(0, 274, kSize).status().code());
  EXPECT_EQ((TileId{1, 0, kTileWidth, false}), *TileOfTree(1, 0, kSize));
  EXPECT_EQ((TileId{1, 1, 17, false}), *TileOfTree(1, 1, kSize));
  EXPECT_EQ(StatusCode::kNotFound, TileOfTree(1, 2, kSize).status().code());
  EXPECT_EQ((TileId{2, 0, 1, false}), *TileOfTree(2, 0, kSize));
  EXPECT_EQ(StatusCode::kNotFound, TileOfTree(3, 0, kSize).status().code());
  EXPECT_EQ(StatusCode::kNotFound, TileOfTree(8, 0, UINT64_MAX - 1).status().code());

  // A tree of size 256: a full level 0 tile and a partial level 1 tile of width 1.
  EXPECT_EQ((TileId{0, 0, kTileWidth, false}), *TileOfTree(0, 0, 256));
  EXPECT_EQ(StatusCode::kNotFound, TileOfTree(0, 1, 256).status().code());
  EXPECT_EQ((TileId{1, 0, 1, false}), *TileOfTree(1, 0, 256));
  // The empty tree has no tiles at all.
  EXPECT_EQ(StatusCode::kNotFound, TileOfTree(0, 0, 0).status().code());
}

TEST(TileInTreeTest, BoundsEachTileByTheTreeItBelongsTo) {
  EXPECT_TRUE(TileInTree(TileId{0, 0, 1, false}, 1));
  EXPECT_FALSE(TileInTree(TileId{0, 0, 2, false}, 1));
  EXPECT_TRUE(TileInTree(TileId{0, 0, kTileWidth, false}, 256));
  EXPECT_FALSE(TileInTree(TileId{0, 1, 1, false}, 256));
  EXPECT_TRUE(TileInTree(TileId{0, 1, 1, false}, 257));
  // An old checkpoint's partial tile stays servable once the tile is full.
  EXPECT_TRUE(TileInTree(TileId{0, 273, 17, false}, 70000));
  EXPECT_FALSE(TileInTree(TileId{0, 273, 113, false}, 70000));
  EXPECT_TRUE(TileInTree(TileId{7, 0, 1, false}, uint64_t{1} << 56));
  EXPECT_TRUE(TileInTree(TileId{7, 0, 255, false}, UINT64_MAX - 1));  // 255 nodes of height 56
  EXPECT_FALSE(TileInTree(TileId{7, 0, kTileWidth, false}, UINT64_MAX - 1));
  EXPECT_FALSE(TileInTree(TileId{7, 0, 2, false}, (uint64_t{1} << 57) - 1));
  EXPECT_FALSE(TileInTree(TileId{8, 0, 1, false}, UINT64_MAX - 1));
  EXPECT_FALSE(TileInTree(TileId{63, 0, 1, false}, UINT64_MAX - 1));
  EXPECT_FALSE(TileInTree(TileId{0, UINT64_MAX, 1, false}, UINT64_MAX - 1));  // no overflow
  EXPECT_FALSE(TileInTree(TileId{0, UINT64_MAX / 256, kTileWidth, false}, UINT64_MAX - 1));
}

// MTH over a tile's 32-byte hashes taken as the leaves of a subtree.
Hash RootOfTile(const std::string& tile) {
  std::vector<Hash> hashes;
  for (size_t at = 0; at < tile.size(); at += 32) {
    hashes.push_back(crypto::HashFromBytes(std::string_view(tile).substr(at, 32)));
  }
  return RootOfLeafHashes(hashes);
}

TEST(ReadTileTest, TilesHoldTheTreesHashesAsTheSpecDefinesThem) {
  constexpr uint64_t kSize = 70000;
  GrownTree tree(kSize);
  // Level 0: the leaf hashes, in order; all tiles of the tree together give its root.
  std::vector<Hash> from_tiles;
  for (uint64_t n = 0;; ++n) {
    auto id = TileOfTree(0, n, kSize);
    if (!id.ok()) break;
    auto tile = ReadTile(tree.store, *id, kSize);
    ASSERT_TRUE(tile.ok()) << tile.status().ToString();
    ASSERT_EQ(size_t{id->width} * 32, tile->size());
    for (size_t at = 0; at < tile->size(); at += 32) {
      from_tiles.push_back(crypto::HashFromBytes(std::string_view(*tile).substr(at, 32)));
    }
  }
  ASSERT_EQ(kSize, from_tiles.size());
  EXPECT_EQ(tree.leaves, from_tiles);
  EXPECT_EQ(tree.roots[kSize], RootOfLeafHashes(from_tiles));

  // Level 1: hash i is MTH of the full level 0 tile i; level 2's only hash is MTH of the full
  // level 1 tile.
  auto level1 = ReadTile(tree.store, *TileOfTree(1, 0, kSize), kSize);
  ASSERT_TRUE(level1.ok());
  ASSERT_EQ(size_t{kTileWidth} * 32, level1->size());
  for (uint64_t i : {uint64_t{0}, uint64_t{1}, uint64_t{100}, uint64_t{255}}) {
    auto below = ReadTile(tree.store, TileId{0, i, kTileWidth, false}, kSize);
    ASSERT_TRUE(below.ok());
    EXPECT_EQ(RootOfTile(*below), crypto::HashFromBytes(std::string_view(*level1).substr(i * 32, 32)))
        << i;
  }
  auto level1_partial = ReadTile(tree.store, *TileOfTree(1, 1, kSize), kSize);
  ASSERT_TRUE(level1_partial.ok());
  EXPECT_EQ(17u * 32, level1_partial->size());
  auto level2 = ReadTile(tree.store, *TileOfTree(2, 0, kSize), kSize);
  ASSERT_TRUE(level2.ok());
  EXPECT_EQ(RootOfTile(*level1), crypto::HashFromBytes(*level2));
  EXPECT_EQ(RootOfLeafHashes(std::span(tree.leaves).first(65536)), crypto::HashFromBytes(*level2));

  // A partial tile is the prefix of the full tile of the same index.
  auto partial = ReadTile(tree.store, TileId{0, 3, 9, false}, kSize);
  auto full = ReadTile(tree.store, TileId{0, 3, kTileWidth, false}, kSize);
  ASSERT_TRUE(partial.ok() && full.ok());
  EXPECT_EQ(full->substr(0, 9 * 32), *partial);
}

class FailingReader : public NodeReader {
 public:
  Status ReadNodes(std::span<const NodeId>, std::vector<Hash>*) override {
    return Status::IOError("disk on fire");
  }
};

TEST(ReadTileTest, RefusesTilesBeyondTheTreeAndEntryBundles) {
  GrownTree tree(600);
  EXPECT_TRUE(ReadTile(tree.store, TileId{0, 2, 88, false}, 600).ok());
  EXPECT_EQ(StatusCode::kNotFound,
            ReadTile(tree.store, TileId{0, 2, 89, false}, 600).status().code());
  EXPECT_EQ(StatusCode::kNotFound,
            ReadTile(tree.store, TileId{0, 2, kTileWidth, false}, 600).status().code());
  EXPECT_EQ(StatusCode::kNotFound, ReadTile(tree.store, TileId{1, 0, 3, false}, 600).status().code());
  EXPECT_EQ(StatusCode::kNotFound, ReadTile(tree.store, TileId{0, 0, 1, true}, 600).status().code());
  // A tile the tree should hold but whose nodes were never stored is the reader's kNotFound.
  auto missing = ReadTile(tree.store, TileId{0, 3, 1, false}, 1000);
  EXPECT_EQ(StatusCode::kNotFound, missing.status().code());
  EXPECT_NE(std::string::npos, missing.status().message().find("tile/0/003.p/1"));
  FailingReader failing;
  EXPECT_EQ(StatusCode::kIOError, ReadTile(failing, TileId{0, 0, 1, false}, 600).status().code());
}

// Proofs built from tiles alone (as a tlog-tiles client builds them) are the proofs built from
// the stored nodes, and verify against the signed roots.
TEST(TileNodeReaderTest, BuildsTheSameProofsAsTheStoredNodes) {
  constexpr uint64_t kSize = 70000;
  GrownTree tree(kSize);
  std::vector<TileId> fetched;
  TileNodeReader tiles(kSize, [&](const TileId& tile) -> Result<std::string> {
    fetched.push_back(tile);
    return ReadTile(tree.store, tile, kSize);
  });
  for (uint64_t index : {uint64_t{0}, uint64_t{1}, uint64_t{255}, uint64_t{256}, uint64_t{65535},
                         uint64_t{65536}, uint64_t{69999}}) {
    auto from_tiles = InclusionProof(tiles, index, kSize);
    auto from_store = InclusionProof(tree.store, index, kSize);
    ASSERT_TRUE(from_tiles.ok()) << index << ": " << from_tiles.status().ToString();
    ASSERT_TRUE(from_store.ok());
    EXPECT_EQ(*from_store, *from_tiles) << index;
    EXPECT_TRUE(VerifyInclusion(index, kSize, tree.leaves[index], *from_tiles, tree.roots[kSize]).ok());
  }
  for (uint64_t size1 : {uint64_t{1}, uint64_t{256}, uint64_t{1000}, uint64_t{65536},
                         uint64_t{69000}}) {
    auto from_tiles = ConsistencyProof(tiles, size1, kSize);
    auto from_store = ConsistencyProof(tree.store, size1, kSize);
    ASSERT_TRUE(from_tiles.ok()) << size1 << ": " << from_tiles.status().ToString();
    ASSERT_TRUE(from_store.ok());
    EXPECT_EQ(*from_store, *from_tiles) << size1;
    EXPECT_TRUE(VerifyConsistency(size1, kSize, *from_tiles, tree.roots[size1], tree.roots[kSize]).ok());
  }
  // Every tile was fetched once, each as the tree of kSize has it.
  for (size_t i = 0; i < fetched.size(); ++i) {
    EXPECT_TRUE(TileInTree(fetched[i], kSize));
    EXPECT_EQ(fetched[i], *TileOfTree(fetched[i].level, fetched[i].index, kSize));
    for (size_t j = 0; j < i; ++j) EXPECT_FALSE(fetched[i] == fetched[j]) << TilePath(fetched[i]);
  }
  EXPECT_EQ(fetched.size(), tiles.tiles_fetched());
  // A node beyond the tree is refused without a fetch.
  std::vector<Hash> out;
  const size_t before = fetched.size();
  EXPECT_EQ(StatusCode::kNotFound, tiles.ReadNodes(std::vector<NodeId>{{0, kSize}}, &out).code());
  EXPECT_EQ(StatusCode::kNotFound, tiles.ReadNodes(std::vector<NodeId>{{17, 0}}, &out).code());
  EXPECT_EQ(StatusCode::kNotFound, tiles.ReadNodes(std::vector<NodeId>{{64, 0}}, &out).code());
  EXPECT_EQ(before, fetched.size());
}

TEST(TileNodeReaderTest, ALyingTileServerFailsVerificationOrIsRefused) {
  constexpr uint64_t kSize = 1000;
  GrownTree tree(kSize);
  // A tile of the wrong size is refused.
  TileNodeReader short_tiles(kSize, [&](const TileId& tile) -> Result<std::string> {
    auto t = ReadTile(tree.store, tile, kSize);
    if (t.ok()) t->resize(t->size() - 1);
    return t;
  });
  EXPECT_EQ(StatusCode::kDataLoss, InclusionProof(short_tiles, 5, kSize).status().code());
  // One flipped bit in any fetched tile gives a proof that does not verify.
  for (size_t bit : {size_t{0}, size_t{8 * 32 * 7 + 3}}) {
    TileNodeReader flipped(kSize, [&](const TileId& tile) -> Result<std::string> {
      auto t = ReadTile(tree.store, tile, kSize);
      if (t.ok() && tile.level == 0 && t->size() * 8 > bit) (*t)[bit / 8] ^= char(1 << (bit % 8));
      return t;
    });
    const uint64_t index = bit / 256 == 0 ? 0 : 7;  // the leaf in whose hash the bit is
    auto proof = InclusionProof(flipped, index ^ 1, kSize);
    ASSERT_TRUE(proof.ok());
    EXPECT_FALSE(VerifyInclusion(index ^ 1, kSize, tree.leaves[index ^ 1], *proof,
                                 tree.roots[kSize]).ok()) << bit;
  }
  // The fetch's error is passed on.
  TileNodeReader down(kSize, [](const TileId&) -> Result<std::string> {
    return Status::Unavailable("connection refused");
  });
  EXPECT_EQ(StatusCode::kUnavailable, InclusionProof(down, 5, kSize).status().code());
}

}  // namespace
}  // namespace cairn::integrity
