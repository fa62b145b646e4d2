#include "cairn/subscriptions.h"

#include <algorithm>
#include <atomic>
#include <deque>
#include <optional>

#include <grpcpp/grpcpp.h>

#include "cairn/v1/subscriptions.grpc.pb.h"
#include "client/grpc_status.h"

namespace cairn {
namespace {

// A subscription has no natural deadline; gRPC needs one, so "none" is a year.
constexpr int64_t kNoDeadlineMs = int64_t{365} * 24 * 3600 * 1000;

class GrpcSubscription final : public Subscription {
 public:
  GrpcSubscription(Client& client, const v1::SubscribeRequest& request, SubscriptionOptions options)
      : stub_(v1::Subscriptions::NewStub(client.channel())) {
    client.PrepareContext(&context_, options.deadline_ms > 0 ? options.deadline_ms : kNoDeadlineMs);
    if (request.start_case() == v1::SubscribeRequest::kFromPosition) {
      resume_position_ = request.from_position();
    }
    reader_ = stub_->Subscribe(&context_, request);
  }

  ~GrpcSubscription() override {
    if (!end_) {
      Cancel();
      Drain();
    }
  }

  Result<v1::SubscribeResponse> Next() override {
    if (!pending_.empty()) return Pop();
    if (end_) return *end_;
    v1::SubscribeResponse message;
    if (!reader_->Read(&message)) {
      Drain();
      return *end_;
    }
    if (message.has_events()) {
      for (auto& event : *message.mutable_events()->mutable_events()) {
        v1::SubscribeResponse one;
        *one.mutable_event() = std::move(event);
        pending_.push_back(std::move(one));
      }
      if (pending_.empty()) return Next();  // an empty batch carries nothing
      return Pop();
    }
    Track(message);
    return message;
  }

  void Cancel() override {
    cancelled_.store(true, std::memory_order_release);
    context_.TryCancel();
  }
  bool cancelled() const override { return cancelled_.load(std::memory_order_acquire); }
  uint64_t resume_position() const override { return resume_position_; }

 private:
  v1::SubscribeResponse Pop() {
    v1::SubscribeResponse message = std::move(pending_.front());
    pending_.pop_front();
    Track(message);
    return message;
  }

  void Track(const v1::SubscribeResponse& message) {
    if (message.has_event()) {
      resume_position_ = std::max(resume_position_, message.event().position() + 1);
    } else if (message.has_checkpoint()) {
      resume_position_ = std::max(resume_position_, message.checkpoint().next_position());
    } else if (message.has_caught_up()) {
      resume_position_ = std::max(resume_position_, message.caught_up().next_position());
    }
  }

  // Reads what is left and records how the call ended.
  void Drain() {
    v1::SubscribeResponse ignored;
    while (reader_->Read(&ignored)) {
    }
    const grpc::Status status = reader_->Finish();
    if (cancelled()) {
      end_ = Status::Unavailable("subscription cancelled");
    } else if (status.ok()) {
      end_ = Status::Unavailable("the server ended the subscription");
    } else {
      end_ = FromGrpcStatus(status);
    }
  }

  std::unique_ptr<v1::Subscriptions::Stub> stub_;
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReader<v1::SubscribeResponse>> reader_;
  std::deque<v1::SubscribeResponse> pending_;  // the rest of a split batch
  std::optional<Status> end_;
  std::atomic<bool> cancelled_{false};
  uint64_t resume_position_ = 0;
};

}  // namespace

Result<std::unique_ptr<Subscription>> Subscription::Start(Client& client,
                                                          const v1::SubscribeRequest& request,
                                                          SubscriptionOptions options) {
  if (request.stream().empty()) {
    return Status::InvalidArgument("a subscription needs a stream id or \"$all\"");
  }
  return std::unique_ptr<Subscription>(new GrpcSubscription(client, request, options));
}

}  // namespace cairn
