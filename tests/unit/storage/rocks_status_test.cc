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

// A damaged block is reported with its file's name, never the data directory's path: the
// message reaches clients (DATA_LOSS keeps its text).
TEST(RocksStatusTest, TextThatReachesClientsNamesFilesWithoutTheirDirectory) {
  const Status corrupt = FromRocks(
      rocksdb::Status::Corruption("block checksum mismatch: stored = 1, computed = 2",
                                  "in /var/lib/cairn/db/000123.sst offset 4096 size 512"),
      "reading a record");
  EXPECT_EQ(corrupt.code(), StatusCode::kDataLoss);
  EXPECT_EQ(corrupt.message().find("/var/lib"), std::string::npos) << corrupt.message();
  EXPECT_NE(corrupt.message().find("in 000123.sst offset 4096"), std::string::npos)
      << corrupt.message();
  EXPECT_NE(corrupt.message().find("reading a record: "), std::string::npos);
  const Status missing = FromRocks(rocksdb::Status::NotFound("/srv/data/db/MANIFEST-000005"), "x");
  EXPECT_EQ(missing.message().find("/srv"), std::string::npos) << missing.message();
  EXPECT_NE(missing.message().find("MANIFEST-000005"), std::string::npos) << missing.message();
  const Status spaced = FromRocks(
      rocksdb::Status::Corruption("bad block", "in /srv/my data/db/000042.sst offset 7 size 9"), "x");
  EXPECT_EQ(spaced.message().find("data/db"), std::string::npos) << spaced.message();
  EXPECT_NE(spaced.message().find("in 000042.sst offset 7 size 9"), std::string::npos)
      << spaced.message();
  // Operators see the whole path where clients never do.
  const Status io = FromRocks(rocksdb::Status::IOError("/srv/data/db/000007.log", "EIO"), "x");
  EXPECT_NE(io.message().find("/srv/data/db/000007.log"), std::string::npos);
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
