// rocksdb::Status → cairn Status.
#include "storage/rocksdb/rocks_status.h"

#include <gtest/gtest.h>

namespace cairn::storage::rocks {
namespace CAIRN_UNITY_ID {

TEST(RocksStatusTest, MapsCodes) {
  EXPECT_TRUE(FromRocks(rocksdb::Status::OK(), "x").ok());
  EXPECT_EQ(FromRocks(rocksdb::Status::NotFound("k"), "x").code(), StatusCode::kNotFound);
  EXPECT_EQ(FromRocks(rocksdb::Status::Corruption("bad block"), "x").code(), StatusCode::kDataLoss);
  EXPECT_EQ(FromRocks(rocksdb::Status::Busy(), "x").code(), StatusCode::kUnavailable);
  EXPECT_EQ(FromRocks(rocksdb::Status::TryAgain(), "x").code(), StatusCode::kUnavailable);
  EXPECT_EQ(FromRocks(rocksdb::Status::ShutdownInProgress(), "x").code(), StatusCode::kUnavailable);
  EXPECT_EQ(FromRocks(rocksdb::Status::InvalidArgument("cmp"), "x").code(),
            StatusCode::kFailedPrecondition);
  EXPECT_EQ(FromRocks(rocksdb::Status::MemoryLimit(), "x").code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(FromRocks(rocksdb::Status::NoSpace(), "x").code(), StatusCode::kResourceExhausted);
  const Status io = FromRocks(rocksdb::Status::IOError("disk gone"), "commit");
  EXPECT_EQ(io.code(), StatusCode::kIOError);
  EXPECT_NE(io.message().find("commit: "), std::string::npos);
  EXPECT_NE(io.message().find("disk gone"), std::string::npos);
}

TEST(RocksStatusTest, HeldLockSaysTheDirectoryIsInUse) {
  const Status other = FromRocks(
      rocksdb::Status::IOError("While lock file: /data/LOCK", "Resource temporarily unavailable"),
      "opening store at /data");
  EXPECT_EQ(other.code(), StatusCode::kUnavailable);
  EXPECT_NE(other.message().find("the data directory is in use by another process"),
            std::string::npos);
}

}  // namespace
}  // namespace cairn::storage::rocks
