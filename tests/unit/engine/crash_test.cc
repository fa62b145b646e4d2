// A child process appending in a loop is killed with SIGKILL several times; after each reopen
// every acknowledged append is present, in place, and the log verifies.
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <random>
#include <thread>

#include "common/bytes.h"
#include "engine_test_util.h"

namespace cairn::engine {
namespace CAIRN_UNITY_ID {

// Child: 4 appender threads; after each acknowledged append it writes "position hexid\n" to fd.
[[noreturn]] void AppendForever(const std::string& dir, const std::optional<storage::PgOptions>& pg,
                                int fd) {
  Options o;
  o.data_dir = dir;
  o.postgres = pg;
  auto store = EventStore::Open(o);
  if (!store.ok()) _exit(3);
  std::mutex mu;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (uint64_t i = 0;; ++i) {
        std::vector<ProposedEvent> evs;
        evs.push_back(Ev("T", "{\"t\":" + std::to_string(t) + "}"));
        evs.push_back(Ev("T", "{\"i\":" + std::to_string(i) + "}"));
        std::string id0 = evs[0].event_id = NewUuidV4();
        evs[1].event_id = NewUuidV4();
        auto r = (*store)->Append("crash-" + std::to_string(t % 2), ExpectedVersion::Any(), std::move(evs));
        if (!r.ok()) _exit(4);
        std::string line = std::to_string(r->first_position) + " " + HexEncode(id0) + "\n";
        std::lock_guard<std::mutex> lock(mu);
        if (write(fd, line.data(), line.size()) != static_cast<ssize_t>(line.size())) _exit(5);
      }
    });
  }
  for (auto& th : threads) th.join();
  _exit(0);
}

TEST_P(EngineBackendTest, EveryAcknowledgedAppendSurvivesSigkill) {
  Close();
  std::mt19937 rng(42);
  std::map<uint64_t, std::string> acked;  // position -> event id of the first event
  for (int round = 0; round < 5; ++round) {
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      close(fds[0]);
      AppendForever(dir_, pg_, fds[1]);
    }
    close(fds[1]);
    // Wait for the first acknowledgement (the child has opened the store), then kill it at a
    // random moment of its load.
    std::string text;
    char buf[4096];
    pollfd pfd{fds[0], POLLIN, 0};
    ASSERT_EQ(poll(&pfd, 1, 20000), 1) << "the child acknowledged nothing within 20 s";
    std::this_thread::sleep_for(std::chrono::milliseconds(20 + rng() % 200));
    ASSERT_EQ(kill(pid, SIGKILL), 0);
    int status = 0;
    waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFSIGNALED(status)) << "child exited early with " << WEXITSTATUS(status);
    for (ssize_t n; (n = read(fds[0], buf, sizeof buf)) > 0;) text.append(buf, static_cast<size_t>(n));
    close(fds[0]);
    size_t lines = 0;
    for (size_t at = 0, nl; (nl = text.find('\n', at)) != std::string::npos; at = nl + 1) {
      std::string line = text.substr(at, nl - at);
      size_t sp = line.find(' ');
      acked[std::stoull(line.substr(0, sp))] = *HexDecode(line.substr(sp + 1));
      ++lines;
    }
    EXPECT_GT(lines, 0u) << "round " << round << " acknowledged nothing";

    Reopen();
    const uint64_t size = store_->tree_size();
    for (const auto& [pos, id] : acked) {
      ASSERT_LT(pos + 1, size) << "acknowledged append at " << pos << " lost in round " << round;
      auto ev = store_->ReadAt(pos);
      ASSERT_TRUE(ev.ok()) << ev.status().ToString();
      EXPECT_EQ(ev->entry.event_id, id) << "position " << pos;
    }
    VerifyReport report = store_->Verify();
    EXPECT_TRUE(report.ok) << "round " << round << ": " << report.failure;
    Close();
  }
}

}  // namespace
}  // namespace cairn::engine
