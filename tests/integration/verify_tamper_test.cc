// `cairn verify` examines a damaged data directory that the store itself refuses to open, and
// names the bad position; `cairn read-all` refuses to serve it.
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>

#include "storage/rocksdb/rocks_log_store.h"
#include "storage/rocksdb/rocks_schema.h"
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

// Stored checkpoints removed above the kept one (the events left in place): the run still passes
// (the log holds the kept tree), but the kept checkpoint is not replaced by the older latest one,
// which would let a history rewritten after that older size pass the next anchored run.
TEST(CliVerifyTamper, RemovedCheckpointsDoNotMoveTheKeptAnchorBack) {
  testing::TempDir tmp;
  const std::string dir = tmp.Sub("data");
  const std::string kept = tmp.Sub("kept.note");
  ASSERT_EQ(testing::RunCairn({"init", "--data-dir", dir}).exit_code, 0);
  auto append = [&](int i) {
    auto r = testing::RunCairn({"append", "s", "--type", "T", "--data", "{\"i\":" + std::to_string(i) + "}", "--data-dir", dir});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  };
  for (int i = 0; i < 3; ++i) append(i);
  ASSERT_EQ(testing::RunCairn({"checkpoint", "--data-dir", dir}).exit_code, 0);
  for (int i = 3; i < 6; ++i) append(i);
  ASSERT_EQ(testing::RunCairn({"checkpoint", "--data-dir", dir}).exit_code, 0);
  auto vkey = testing::RunCairn({"vkey", "--data-dir", dir});
  ASSERT_EQ(vkey.exit_code, 0) << vkey.err;
  std::string key = vkey.out;
  while (!key.empty() && key.back() == '\n') key.pop_back();
  auto first = testing::RunCairn({"verify", "--data-dir", dir, "--verifier-key", key, "--checkpoint-file", kept});
  ASSERT_EQ(first.exit_code, 0) << first.out << first.err;
  EXPECT_NE(first.err.find("the anchor starts with this run (size 6)"), std::string::npos) << first.err;
  auto read_kept = [&] {
    std::ifstream in(kept);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  };
  const std::string at6 = read_kept();
  ASSERT_NE(at6.find("\n6\n"), std::string::npos) << at6;
  {
    storage::RocksOptions o;
    o.path = dir + "/db";
    auto raw = storage::OpenRocksLogStore(o);
    ASSERT_TRUE(raw.ok()) << raw.status().ToString();
    ASSERT_TRUE(storage::RawWriteKeyForTest(raw->get(), storage::rocks::kCfCheckpoints,
                                            storage::rocks::CheckpointKey(6), std::nullopt).ok());
  }
  auto second = testing::RunCairn({"verify", "--data-dir", dir, "--verifier-key", key, "--checkpoint-file", kept});
  EXPECT_EQ(second.exit_code, 0) << second.out << second.err;
  EXPECT_NE(second.out.find("holds the trusted checkpoint at size 6"), std::string::npos) << second.out;
  EXPECT_NE(second.err.find("older than the kept one (size 6)"), std::string::npos) << second.err;
  EXPECT_EQ(read_kept(), at6) << "the anchor moved back to size 3";
}

}  // namespace
}  // namespace cairn
