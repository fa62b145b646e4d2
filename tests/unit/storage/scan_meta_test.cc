// LogStore::ScanMeta on both backends: every entry under a prefix in byte order of names, an
// early stop, an empty prefix for all, paging past one page (PostgreSQL), and RocksDB's own
// format version never listed.
#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "pg_test_support.h"
#include "rocks_test_support.h"
#include "test_util.h"

namespace cairn::storage::testing {
namespace CAIRN_UNITY_ID {

using Entries = std::vector<std::pair<std::string, std::string>>;

Entries Scan(LogStore& store, std::string_view prefix, size_t stop_after = SIZE_MAX) {
  Entries out;
  Status s = store.ScanMeta(prefix, [&](std::string_view name, std::string_view value) {
    out.emplace_back(name, value);
    return out.size() < stop_after;
  });
  EXPECT_TRUE(s.ok()) << s.ToString();
  return out;
}

void ExpectScans(LogStore& store) {
  ASSERT_TRUE(store.PutMeta("component/b", "2").ok());
  ASSERT_TRUE(store.PutMeta("component/a", "1").ok());
  ASSERT_TRUE(store.PutMeta("componenu", "x").ok());  // sorts right after the prefix
  ASSERT_TRUE(store.PutMeta("origin", std::string("o\0rigin", 7)).ok());
  EXPECT_EQ(Scan(store, "component/"), (Entries{{"component/a", "1"}, {"component/b", "2"}}));
  EXPECT_EQ(Scan(store, "component/", 1), (Entries{{"component/a", "1"}}));
  EXPECT_EQ(Scan(store, ""), (Entries{{"component/a", "1"}, {"component/b", "2"},
                                      {"componenu", "x"}, {"origin", std::string("o\0rigin", 7)}}));
  EXPECT_TRUE(Scan(store, "zzz").empty());
  EXPECT_EQ(store.ScanMeta(std::string(2000, 'p'), [](auto, auto) { return true; }).code(),
            StatusCode::kInvalidArgument);
}

TEST(ScanMetaTest, RocksListsByPrefixInOrderWithoutItsFormatVersion) {
  cairn::testing::TempDir dir;
  std::unique_ptr<LogStore> store = OpenStore(dir.Sub("db"));
  ASSERT_NE(store, nullptr);
  EXPECT_TRUE(Scan(*store, "").empty());  // a new store: its format version is not listed
  ExpectScans(*store);
}

TEST(ScanMetaTest, PostgresListsByPrefixInOrderAcrossPages) {
  std::unique_ptr<LogStore> store = OpenPg(PgOpts(PgServer().CreateDatabase()));
  ASSERT_NE(store, nullptr);
  EXPECT_TRUE(Scan(*store, "").empty());
  ExpectScans(*store);
  const int64_t many = 600;  // more than one page of kScanPageRowsMax (512) rows
  for (int64_t i = 0; i < many; ++i) {
    char name[32];
    std::snprintf(name, sizeof(name), "page/%04lld", static_cast<long long>(i));
    ASSERT_TRUE(store->PutMeta(name, std::to_string(i)).ok());
  }
  Entries paged = Scan(*store, "page/");
  ASSERT_EQ(paged.size(), static_cast<size_t>(many));
  for (int64_t i = 0; i < many; ++i) EXPECT_EQ(paged[i].second, std::to_string(i));
}

}  // namespace
}  // namespace cairn::storage::testing
