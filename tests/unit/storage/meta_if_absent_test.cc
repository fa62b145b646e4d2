// LogStore::PutMetaIfAbsent on both backends: stores a value only where there is none; on
// PostgreSQL, of two nodes that propose different values, one wins for both. And
// EventStore::Init creates the subject-hash salt that way, so that the nodes of a shared store
// never race to make it (two salts would split a subject's keys, and forget would miss some).
#include <gtest/gtest.h>

#include <string>

#include "engine/event_store.h"
#include "keys/subject_keys.h"
#include "pg_test_support.h"
#include "rocks_test_support.h"
#include "test_util.h"

namespace cairn::storage::testing {
namespace CAIRN_UNITY_ID {

void ExpectStoresOnlyWhereAbsent(LogStore& store) {
  ASSERT_TRUE(store.PutMetaIfAbsent("component/x", "first").ok());
  ASSERT_TRUE(store.PutMetaIfAbsent("component/x", "second").ok());
  auto value = store.ReadMeta("component/x");
  ASSERT_TRUE(value.ok() && value->has_value());
  EXPECT_EQ(**value, "first");
  EXPECT_EQ(store.PutMetaIfAbsent(std::string(2000, 'n'), "v").code(),
            StatusCode::kInvalidArgument);
}

TEST(MetaIfAbsentTest, RocksStoresOnlyWhereAbsent) {
  cairn::testing::TempDir dir;
  std::unique_ptr<LogStore> store = OpenStore(dir.Sub("db"));
  ASSERT_NE(store, nullptr);
  ExpectStoresOnlyWhereAbsent(*store);
}

TEST(MetaIfAbsentTest, PostgresStoresOnlyWhereAbsentAndOneOfTwoNodesWins) {
  const std::string db = PgServer().CreateDatabase();
  std::unique_ptr<LogStore> a = OpenPg(PgOpts(db));
  std::unique_ptr<LogStore> b = OpenPg(PgOpts(db));
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  ExpectStoresOnlyWhereAbsent(*a);
  // Both nodes saw no salt and propose their own: the second proposal changes nothing.
  ASSERT_TRUE(a->PutMetaIfAbsent("salt", "from-a").ok());
  ASSERT_TRUE(b->PutMetaIfAbsent("salt", "from-b").ok());
  EXPECT_EQ(*a->ReadMeta("salt").value(), "from-a");
  EXPECT_EQ(*b->ReadMeta("salt").value(), "from-a");
}

TEST(MetaIfAbsentTest, InitCreatesTheSubjectKeySalt) {
  cairn::testing::TempDir dir;
  const std::string data = dir.Sub("data");
  ASSERT_TRUE(engine::EventStore::Init({data, "test.example/salt", {}, std::nullopt}).ok());
  std::unique_ptr<LogStore> store = OpenStore(data + "/db", /*create=*/false);
  ASSERT_NE(store, nullptr);
  auto salt = store->ReadMeta(keys::kSubjectKeySaltMeta);
  ASSERT_TRUE(salt.ok()) << salt.status().ToString();
  ASSERT_TRUE(salt->has_value()) << "Init made no salt: nodes opening together would race";
  EXPECT_EQ((*salt)->size(), 32u);
}

}  // namespace
}  // namespace cairn::storage::testing
