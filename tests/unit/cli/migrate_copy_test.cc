// CopyLog (cli/migrate_copy.h) at the LogStore level, RocksDB to a throw-away PostgreSQL
// (tests/pg/pg_test_server.h): a log of one full copy
// chunk plus one record comes out identical in every part (records, leaf hashes and nodes of
// every level, tree state, stream index and heads, checkpoints, key material, metadata); a target
// that is not empty is refused; a source with a missing record fails without marking the target
// as a log.
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "cli/migrate_copy.h"
#include "engine/event_store.h"
#include "pg/pg_test_server.h"
#include "storage/postgres/pg_log_store.h"
#include "storage/rocksdb/rocks_log_store.h"
#include "storage/rocksdb/rocks_test_hooks.h"
#include "test_util.h"

namespace cairn::cli {
namespace CAIRN_UNITY_ID {

using Map = std::map<std::string, std::string>;

std::unique_ptr<storage::LogStore> OpenRocks(const std::string& path, bool create) {
  storage::RocksOptions options;
  options.path = path;
  options.create_if_missing = create;
  auto store = storage::OpenRocksLogStore(options);
  EXPECT_TRUE(store.ok()) << store.status().ToString();
  return store.ok() ? std::move(store).value() : nullptr;
}

std::unique_ptr<storage::LogStore> OpenFreshPg() {
  storage::PgOptions options;
  options.conninfo = testing::PgTestServer::Shared().CreateDatabase();
  options.listen = false;
  auto store = storage::OpenPgLogStore(options);
  EXPECT_TRUE(store.ok()) << store.status().ToString();
  return store.ok() ? std::move(store).value() : nullptr;
}

Map Records(storage::LogStore& s) {
  Map out;
  EXPECT_TRUE(s.ScanRecords(0, 1000000, [&](uint64_t p, std::string_view r) {
    out[std::to_string(p)] = r;
    return true;
  }).ok());
  return out;
}

// Every stored Merkle node of a tree of `size` leaves, level by level.
Map Nodes(storage::LogStore& s, uint64_t size) {
  Map out;
  for (uint8_t level = 0; (size >> level) > 0; ++level) {
    std::vector<storage::NodeKey> keys;
    for (uint64_t i = 0; i < (size >> level); ++i) keys.push_back({level, i});
    std::vector<std::string> hashes;
    EXPECT_TRUE(s.ReadNodes(keys, &hashes).ok()) << int(level);
    for (size_t i = 0; i < hashes.size(); ++i) {
      out[std::to_string(level) + "/" + std::to_string(i)] = hashes[i];
    }
  }
  return out;
}

Map Streams(storage::LogStore& s) {
  Map out;
  EXPECT_TRUE(s.ScanStreamHeads([&](std::string_view id, const storage::StreamHead& h) {
    std::string entry = std::to_string(h.next_version) + "/" + std::to_string(h.last_position) +
                        "/" + h.last_leaf_hash + (h.deleted ? "/deleted" : "");
    auto index = s.ReadStreamIndex(id, 0, false, 100000);
    EXPECT_TRUE(index.ok());
    for (const auto& e : *index) {
      entry += "," + std::to_string(e.version) + ":" + std::to_string(e.position);
    }
    out[std::string(id)] = entry;
    return true;
  }).ok());
  return out;
}

Map SmallMaps(storage::LogStore& s) {
  Map out;
  auto put = [&](const std::string& prefix) {
    return [&out, prefix](auto name, std::string_view value) {
      out[prefix + std::string(name)] = value;
      return true;
    };
  };
  EXPECT_TRUE(s.ScanKeyMaterial("", put("key/")).ok());
  EXPECT_TRUE(s.ScanMeta("", put("meta/")).ok());
  EXPECT_TRUE(s.ScanCheckpoints([&](uint64_t size, std::string_view note) {
    out["checkpoint/" + std::to_string(size)] = note;
    return true;
  }).ok());
  return out;
}

class MigrateCopyTest : public ::testing::Test {
 protected:
  // A log of kCopyChunkRecordsMax + 1 events in two streams, a deleted stream, component state
  // and a checkpoint.
  void SetUp() override {
    engine::InitOptions init;
    init.data_dir = dir_.Sub("data");
    ASSERT_TRUE(engine::EventStore::Init(init).ok());
    engine::Options options;
    options.data_dir = init.data_dir;
    auto store = engine::EventStore::Open(options);
    ASSERT_TRUE(store.ok());
    for (uint64_t n = 0; n < kCopyChunkRecordsMax; n += 500) {
      std::vector<engine::ProposedEvent> batch(500);
      for (auto& e : batch) {
        e.event_type = "Tick";
        e.data = R"({"n":)" + std::to_string(n) + "}";
      }
      ASSERT_TRUE((*store)->Append("ticks", engine::ExpectedVersion::Any(), std::move(batch)).ok());
    }
    ASSERT_TRUE((*store)->DeleteStream("ticks", engine::ExpectedVersion::Any()).ok());
    ASSERT_TRUE((*store)->PutComponentState("group/g1", "state").ok());
    ASSERT_TRUE((*store)->Checkpoint().ok());
  }

  testing::TempDir dir_;
};

TEST_F(MigrateCopyTest, CopiesEveryPartIdenticallyAcrossChunks) {
  auto source = OpenRocks(dir_.Sub("data/db"), false);
  auto target = OpenFreshPg();
  ASSERT_TRUE(source && target);
  ASSERT_TRUE(CheckTargetEmpty(*target).ok());
  auto report = CopyLog(*source, *target);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->records, kCopyChunkRecordsMax + 1);  // two chunks: the tombstone is the second
  EXPECT_EQ(report->streams, 1u);
  EXPECT_EQ(report->checkpoints, 2u);

  auto state = source->ReadTreeState();
  auto copied = target->ReadTreeState();
  ASSERT_TRUE(state.ok() && copied.ok());
  EXPECT_EQ(copied->size, state->size);
  EXPECT_EQ(copied->compact_range, state->compact_range);
  EXPECT_EQ(Records(*target), Records(*source));
  EXPECT_EQ(Nodes(*target, state->size), Nodes(*source, state->size));
  EXPECT_EQ(Streams(*target), Streams(*source));
  const Map maps = SmallMaps(*source);
  Map target_maps = SmallMaps(*target);
  // Marked unproven: no node opens the copy until migrate's proof clears it.
  EXPECT_EQ(target_maps["meta/unproven_copy"], "1");
  target_maps.erase("meta/unproven_copy");
  EXPECT_EQ(target_maps, maps);
  EXPECT_EQ(maps.count("meta/initialized"), 1u);
  EXPECT_EQ(maps.count("meta/component/group/g1"), 1u);
  EXPECT_EQ(CheckTargetEmpty(*target).code(), StatusCode::kAlreadyExists);
}

TEST_F(MigrateCopyTest, ASourceWithAMissingRecordFailsAndTheTargetIsNoLog) {
  auto source = OpenRocks(dir_.Sub("data/db"), false);
  auto target = OpenFreshPg();
  ASSERT_TRUE(source && target);
  ASSERT_TRUE(storage::RawDeleteRecordForTest(source.get(), kCopyChunkRecordsMax).ok());
  auto report = CopyLog(*source, *target);
  EXPECT_EQ(report.status().code(), StatusCode::kDataLoss);
  auto initialized = target->ReadMeta(kMetaInitialized);
  ASSERT_TRUE(initialized.ok());
  EXPECT_FALSE(initialized->has_value());
  EXPECT_EQ(CheckTargetEmpty(*target).code(), StatusCode::kFailedPrecondition);  // partly copied
}

}  // namespace
}  // namespace cairn::cli
