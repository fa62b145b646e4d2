#include "server/esdb/streams_subscription.h"

#include <cassert>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <utility>

#include "server/call_audit.h"
#include "server/end_grace.h"
#include "server/esdb/esdb_convert.h"
#include "server/esdb/esdb_errors.h"

namespace cairn::server::esdb {

namespace streams = event_store::client::streams;
using subscribe::LiveBatch;
using subscribe::LiveRequest;

namespace {

// Where the hub starts (EventStoreDB's subscription positions are exclusive), and the filter it
// applies before revealing an event (so that an event the filter drops is never decrypted).
LiveRequest LiveRequestOf(const ReadSpec& spec, const std::shared_ptr<const ReadFilter>& filter) {
  LiveRequest request;
  request.stream = spec.stream;
  if (filter->active()) {
    request.filter = std::make_shared<const subscribe::LiveEventFilter>(
        [filter](std::string_view stream, std::string_view type) {
          return filter->Matches(stream, type);
        });
    // EventStoreDB sends checkpoints only to filtered subscriptions.
    request.checkpoint_every_events = spec.checkpoint_events;
  }
  switch (spec.from) {
    case ReadSpec::From::kStart:
      request.start = spec.all ? LiveRequest::Start::kPosition : LiveRequest::Start::kVersion;
      request.from = 0;
      break;
    case ReadSpec::From::kEnd:
      request.start = LiveRequest::Start::kEnd;
      break;
    case ReadSpec::From::kAt:
      request.start = spec.all ? LiveRequest::Start::kPosition : LiveRequest::Start::kVersion;
      request.from = spec.at + 1;
      break;
  }
  return request;
}

class SubscriptionReactor final : public ReadReactor, public subscribe::LiveSink {
 public:
  SubscriptionReactor(grpc::CallbackServerContext* context, subscribe::LiveHub* hub,
                      CallIdentity id, ReadSpec spec)
      : context_(context),
        filter_(std::make_shared<const ReadFilter>(std::move(spec.filter))),
        spec_(std::move(spec)),
        end_grace_(context) {
    if (spec_.from == ReadSpec::From::kAt && spec_.at == UINT64_MAX) {
      Finish(esdb::Finish(context_, InvalidArgument("subscription start out of range")));
      return;
    }
    std::unique_lock<std::mutex> lock(mu_);  // Deliver waits until the confirmation is queued
    auto sub = hub->Subscribe(LiveRequestOf(spec_, filter_), id.principal, this);
    if (!sub.ok()) {
      if (sub.status().code() == StatusCode::kPermissionDenied) {
        const policy::Decision decision = id.Decide(policy::Action::kSubscribe, spec_.stream, "");
        id.audit->Denied(id, policy::Action::kSubscribe, spec_.stream, "", decision.rule);
      }
      finished_ = true;
      lock.unlock();
      Finish(esdb::Finish(context_, FromStatus(sub.status(), spec_.stream)));
      return;
    }
    id.audit->CountAllowed(policy::Action::kSubscribe);
    id.audit->DataPlane(id, policy::Action::kSubscribe, spec_.stream, grpc::Status::OK,
                        {{"protocol", "esdb"}});
    subscription_ = std::move(sub).value();
    queue_.emplace_back().mutable_confirmation()->set_subscription_id(
        engine::FormatUuid(engine::NewUuidV4()));
    const bool complete = StartNextLocked();
    assert(!complete);
    (void)complete;
    lock.unlock();
    subscription_->Start();
  }

  // LiveSink: one hub batch at a time; WriteDone once all its answers are written.
  void Deliver(LiveBatch batch) override {
    bool complete = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      assert(!batch_open_);
      Queue(batch);
      batch_open_ = true;
      if (!writing_) complete = StartNextLocked();
    }
    if (complete) subscription_->WriteDone(true);
  }
  void End(const Status& status) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (finished_) return;
      finished_ = true;
    }
    Finish(esdb::Finish(context_, FromStatus(status, spec_.stream)));
    end_grace_.Arm();  // a client that stopped reading must not keep the hub's slot
  }

  void OnWriteDone(bool ok) override {
    bool complete = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      writing_ = false;
      if (!ok) {
        queue_.clear();
        complete = batch_open_;
        batch_open_ = false;
      } else {
        complete = StartNextLocked();
      }
    }
    if (complete) subscription_->WriteDone(ok);
  }
  void OnCancel() override {
    if (subscription_) subscription_->Cancel();
  }
  void OnDone() override {
    end_grace_.Done();
    if (subscription_) subscription_->Close();
    delete this;
  }

 private:
  // The answers of one hub batch (the hub applied the filter). As EventStoreDB, a filtered
  // subscription gets a checkpoint every checkpoint_events events considered, whether the filter
  // kept them or not: the hub counts them (LiveRequest::checkpoint_every_events).
  void Queue(const LiveBatch& batch) {
    switch (batch.kind) {
      case LiveBatch::Kind::kEvents: {
        auto checkpoint = batch.checkpoints.begin();
        for (size_t i = 0; i <= batch.events.size(); ++i) {
          for (; checkpoint != batch.checkpoints.end() && checkpoint->events_before == i; ++checkpoint) {
            QueueCheckpoint(checkpoint->next_position);
          }
          if (i == batch.events.size()) break;
          const integrity::Entry& entry = batch.events[i]->entry;
          assert(filter_->Matches(entry.stream_id, entry.event_type));
          streams::ReadResp::ReadEvent* wire = queue_.emplace_back().mutable_event();
          ToWireRecorded(*batch.events[i], spec_.structured_uuid, wire->mutable_event());
          wire->set_commit_position(entry.position);
        }
        assert(checkpoint == batch.checkpoints.end());
        return;
      }
      case LiveBatch::Kind::kCheckpoint:
        QueueCheckpoint(batch.next_position);
        return;
      case LiveBatch::Kind::kCaughtUp:
        queue_.emplace_back().mutable_caught_up();
        return;
      case LiveBatch::Kind::kNone:
        break;
    }
    assert(false && "a kNone batch is never delivered");
  }

  // A checkpoint for filtered subscriptions (EventStoreDB sends none without a filter): the last
  // position considered, from which a new subscription (exclusive) loses nothing.
  void QueueCheckpoint(uint64_t next_position) {
    if (!filter_->active() || next_position == 0) return;
    auto* checkpoint = queue_.emplace_back().mutable_checkpoint();
    checkpoint->set_commit_position(next_position - 1);
    checkpoint->set_prepare_position(next_position - 1);
  }

  // Starts the next queued write (mu_ held). True when the queue is empty and the open hub batch
  // is thereby complete: the caller then calls WriteDone, outside mu_.
  bool StartNextLocked() {
    if (!queue_.empty() && !finished_) {
      current_ = std::move(queue_.front());
      queue_.pop_front();
      writing_ = true;
      StartWrite(&current_);
      return false;
    }
    queue_.clear();
    const bool complete = batch_open_;
    batch_open_ = false;
    return complete;
  }

  grpc::CallbackServerContext* const context_;
  // Shared with the hub's LiveRequest, which may still hold it after this reactor is gone.
  const std::shared_ptr<const ReadFilter> filter_;
  const ReadSpec spec_;  // its filter moved to filter_
  EndGrace end_grace_;  // armed by End
  std::shared_ptr<subscribe::LiveSubscription> subscription_;  // set before Start(), then const

  std::mutex mu_;
  std::deque<streams::ReadResp> queue_;  // the answers of at most one hub batch
  streams::ReadResp current_;            // the write in flight
  bool writing_ = false;
  bool batch_open_ = false;  // the hub waits for WriteDone of a batch
  bool finished_ = false;
};

}  // namespace

ReadReactor* StartSubscription(grpc::CallbackServerContext* context, subscribe::LiveHub* hub,
                               CallIdentity id, ReadSpec spec) {
  assert(hub != nullptr);
  return new SubscriptionReactor(context, hub, std::move(id), std::move(spec));
}

}  // namespace cairn::server::esdb
