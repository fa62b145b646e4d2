#include "server/esdb/persistent_read.h"

#include <algorithm>
#include <chrono>
#include <memory>
#include <mutex>

#include "common/wall_clock.h"
#include "server/call_audit.h"
#include "server/esdb/esdb_convert.h"
#include "server/esdb/esdb_errors.h"
#include "server/esdb/persistent_ack_ids.h"
#include "server/esdb/persistent_errors.h"
#include "server/esdb/persistent_settings.h"
#include "server/group_sink_support.h"
#include "server/queued_bidi_reactor.h"
#include "subscribe/live_access.h"

namespace cairn::server::esdb {
namespace {

// Room in the outgoing queue beyond the max in-flight (the confirmation, redeliveries after a
// timeout while the first copy still waits to be written).

subscribe::NackAction NackActionOf(ps::ReadReq::Nack::Action action) {
  switch (action) {
    case ps::ReadReq::Nack::Park: return subscribe::NackAction::kPark;
    case ps::ReadReq::Nack::Skip: return subscribe::NackAction::kSkip;
    default: return subscribe::NackAction::kRetry;  // Retry and Unknown, as ESDB does
  }
}

// The name GetInfo shows for a consumer: for an API key (ESDB's Basic credentials) its id, as
// the client logged in with it; otherwise the principal id.
std::string UsernameOf(const Principal& principal) {
  constexpr std::string_view kApiKeyPrefix = "apikey:";
  if (principal.method == AuthMethod::kApiKey && principal.id.rfind(kApiKeyPrefix, 0) == 0) {
    return principal.id.substr(kApiKeyPrefix.size());
  }
  return principal.id;
}

// The client's name for its connection (ESDB clients send `connection-name`), printable ASCII,
// at most kConnectionNameSizeBytesMax bytes.
constexpr size_t kConnectionNameSizeBytesMax = 128;
std::string ConnectionNameOf(const grpc::CallbackServerContext& context) {
  const auto& metadata = context.client_metadata();
  auto it = metadata.find("connection-name");
  if (it == metadata.end()) return "";
  std::string name;
  for (char c : it->second) {
    if (name.size() >= kConnectionNameSizeBytesMax) break;
    name.push_back(c >= 0x20 && c < 0x7f ? c : '?');
  }
  return name;
}

class ReadCall;

// The consumer as the group engine sees it (server/group_sink_support.h).
class ReadSink final : public GroupSinkBase<ReadCall> {
 public:
  ReadSink(engine::EventStore* store, subscribe::LiveAccess access, bool structured_uuid,
           ReadCall* call)
      : GroupSinkBase(store, std::move(access), call), structured_uuid_(structured_uuid) {}
  DeliverResult Deliver(subscribe::GroupDelivery delivery) override;
  void Closed(const Status& why) override;

 private:
  const bool structured_uuid_;
};

class ReadCall final : public QueuedBidiReactor<ps::ReadReq, ps::ReadResp, GroupDeliveryTag> {
 public:
  ReadCall(grpc::CallbackServerContext* context, const PersistentDeps& deps)
      : QueuedBidiReactor(context), context_(context), deps_(deps) {
    if (grpc::Status s = deps.gate->Admit(context, &id_); !s.ok()) {
      EndWith(FromGateStatus(s));
      return;
    }
    StartRead(&in_);
  }

  // From the group's thread (through the sink). false when the message does not fit.
  bool Enqueue(GroupDeliveryTag tag, ps::ReadResp message) {
    std::lock_guard<std::mutex> lock(mu());
    if (finishing_locked() || queue_full_locked()) return false;
    ack_ids_->Put(tag.event_id, tag.stream_id, tag.ack_id);
    stats_->in_flight.store(static_cast<uint32_t>(ack_ids_->size()));
    stats_->delivered.fetch_add(1);
    PushLocked(std::move(message), std::move(tag));
    return true;
  }

  // From the group's thread (through the sink).
  bool WriteStalled(int64_t stall_ms_max) {
    std::lock_guard<std::mutex> lock(mu());
    return WriteStalledLocked(SteadyNowMs(), stall_ms_max);
  }
  // From the group's thread (through the sink): the queued deliveries `access` no longer
  // allows, taken out of the queue (the consumer never sees their event ids).
  std::vector<subscribe::WithdrawnDelivery> WithdrawRevoked(const subscribe::LiveAccess& access) {
    std::lock_guard<std::mutex> lock(mu());
    if (!ack_ids_) return {};  // not joined: nothing was delivered
    std::vector<GroupDeliveryTag> tags =
        WithdrawLocked([&](const GroupDeliveryTag& tag) { return RevokedFor(access, tag); });
    const GroupDeliveryTag* sending = writing_tag_locked();
    for (const GroupDeliveryTag& tag : tags) {
      // A copy of the same event being written (a redelivery queued behind it) keeps the id.
      if (sending != nullptr && sending->event_id == tag.event_id &&
          sending->stream_id == tag.stream_id) {
        continue;
      }
      ack_ids_->Withdraw(tag.event_id, tag.ack_id);  // this delivery only, not another event's
    }
    if (stats_) stats_->in_flight.store(static_cast<uint32_t>(ack_ids_->size()));
    return WithdrawnOf(tags);
  }

  // From the group's thread (through the sink), when the group dropped this consumer: it no
  // longer counts against max_subscriber_count nor shows in GetInfo, though its call may take
  // up to EndGrace to end.
  void Unregister() {
    std::shared_ptr<ConnectionStats> stats;
    {
      std::lock_guard<std::mutex> lock(mu());
      stats = stats_;
    }
    if (stats && !unregistered_.exchange(true)) {
      deps_.connections->Remove(group_id_.cairn_name(), stats.get());
    }
  }

  void EndWith(const EsdbError& error) {
    std::lock_guard<std::mutex> lock(mu());
    if (finishing_locked()) return;
    EndLocked(esdb::Finish(context_, error));
  }

  const EsdbGroupId& group_id() const { return group_id_; }

  // From the group's thread (through the sink), once: the group dropped this consumer because
  // its credential ended or its access did (server/call_gate.h). On a copy of the identity,
  // which the call's own thread may still be reading.
  void AuditEnd(const Status& why) const {
    CallIdentity id = id_;
    AuditAccessEnd(*deps_.gate, &id, policy::Action::kSubscribe, group_id_.stream, why,
                   RuleOf(why));
  }

  void OnReadDone(bool ok) override {
    if (!ok) {  // the consumer closed its side or went away
      LeaveGroup();
      End(grpc::Status::OK);
      return;
    }
    FirstMessageArrived();
    if (!joined_) {
      HandleOptions();
    } else {
      HandleAckOrNack();
    }
  }

  void OnCancel() override {
    LeaveGroup();
    End(grpc::Status::CANCELLED);
  }

  void OnDone() override {
    if (sink_) sink_->Detach();
    LeaveGroup();
    delete this;
  }

 private:
  void HandleOptions();
  void HandleAckOrNack();
  Status Join(const subscribe::GroupSettings& settings, uint32_t max_subscribers,
              subscribe::LiveAccess access, bool structured_uuid, int32_t buffer_size);
  // Audits the denial on the group's source; the answer names only the group, which the caller
  // named itself (not the source stream, which only admins may list).
  EsdbError Denied(const std::string& source);

  void LeaveGroup() {
    std::unique_ptr<subscribe::GroupMembership> membership;
    std::shared_ptr<ConnectionStats> stats;
    {
      std::lock_guard<std::mutex> lock(mu());
      membership = std::move(membership_);
      stats = stats_;
    }
    // Destroying the membership hands its deliveries to the other consumers.
    membership.reset();
    if (stats && !unregistered_.exchange(true)) {
      deps_.connections->Remove(group_id_.cairn_name(), stats.get());
    }
  }

  grpc::CallbackServerContext* const context_;
  const PersistentDeps deps_;
  CallIdentity id_;
  ps::ReadReq in_;
  bool joined_ = false;  // the reading side only
  EsdbGroupId group_id_;  // set before joining, then constant
  std::shared_ptr<ReadSink> sink_;
  std::shared_ptr<ConnectionStats> stats_;
  std::atomic<bool> unregistered_{false};

  // Guarded by mu():
  std::unique_ptr<subscribe::GroupMembership> membership_;
  std::unique_ptr<AckIdMap> ack_ids_;
};

EsdbError ReadCall::Denied(const std::string& source) {
  const policy::Decision decision = id_.Decide(policy::Action::kSubscribe, source, "");
  id_.audit->Denied(id_, policy::Action::kSubscribe, source, "", decision.rule);
  return AccessDenied("subscribe to the group '" + group_id_.group + "' of stream '" +
                      group_id_.stream + "' denied");
}

void ReadCall::HandleOptions() {
  if (!in_.has_options()) {
    EndWith(InvalidArgument("the first message must be the options"));
    return;
  }
  const ps::ReadReq::Options& options = in_.options();
  auto id = IdOf(options);
  if (!id.ok()) {
    EndWith(InvalidArgument(id.status().message()));
    return;
  }
  group_id_ = std::move(id).value();
  const std::string name = group_id_.cairn_name();
  // The stream is judged before the group is looked up, so that a caller who may not subscribe
  // to it cannot probe which groups exist on it.
  subscribe::LiveAccess access(deps_.policies, id_.principal, group_id_.stream);
  access.set_credential_check(CredentialCheckOf(id_.authenticator));
  if (Status s = access.Refresh(NowUnixSeconds()); !s.ok()) {
    EndWith(s.code() == StatusCode::kPermissionDenied ? Denied(group_id_.stream)
                                                      : NotAuthenticated("credential expired"));
    return;
  }
  auto settings = deps_.groups->Get(name);
  auto record = settings.ok() ? deps_.records->Load(name) : Result<std::optional<EsdbGroupRecord>>(
                                                                settings.status());
  if (record.ok() && !*record) record = Status::NotFound("no ESDB record");
  // An ESDB group's source is the stream it was made on (persistent_settings.cc); a cairn group
  // that merely carries the name was judged on the wrong stream above, so it is not this group.
  if (record.ok() && settings->source != group_id_.stream) record = Status::NotFound("not ESDB's");
  if (!record.ok()) {
    EndWith(GroupStatusError(record.status(), group_id_.stream, group_id_.group, GroupCall::kConnect));
    return;
  }
  if (!settings->Admits(id_.principal.id)) {  // the group names its consumers: not this one
    id_.audit->Denied(id_, policy::Action::kSubscribe, settings->source, "", "group-consumers");
    EndWith(AccessDenied("subscribe to the group '" + group_id_.group + "' of stream '" +
                         group_id_.stream + "' denied"));
    return;
  }
  const bool structured = options.uuid_option().has_structured();
  const Status joined = Join(*settings, static_cast<uint32_t>(std::max(0, (*record)->max_subscriber_count)),
                             std::move(access), structured, options.buffer_size());
  if (!joined.ok()) {
    EndWith(GroupStatusError(joined, group_id_.stream, group_id_.group, GroupCall::kConnect));
    return;
  }
  id_.audit->CountAllowed(policy::Action::kSubscribe);  // a join, as the native Connect counts
  id_.audit->DataPlane(id_, policy::Action::kSubscribe, settings->source, grpc::Status::OK,
                       {{"group", name}});
  joined_ = true;
  StartRead(&in_);
}

Status ReadCall::Join(const subscribe::GroupSettings& settings, uint32_t max_subscribers,
                      subscribe::LiveAccess access, bool structured_uuid, int32_t buffer_size) {
  const uint32_t in_flight_max = deps_.groups->limits().in_flight_max;
  const uint32_t max_in_flight =
      buffer_size <= 0 ? 0 : std::min(static_cast<uint32_t>(buffer_size), in_flight_max);
  auto stats = std::make_shared<ConnectionStats>();
  stats->from = context_->peer();
  stats->username = UsernameOf(id_.principal);
  stats->connection_name = ConnectionNameOf(*context_);
  CAIRN_RETURN_IF_ERROR(deps_.connections->Add(settings.name, max_subscribers, stats));
  sink_ = std::make_shared<ReadSink>(deps_.store, std::move(access), structured_uuid, this);
  // Under mu(), so that the group's first delivery queues behind the confirmation.
  std::lock_guard<std::mutex> lock(mu());
  stats_ = stats;  // LeaveGroup unregisters it from now on
  auto membership = finishing_locked() ? Result<std::unique_ptr<subscribe::GroupMembership>>(
                                     Status::Unavailable("the call ended"))
                               : deps_.groups->Join(settings.name, sink_, max_in_flight,
                                                    subscribe::InFlightBound::kServer);
  if (!membership.ok()) {
    if (!unregistered_.exchange(true)) deps_.connections->Remove(settings.name, stats.get());
    return membership.status();
  }
  const uint32_t granted = (*membership)->max_in_flight();
  stats_->max_in_flight = granted;
  set_queue_max_locked(granted + kQueueMarginMessages);
  ack_ids_ = std::make_unique<AckIdMap>(2 * static_cast<size_t>(granted) + kQueueMarginMessages);
  membership_ = std::move(membership).value();
  ps::ReadResp confirmation;
  confirmation.mutable_subscription_confirmation()->set_subscription_id(
      SubscriptionId(group_id_.stream, group_id_.group));
  PushLocked(std::move(confirmation));
  return Status::Ok();
}

void ReadCall::HandleAckOrNack() {
  const bool ack = in_.has_ack();
  if (!ack && !in_.has_nack()) {
    LeaveGroup();
    EndWith(InvalidArgument("expected an ack or a nack"));
    return;
  }
  const auto& ids = ack ? in_.ack().ids() : in_.nack().ids();
  if (ids.size() > kEsdbAckIdsPerMessageMax) {
    LeaveGroup();
    EndWith(InvalidArgument("at most 1000 event ids per ack or nack"));
    return;
  }
  const bool stop = !ack && in_.nack().action() == ps::ReadReq::Nack::Stop;
  {
    std::lock_guard<std::mutex> lock(mu());
    if (!membership_) return;  // the group ended; the call is finishing
    std::vector<uint64_t> ack_ids;
    ack_ids.reserve(ids.size());
    for (const auto& uuid : ids) {
      std::optional<std::string> bytes = UuidBytes(uuid);
      if (!bytes) continue;  // not an id this consumer was given: ignored, as unknown ids are
      if (std::optional<uint64_t> ack_id = ack_ids_->Take(*bytes)) ack_ids.push_back(*ack_id);
    }
    stats_->in_flight.store(static_cast<uint32_t>(ack_ids_->size()));
    if (ack) {
      membership_->Ack(ack_ids);
    } else if (!stop) {
      membership_->Nack(ack_ids, NackActionOf(in_.nack().action()), in_.nack().reason());
    }
  }
  if (stop) {
    LeaveGroup();
    End(grpc::Status::OK);
    return;
  }
  StartRead(&in_);
}

ReadSink::DeliverResult ReadSink::Deliver(subscribe::GroupDelivery delivery) {
  auto event = ReaderView(std::move(delivery.event));
  if (!event.ok()) return DeliverResult::Unreadable(event.status().code());  // parked at once
  ps::ReadResp message;
  ps::ReadResp::ReadEvent* out = message.mutable_event();
  ToWireRecorded(*event, structured_uuid_, out->mutable_event());
  out->set_commit_position(event->entry.position);
  out->set_retry_count(static_cast<int32_t>(delivery.attempt > 0 ? delivery.attempt - 1 : 0));
  GroupDeliveryTag tag{true, delivery.ack_id, delivery.attempt, event->entry.stream_id,
                       event->entry.event_type, event->entry.event_id};
  tag.pii_revealed = !event->revealed.empty();
  std::lock_guard<std::mutex> lock(mu_);
  const bool queued = conn_ != nullptr && conn_->Enqueue(std::move(tag), std::move(message));
  return queued ? DeliverResult::HandedOver() : DeliverResult::NotTaken();
}

void ReadSink::Closed(const Status& why) {
  std::lock_guard<std::mutex> lock(mu_);
  if (conn_ == nullptr) return;
  conn_->Unregister();  // out of the group now, whenever its call ends
  conn_->AuditEnd(why);
  const EsdbGroupId& id = conn_->group_id();
  if (why.code() == StatusCode::kPermissionDenied) {
    conn_->EndWith(AccessDenied("subscribe on the group's source is no longer granted"));
  } else if (why.code() == StatusCode::kResourceExhausted) {  // the group: it stopped reading
    conn_->EndWith(PersistentSubscriptionDropped(id.stream, id.group, why.message()));
  } else {
    conn_->EndWith(GroupStatusError(why, id.stream, id.group, GroupCall::kConnect));
  }
}

}  // namespace

grpc::ServerBidiReactor<ps::ReadReq, ps::ReadResp>* StartPersistentRead(
    grpc::CallbackServerContext* context, const PersistentDeps& deps) {
  return new ReadCall(context, deps);
}

}  // namespace cairn::server::esdb
