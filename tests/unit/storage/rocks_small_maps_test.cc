// Checkpoints, key material and metadata on RocksDB.
#include <gtest/gtest.h>

#include "replace_if_checks.h"

#include "rocks_test_support.h"
#include "storage/rocksdb/rocks_store.h"

namespace cairn::storage {
namespace CAIRN_UNITY_ID {

using cairn::testing::TempDir;
using testing::OpenStore;

TEST(RocksCheckpointTest, OrderedBySizeWithLatestAcrossReopen) {
  TempDir dir;
  {
    auto store = OpenStore(dir.path());
    ASSERT_NE(store, nullptr);
    // Out of order, and sizes whose decimal order differs from numeric order.
    for (uint64_t size : {10u, 2u, 256u, 9u, 1u << 20}) {
      ASSERT_TRUE(store->PutCheckpoint(size, "note " + std::to_string(size) + "\n").ok());
    }
  }
  auto store = OpenStore(dir.path(), /*create=*/false);
  ASSERT_NE(store, nullptr);
  auto latest = store->ReadLatestCheckpoint();
  ASSERT_TRUE(latest.ok());
  ASSERT_TRUE(latest->has_value());
  EXPECT_EQ((*latest)->first, 1u << 20);
  EXPECT_EQ((*latest)->second, "note 1048576\n");
  std::vector<uint64_t> sizes;
  ASSERT_TRUE(store
                  ->ScanCheckpoints([&](uint64_t size, std::string_view note) {
                    EXPECT_EQ(note, "note " + std::to_string(size) + "\n");
                    sizes.push_back(size);
                    return true;
                  })
                  .ok());
  EXPECT_EQ(sizes, (std::vector<uint64_t>{2, 9, 10, 256, 1u << 20}));
  sizes.clear();
  ASSERT_TRUE(store
                  ->ScanCheckpoints([&](uint64_t size, std::string_view) {
                    sizes.push_back(size);
                    return false;
                  })
                  .ok());
  EXPECT_EQ(sizes, (std::vector<uint64_t>{2}));
}

TEST(RocksKeyMaterialTest, PutReadDestroyAndLimits) {
  TempDir dir;
  auto store = OpenStore(dir.path());
  ASSERT_NE(store, nullptr);
  const std::string blob("\0wrapped\xff", 9);
  ASSERT_TRUE(store->PutKeyMaterial("subject/alice/v1", blob).ok());
  ASSERT_TRUE(store->PutKeyMaterial("subject/bob/v1", "bob").ok());
  EXPECT_EQ(**store->ReadKeyMaterial("subject/alice/v1"), blob);
  EXPECT_FALSE(store->ReadKeyMaterial("subject/carol/v1")->has_value());

  ASSERT_TRUE(store->DestroyKeyMaterial("subject/alice/v1").ok());
  EXPECT_FALSE(store->ReadKeyMaterial("subject/alice/v1")->has_value());
  EXPECT_EQ(**store->ReadKeyMaterial("subject/bob/v1"), "bob");
  EXPECT_TRUE(store->DestroyKeyMaterial("never-existed").ok());

  EXPECT_EQ(store->PutKeyMaterial("", "x").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(store->PutKeyMaterial(std::string(kNameSizeBytesMax + 1, 'n'), "x").code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(store->PutKeyMaterial("n", std::string(kSmallValueSizeBytesMax + 1, 'v')).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(store->DestroyKeyMaterial("").code(), StatusCode::kInvalidArgument);
}

TEST(RocksKeyMaterialTest, ReplaceIfReplacesOnlyWhatItReadAndNeverRevivesADestroyedKey) {
  TempDir dir;
  auto store = OpenStore(dir.path());
  ASSERT_NE(store, nullptr);
  testing::ExpectReplaceKeyMaterialIf(store.get());
}

TEST(RocksKeyMaterialTest, ConditionalDestroyKeepsRewrittenNamesAndUnusedDeleteDeletes) {
  TempDir dir;
  auto store = OpenStore(dir.path());
  ASSERT_NE(store, nullptr);
  testing::ExpectDestroyKeyMaterialsIf(store.get());
  testing::ExpectDeleteUnusedKeyMaterial(store.get());
}

TEST(RocksKeyMaterialTest, ScanByPrefixInNameOrderWithEarlyStop) {
  TempDir dir;
  using Pairs = std::vector<std::pair<std::string, std::string>>;
  {
    auto store = OpenStore(dir.path());
    ASSERT_NE(store, nullptr);
    // Out of order; neighbours of the prefix on both sides; a binary value.
    for (const char* name : {"skey/b", "skey/a", "skex/z", "skey0", "skey/c", "skey", "subject/x"}) {
      ASSERT_TRUE(store->PutKeyMaterial(name, std::string("v:") + name).ok());
    }
    ASSERT_TRUE(store->PutKeyMaterial("skey/\xff", std::string("\0bin\xff", 5)).ok());
    ASSERT_TRUE(store->DestroyKeyMaterial("skey/c").ok());  // a destroyed name is not listed
  }
  auto store = OpenStore(dir.path(), /*create=*/false);  // and the scan sees the reopened store
  ASSERT_NE(store, nullptr);
  Pairs seen;
  auto collect = [&](std::string_view name, std::string_view value) {
    seen.emplace_back(std::string(name), std::string(value));
    return true;
  };
  ASSERT_TRUE(store->ScanKeyMaterial("skey/", collect).ok());
  EXPECT_EQ(seen, (Pairs{{"skey/a", "v:skey/a"}, {"skey/b", "v:skey/b"},
                         {"skey/\xff", std::string("\0bin\xff", 5)}}));
  seen.clear();
  ASSERT_TRUE(store->ScanKeyMaterial("", collect).ok());  // everything, in byte order
  std::vector<std::string> names;
  for (const auto& [name, value] : seen) names.push_back(name);
  EXPECT_EQ(names, (std::vector<std::string>{"skex/z", "skey", "skey/a", "skey/b", "skey/\xff",
                                             "skey0", "subject/x"}));
  seen.clear();
  ASSERT_TRUE(store->ScanKeyMaterial("nothing/", collect).ok());
  EXPECT_TRUE(seen.empty());
  int calls = 0;
  ASSERT_TRUE(store
                  ->ScanKeyMaterial("skey",
                                    [&](std::string_view name, std::string_view) {
                                      ++calls;
                                      EXPECT_EQ(name, calls == 1 ? "skey" : "skey/a");
                                      return calls < 2;
                                    })
                  .ok());
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(store->ScanKeyMaterial(std::string(kNameSizeBytesMax + 1, 'p'), collect).code(),
            StatusCode::kInvalidArgument);
  // After a name (a listed one, one between names, one before or past the prefix).
  const auto after = [&](std::string_view prefix, std::string_view start_after) {
    seen.clear();
    EXPECT_TRUE(store->ScanKeyMaterialAfter(prefix, start_after, collect).ok());
    std::vector<std::string> out;
    for (const auto& [name, value] : seen) out.push_back(name);
    return out;
  };
  using Names = std::vector<std::string>;
  EXPECT_EQ(after("skey/", "skey/a"), (Names{"skey/b", "skey/\xff"}));
  EXPECT_EQ(after("skey/", "skey/aa"), (Names{"skey/b", "skey/\xff"}));
  EXPECT_EQ(after("skey/", "skex"), (Names{"skey/a", "skey/b", "skey/\xff"}));
  EXPECT_EQ(after("skey/", ""), (Names{"skey/a", "skey/b", "skey/\xff"}));
  EXPECT_EQ(after("skey/", "skey/\xff"), Names{});
  EXPECT_EQ(after("skey/", "t"), Names{});
  EXPECT_EQ(after("", "skey0"), (Names{"subject/x"}));
}

TEST(RocksMetaTest, PutReadOverwriteAndReopen) {
  TempDir dir;
  {
    auto store = OpenStore(dir.path());
    ASSERT_NE(store, nullptr);
    EXPECT_FALSE(store->ReadMeta("origin")->has_value());
    ASSERT_TRUE(store->PutMeta("origin", "first").ok());
    ASSERT_TRUE(store->PutMeta("origin", "cairn.example/log").ok());
    ASSERT_TRUE(store->PutMeta("epoch", std::string("\0\1", 2)).ok());
  }
  auto store = OpenStore(dir.path(), /*create=*/false);
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(**store->ReadMeta("origin"), "cairn.example/log");
  EXPECT_EQ(**store->ReadMeta("epoch"), std::string("\0\1", 2));
}

}  // namespace
}  // namespace cairn::storage
