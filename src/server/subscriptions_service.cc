#include "server/subscriptions_service.h"

#include <algorithm>
#include <memory>
#include <utility>

#include "cairn/v1/common.pb.h"
#include "server/call_audit.h"
#include "server/status_map.h"
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

// The messages of one subscription's writes, reused from write to write: a cleared protobuf
// keeps its repeated elements and string buffers, so a busy subscriber stops allocating per event
// (allocation was most of the delivery cost).
class ResponseCache {
 public:
  // Takes back what the previous response carried (its write is complete) and clears *out.
  void Reclaim(v1::SubscribeResponse* out) {
    if (out->has_event()) event_.reset(out->release_event());
    if (out->has_events()) batch_.reset(out->release_events());
    out->Clear();
  }
  v1::RecordedEvent* TakeEvent() {
    if (!event_) event_ = std::make_unique<v1::RecordedEvent>();
    event_->Clear();
    return event_.release();
  }
  v1::EventBatch* TakeBatch() {
    if (!batch_) batch_ = std::make_unique<v1::EventBatch>();
    batch_->Clear();
    return batch_.release();
  }

 private:
  std::unique_ptr<v1::RecordedEvent> event_;
  std::unique_ptr<v1::EventBatch> batch_;
};

void ToWire(LiveBatch batch, ResponseCache* cache, v1::SubscribeResponse* out) {
  cache->Reclaim(out);
  switch (batch.kind) {
    case LiveBatch::Kind::kEvents:
      assert(!batch.events.empty());
      if (batch.events.size() == 1) {
        v1::RecordedEvent* event = cache->TakeEvent();
        server::ToWire(*batch.events.front(), event);
        out->set_allocated_event(event);
      } else {
        v1::EventBatch* wire = cache->TakeBatch();
        auto* events = wire->mutable_events();
        events->Reserve(static_cast<int>(batch.events.size()));
        for (const auto& event : batch.events) server::ToWire(*event, events->Add());
        out->set_allocated_events(wire);
      }
      return;
    case LiveBatch::Kind::kCheckpoint:
      out->mutable_checkpoint()->set_next_position(batch.next_position);
      return;
    case LiveBatch::Kind::kCaughtUp:
      out->mutable_caught_up()->set_next_position(batch.next_position);
      return;
    case LiveBatch::Kind::kNone:
      break;
  }
  assert(false && "a kNone batch is never delivered");
}

// One Subscribe call. Lives from the handler until OnDone; the hub's subscription is closed
// before the reactor is deleted, so no hub thread touches a deleted reactor.
class SubscribeReactor final : public grpc::ServerWriteReactor<v1::SubscribeResponse>,
                               public subscribe::LiveSink {
 public:
  SubscribeReactor(subscribe::LiveHub* hub, const CallGate* gate,
                   grpc::CallbackServerContext* context, const v1::SubscribeRequest& request) {
    CallIdentity id;
    if (grpc::Status s = gate->Admit(context, &id); !s.ok()) {
      Finish(s);
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
    subscription_ = std::move(sub).value();
    subscription_->Start();
  }

  void Deliver(LiveBatch batch) override {
    ToWire(std::move(batch), &cache_, &response_);
    StartWrite(&response_);
  }
  void End(const Status& status) override { Finish(EndStatus(status)); }

  void OnWriteDone(bool ok) override { subscription_->WriteDone(ok); }
  void OnCancel() override {
    if (subscription_) subscription_->Cancel();
  }
  void OnDone() override {
    if (subscription_) subscription_->Close();
    delete this;
  }

 private:
  std::shared_ptr<subscribe::LiveSubscription> subscription_;
  ResponseCache cache_;
  v1::SubscribeResponse response_;  // the one write in flight
};

}  // namespace

LiveRequest FromWire(const v1::SubscribeRequest& request) {
  LiveRequest out;
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

grpc::ServerWriteReactor<v1::SubscribeResponse>* SubscriptionsService::Subscribe(
    grpc::CallbackServerContext* context, const v1::SubscribeRequest* request) {
  return new SubscribeReactor(hub_, gate_, context, *request);
}

}  // namespace cairn::server
