// Reads that their clients do not drain hold one of the server's request threads each (cairn.v1
// Read/ReadAll are synchronous gRPC calls). These tests hold reads open with clients that stop
// taking responses, and show that one principal cannot hold more than
// limits.reads_per_principal_max of them, all principals together not more than
// limits.reads_max, and that the other calls of the server stay answered meanwhile.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "auth/api_key.h"
#include "server_env.h"
#include "test_util.h"

namespace cairn::testing {
namespace CAIRN_UNITY_ID {

// A gate the blocked readers wait on: open it to let them drain and finish.
struct Gate {
  std::mutex mu;
  std::condition_variable cv;
  bool open = false;
  void Open() {
    std::lock_guard<std::mutex> lock(mu);
    open = true;
    cv.notify_all();
  }
  void Wait() {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [this] { return open; });
  }
};

// A ReadAll on its own connection whose client takes the first response and then stops reading
// until the gate opens.
struct HeldRead {
  HeldRead(Client* reader, Gate* gate) : client(reader) {
    thread = std::thread([this, gate] {
      v1::ReadAllRequest request;
      status = client->ReadAll(request, [this, gate](const v1::ReadResponse&) {
        started = true;
        gate->Wait();
        return false;  // then stop: the call is cancelled, not drained
      });
      done = true;
    });
  }
  ~HeldRead() {
    if (thread.joinable()) thread.join();
  }
  bool WaitStarted(int timeout_ms) const {
    for (int waited = 0; waited < timeout_ms && !started && !done; waited += 10) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return started;
  }

  Client* client;
  std::thread thread;
  std::atomic<bool> started{false}, done{false};
  Status status;
};

// Pages of 4 events (80 KB here) instead of up to 16 MiB: each held read holds one page, and 192
// of them must not pin gigabytes (or press on gRPC's 2 GiB memory quota) on a CI machine.
constexpr char kSmallPages[] = "read_batch_max = 4\n";

// 20 MB in 1,000 events (AppendLargeEvents): a ReadAll far larger than gRPC's flow-control
// windows, so that a reader that stops taking responses keeps its call (and its server thread)
// busy; and one small event on order-1 for the other principals' calls.
void AppendLargeLog(const ServerEnv& env) {
  auto client = env.ClientWith(env.admin_key);
  AppendLargeEvents(*client, "bulk-1", 1000);
  v1::AppendRequest small;
  small.set_stream("order-1");
  small.add_events()->set_type("OrderCreated");
  small.mutable_events(0)->set_data("{}");
  ASSERT_TRUE(client->Append(small).ok());
}

// Held reads on `connections` connections of `token`; waits until no more start.
using HeldReads = std::vector<HeldRead*>;

int Started(const HeldReads& held) {
  int n = 0;
  for (const HeldRead* h : held) n += h->started ? 1 : 0;
  return n;
}

int RefusedWith(const HeldReads& held, const std::string& text) {
  int n = 0;
  for (const HeldRead* h : held) {
    n += h->done && h->status.code() == StatusCode::kResourceExhausted &&
                 h->status.message().find(text) != std::string::npos
             ? 1 : 0;
  }
  return n;
}

// The other calls of the server are answered (within 5 s) while the reads are held.
void ExpectOtherCallsServed(const ServerEnv& env) {
  ClientOptions options;
  options.ca_file = env.CaCert();
  options.token = env.bot_key;
  options.timeout_ms = 5000;
  auto bot = env.ClientWithOptions(options);
  auto who = bot->WhoAmI();
  EXPECT_TRUE(who.ok()) << who.status().ToString();
  auto info = bot->GetStreamInfo("order-1");
  EXPECT_TRUE(info.ok()) << info.status().ToString();
}

// A server with `[limits]` lines `limits` (and small pages), a second admin key, and the large
// log; reads held through Hold() are let go (the gate opened, their threads joined) by
// Release() or at the end of the test.
class ReadSlotsTest : public ::testing::Test {
 protected:
  void Start(const std::string& limits) {
    second_ = auth::GenerateApiKey("second-admin").value();
    env.extra_config = "\n[limits]\n" + limits + kSmallPages +
                       "\n[[auth.api_keys]]\nid = \"second-admin\"\nsecret_sha256 = \"" +
                       second_.secret_sha256 + "\"\nroles = [\"admin\"]\n";
    ASSERT_TRUE(env.Start()) << env.server().output();
    AppendLargeLog(env);
  }
  const std::string& second_key() const { return second_.key; }

  // `reads` undrained ReadAll calls of `token` over `connections` new connections; waits until
  // each has started or ended.
  HeldReads Hold(const std::string& token, int reads, int connections) {
    const size_t first = clients_.size();
    for (int i = 0; i < connections; ++i) clients_.push_back(env.ClientWith(token));
    HeldReads held;
    for (int i = 0; i < reads; ++i) {
      Client* client = clients_[first + static_cast<size_t>(i % connections)].get();
      held_.push_back(std::make_unique<HeldRead>(client, &gate_));
      held.push_back(held_.back().get());
    }
    for (HeldRead* h : held) h->WaitStarted(10000);
    return held;
  }
  void Release() {
    gate_.Open();
    held_.clear();  // joins their threads
  }
  void TearDown() override { Release(); }

  ServerEnv env;

 private:
  auth::GeneratedApiKey second_;
  Gate gate_;
  std::vector<std::unique_ptr<Client>> clients_;
  std::vector<std::unique_ptr<HeldRead>> held_;
};

// With the defaults, one principal that opens 100 reads and drains none holds 32 of them (its
// limits.reads_per_principal_max); the rest are refused at once, and the server's other calls
// are answered. Without the bound, 255 such reads took every request thread of the server and
// WhoAmI failed with "Server Threadpool Exhausted".
TEST_F(ReadSlotsTest, OnePrincipalsUndrainedReadsCannotTakeEveryServerThread) {
  Start("");
  const HeldReads held = Hold(env.admin_key, 100, 4);
  EXPECT_EQ(Started(held), 32);
  EXPECT_EQ(RefusedWith(held, "limits.reads_per_principal_max = 32"), 68);
  ExpectOtherCallsServed(env);
}

// Small limits: a principal's third read is refused by its own bound, a third principal's by the
// total; once the held reads end, reads are admitted again.
TEST_F(ReadSlotsTest, PerPrincipalAndTotalBoundsAreEnforced) {
  Start("reads_max = 3\nreads_per_principal_max = 2\n");
  const HeldReads admin_reads = Hold(env.admin_key, 3, 1);
  const HeldReads second_reads = Hold(second_key(), 1, 1);
  EXPECT_EQ(Started(admin_reads), 2);
  EXPECT_EQ(RefusedWith(admin_reads, "limits.reads_per_principal_max = 2"), 1);
  EXPECT_EQ(Started(second_reads), 1);
  auto bot = env.ClientWith(env.bot_key);
  v1::ReadRequest read;
  read.set_stream("order-1");
  const Status refused = bot->Read(read, [](const v1::ReadResponse&) { return true; });
  EXPECT_EQ(refused.code(), StatusCode::kResourceExhausted) << refused.ToString();
  EXPECT_NE(refused.message().find("limits.reads_max = 3"), std::string::npos) << refused.ToString();
  ExpectOtherCallsServed(env);

  Release();
  // The server gives a slot back when its blocked write sees the cancellation: soon, not at once.
  Status after = Status::Ok();
  for (int waited_ms = 0; waited_ms < 30000; waited_ms += 100) {  // generous: a loaded CI machine
    after = bot->Read(read, [](const v1::ReadResponse&) { return true; });
    if (after.code() != StatusCode::kResourceExhausted) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(after.ok()) << after.ToString();
}

// Integrity.GetCheckpoint may wait up to a checkpoint interval for the next paced signing on a
// server thread (a log that keeps growing makes most requests wait): it takes a slot of the same
// budget. A principal whose one slot is held by an undrained read is refused; another is served.
TEST_F(ReadSlotsTest, CheckpointRequestsTakeASlotOfTheSameBudget) {
  Start("reads_max = 4\nreads_per_principal_max = 1\n");
  ASSERT_EQ(Started(Hold(env.admin_key, 1, 1)), 1);
  auto refused = env.ClientWith(env.admin_key)->GetCheckpoint();
  EXPECT_EQ(refused.status().code(), StatusCode::kResourceExhausted) << refused.status().ToString();
  EXPECT_NE(refused.status().message().find("limits.reads_per_principal_max = 1"), std::string::npos);
  auto served = env.ClientWith(second_key())->GetCheckpoint();
  EXPECT_TRUE(served.ok()) << served.status().ToString();
}

// The bound that keeps the server answering: with every read slot allowed to one principal
// (reads_max = reads_per_principal_max = 192, the most), 250 undrained reads hold 192 threads and
// the other 58 are refused; the threads above 192 still answer WhoAmI and GetStreamInfo. (Before
// the bound, 255 such reads took every thread and WhoAmI failed with "Server Threadpool
// Exhausted".)
TEST_F(ReadSlotsTest, AtTheLargestReadsMaxTheOtherCallsAreStillAnswered) {
  Start("reads_max = 192\nreads_per_principal_max = 192\n");
  const HeldReads held = Hold(env.admin_key, 250, 8);
  EXPECT_EQ(Started(held), 192);
  EXPECT_EQ(RefusedWith(held, "limits.reads_max = 192"), 58);
  ExpectOtherCallsServed(env);
}

}  // namespace CAIRN_UNITY_ID
}  // namespace cairn::testing
