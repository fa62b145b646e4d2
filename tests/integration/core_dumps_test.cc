// The server runs with core dumps off (its soft RLIMIT_CORE is 0 whatever it inherited) unless
// server.core_dumps = true, which keeps the inherited limit, warns in the log, and is a doctor
// finding (common/core_dumps.h).
#include <sys/resource.h>

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

#include "server_env.h"

namespace cairn::testing {
namespace {

// The soft "Max core file size" of a process as /proc shows it ("0", "unlimited", a number).
std::string SoftCoreLimit(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/limits");
  std::string line;
  while (std::getline(in, line)) {
    if (!line.starts_with("Max core file size")) continue;
    std::istringstream fields(line.substr(std::string("Max core file size").size()));
    std::string soft;
    fields >> soft;
    return soft;
  }
  return "";
}

// Raises this process's soft core limit (inherited by the server it starts) for one test.
class InheritedCoreLimit {
 public:
  InheritedCoreLimit() {
    getrlimit(RLIMIT_CORE, &saved_);
    rlimit raised = saved_;
    raised.rlim_cur = saved_.rlim_max == RLIM_INFINITY ? 1 << 20 : saved_.rlim_max;
    ok_ = saved_.rlim_max != 0 && setrlimit(RLIMIT_CORE, &raised) == 0;
    text_ = std::to_string(raised.rlim_cur);
  }
  ~InheritedCoreLimit() { setrlimit(RLIMIT_CORE, &saved_); }
  bool ok() const { return ok_; }
  const std::string& text() const { return text_; }

 private:
  rlimit saved_{};
  bool ok_ = false;
  std::string text_;
};

TEST(CoreDumpsTest, TheServerTurnsThemOffWhateverItInherits) {
  InheritedCoreLimit inherited;
  if (!inherited.ok()) GTEST_SKIP() << "the hard core limit is 0 here";
  ServerEnv env;
  ASSERT_TRUE(env.Start()) << env.server().output();
  EXPECT_EQ(SoftCoreLimit(env.server().pid()), "0");
  EXPECT_EQ(env.server().output().find("core_dumps"), std::string::npos);
}

TEST(CoreDumpsTest, ServerCoreDumpsTrueKeepsTheInheritedLimitAndWarns) {
  InheritedCoreLimit inherited;
  if (!inherited.ok()) GTEST_SKIP() << "the hard core limit is 0 here";
  ServerEnv env;
  env.server_extra = "core_dumps = true\n";
  ASSERT_TRUE(env.Start()) << env.server().output();
  EXPECT_EQ(SoftCoreLimit(env.server().pid()), inherited.text());
  EXPECT_NE(env.server().output().find("server.core_dumps = true"), std::string::npos)
      << env.server().output();
}

}  // namespace
}  // namespace cairn::testing
