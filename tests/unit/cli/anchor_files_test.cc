// The files that anchor verification outside the store: the pinned key file and the checkpoint
// file that runs of `cairn verify` / `cairn subscribe --verify` keep, which one run must never
// move back over another's.
#include "cli/anchor_files.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include "test_util.h"

namespace cairn::cli {
namespace CAIRN_UNITY_ID {

TEST(PinnedVerifierKeyTest, OneOfKeyAndFileTrailingWhitespaceDropped) {
  testing::TempDir tmp;
  const std::string file = tmp.path() + "/vkey";
  testing::WriteFile(file, "cairn+abc+AAAA \r\n\n");
  ASSERT_EQ(::chmod(file.c_str(), 0600), 0);
  EXPECT_EQ(*PinnedVerifierKey("", file), "cairn+abc+AAAA");
  EXPECT_EQ(*PinnedVerifierKey("cairn+abc+BBBB\n", ""), "cairn+abc+BBBB");
  EXPECT_EQ(*PinnedVerifierKey("", ""), "");
  EXPECT_EQ(PinnedVerifierKey("cairn+abc+BBBB", file).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(PinnedVerifierKey("", tmp.path() + "/missing").status().code(), StatusCode::kNotFound);
}

TEST(ReadKeptCheckpointTest, MissingIsEmptyAndTooLargeIsRefused) {
  testing::TempDir tmp;
  const std::string file = tmp.path() + "/kept";
  EXPECT_EQ(*ReadKeptCheckpoint(file, 16), "");
  testing::WriteFile(file, std::string(16, 'x'));
  ASSERT_EQ(::chmod(file.c_str(), 0600), 0);
  EXPECT_EQ(*ReadKeptCheckpoint(file, 16), std::string(16, 'x'));
  testing::WriteFile(file, std::string(17, 'x'));
  ASSERT_EQ(::chmod(file.c_str(), 0600), 0);
  auto big = ReadKeptCheckpoint(file, 16);
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.status().code(), StatusCode::kResourceExhausted) << big.status().ToString();
  EXPECT_NE(big.status().message().find("--checkpoint-file"), std::string::npos);
}

// ReplaceKeptCheckpoint's answer; a test failure (not a crash) when it errs.
bool Replaced(const std::string& path, std::string_view expected, std::string_view note) {
  auto replaced = ReplaceKeptCheckpoint(path, expected, note);
  EXPECT_TRUE(replaced.ok()) << replaced.status().ToString();
  return replaced.ok() && *replaced;
}

TEST(ReplaceKeptCheckpointTest, ReplacesOnlyWhatThisRunRead) {
  testing::TempDir tmp;
  const std::string file = tmp.path() + "/kept";
  ASSERT_TRUE(Replaced(file, "", "first"));  // the anchor starts
  EXPECT_EQ(testing::ReadFile(file), "first");
  struct stat st {};
  ASSERT_EQ(::stat(file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644u);
  ASSERT_TRUE(Replaced(file, "first", "second"));
  EXPECT_EQ(testing::ReadFile(file), "second");
  // Another run read "first" too and ends later: it must not put back what it verified.
  EXPECT_FALSE(Replaced(file, "first", "older"));
  EXPECT_EQ(testing::ReadFile(file), "second");
  // A run that found no file while another started one, and a file larger than anything this
  // run read or would write.
  EXPECT_FALSE(Replaced(file, "", "other"));
  testing::WriteFile(file, "second, and then much more than that");
  ASSERT_EQ(::chmod(file.c_str(), 0600), 0);
  EXPECT_FALSE(Replaced(file, "second", "third"));
  // Removed since this run read it: not started again behind the other run's back.
  ASSERT_EQ(::unlink(file.c_str()), 0);
  EXPECT_FALSE(Replaced(file, "second", "third"));
  EXPECT_NE(::access(file.c_str(), F_OK), 0);
}

// The comparison and the replacement are one step: while another process holds the directory's
// lock, a run waits, and goes on once it is released.
TEST(ReplaceKeptCheckpointTest, WaitsForTheDirectoryLock) {
  testing::TempDir tmp;
  const std::string file = tmp.path() + "/kept";
  const int dir_fd = ::open(tmp.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  ASSERT_GE(dir_fd, 0);
  ASSERT_EQ(::flock(dir_fd, LOCK_EX), 0);
  std::atomic<bool> done{false};
  std::thread writer([&] {
    auto replaced = ReplaceKeptCheckpoint(file, "", "note");
    EXPECT_TRUE(replaced.ok() && *replaced) << replaced.status().ToString();
    done = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_FALSE(done.load()) << "replaced while another process held the lock";
  EXPECT_NE(::access(file.c_str(), F_OK), 0);
  ASSERT_EQ(::flock(dir_fd, LOCK_UN), 0);
  writer.join();
  ::close(dir_fd);
  EXPECT_TRUE(done.load());
  EXPECT_EQ(testing::ReadFile(file), "note");
}

}  // namespace CAIRN_UNITY_ID
}  // namespace cairn::cli
