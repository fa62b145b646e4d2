#include "cairn/subscriptions.h"

#include <algorithm>
#include <atomic>
#include <cassert>
#include <cstdint>
#include <optional>

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/impl/codegen/proto_utils.h>

#include "cairn/v1/subscribe_frame.pb.h"
#include "client/grpc_status.h"
#include "client/stream_deadline.h"

namespace cairn {
namespace {

constexpr char kSubscribeMethod[] = "/cairn.v1.Subscriptions/Subscribe";

// The call's operations, as completion-queue tags. At most one is outstanding after the
// constructor: Next() waits for its read, the end for the finish.
enum class Op : intptr_t { kWrite = 1, kRead, kFinish };
void* TagOf(Op op) { return reinterpret_cast<void*>(static_cast<intptr_t>(op)); }

// The call runs on gRPC's generic stub with its own completion queue, reading each response
// into one SubscribeResponseFrame (subscribe_frame.proto): parsing into the same frame reuses its
// events and their strings, and NextInto swaps each event out into the caller's message, so a
// consumer that passes the same message every time allocates nothing per event once warm.
class GrpcSubscription final : public Subscription {
 public:
  GrpcSubscription(Client& client, const v1::SubscribeRequest& request, SubscriptionOptions options)
      : stub_(client.channel()) {
    client.PrepareContext(&context_, options.deadline_ms > 0 ? options.deadline_ms : kNoDeadlineMs);
    if (request.start_case() == v1::SubscribeRequest::kFromPosition) {
      resume_position_ = request.from_position();
    }
    // As the synchronous API does: the request is sent (and half-closed) before Start returns,
    // so a from_end subscription starts now, not at the first Next(). Corked, the initial
    // metadata goes out with the request in one operation (StartCall performs none).
    context_.set_initial_metadata_corked(true);
    call_ = stub_.PrepareCall(&context_, kSubscribeMethod, &cq_);
    call_->StartCall(nullptr);
    call_->Write(request, grpc::WriteOptions().set_last_message(), TagOf(Op::kWrite));
    Await(Op::kWrite);  // a failed write shows as the end of the stream at the first read
  }

  ~GrpcSubscription() override {
    if (!end_) {
      Cancel();
      Finish();
    }
    cq_.Shutdown();
    void* tag = nullptr;
    bool ok = false;
    while (cq_.Next(&tag, &ok)) {
    }
  }

  Status NextInto(v1::SubscribeResponse* out) override {
    assert(out != nullptr);
    for (;;) {
      if (batch_next_ < batch_size_) {
        out->mutable_event()->Swap(frame_.mutable_events()->mutable_events(batch_next_++));
        Track(*out);
        return Status::Ok();
      }
      if (end_) return *end_;
      batch_size_ = batch_next_ = 0;
      call_->Read(&frame_, TagOf(Op::kRead));
      if (!Await(Op::kRead)) {
        Finish();
        return *end_;
      }
      if (frame_.has_events()) {
        batch_size_ = frame_.events().events_size();  // an empty batch carries nothing: read on
        continue;
      }
      if (frame_.has_event()) {
        out->mutable_event()->Swap(frame_.mutable_event());
      } else if (frame_.has_checkpoint()) {
        *out->mutable_checkpoint() = frame_.checkpoint();
      } else if (frame_.has_caught_up()) {
        *out->mutable_caught_up() = frame_.caught_up();
      } else {
        out->Clear();  // nothing this client knows: passed on empty, as before
      }
      Track(*out);
      return Status::Ok();
    }
  }

  void Cancel() override {
    cancelled_.store(true, std::memory_order_release);
    context_.TryCancel();
  }
  bool cancelled() const override { return cancelled_.load(std::memory_order_acquire); }
  uint64_t resume_position() const override { return resume_position_; }

 private:
  // Waits for `op`'s completion and returns its ok.
  bool Await(Op op) {
    void* tag = nullptr;
    bool ok = false;
    const bool got = cq_.Next(&tag, &ok);
    assert(got && tag == TagOf(op) && "one operation outstanding at a time");
    (void)op;
    return got && ok;
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

  // Ends the call and records how it ended.
  void Finish() {
    grpc::Status status;
    call_->Finish(&status, TagOf(Op::kFinish));
    Await(Op::kFinish);
    if (cancelled()) {
      end_ = Status::Unavailable("subscription cancelled");
    } else if (status.ok()) {
      end_ = Status::Unavailable("the server ended the subscription");
    } else {
      end_ = FromGrpcStatus(status);
    }
  }

  grpc::TemplatedGenericStub<v1::SubscribeRequest, v1::SubscribeResponseFrame> stub_;
  grpc::ClientContext context_;
  grpc::CompletionQueue cq_;  // declared before call_: outlives it
  std::unique_ptr<grpc::ClientAsyncReaderWriter<v1::SubscribeRequest, v1::SubscribeResponseFrame>>
      call_;
  v1::SubscribeResponseFrame frame_;  // the last response read, reused from read to read
  int batch_size_ = 0;                // events of frame_'s batch, and the next one to hand out
  int batch_next_ = 0;
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
