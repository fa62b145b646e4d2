// SetCurrentThreadName: the kernel holds the name (as /proc shows it), cut at 15 bytes, and it
// names only the calling thread.
#include "common/thread_name.h"

#include <gtest/gtest.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <thread>

namespace cairn {
namespace CAIRN_UNITY_ID {

std::string ProcComm(pid_t tid) {
  std::ifstream in("/proc/self/task/" + std::to_string(tid) + "/comm");
  std::string name;
  std::getline(in, name);
  return name;
}

TEST(ThreadName, TheKernelHoldsTheNameOfTheCallingThreadOnly) {
  const std::string main_before = CurrentThreadName();
  std::string seen_inside, proc_inside;
  std::thread t([&] {
    SetCurrentThreadName("cairn-test");
    seen_inside = CurrentThreadName();
    proc_inside = ProcComm(static_cast<pid_t>(syscall(SYS_gettid)));
  });
  t.join();
  EXPECT_EQ(seen_inside, "cairn-test");
  EXPECT_EQ(proc_inside, "cairn-test");
  EXPECT_EQ(CurrentThreadName(), main_before);
}

TEST(ThreadName, ALongNameIsCutAtFifteenBytes) {
  std::string seen;
  std::thread t([&] {
    SetCurrentThreadName("cairn-a-name-much-longer-than-fifteen");
    seen = CurrentThreadName();
  });
  t.join();
  EXPECT_EQ(seen, "cairn-a-name-mu");
  EXPECT_EQ(seen.size(), kThreadNameBytesMax);
}

}  // namespace
}  // namespace cairn
