// GET /tile/... serves the log's Merkle tree as C2SP tlog-tiles, bounded by the latest stored
// checkpoint; checked against the inclusion proofs' leaf hashes and the checkpoint's root.
#include "server/tile_route.h"

#include <gtest/gtest.h>

#include "integrity/merkle.h"
#include "integrity/tile.h"
#include "route_store.h"
#include "test_util.h"

namespace cairn::server {
namespace CAIRN_UNITY_ID {

void AppendEvents(engine::EventStore& store, size_t count) {
  for (size_t done = 0; done < count;) {
    const size_t batch = std::min<size_t>(100, count - done);
    std::vector<engine::ProposedEvent> events(batch);
    for (size_t i = 0; i < batch; ++i) {
      events[i].event_type = "T";
      events[i].data = "{\"n\":" + std::to_string(done + i) + "}";
    }
    ASSERT_TRUE(store.Append("s-" + std::to_string(done % 3), engine::ExpectedVersion::Any(),
                             std::move(events))
                    .ok());
    done += batch;
  }
}

std::vector<crypto::Hash> Hashes(const std::string& tile) {
  EXPECT_EQ(tile.size() % 32, 0u);
  std::vector<crypto::Hash> out;
  for (size_t at = 0; at + 32 <= tile.size(); at += 32) {
    out.push_back(crypto::HashFromBytes(std::string_view(tile).substr(at, 32)));
  }
  return out;
}

// A store holding `events` events and a checkpoint of them (null on failure).
std::unique_ptr<engine::EventStore> CheckpointedStore(const testing::TempDir& dir, size_t events) {
  auto store = testing::OpenRouteStore(dir, "tiles.test/log");
  if (store == nullptr) return nullptr;
  AppendEvents(*store, events);
  auto checkpoint = store->Checkpoint();
  EXPECT_TRUE(checkpoint.ok() && checkpoint->size == events);
  return store;
}

HttpResponse GetTile(engine::EventStore& store, const std::string& path) {
  return TileRoute(store, "/" + path);
}

TEST(TileRouteTest, ServesTheTilesOfTheLatestCheckpointsTree) {
  testing::TempDir dir;
  auto store = testing::OpenRouteStore(dir, "tiles.test/log");
  ASSERT_NE(store, nullptr);
  // init signed the empty tree: it has no tiles.
  EXPECT_EQ(GetTile(*store, "tile/0/000.p/1").status, 404);
  AppendEvents(*store, 600);
  EXPECT_EQ(GetTile(*store, "tile/0/000").status, 404) << "served beyond the checkpoint";
  auto checkpoint = store->Checkpoint();
  ASSERT_TRUE(checkpoint.ok());
  ASSERT_EQ(checkpoint->size, 600u);

  // Level 0: the leaf hashes the inclusion proofs are about, 256 to a full tile.
  std::vector<crypto::Hash> leaves;
  for (const char* path : {"tile/0/000", "tile/0/001", "tile/0/002.p/88"}) {
    const HttpResponse r = GetTile(*store, path);
    ASSERT_EQ(r.status, 200) << path << ": " << r.body;
    EXPECT_EQ(r.content_type, "application/octet-stream");
    EXPECT_EQ(r.cache_control, kTileCacheControl);
    for (const crypto::Hash& h : Hashes(r.body)) leaves.push_back(h);
  }
  ASSERT_EQ(leaves.size(), 600u);
  for (uint64_t i : {uint64_t{0}, uint64_t{255}, uint64_t{256}, uint64_t{599}}) {
    auto proof = store->ProveInclusion(i, 600);
    ASSERT_TRUE(proof.ok());
    EXPECT_EQ(proof->leaf_hash, leaves[i]) << i;
  }
  EXPECT_EQ(integrity::RootOfLeafHashes(leaves), checkpoint->root);
  // Level 1: MTH of each full level 0 tile.
  const HttpResponse level1 = GetTile(*store, "tile/1/000.p/2");
  ASSERT_EQ(level1.status, 200) << level1.body;
  const std::vector<crypto::Hash> parents = Hashes(level1.body);
  ASSERT_EQ(parents.size(), 2u);
  EXPECT_EQ(parents[0], integrity::RootOfLeafHashes(std::span(leaves).first(256)));
  EXPECT_EQ(parents[1], integrity::RootOfLeafHashes(std::span(leaves).subspan(256, 256)));

  // Not in this tree: wider partial tiles, the full tile, the next level's full tile.
  for (const char* path : {"tile/0/002.p/89", "tile/0/002", "tile/0/003.p/1", "tile/1/000",
                           "tile/1/000.p/3", "tile/2/000.p/1", "tile/8/000.p/1"}) {
    const HttpResponse r = GetTile(*store, path);
    EXPECT_EQ(r.status, 404) << path;
    EXPECT_EQ(r.cache_control, "no-store") << path;
  }
}

TEST(TileRouteTest, ALaterCheckpointServesMoreAndKeepsTheOldPartialTiles) {
  testing::TempDir dir;
  auto store = CheckpointedStore(dir, 600);
  ASSERT_NE(store, nullptr);
  const HttpResponse old_partial = GetTile(*store, "tile/0/002.p/88");
  ASSERT_EQ(old_partial.status, 200);
  AppendEvents(*store, 200);  // 800: tile 2 is full (768), tile 3 has 32
  EXPECT_EQ(GetTile(*store, "tile/0/002").status, 404) << "served beyond the checkpoint";
  ASSERT_TRUE(store->Checkpoint().ok());
  const HttpResponse full = GetTile(*store, "tile/0/002");
  ASSERT_EQ(full.status, 200);
  EXPECT_EQ(full.body.substr(0, old_partial.body.size()), old_partial.body);
  EXPECT_EQ(GetTile(*store, "tile/0/002.p/88").body, old_partial.body);
  EXPECT_EQ(GetTile(*store, "tile/0/003.p/32").status, 200);
  EXPECT_EQ(GetTile(*store, "tile/1/000.p/3").status, 200);
}

TEST(TileRouteTest, RefusesEntryBundlesAndPathsThatAreNotTilesWithoutEchoingThem) {
  testing::TempDir dir;
  auto store = CheckpointedStore(dir, 300);
  ASSERT_NE(store, nullptr);
  for (const char* path : {"tile/entries/000", "tile/entries/001.p/44", "tile/0/0000",
                           "tile/0/x000/000", "tile/0/<script>", "tile/00/000", "tile/0/000.p/0",
                           "tile/0/000.p/256", "tile/0/000/", "tile/0/../000"}) {
    const HttpResponse r = GetTile(*store, path);
    EXPECT_EQ(r.status, 404) << path;
    EXPECT_EQ(r.cache_control, "no-store") << path;
    EXPECT_EQ(r.body.find(std::string(path).substr(5)), std::string::npos) << r.body;
    EXPECT_EQ(r.body.find("<script>"), std::string::npos) << r.body;
  }
  EXPECT_NE(GetTile(*store, "tile/entries/000").body.find("entry bundles are not served"),
            std::string::npos);
  EXPECT_EQ(TileRoute(*store, "tile/0/000").status, 404);  // not a request path
  EXPECT_EQ(GetTile(*store, "tile/0/000").status, 200);
}

}  // namespace
}  // namespace cairn::server
