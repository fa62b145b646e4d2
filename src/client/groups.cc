#include "cairn/groups.h"

#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include <grpcpp/grpcpp.h>

#include "cairn/v1/groups.grpc.pb.h"
#include "client/grpc_status.h"
#include "client/stream_deadline.h"

namespace cairn {
namespace {

// The server never sends more than the consumer's max in-flight plus a small margin ahead of
// its acks; a larger backlog means a misbehaving server.
constexpr size_t kBacklogEventsMax = 4096;
// Close() waits this long for the server to end the call after the half-close, then cancels it.
constexpr int64_t kCloseWaitMs = 10'000;

using Stream = grpc::ClientReaderWriter<v1::GroupClientMessage, v1::GroupServerMessage>;

class GroupStreamImpl final : public GroupStream {
 public:
  GroupStreamImpl(const Client& client, const std::string& group, uint32_t max_in_flight)
      : stub_(v1::PersistentSubscriptions::NewStub(client.channel())) {
    client.PrepareContext(&context_, kNoDeadlineMs);
    stream_ = stub_->Connect(&context_);
    v1::GroupClientMessage join;
    join.mutable_join()->set_group(group);
    join.mutable_join()->set_max_in_flight(max_in_flight);
    stream_->Write(join);
    reader_ = std::thread([this] { ReadLoop(); });
  }

  ~GroupStreamImpl() override {
    context_.TryCancel();
    JoinReader();
  }

  // Waits for the server's answer to the join.
  Status AwaitJoined(int64_t timeout_ms) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms), [&] { return joined_ || ended_; });
    if (joined_) return Status::Ok();
    if (ended_) return end_status_;
    return Status::Unavailable("no answer to the join within the timeout");
  }

  const v1::GroupJoined& joined() const override { return joined_message_; }

  Result<std::optional<v1::GroupEvent>> Next(int64_t timeout_ms) override {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms),
                 [&] { return !events_.empty() || ended_; });
    if (!events_.empty()) {
      v1::GroupEvent event = std::move(events_.front());
      events_.pop_front();
      return std::optional<v1::GroupEvent>(std::move(event));
    }
    if (ended_) return end_status_;
    return std::optional<v1::GroupEvent>();
  }

  Status Ack(const std::vector<uint64_t>& ack_ids) override {
    v1::GroupClientMessage message;
    for (uint64_t id : ack_ids) message.mutable_ack()->add_ack_ids(id);
    return Send(message);
  }

  Status Nack(const std::vector<uint64_t>& ack_ids, v1::NackAction action,
              const std::string& reason) override {
    v1::GroupClientMessage message;
    for (uint64_t id : ack_ids) message.mutable_nack()->add_ack_ids(id);
    message.mutable_nack()->set_action(action);
    message.mutable_nack()->set_reason(reason);
    return Send(message);
  }

  Status Close() override {
    {
      std::lock_guard<std::mutex> lock(write_mu_);
      if (!writes_done_) stream_->WritesDone();
      writes_done_ = true;
    }
    {  // the server ends the call after our half-close; one that does not is cancelled
      std::unique_lock<std::mutex> lock(mu_);
      if (!cv_.wait_for(lock, std::chrono::milliseconds(kCloseWaitMs), [&] { return ended_; })) {
        context_.TryCancel();
      }
    }
    JoinReader();
    std::lock_guard<std::mutex> lock(mu_);
    return closed_status_;
  }

 private:
  Status Send(const v1::GroupClientMessage& message) {
    std::lock_guard<std::mutex> lock(write_mu_);
    if (writes_done_) return Status::FailedPrecondition("the group stream is closed");
    if (!stream_->Write(message)) return Status::Unavailable("the group stream has ended");
    return Status::Ok();
  }

  // Close() may run on several threads at once, and before the destructor: one joins.
  void JoinReader() {
    std::lock_guard<std::mutex> lock(join_mu_);
    if (reader_.joinable()) reader_.join();
  }

  void ReadLoop() {
    v1::GroupServerMessage message;
    while (stream_->Read(&message)) {
      std::lock_guard<std::mutex> lock(mu_);
      if (message.has_joined()) {
        if (!joined_) joined_message_ = message.joined();  // joined() hands out a reference
        joined_ = true;
      } else if (message.has_event() && events_.size() < kBacklogEventsMax) {
        events_.push_back(std::move(*message.mutable_event()));
      }
      cv_.notify_all();
    }
    {
      std::lock_guard<std::mutex> lock(write_mu_);  // no Write may overlap Finish
      writes_done_ = true;
    }
    Status status = FromGrpcStatus(stream_->Finish());
    std::lock_guard<std::mutex> lock(mu_);
    closed_status_ = status;
    end_status_ = status.ok() ? Status::Unavailable("the group stream was closed") : status;
    ended_ = true;
    cv_.notify_all();
  }

  std::unique_ptr<v1::PersistentSubscriptions::Stub> stub_;
  grpc::ClientContext context_;
  std::unique_ptr<Stream> stream_;
  std::thread reader_;
  std::mutex join_mu_;  // held while joining reader_
  std::mutex write_mu_;
  bool writes_done_ = false;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<v1::GroupEvent> events_;
  bool joined_ = false;
  v1::GroupJoined joined_message_;
  bool ended_ = false;
  Status end_status_;
  Status closed_status_;
};

template <typename Response, typename Call>
Result<Response> Unary(const Client& client, const Call& call) {
  grpc::ClientContext context;
  client.PrepareContext(&context, client.options().timeout_ms);
  Response response;
  grpc::Status status = call(&context, &response);
  if (!status.ok()) return FromGrpcStatus(status);
  return response;
}

std::unique_ptr<v1::PersistentSubscriptions::Stub> Stub(const Client& client) {
  return v1::PersistentSubscriptions::NewStub(client.channel());
}

}  // namespace

Status Groups::Create(const v1::GroupSettings& settings) const {
  v1::CreateGroupRequest request;
  *request.mutable_settings() = settings;
  auto stub = Stub(client_);
  return Unary<v1::CreateGroupResponse>(client_, [&](auto* context, auto* response) {
           return stub->Create(context, request, response);
         }).status();
}

Status Groups::Update(const v1::GroupSettings& settings) const {
  v1::UpdateGroupRequest request;
  *request.mutable_settings() = settings;
  auto stub = Stub(client_);
  return Unary<v1::UpdateGroupResponse>(client_, [&](auto* context, auto* response) {
           return stub->Update(context, request, response);
         }).status();
}

Status Groups::Delete(const std::string& name) const {
  v1::DeleteGroupRequest request;
  request.set_name(name);
  auto stub = Stub(client_);
  return Unary<v1::DeleteGroupResponse>(client_, [&](auto* context, auto* response) {
           return stub->Delete(context, request, response);
         }).status();
}

Result<v1::ListGroupsResponse> Groups::List() const {
  v1::ListGroupsRequest request;
  auto stub = Stub(client_);
  return Unary<v1::ListGroupsResponse>(client_, [&](auto* context, auto* response) {
    return stub->List(context, request, response);
  });
}

Result<uint64_t> Groups::ReplayParked(const std::string& name) const {
  v1::ReplayParkedRequest request;
  request.set_name(name);
  auto stub = Stub(client_);
  CAIRN_ASSIGN_OR_RETURN(v1::ReplayParkedResponse response,
                         (Unary<v1::ReplayParkedResponse>(client_, [&](auto* context, auto* r) {
                           return stub->ReplayParked(context, request, r);
                         })));
  return response.replay_pending();
}

Result<std::unique_ptr<GroupStream>> Groups::Connect(const std::string& group,
                                                     uint32_t max_in_flight) const {
  auto stream = std::make_unique<GroupStreamImpl>(client_, group, max_in_flight);
  CAIRN_RETURN_IF_ERROR(stream->AwaitJoined(client_.options().timeout_ms));
  return std::unique_ptr<GroupStream>(std::move(stream));
}

}  // namespace cairn
