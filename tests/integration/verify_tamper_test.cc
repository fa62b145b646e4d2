// `cairn verify` examines a damaged data directory that the store itself refuses to open, and
// names the bad position; `cairn read-all` refuses to serve it.
#include <gtest/gtest.h>

#include "storage/rocksdb/rocks_log_store.h"
#include "storage/rocksdb/rocks_test_hooks.h"
#include "test_util.h"

namespace cairn {
namespace CAIRN_UNITY_ID {

TEST(CliVerifyTamper, DroppedLastRecordIsReportedByVerifyAndRefusedByReads) {
  testing::TempDir tmp;
  const std::string dir = tmp.Sub("data");
  ASSERT_EQ(testing::RunCairn({"init", "--data-dir", dir}).exit_code, 0);
  for (int i = 0; i < 5; ++i) {
    auto r = testing::RunCairn({"append", "s", "--type", "T", "--data", "{\"i\":" + std::to_string(i) + "}", "--data-dir", dir});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  ASSERT_EQ(testing::RunCairn({"verify", "--data-dir", dir}).exit_code, 0);
  {
    storage::RocksOptions o;
    o.path = dir + "/db";
    auto raw = storage::OpenRocksLogStore(o);
    ASSERT_TRUE(raw.ok()) << raw.status().ToString();
    ASSERT_TRUE(storage::RawDeleteRecordForTest(raw->get(), 4).ok());
  }
  auto verify = testing::RunCairn({"verify", "--data-dir", dir});
  EXPECT_EQ(verify.exit_code, 1);
  EXPECT_NE(verify.out.find("FAILED at position 4"), std::string::npos) << verify.out << verify.err;
  auto json = testing::RunCairn({"verify", "--json", "--data-dir", dir});
  EXPECT_EQ(json.exit_code, 1);
  EXPECT_NE(json.out.find("\"bad_position\":4"), std::string::npos) << json.out;
  auto read = testing::RunCairn({"read-all", "--data-dir", dir});
  EXPECT_EQ(read.exit_code, 1);
  EXPECT_NE(read.err.find("position 4"), std::string::npos) << read.err;
  EXPECT_EQ(read.err.find("cairn init"), std::string::npos) << read.err;  // no misleading hint
}

}  // namespace
}  // namespace cairn
