#include "server/subscriptions_service.h"

#include <algorithm>
#include <chrono>
#include <mutex>
#include <memory>
#include <utility>


#include "cairn/v1/common.pb.h"
#include "server/call_audit.h"
#include "server/end_grace.h"
#include "server/status_map.h"
#include "server/subscribe_frame.h"
#include "server/wire_convert.h"

namespace cairn::server {
namespace {

using subscribe::LiveBatch;
using subscribe::LiveRequest;

// ToGrpcStatus, plus the resume position in ErrorDetail.position when the status carries one.
grpc::Status EndStatus(const Status& status) {
  grpc::Status mapped = ToGrpcStatus(status);
  if (!status.detail() || *status.detail() < 0 ||
      (status.code() != StatusCode::kResourceExhausted &&
       status.code() != StatusCode::kUnavailable)) {
    return mapped;
  }
  v1::ErrorDetail detail;
  detail.ParseFromString(mapped.error_details());
  detail.set_position(static_cast<uint64_t>(*status.detail()));
  return grpc::Status(mapped.error_code(), mapped.error_message(), detail.SerializeAsString());
}

// One Subscribe call. Lives from the handler until OnDone; the hub's subscription is closed
// before the reactor is deleted, so no hub thread touches a deleted reactor.
class SubscribeReactor final : public grpc::ServerWriteReactor<grpc::ByteBuffer>,
                               public subscribe::LiveSink {
 public:
  SubscribeReactor(subscribe::LiveHub* hub, const CallGate* gate,
                   grpc::CallbackServerContext* context, const grpc::ByteBuffer& request_bytes)
      : gate_(gate), end_grace_(context) {
    CallIdentity& id = id_;
    if (grpc::Status s = gate->Admit(context, &id); !s.ok()) {
      Finish(s);
      return;
    }
    v1::SubscribeRequest request;
    grpc::ByteBuffer copy(request_bytes);  // Deserialize consumes its buffer
    if (!grpc::SerializationTraits<v1::SubscribeRequest>::Deserialize(&copy, &request).ok()) {
      Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "malformed SubscribeRequest"));
      return;
    }
    auto sub = hub->Subscribe(FromWire(request), id.principal, this);
    if (!sub.ok()) {
      if (sub.status().code() == StatusCode::kPermissionDenied) {
        const policy::Decision decision =
            id.Decide(policy::Action::kSubscribe, request.stream(), "");
        id.audit->Denied(id, policy::Action::kSubscribe, request.stream(), "", decision.rule);
      }
      Finish(EndStatus(sub.status()));
      return;
    }
    id.audit->CountAllowed(policy::Action::kSubscribe);
    id.audit->DataPlane(id, policy::Action::kSubscribe, request.stream(), grpc::Status::OK);
    stream_ = request.stream();
    subscription_ = std::move(sub).value();
    subscription_->Start();
  }

  void Deliver(LiveBatch batch) override {
    encoder_.Encode(batch, &response_);
    StartWrite(&response_);
  }
  void End(const Status& status) override {
    AuditAccessEnd(*gate_, &id_, policy::Action::kSubscribe, stream_, status);
    Finish(EndStatus(status));
    end_grace_.Arm();
  }

  void OnWriteDone(bool ok) override { subscription_->WriteDone(ok); }
  void OnCancel() override {
    if (subscription_) subscription_->Cancel();
  }
  void OnDone() override {
    end_grace_.Done();
    if (subscription_) subscription_->Close();
    delete this;
  }

 private:
  const CallGate* gate_;
  CallIdentity id_;     // as admitted; refreshed when the subscription is ended for access
  std::string stream_;  // the subscribed stream, or "$all"
  EndGrace end_grace_;  // armed by End
  std::shared_ptr<subscribe::LiveSubscription> subscription_;
  SubscribeFrameEncoder encoder_;
  grpc::ByteBuffer response_;  // the one write in flight
};

}  // namespace

LiveRequest FromWire(const v1::SubscribeRequest& request) {
  LiveRequest out;
  out.wire_form = true;  // frames carry the hub's shared encodings (subscribe_frame.h)
  out.stream = request.stream();
  switch (request.start_case()) {
    case v1::SubscribeRequest::kFromPosition:
      out.start = LiveRequest::Start::kPosition;
      out.from = request.from_position();
      break;
    case v1::SubscribeRequest::kFromVersion:
      out.start = LiveRequest::Start::kVersion;
      out.from = request.from_version();
      break;
    case v1::SubscribeRequest::kFromEnd:
      out.start = request.from_end() ? LiveRequest::Start::kEnd : LiveRequest::Start::kPosition;
      break;
    case v1::SubscribeRequest::START_NOT_SET:
      break;
  }
  out.stream_prefixes.assign(request.filter().stream_prefixes().begin(),
                             request.filter().stream_prefixes().end());
  out.event_types.assign(request.filter().event_types().begin(),
                         request.filter().event_types().end());
  out.include_stored_data = request.include_stored_data();
  if (request.checkpoint_interval_ms() != 0) {
    out.checkpoint_interval_ms = std::clamp<int64_t>(request.checkpoint_interval_ms(),
                                                     subscribe::kCheckpointIntervalMsMin,
                                                     subscribe::kCheckpointIntervalMsMax);
  }
  return out;
}

SubscriptionsService::SubscriptionsService(subscribe::LiveHub* hub, const CallGate* gate)
    : hub_(hub), gate_(gate) {
  assert(hub_ != nullptr && gate_ != nullptr);
}

grpc::ServerWriteReactor<grpc::ByteBuffer>* SubscriptionsService::Subscribe(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request) {
  return new SubscribeReactor(hub_, gate_, context, *request);
}

}  // namespace cairn::server
