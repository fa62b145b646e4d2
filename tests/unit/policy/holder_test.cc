#include <gtest/gtest.h>
#include <sys/stat.h>

#include <atomic>
#include <thread>

#include "policy/holder.h"
#include "policy/limits.h"
#include "policy/parse.h"
#include "policy_test_util.h"
#include "test_util.h"

namespace cairn::policy {
namespace CAIRN_UNITY_ID {

using testing::MakePrincipal;

constexpr char kReadOnly[] = R"(
[[role]]
name = "r"
grants = [ { actions = ["read"], streams = ["*"], event_types = ["*"] } ]
[[binding]]
principal = "jwt:alice"
roles = ["r"]
)";

constexpr char kAppendToo[] = R"(
[[role]]
name = "r"
grants = [ { actions = ["read", "append"], streams = ["*"], event_types = ["*"] } ]
[[binding]]
principal = "jwt:alice"
roles = ["r"]
)";

bool AliceMayAppend(const PolicyHolder& holder) {
  return holder.Current()->Decide(MakePrincipal("jwt:alice"), Action::kAppend, "s", "E").allowed;
}
bool AliceMayRead(const PolicyHolder& holder) {
  return holder.Current()->Decide(MakePrincipal("jwt:alice"), Action::kRead, "s", "E").allowed;
}

TEST(PolicyHolder, NoFileDeniesEverything) {
  PolicyHolder holder("");
  EXPECT_TRUE(holder.Reload().ok());
  EXPECT_EQ(holder.generation(), 0u);
  EXPECT_FALSE(AliceMayRead(holder));
  EXPECT_TRUE(holder.Current()->roles().empty());
}

TEST(PolicyHolder, ReloadSwitchesToGoodFile) {
  cairn::testing::TempDir dir;
  const std::string path = dir.Sub("policy.toml");
  cairn::testing::WriteFile(path, kReadOnly);
  PolicyHolder holder(path);
  EXPECT_EQ(holder.generation(), 0u);
  ASSERT_TRUE(holder.Reload().ok());
  EXPECT_EQ(holder.generation(), 1u);
  EXPECT_TRUE(AliceMayRead(holder));
  EXPECT_FALSE(AliceMayAppend(holder));
  const std::shared_ptr<const Policy> old_snapshot = holder.Current();

  cairn::testing::WriteFile(path, kAppendToo);
  ASSERT_TRUE(holder.Reload().ok());
  EXPECT_EQ(holder.generation(), 2u);
  EXPECT_TRUE(AliceMayAppend(holder));
  // A snapshot taken before the reload keeps deciding by the old policy.
  EXPECT_FALSE(old_snapshot->Decide(MakePrincipal("jwt:alice"), Action::kAppend, "s", "E").allowed);
  EXPECT_EQ(holder.Current()->source(), path);
}

TEST(PolicyHolder, BadFileKeepsOldPolicy) {
  cairn::testing::TempDir dir;
  const std::string path = dir.Sub("policy.toml");
  cairn::testing::WriteFile(path, kReadOnly);
  PolicyHolder holder(path);
  ASSERT_TRUE(holder.Reload().ok());
  const auto before = holder.Current();

  cairn::testing::WriteFile(path, std::string(kAppendToo) + "\nbogus = 1\n");
  Status s = holder.Reload();
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("unknown key 'bogus'"), std::string::npos) << s.ToString();
  EXPECT_NE(s.message().find("previous policy kept"), std::string::npos) << s.ToString();
  EXPECT_EQ(holder.generation(), 1u);
  EXPECT_EQ(holder.Current(), before);
  EXPECT_FALSE(AliceMayAppend(holder));
  EXPECT_TRUE(AliceMayRead(holder));

  cairn::testing::WriteFile(path, "[[role]\n");
  EXPECT_FALSE(holder.Reload().ok());
  EXPECT_EQ(holder.Current(), before);

  ASSERT_EQ(::unlink(path.c_str()), 0);
  EXPECT_EQ(holder.Reload().code(), StatusCode::kNotFound);
  EXPECT_EQ(holder.Current(), before);
  EXPECT_EQ(holder.generation(), 1u);
}

// The server's posture check runs on every reloaded policy: one it refuses is not installed.
TEST(PolicyHolder, AReloadTheCheckRefusesKeepsTheOldPolicy) {
  cairn::testing::TempDir dir;
  const std::string path = dir.Sub("policy.toml");
  cairn::testing::WriteFile(path, kReadOnly);
  PolicyHolder holder(path);
  holder.SetReloadCheck([](const Policy& p) {
    const bool appends = p.Decide(MakePrincipal("jwt:alice"), Action::kAppend, "s", "E").allowed;
    return appends ? Status::FailedPrecondition("posture check X (critical)") : Status::Ok();
  });
  ASSERT_TRUE(holder.Reload().ok());
  const auto before = holder.Current();
  cairn::testing::WriteFile(path, kAppendToo);
  Status s = holder.Reload();
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(s.message().find("previous policy kept"), std::string::npos) << s.ToString();
  EXPECT_EQ(holder.Current(), before);
  EXPECT_EQ(holder.generation(), 1u);
  EXPECT_FALSE(AliceMayAppend(holder));
  // The version in force, as the reload left it (the audit record names it): the kept one.
  PolicyHolder::Version in_force;
  EXPECT_FALSE(holder.Reload(&in_force).ok());
  EXPECT_EQ(in_force.generation, 1u);
  EXPECT_EQ(in_force.text_sha256, before->text_sha256());
  cairn::testing::WriteFile(path, std::string(kReadOnly) + "\n# edited\n");
  ASSERT_TRUE(holder.Reload(&in_force).ok());
  EXPECT_EQ(in_force.generation, 2u);
  EXPECT_EQ(in_force.text_sha256, holder.Current()->text_sha256());
  EXPECT_NE(in_force.text_sha256, before->text_sha256());
}

TEST(PolicyHolder, OversizedFileRejected) {
  cairn::testing::TempDir dir;
  const std::string path = dir.Sub("policy.toml");
  cairn::testing::WriteFile(path, std::string(kReadOnly) + "# " +
                                      std::string(kPolicyFileSizeBytesMax, 'x') + "\n");
  Result<std::shared_ptr<const Policy>> loaded = LoadPolicyFile(path);
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), StatusCode::kResourceExhausted);
  PolicyHolder holder(path);
  EXPECT_FALSE(holder.Reload().ok());
  EXPECT_EQ(holder.generation(), 0u);
}

TEST(PolicyHolder, WorldWritableFileRefused) {
  cairn::testing::TempDir dir;
  const std::string path = dir.Sub("policy.toml");
  cairn::testing::WriteFile(path, kReadOnly);
  ASSERT_EQ(::chmod(path.c_str(), 0666), 0);
  Result<std::shared_ptr<const Policy>> loaded = LoadPolicyFile(path);
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(loaded.status().message().find("writable by others"), std::string::npos);
  ASSERT_EQ(::chmod(path.c_str(), 0644), 0);
  EXPECT_TRUE(LoadPolicyFile(path).ok());
}

TEST(PolicyHolder, ConcurrentReadersDuringReloads) {
  cairn::testing::TempDir dir;
  const std::string path = dir.Sub("policy.toml");
  cairn::testing::WriteFile(path, kReadOnly);
  PolicyHolder holder(path);
  ASSERT_TRUE(holder.Reload().ok());
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> decisions{0};
  std::vector<std::thread> readers;
  for (int i = 0; i < 4; ++i) {
    readers.emplace_back([&] {
      const Principal alice = MakePrincipal("jwt:alice");
      while (!stop.load()) {
        const auto policy = holder.Current();
        const ResolvedPrincipal r = policy->Resolve(alice);
        EXPECT_TRUE(policy->MayRead(r, "s", "E"));
        decisions.fetch_add(1);
      }
    });
  }
  for (int i = 0; i < 50; ++i) {
    cairn::testing::WriteFile(path, i % 2 ? kReadOnly : kAppendToo);
    ASSERT_TRUE(holder.Reload().ok());
  }
  stop = true;
  for (auto& t : readers) t.join();
  EXPECT_EQ(holder.generation(), 51u);
  EXPECT_GT(decisions.load(), 0u);
}

TEST(PolicyHolder, InstallSwitches) {
  PolicyHolder holder("");
  holder.Install(testing::MustParse(kAppendToo));
  EXPECT_EQ(holder.generation(), 1u);
  EXPECT_TRUE(AliceMayAppend(holder));
}

}  // namespace
}  // namespace cairn::policy
