#include "server/groups_service.h"

#include <chrono>
#include <memory>
#include <mutex>

#include "common/wall_clock.h"
#include "server/call_audit.h"
#include "server/group_sink_support.h"
#include "server/queued_bidi_reactor.h"
#include "server/status_map.h"
#include "server/wire_convert.h"
#include "subscribe/live_access.h"

namespace cairn::server {
namespace {

// Ack ids in one GroupAck / GroupNack message.
constexpr int kAckIdsPerMessageMax = 1000;
// Room in a consumer's outgoing queue beyond its max in-flight (redeliveries after a timeout
// while the first copy still waits to be written).

subscribe::GroupSettings SettingsFromWire(const v1::GroupSettings& w) {
  subscribe::GroupSettings s;
  s.name = w.name();
  s.source = w.source();
  s.stream_prefixes.assign(w.filter().stream_prefixes().begin(), w.filter().stream_prefixes().end());
  s.event_types.assign(w.filter().event_types().begin(), w.filter().event_types().end());
  s.event_type_prefixes.assign(w.event_type_prefixes().begin(), w.event_type_prefixes().end());
  s.consumers.assign(w.consumers().begin(), w.consumers().end());
  s.start_position = w.start_position();
  s.max_in_flight = w.max_in_flight();
  s.retry_limit = w.retry_limit();
  s.ack_timeout_ms = w.ack_timeout_ms();
  return s;
}

void SettingsToWire(const subscribe::GroupSettings& s, v1::GroupSettings* w) {
  w->set_name(s.name);
  w->set_source(s.source);
  for (const auto& p : s.stream_prefixes) w->mutable_filter()->add_stream_prefixes(p);
  for (const auto& t : s.event_types) w->mutable_filter()->add_event_types(t);
  for (const auto& p : s.event_type_prefixes) w->add_event_type_prefixes(p);
  for (const auto& c : s.consumers) w->add_consumers(c);
  w->set_start_position(s.start_position);
  w->set_max_in_flight(s.max_in_flight);
  w->set_retry_limit(s.retry_limit);
  w->set_ack_timeout_ms(s.ack_timeout_ms);
}

void StatusToWire(const subscribe::GroupInfo& info, v1::GroupStatus* w) {
  SettingsToWire(info.settings, w->mutable_settings());
  const subscribe::GroupCounters& c = info.counters;
  w->set_done_below(c.done_below);
  w->set_read_position(c.read_position);
  w->set_consumers(c.consumers);
  w->set_in_flight(c.in_flight);
  w->set_acked(c.acked);
  w->set_parked(c.parked);
  w->set_skipped(c.skipped);
  w->set_unauthorized_waiting(c.unauthorized_waiting);
  w->set_replay_pending(c.replay_pending);
  w->set_withdrawn(c.withdrawn);
  w->set_stalled(c.stalled);
}

subscribe::NackAction NackFromWire(v1::NackAction action) {
  switch (action) {
    case v1::NACK_PARK: return subscribe::NackAction::kPark;
    case v1::NACK_SKIP: return subscribe::NackAction::kSkip;
    default: return subscribe::NackAction::kRetry;
  }
}

class GroupConnection;

// The consumer as the group engine sees it (server/group_sink_support.h).
class ConnectionSink final : public GroupSinkBase<GroupConnection> {
 public:
  using GroupSinkBase::GroupSinkBase;
  DeliverResult Deliver(subscribe::GroupDelivery delivery) override;
  void Closed(const Status& why) override;
};

// One Connect call: join, then acks and nacks in; joined and events out.
class GroupConnection final
    : public QueuedBidiReactor<v1::GroupClientMessage, v1::GroupServerMessage, GroupDeliveryTag> {
 public:
  GroupConnection(grpc::CallbackServerContext* context, engine::EventStore* store,
                  const CallGate* gate, const policy::PolicyHolder* policies,
                  subscribe::GroupEngine* groups)
      : QueuedBidiReactor(context), store_(store), gate_(gate), policies_(policies), groups_(groups) {
    if (grpc::Status s = gate->Admit(context, &id_); !s.ok()) {
      End(std::move(s));
      return;
    }
    StartRead(&in_);
  }

  // From the group's thread (through the sink). false when the message does not fit.
  bool Enqueue(v1::GroupServerMessage message, GroupDeliveryTag tag) {
    std::lock_guard<std::mutex> lock(mu());
    return TryPushLocked(std::move(message), std::move(tag));
  }
  // From the group's thread (through the sink).
  bool WriteStalled(int64_t stall_ms_max) {
    std::lock_guard<std::mutex> lock(mu());
    return WriteStalledLocked(SteadyNowMs(), stall_ms_max);
  }
  // From the group's thread (through the sink): the queued deliveries `access` no longer
  // allows, taken out of the queue.
  std::vector<subscribe::WithdrawnDelivery> WithdrawRevoked(const subscribe::LiveAccess& access) {
    std::lock_guard<std::mutex> lock(mu());
    return WithdrawnOf(
        WithdrawLocked([&](const GroupDeliveryTag& tag) { return RevokedFor(access, tag); }));
  }

  // From the group's thread (through the sink), once: the group dropped this member because its
  // credential ended or its access did (server/call_gate.h). On a copy of the identity, which
  // the call's own thread may still be reading (source_ is set before the sink exists).
  void AuditEnd(const Status& why) const {
    CallIdentity id = id_;
    AuditAccessEnd(*gate_, &id, policy::Action::kSubscribe, source_, why, RuleOf(why));
  }

  void OnReadDone(bool ok) override {
    if (!ok) {  // the consumer closed its side or went away
      LeaveGroup();
      End(grpc::Status::OK);
      return;
    }
    FirstMessageArrived();
    grpc::Status s = joined_ ? Handle(in_) : HandleJoin(in_);
    if (!s.ok()) {
      LeaveGroup();
      End(s);
      return;
    }
    StartRead(&in_);
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
  grpc::Status HandleJoin(const v1::GroupClientMessage& message);
  grpc::Status Handle(const v1::GroupClientMessage& message);

  void LeaveGroup() {
    std::unique_ptr<subscribe::GroupMembership> membership;
    {
      std::lock_guard<std::mutex> lock(mu());
      membership = std::move(membership_);
    }
    // Destroying the membership hands its deliveries to the other consumers.
  }

  engine::EventStore* store_;
  const CallGate* gate_;
  const policy::PolicyHolder* policies_;
  subscribe::GroupEngine* groups_;
  CallIdentity id_;
  std::string source_;  // the group's source stream, from the join
  v1::GroupClientMessage in_;
  bool joined_ = false;  // the reading side only
  std::shared_ptr<ConnectionSink> sink_;

  std::unique_ptr<subscribe::GroupMembership> membership_;  // guarded by mu()
};

grpc::Status GroupConnection::HandleJoin(const v1::GroupClientMessage& message) {
  if (!message.has_join()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "the first message must be a join");
  }
  const v1::GroupJoin& join = message.join();
  auto settings = groups_->Get(join.group());
  if (settings.status().code() == StatusCode::kNotFound &&
      !id_.Decide(policy::Action::kAdmin, "*", "").allowed) {
    // Answered like a denied join, so that a caller who may not list groups cannot probe which
    // group names exist (admins, who may list them, get NOT_FOUND).
    id_.audit->Denied(id_, policy::Action::kSubscribe, "", "", "no-such-group");
    return DeniedStatus(policy::ActionName(policy::Action::kSubscribe), "group " + join.group(),
                        "");
  }
  if (!settings.ok()) return ToGrpcStatus(settings.status());
  subscribe::LiveAccess access(policies_, id_.principal, settings->source);
  access.set_credential_check(CredentialCheckOf(id_.authenticator));
  if (Status s = access.Refresh(NowUnixSeconds()); !s.ok()) {
    if (s.code() == StatusCode::kPermissionDenied) {
      // Audited on the source; answered naming only the group the caller named (the source
      // stream is for admins, who may list groups).
      const policy::Decision decision = id_.Decide(policy::Action::kSubscribe, settings->source, "");
      id_.audit->Denied(id_, policy::Action::kSubscribe, settings->source, "", decision.rule);
      return DeniedStatus(policy::ActionName(policy::Action::kSubscribe), "group " + join.group(),
                          "");
    }
    return ToGrpcStatus(s);  // the credential expired meanwhile
  }
  if (!settings->Admits(id_.principal.id)) {
    // The group names its consumers and this principal is not one: denied like a join without
    // `subscribe`, naming only the group.
    id_.audit->Denied(id_, policy::Action::kSubscribe, settings->source, "", "group-consumers");
    return DeniedStatus(policy::ActionName(policy::Action::kSubscribe), "group " + join.group(),
                        "");
  }
  source_ = settings->source;
  sink_ = std::make_shared<ConnectionSink>(store_, std::move(access), this);
  // Under mu(), so that the group's first delivery queues behind the joined message.
  std::lock_guard<std::mutex> lock(mu());
  // Cancelled meanwhile (OnCancel ended the call): join nothing, queue nothing.
  if (finishing_locked()) return grpc::Status(grpc::StatusCode::UNAVAILABLE, "the call ended");
  auto membership = groups_->Join(join.group(), sink_, join.max_in_flight());
  if (membership.status().code() == StatusCode::kPermissionDenied) {
    // An update removed this principal from the group's consumers since the check above.
    id_.audit->Denied(id_, policy::Action::kSubscribe, settings->source, "", "group-consumers");
    return DeniedStatus(policy::ActionName(policy::Action::kSubscribe), "group " + join.group(),
                        "");
  }
  if (!membership.ok()) return ToGrpcStatus(membership.status());
  v1::GroupServerMessage joined;
  joined.mutable_joined()->set_group(join.group());
  joined.mutable_joined()->set_consumer_id((*membership)->consumer_id());
  joined.mutable_joined()->set_max_in_flight((*membership)->max_in_flight());
  set_queue_max_locked((*membership)->max_in_flight() + kQueueMarginMessages);
  membership_ = std::move(membership).value();
  id_.audit->CountAllowed(policy::Action::kSubscribe);
  id_.audit->DataPlane(id_, policy::Action::kSubscribe, settings->source, grpc::Status::OK,
                       {{"group", join.group()}});
  PushLocked(std::move(joined));
  joined_ = true;
  return grpc::Status::OK;
}

grpc::Status GroupConnection::Handle(const v1::GroupClientMessage& message) {
  const auto& ids = message.has_ack() ? message.ack().ack_ids() : message.nack().ack_ids();
  if (!message.has_ack() && !message.has_nack()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "expected an ack or a nack");
  }
  if (ids.size() > kAckIdsPerMessageMax) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "at most 1000 ack ids per message");
  }
  std::vector<uint64_t> ack_ids(ids.begin(), ids.end());
  std::lock_guard<std::mutex> lock(mu());
  if (!membership_) return grpc::Status::OK;  // the group ended; the stream is finishing
  if (message.has_ack()) {
    membership_->Ack(ack_ids);
  } else {
    membership_->Nack(ack_ids, NackFromWire(message.nack().action()), message.nack().reason());
  }
  return grpc::Status::OK;
}

ConnectionSink::DeliverResult ConnectionSink::Deliver(subscribe::GroupDelivery delivery) {
  auto event = ReaderView(std::move(delivery.event));
  if (!event.ok()) return DeliverResult::Unreadable(event.status().code());  // parked at once
  v1::GroupServerMessage message;
  v1::GroupEvent* out = message.mutable_event();
  server::ToWire(*event, out->mutable_event());
  out->set_ack_id(delivery.ack_id);
  out->set_attempt(delivery.attempt);
  out->set_replay(delivery.replay);
  GroupDeliveryTag tag{true, delivery.ack_id, delivery.attempt, event->entry.stream_id,
                       event->entry.event_type, ""};
  tag.pii_revealed = !event->revealed.empty();
  std::lock_guard<std::mutex> lock(mu_);
  const bool queued = conn_ != nullptr && conn_->Enqueue(std::move(message), std::move(tag));
  return queued ? DeliverResult::HandedOver() : DeliverResult::NotTaken();
}

void ConnectionSink::Closed(const Status& why) {
  std::lock_guard<std::mutex> lock(mu_);
  if (conn_ == nullptr) return;
  conn_->AuditEnd(why);
  conn_->End(ToGrpcStatus(why));
}

}  // namespace

grpc::Status GroupsService::AdmitAdmin(grpc::ServerContext* context, CallIdentity* id) const {
  if (grpc::Status s = gate_->Admit(context, id); !s.ok()) return s;
  return Require(*id, policy::Action::kAdmin, "*", "");
}

// An audited admin act on group `name` (server/call_audit.h).
template <typename Act>
grpc::Status GroupsService::AdminActOn(grpc::ServerContext* context, std::string act_name,
                                       const std::string& name, Act act) const {
  CallIdentity id;
  if (grpc::Status s = AdmitAdmin(context, &id); !s.ok()) return s;
  AdminAct audit_act;
  if (grpc::Status s = AdminAct::Begin(id, std::move(act_name), name, &audit_act); !s.ok()) {
    return s;
  }
  return audit_act.Finish(act());
}

grpc::Status GroupsService::Create(grpc::ServerContext* context,
                                   const v1::CreateGroupRequest* request,
                                   v1::CreateGroupResponse* response) {
  return AdminActOn(context, "group.create", request->settings().name(), [&] {
    return ToGrpcStatus(groups_->Create(SettingsFromWire(request->settings())));
  });
}

grpc::Status GroupsService::Update(grpc::ServerContext* context,
                                   const v1::UpdateGroupRequest* request,
                                   v1::UpdateGroupResponse* response) {
  return AdminActOn(context, "group.update", request->settings().name(), [&] {
    return ToGrpcStatus(groups_->Update(SettingsFromWire(request->settings())));
  });
}

grpc::Status GroupsService::Delete(grpc::ServerContext* context,
                                   const v1::DeleteGroupRequest* request,
                                   v1::DeleteGroupResponse* response) {
  return AdminActOn(context, "group.delete", request->name(),
                    [&] { return ToGrpcStatus(groups_->Delete(request->name())); });
}

grpc::Status GroupsService::List(grpc::ServerContext* context,
                                 const v1::ListGroupsRequest* request,
                                 v1::ListGroupsResponse* response) {
  CallIdentity id;
  if (grpc::Status s = AdmitAdmin(context, &id); !s.ok()) return s;
  for (const subscribe::GroupInfo& info : groups_->List()) StatusToWire(info, response->add_groups());
  return grpc::Status::OK;
}

grpc::Status GroupsService::ReplayParked(grpc::ServerContext* context,
                                         const v1::ReplayParkedRequest* request,
                                         v1::ReplayParkedResponse* response) {
  return AdminActOn(context, "group.replay_parked", request->name(), [&] {
    auto pending = groups_->ReplayParked(request->name());
    if (!pending.ok()) return ToGrpcStatus(pending.status());
    response->set_replay_pending(*pending);
    return grpc::Status::OK;
  });
}

grpc::ServerBidiReactor<v1::GroupClientMessage, v1::GroupServerMessage>* GroupsService::Connect(
    grpc::CallbackServerContext* context) {
  return new GroupConnection(context, store_, gate_, policies_, groups_);
}

}  // namespace cairn::server
