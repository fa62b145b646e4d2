// ReadSmallFile / ReadTrustedFile: what they read, and each refusal with its status code.
#include "common/trusted_file.h"

#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <string>

#include <gtest/gtest.h>

#include "test_util.h"

namespace cairn {
namespace CAIRN_UNITY_ID {

TEST(TrustedFile, ReadsARegularFileWithinItsBound) {
  testing::TempDir tmp;
  testing::WriteFile(tmp.Sub("policy.toml"), "[[role]]\n");
  auto text = ReadTrustedFile(tmp.Sub("policy.toml"), "policy file", 64);
  ASSERT_TRUE(text.ok()) << text.status().ToString();
  EXPECT_EQ(*text, "[[role]]\n");
  EXPECT_EQ(ReadSmallFile(tmp.Sub("policy.toml"), "policy file", 4).status().code(),
            StatusCode::kResourceExhausted);
  EXPECT_EQ(ReadSmallFile(tmp.Sub("missing"), "policy file", 64).status().code(),
            StatusCode::kNotFound);
  EXPECT_EQ(ReadSmallFile(tmp.path(), "policy file", 64).status().code(),
            StatusCode::kInvalidArgument);  // a directory
}

// A FIFO where a file is expected is refused at once: opening it must not wait for a writer
// (a policy reload would hang).
TEST(TrustedFile, AFifoIsRefusedWithoutBlocking) {
  testing::TempDir tmp;
  const std::string fifo = tmp.Sub("policy.toml");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  auto read = ReadTrustedFile(fifo, "policy file", 64);
  EXPECT_EQ(read.status().code(), StatusCode::kInvalidArgument) << read.status().ToString();
  EXPECT_NE(read.status().message().find("not a regular file"), std::string::npos);
}

TEST(TrustedFile, AFileOthersMayWriteIsNotTrusted) {
  testing::TempDir tmp;
  const std::string path = tmp.Sub("rules.toml");
  testing::WriteFile(path, "x");
  ASSERT_EQ(::chmod(path.c_str(), 0666), 0);
  EXPECT_EQ(ReadTrustedFile(path, "rules file", 64).status().code(),
            StatusCode::kFailedPrecondition);
  EXPECT_TRUE(ReadSmallFile(path, "rules file", 64).ok());  // not a control: read as it is
}

// A file that decides where a credential goes: refused when group or others may write it.
// (Another owner cannot be made here without root; the check is beside this one.)
TEST(TrustedFile, AnOwnedFileIsNotWritableByOthers) {
  testing::TempDir tmp;
  const std::string path = tmp.Sub("client.toml");
  testing::WriteFile(path, "server = \"127.0.0.1:7400\"\n");
  ASSERT_EQ(::chmod(path.c_str(), 0644), 0);
  EXPECT_TRUE(ReadOwnedFile(path, "client config", 64).ok());
  for (mode_t mode : {0664, 0646}) {
    ASSERT_EQ(::chmod(path.c_str(), mode), 0);
    auto read = ReadOwnedFile(path, "client config", 64);
    EXPECT_EQ(read.status().code(), StatusCode::kFailedPrecondition) << std::oct << mode;
    EXPECT_NE(read.status().message().find("writable by group or others"), std::string::npos);
  }
}

// A private key is read only when group and others have no access to the file that is read:
// through a symlink (secret mounts are symlinks), the target's mode decides.
TEST(TrustedFile, APrivateFileIsReadOnlyWhenNobodyElseMayAccessIt) {
  testing::TempDir tmp;
  const std::string key = tmp.Sub("server.key");
  testing::WriteFile(key, "-----BEGIN PRIVATE KEY-----\n");
  ASSERT_EQ(::chmod(key.c_str(), 0600), 0);
  auto read = ReadPrivateFile(key, "tls.key", 64);
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  EXPECT_EQ(*read, "-----BEGIN PRIVATE KEY-----\n");
  ASSERT_EQ(::chmod(key.c_str(), 0640), 0);
  read = ReadPrivateFile(key, "tls.key", 64);
  EXPECT_EQ(read.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(read.status().message().find("group or others"), std::string::npos);
  EXPECT_EQ(read.status().message().find("BEGIN"), std::string::npos) << "no content in errors";
  const std::string link = tmp.Sub("link.key");
  ASSERT_EQ(::symlink(key.c_str(), link.c_str()), 0);
  EXPECT_EQ(ReadPrivateFile(link, "tls.key", 64).status().code(), StatusCode::kFailedPrecondition)
      << "the link is 0777; the file it names is 0640";
  ASSERT_EQ(::chmod(key.c_str(), 0600), 0);
  EXPECT_TRUE(ReadPrivateFile(link, "tls.key", 64).ok());
  EXPECT_EQ(ReadPrivateFile(tmp.path(), "tls.key", 64).status().code(),
            StatusCode::kInvalidArgument);  // not a regular file
}

}  // namespace
}  // namespace cairn
