#include "server/connection_table.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <vector>

namespace cairn::server {
namespace CAIRN_UNITY_ID {

using Verdict = ConnectionTable::Verdict;

// A connected socket (one end of a pair) standing in for an accepted connection.
class Sockets {
 public:
  ~Sockets() {
    for (int fd : fds_) close(fd);
  }
  int Open() {
    int pair[2];
    EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, pair), 0);
    fds_.push_back(pair[0]);
    fds_.push_back(pair[1]);
    return pair[0];
  }
  void Close(int fd) {
    close(fd);
    std::erase(fds_, fd);
  }

 private:
  std::vector<int> fds_;
};

TEST(ConnectionTableTest, OneSourceIsHeldToItsShareAndOthersStillConnect) {
  ConnectionTable table({.total_max = 10, .per_source_max = 2});
  Sockets s;
  EXPECT_EQ(table.Admit(s.Open(), "10.0.0.1", 0), Verdict::kAdmitted);
  EXPECT_EQ(table.Admit(s.Open(), "10.0.0.1", 0), Verdict::kAdmitted);
  EXPECT_EQ(table.Admit(s.Open(), "10.0.0.1", 0), Verdict::kSourceFull);
  EXPECT_EQ(table.Admit(s.Open(), "10.0.0.2", 0), Verdict::kAdmitted);
  // One IPv6 /64 is one source: another address in it shares the budget.
  EXPECT_EQ(table.Admit(s.Open(), "2001:db8::1", 0), Verdict::kAdmitted);
  EXPECT_EQ(table.Admit(s.Open(), "2001:db8::2", 0), Verdict::kAdmitted);
  EXPECT_EQ(table.Admit(s.Open(), "2001:db8::3", 0), Verdict::kSourceFull);
  // An IPv4-mapped address counts as its IPv4 address.
  EXPECT_EQ(table.Admit(s.Open(), "::ffff:10.0.0.2", 0), Verdict::kAdmitted);
  EXPECT_EQ(table.Admit(s.Open(), "::ffff:10.0.0.2", 0), Verdict::kSourceFull);
  EXPECT_EQ(table.entries(), 6u);
}

TEST(ConnectionTableTest, TheTotalIsBounded) {
  ConnectionTable table({.total_max = 3, .per_source_max = 3});
  Sockets s;
  for (const char* ip : {"10.0.0.1", "10.0.0.2", "10.0.0.3"}) {
    EXPECT_EQ(table.Admit(s.Open(), ip, 0), Verdict::kAdmitted) << ip;
  }
  EXPECT_EQ(table.Admit(s.Open(), "10.0.0.4", 0), Verdict::kTableFull);
  EXPECT_EQ(table.entries(), 3u);
}

// gRPC does not say when it closes a connection: a closed one stops counting at the next sweep,
// which a refusal starts at most once per kSweepIntervalMs.
TEST(ConnectionTableTest, AClosedConnectionStopsCountingAtTheNextSweep) {
  ConnectionTable table({.total_max = 10, .per_source_max = 2});
  Sockets s;
  const int a = s.Open();
  ASSERT_EQ(table.Admit(a, "10.0.0.1", 0), Verdict::kAdmitted);
  ASSERT_EQ(table.Admit(s.Open(), "10.0.0.1", 0), Verdict::kAdmitted);
  EXPECT_EQ(table.Admit(s.Open(), "10.0.0.1", 1000), Verdict::kSourceFull);  // swept: both open
  // Opened before `a` closes, so that neither reuses a's descriptor (which would replace its
  // entry at once: the next test).
  const int probe1 = s.Open(), probe2 = s.Open();
  s.Close(a);
  // Within the interval after that sweep: still counted.
  EXPECT_EQ(table.Admit(probe1, "10.0.0.1", 1000 + ConnectionTable::kSweepIntervalMs - 1),
            Verdict::kSourceFull);
  EXPECT_EQ(table.Admit(probe2, "10.0.0.1", 1000 + ConnectionTable::kSweepIntervalMs),
            Verdict::kAdmitted);
  EXPECT_EQ(table.entries(), 2u);
}

// A descriptor accepted again names a new connection: what it named before is closed, at once.
TEST(ConnectionTableTest, ADescriptorAcceptedAgainReplacesItsEntry) {
  ConnectionTable table({.total_max = 10, .per_source_max = 1});
  Sockets s;
  const int a = s.Open();
  ASSERT_EQ(table.Admit(a, "10.0.0.1", 0), Verdict::kAdmitted);
  s.Close(a);
  const int b = s.Open();  // the lowest free descriptor: usually a's again
  if (b != a) GTEST_SKIP() << "the descriptor was not reused";
  EXPECT_EQ(table.Admit(b, "10.0.0.1", 0), Verdict::kAdmitted);
  EXPECT_EQ(table.entries(), 1u);
}

TEST(ConnectionTableTest, ADescriptorThatIsNoSocketIsNotCounted) {
  ConnectionTable table({.total_max = 1, .per_source_max = 1});
  int pipe_fds[2];
  ASSERT_EQ(pipe(pipe_fds), 0);
  EXPECT_EQ(table.Admit(pipe_fds[0], "10.0.0.1", 0), Verdict::kAdmitted);
  EXPECT_EQ(table.entries(), 0u);
  close(pipe_fds[0]);
  close(pipe_fds[1]);
}

// Connections leave descriptors for the store: the limits shrink to fit RLIMIT_NOFILE.
TEST(ConnectionTableTest, TheLimitsFitTheDescriptorsTheProcessMayOpen) {
  const ConnectionLimits wanted{.total_max = 4096, .per_source_max = 256};
  ConnectionLimits fitted = CapToDescriptors(wanted, 1u << 20);
  EXPECT_EQ(fitted.total_max, 4096u);
  EXPECT_EQ(fitted.per_source_max, 256u);
  fitted = CapToDescriptors(wanted, 1024);  // a common soft limit
  EXPECT_EQ(fitted.total_max, 1024u - kDescriptorsReserved);
  EXPECT_EQ(fitted.per_source_max, 256u);
  fitted = CapToDescriptors(wanted, 300);
  EXPECT_EQ(fitted.total_max, 44u);
  EXPECT_EQ(fitted.per_source_max, 44u) << "never above the total";
  fitted = CapToDescriptors(wanted, 10);
  EXPECT_EQ(fitted.total_max, 16u) << "a floor: the server must take some connections";
  EXPECT_GE(RaiseDescriptorLimit(), 16u);
}

}  // namespace CAIRN_UNITY_ID
}  // namespace cairn::server
