// QueuedBidiReactor over a real in-process gRPC server on loopback: responses in order, the end
// after the last write, no push after the end, and a call refused in the constructor that the
// client cancels at once (a second Finish would abort the process), and withdrawing queued
// messages by tag (never the one being written).
#include "server/queued_bidi_reactor.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "cairn/v1/groups.grpc.pb.h"

namespace cairn::server {
namespace CAIRN_UNITY_ID {

// Tagged with the message's number.
using Reactor = QueuedBidiReactor<v1::GroupClientMessage, v1::GroupServerMessage, int>;

v1::GroupServerMessage Joined(const std::string& group) {
  v1::GroupServerMessage m;
  m.mutable_joined()->set_group(group);
  return m;
}

// The tags one call withdrew; written on a server thread, read on the test's.
struct Withdrawn {
  std::mutex mu;
  std::vector<int> tags;
};

// Counts OnDone (the call's end as gRPC reports it) and ends a cancelled call.
class CountingReactor : public Reactor {
 public:
  explicit CountingReactor(std::atomic<int>* done) : done_(done) {}
  void OnCancel() override { End(grpc::Status::CANCELLED); }
  void OnDone() override {
    done_->fetch_add(1);
    delete this;
  }

 private:
  std::atomic<int>* done_;
};

// Queues `count` messages (group "m0", "m1", …) in its constructor. With `end_at_once` it also
// ends the call there (what is queued behind the write in flight is then dropped); otherwise it
// ends with OK when the client half-closes. Records whether a push after the end was refused.
// With `withdraw_odd` it then withdraws message 0 (being written: must stay) and the odd ones.
class SendingReactor final : public CountingReactor {
 public:
  SendingReactor(int count, bool end_at_once, bool withdraw_odd, std::atomic<int>* done,
                 std::atomic<bool>* refused_after_end, Withdrawn* withdrawn)
      : CountingReactor(done), refused_after_end_(refused_after_end) {
    std::lock_guard<std::mutex> lock(mu());
    set_queue_max_locked(static_cast<size_t>(count));
    for (int i = 0; i < count; ++i) EXPECT_TRUE(TryPushLocked(Joined("m" + std::to_string(i)), i));
    EXPECT_FALSE(TryPushLocked(Joined("over"), -1)) << "the queue is full";
    if (withdraw_odd) {
      std::vector<int> tags = WithdrawLocked([](int tag) { return tag == 0 || tag % 2 == 1; });
      std::lock_guard<std::mutex> withdrawn_lock(withdrawn->mu);
      withdrawn->tags = std::move(tags);
      EXPECT_EQ(queued_locked(), static_cast<size_t>(count / 2));
      EXPECT_TRUE(TryPushLocked(Joined("m" + std::to_string(count)), count))
          << "withdrawing made room";
    }
    if (end_at_once) {
      EndLocked(grpc::Status::OK);
      *refused_after_end_ = !TryPushLocked(Joined("late")) && finishing_locked();
    } else {
      StartRead(&in_);
    }
  }
  void OnReadDone(bool ok) override {
    if (ok) {
      StartRead(&in_);
      return;
    }
    std::lock_guard<std::mutex> lock(mu());  // the client half-closed
    EndLocked(grpc::Status::OK);
    *refused_after_end_ = !TryPushLocked(Joined("late")) && finishing_locked();
  }

 private:
  std::atomic<bool>* refused_after_end_;
  v1::GroupClientMessage in_;
};

// Refuses the call in its constructor, as a gate that does not admit the caller does.
class RefusingReactor final : public CountingReactor {
 public:
  explicit RefusingReactor(std::atomic<int>* done) : CountingReactor(done) {
    End(grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "no credentials"));
  }
};

class TestService final : public v1::PersistentSubscriptions::CallbackService {
 public:
  grpc::ServerBidiReactor<v1::GroupClientMessage, v1::GroupServerMessage>* Connect(
      grpc::CallbackServerContext* context) override {
    const auto& md = context->client_metadata();
    if (md.find("refuse") != md.end()) return new RefusingReactor(&done);
    return new SendingReactor(kMessages, md.find("end-at-once") != md.end(),
                              md.find("withdraw-odd") != md.end(), &done, &refused_after_end,
                              &withdrawn);
  }
  static constexpr int kMessages = 40;
  std::atomic<int> done{0};
  std::atomic<bool> refused_after_end{false};
  Withdrawn withdrawn;
};

class QueuedBidiReactorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    ASSERT_GT(port, 0);
    stub_ = v1::PersistentSubscriptions::NewStub(grpc::CreateChannel(
        "127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials()));
  }
  void TearDown() override { server_->Shutdown(); }

  bool WaitDone(int n) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (service_.done.load() < n) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return true;
  }

  TestService service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<v1::PersistentSubscriptions::Stub> stub_;
};

TEST_F(QueuedBidiReactorTest, SendsEveryQueuedMessageInOrderThenTheEndAndRefusesLatePushes) {
  grpc::ClientContext context;
  auto stream = stub_->Connect(&context);
  v1::GroupServerMessage m;
  for (int n = 0; n < TestService::kMessages; ++n) {
    ASSERT_TRUE(stream->Read(&m)) << n;
    ASSERT_TRUE(m.has_joined());
    EXPECT_EQ(m.joined().group(), "m" + std::to_string(n));
  }
  ASSERT_TRUE(stream->WritesDone());
  EXPECT_FALSE(stream->Read(&m)) << "nothing after the end";
  EXPECT_TRUE(stream->Finish().ok());
  ASSERT_TRUE(WaitDone(1));
  EXPECT_TRUE(service_.refused_after_end.load());
}

TEST_F(QueuedBidiReactorTest, AnEndDropsWhatIsQueuedBehindTheWriteInFlight) {
  grpc::ClientContext context;
  context.AddMetadata("end-at-once", "1");
  auto stream = stub_->Connect(&context);
  v1::GroupServerMessage m;
  int n = 0;
  while (stream->Read(&m)) ++n;
  EXPECT_EQ(n, 1) << "the write in flight completes; the rest is dropped";
  EXPECT_TRUE(stream->Finish().ok());
  ASSERT_TRUE(WaitDone(1));
  EXPECT_TRUE(service_.refused_after_end.load());
}

TEST_F(QueuedBidiReactorTest, WithdrawnMessagesAreNeverSentButTheOneBeingWrittenIs) {
  grpc::ClientContext context;
  context.AddMetadata("withdraw-odd", "1");
  auto stream = stub_->Connect(&context);
  v1::GroupServerMessage m;
  std::vector<std::string> got;
  for (int n = 0; n <= TestService::kMessages / 2; ++n) {
    ASSERT_TRUE(stream->Read(&m)) << n;
    got.push_back(m.joined().group());
  }
  std::vector<std::string> want;
  for (int n = 0; n <= TestService::kMessages; n += 2) want.push_back("m" + std::to_string(n));
  EXPECT_EQ(got, want) << "m0 was on its way; the odd ones were withdrawn; order kept";
  std::vector<int> odd;
  for (int n = 1; n < TestService::kMessages; n += 2) odd.push_back(n);
  std::lock_guard<std::mutex> lock(service_.withdrawn.mu);
  EXPECT_EQ(service_.withdrawn.tags, odd) << "the tags come back in queue order, without m0's";
  ASSERT_TRUE(stream->WritesDone());
  EXPECT_FALSE(stream->Read(&m));
  EXPECT_TRUE(stream->Finish().ok());
  ASSERT_TRUE(WaitDone(1));
}

TEST_F(QueuedBidiReactorTest, ACallRefusedInTheConstructorAndCancelledAtOnceEndsOnce) {
  constexpr int kCalls = 500;
  for (int i = 0; i < kCalls; ++i) {
    grpc::ClientContext context;
    context.AddMetadata("refuse", "1");
    auto stream = stub_->Connect(&context);
    context.TryCancel();
    v1::GroupServerMessage m;
    while (stream->Read(&m)) {
    }
    const grpc::Status s = stream->Finish();
    EXPECT_TRUE(s.error_code() == grpc::StatusCode::CANCELLED ||
                s.error_code() == grpc::StatusCode::UNAUTHENTICATED)
        << s.error_message();
  }
  // Still serving, and every call was finished exactly once (a second Finish aborts).
  grpc::ClientContext context;
  context.AddMetadata("refuse", "1");
  auto stream = stub_->Connect(&context);
  v1::GroupServerMessage m;
  EXPECT_FALSE(stream->Read(&m));
  EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(WaitDone(kCalls + 1));
}

}  // namespace
}  // namespace cairn::server
