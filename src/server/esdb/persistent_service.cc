#include "server/esdb/persistent_service.h"

#include "server/call_audit.h"
#include "server/esdb/esdb_convert.h"
#include "server/esdb/esdb_errors.h"
#include "server/esdb/persistent_errors.h"
#include "subscribe/group_parked.h"

namespace cairn::server::esdb {
namespace {

// Group engine listing figures of one group, or kNotFound.
Result<subscribe::GroupInfo> InfoOf(const subscribe::GroupEngine& groups, const std::string& name) {
  for (subscribe::GroupInfo& info : groups.List()) {
    if (info.settings.name == name) return std::move(info);
  }
  return Status::NotFound("no such group");
}

}  // namespace

PersistentSubscriptionsService::PersistentSubscriptionsService(
    engine::EventStore* store, const CallGate* gate, const policy::PolicyHolder* policies,
    subscribe::GroupEngine* groups)
    : store_(store), gate_(gate), policies_(policies), groups_(groups), records_(store) {}

grpc::Status PersistentSubscriptionsService::AdmitAdmin(grpc::ServerContext* context,
                                                        CallIdentity* id) const {
  if (grpc::Status s = gate_->Admit(context, id); !s.ok()) {
    return Finish(context, FromGateStatus(s));
  }
  if (grpc::Status s = Require(*id, policy::Action::kAdmin, "*", ""); !s.ok()) {
    return Finish(context, AccessDenied("admin denied"));
  }
  return grpc::Status::OK;
}

template <class Options, class Act>
grpc::Status PersistentSubscriptionsService::AdminActOn(grpc::ServerContext* context,
                                                        std::string act_name,
                                                        const Options& options, Act act) {
  CallIdentity id;
  if (grpc::Status s = AdmitAdmin(context, &id); !s.ok()) return s;
  auto group = IdOf(options);
  // Begun before the request is judged, as the native act is: an admin's refused attempt (a
  // group the request does not name validly) is recorded too, without a resource.
  AdminAct audit_act;
  if (grpc::Status s = AdminAct::Begin(id, std::move(act_name),
                                       group.ok() ? group->cairn_name() : std::string(),
                                       &audit_act);
      !s.ok()) {
    return s;
  }
  if (!group.ok()) {
    return audit_act.Finish(Finish(context, InvalidArgument(group.status().message())));
  }
  audit_act.AddDetail("esdb_group", group->group);
  const Status done = act(*group);
  if (done.ok()) return audit_act.Finish(grpc::Status::OK);
  return audit_act.Finish(Finish(context, GroupStatusError(done, group->stream, group->group)));
}

Status PersistentSubscriptionsService::CreateGroup(const ps::CreateReq::Options& options) {
  CAIRN_ASSIGN_OR_RETURN(EsdbGroupPlan plan, PlanCreate(store_, options));
  std::lock_guard<std::mutex> lock(admin_mu_);
  if (groups_->Get(plan.settings.name).ok()) return Status::AlreadyExists("group exists");
  CAIRN_RETURN_IF_ERROR(records_.Save(plan.record));
  if (Status s = groups_->Create(plan.settings); !s.ok()) {
    (void)records_.Remove(plan.settings.name);  // best effort: the group was not made
    return s;
  }
  return Status::Ok();
}

Status PersistentSubscriptionsService::UpdateGroup(const EsdbGroupId& id,
                                                   const ps::UpdateReq::Options& options) {
  const std::string name = id.cairn_name();
  std::lock_guard<std::mutex> lock(admin_mu_);
  CAIRN_ASSIGN_OR_RETURN(subscribe::GroupSettings current, groups_->Get(name));
  CAIRN_ASSIGN_OR_RETURN(std::optional<EsdbGroupRecord> record, records_.Load(name));
  if (!record) return Status::NotFound("no ESDB record");
  CAIRN_ASSIGN_OR_RETURN(EsdbGroupPlan plan, PlanUpdate(options, current, *record));
  CAIRN_RETURN_IF_ERROR(groups_->Update(plan.settings));
  return records_.Save(plan.record);
}

Status PersistentSubscriptionsService::DeleteGroup(const EsdbGroupId& id) {
  const std::string name = id.cairn_name();
  std::lock_guard<std::mutex> lock(admin_mu_);
  CAIRN_RETURN_IF_ERROR(groups_->Delete(name));
  return records_.Remove(name);
}

grpc::Status PersistentSubscriptionsService::Create(grpc::ServerContext* context,
                                                    const ps::CreateReq* request,
                                                    ps::CreateResp* response) {
  return AdminActOn(context, "group.create", request->options(),
                    [&](const EsdbGroupId&) { return CreateGroup(request->options()); });
}

grpc::Status PersistentSubscriptionsService::Update(grpc::ServerContext* context,
                                                    const ps::UpdateReq* request,
                                                    ps::UpdateResp* response) {
  return AdminActOn(context, "group.update", request->options(), [&](const EsdbGroupId& id) {
    return UpdateGroup(id, request->options());
  });
}

grpc::Status PersistentSubscriptionsService::Delete(grpc::ServerContext* context,
                                                    const ps::DeleteReq* request,
                                                    ps::DeleteResp* response) {
  return AdminActOn(context, "group.delete", request->options(),
                    [&](const EsdbGroupId& id) { return DeleteGroup(id); });
}

grpc::Status PersistentSubscriptionsService::ReplayParked(grpc::ServerContext* context,
                                                          const ps::ReplayParkedReq* request,
                                                          ps::ReplayParkedResp* response) {
  const auto& options = request->options();
  return AdminActOn(context, "group.replay_parked", options, [&](const EsdbGroupId& id) -> Status {
    std::optional<uint64_t> count_max;
    if (options.has_stop_at()) {
      if (options.stop_at() < 0) return Status::InvalidArgument("stop_at must not be negative");
      count_max = static_cast<uint64_t>(options.stop_at());
    }
    return groups_->ReplayParked(id.cairn_name(), count_max).status();
  });
}

void PersistentSubscriptionsService::FillInfo(const subscribe::GroupInfo& info,
                                              const EsdbGroupRecord& record,
                                              ps::SubscriptionInfo* out) const {
  auto parked = store_->GetStreamInfo(subscribe::ParkedStreamId(info.settings.name));
  const uint64_t parked_events = parked.ok() && parked->exists ? parked->event_count : 0;
  ToSubscriptionInfo(info, record, parked_events, out);
  if (record.stream != kEsdbAllStream) {
    const auto revision_text = [&](uint64_t position) {
      const std::optional<uint64_t> revision = RevisionBefore(store_, record.stream, position);
      return revision ? std::to_string(*revision) : std::string();
    };
    out->set_last_checkpointed_event_position(revision_text(info.counters.done_below));
    out->set_last_known_event_position(revision_text(info.counters.read_position));
  }
  for (const auto& c : connections_.Of(info.settings.name)) {
    ps::SubscriptionInfo::ConnectionInfo* w = out->add_connections();
    w->set_from(c->from);
    w->set_username(c->username);
    const uint32_t in_flight = std::min(c->in_flight.load(), c->max_in_flight);
    w->set_in_flight_messages(static_cast<int32_t>(in_flight));
    w->set_available_slots(static_cast<int32_t>(c->max_in_flight - in_flight));
    w->set_total_items(static_cast<int64_t>(c->delivered.load()));
    w->set_connection_name(c->connection_name);
  }
}

grpc::Status PersistentSubscriptionsService::GetInfo(grpc::ServerContext* context,
                                                     const ps::GetInfoReq* request,
                                                     ps::GetInfoResp* response) {
  CallIdentity id;
  if (grpc::Status s = AdmitAdmin(context, &id); !s.ok()) return s;
  auto group = IdOf(request->options());
  if (!group.ok()) return Finish(context, InvalidArgument(group.status().message()));
  auto info = InfoOf(*groups_, group->cairn_name());
  auto record = info.ok() ? records_.Load(group->cairn_name())
                          : Result<std::optional<EsdbGroupRecord>>(info.status());
  if (record.ok() && !*record) record = Status::NotFound("no ESDB record");
  if (!record.ok()) {
    return Finish(context, GroupStatusError(record.status(), group->stream, group->group));
  }
  FillInfo(*info, **record, response->mutable_subscription_info());
  return grpc::Status::OK;
}

grpc::Status PersistentSubscriptionsService::List(grpc::ServerContext* context,
                                                  const ps::ListReq* request,
                                                  ps::ListResp* response) {
  CallIdentity id;
  if (grpc::Status s = AdmitAdmin(context, &id); !s.ok()) return s;
  const auto& options = request->options();
  std::optional<std::string> only;  // one stream (or "$all"), else every group
  if (options.has_list_for_stream()) {
    const auto& which = options.list_for_stream();
    only = which.has_all() ? std::string(kEsdbAllStream) : StreamName(which.stream());
  }
  for (const subscribe::GroupInfo& info : groups_->List()) {
    if (info.settings.name.rfind(kEsdbGroupPrefix, 0) != 0) continue;
    auto record = records_.Load(info.settings.name);
    if (!record.ok()) return Finish(context, FromStatus(record.status(), ""));
    if (!*record || (only && (*record)->stream != *only)) continue;
    FillInfo(info, **record, response->add_subscriptions());
  }
  if (only && response->subscriptions_size() == 0) {
    // ESDB answers a stream without groups so (the clients expect it).
    return Finish(context, PersistentSubscriptionDoesNotExist(*only, ""));
  }
  return grpc::Status::OK;
}

grpc::Status PersistentSubscriptionsService::RestartSubsystem(
    grpc::ServerContext* context, const event_store::client::Empty* request,
    event_store::client::Empty* response) {
  CallIdentity id;
  if (grpc::Status s = AdmitAdmin(context, &id); !s.ok()) return s;
  return grpc::Status(grpc::StatusCode::UNIMPLEMENTED,
                      "cairn's consumer groups restart with the server");
}

grpc::ServerBidiReactor<ps::ReadReq, ps::ReadResp>* PersistentSubscriptionsService::Read(
    grpc::CallbackServerContext* context) {
  PersistentDeps deps;
  deps.store = store_;
  deps.gate = gate_;
  deps.policies = policies_;
  deps.groups = groups_;
  deps.records = &records_;
  deps.connections = &connections_;
  return StartPersistentRead(context, deps);
}

}  // namespace cairn::server::esdb
