// DisableCoreDumps: the soft RLIMIT_CORE is 0 and the process is not dumpable; RestoreCoreDumps
// brings back the soft limit it found and makes the process dumpable again.
#include "common/core_dumps.h"

#include <gtest/gtest.h>
#include <sys/prctl.h>
#include <sys/resource.h>

namespace cairn {
namespace CAIRN_UNITY_ID {

rlimit CoreLimit() {
  rlimit limit{};
  EXPECT_EQ(getrlimit(RLIMIT_CORE, &limit), 0);
  return limit;
}

TEST(CoreDumps, DisableThenRestore) {
  rlimit before = CoreLimit();
  if (before.rlim_max == 0) GTEST_SKIP() << "the hard core limit is 0 here: nothing to restore";
  // A soft limit above 0, so that "enabled" is observable before and after.
  before.rlim_cur = before.rlim_max == RLIM_INFINITY ? 1 << 20 : before.rlim_max;
  ASSERT_EQ(setrlimit(RLIMIT_CORE, &before), 0);
  ASSERT_EQ(prctl(PR_SET_DUMPABLE, 1, 0, 0, 0), 0);
  ASSERT_TRUE(CoreDumpsEnabled());

  ASSERT_TRUE(DisableCoreDumps().ok());
  EXPECT_FALSE(CoreDumpsEnabled());
  EXPECT_EQ(CoreLimit().rlim_cur, 0u);
  EXPECT_EQ(CoreLimit().rlim_max, before.rlim_max);  // kept, so that Restore can raise it again
  EXPECT_EQ(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), 0);

  ASSERT_TRUE(DisableCoreDumps().ok());  // twice: Restore still brings back the first limit
  ASSERT_TRUE(RestoreCoreDumps().ok());
  EXPECT_TRUE(CoreDumpsEnabled());
  EXPECT_EQ(CoreLimit().rlim_cur, before.rlim_cur);
  EXPECT_EQ(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), 1);

  ASSERT_TRUE(RestoreCoreDumps().ok());  // without a Disable before it: changes nothing
  EXPECT_EQ(CoreLimit().rlim_cur, before.rlim_cur);
}

}  // namespace CAIRN_UNITY_ID
}  // namespace cairn
