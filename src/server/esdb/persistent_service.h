// event_store.client.persistent_subscriptions.PersistentSubscriptions on cairn's consumer groups
// (issue 9; docs/eventstoredb-clients.md). Naming: persistent_names.h; settings:
// persistent_settings.h; consumers: persistent_read.h.
//
// Create, Update, Delete, GetInfo, List and ReplayParked need action `admin` (resource "*"), as
// cairn.v1's group administration; Create, Update, Delete and ReplayParked are admin acts in the
// audit trail. Errors carry the `exception` trailer the clients expect
// (persistent-subscription-exists, persistent-subscription-does-not-exist, access-denied,
// not-authenticated, ...). Only groups made through this service are visible here (cairn.v1
// groups have no ESDB names). RestartSubsystem is UNIMPLEMENTED: a cairn group engine restarts
// with the server.
//
// Parked events: cairn parks a reference (position, stream, event id, reason — never the
// payload) in `$parked-<cairn group name>`, readable with cairn.v1 by principals with an explicit
// grant on it; ESDB's `$persistentsubscription-<stream>::<group>-parked` stream does not exist.
//
// Thread safety: gRPC calls the methods concurrently; administration is serialised by a mutex so
// that a group and its ESDB record agree. The store, gate, policy holder and engine must outlive
// the service and every call.
#pragma once

#include <mutex>

#include "engine/event_store.h"
#include "event_store/client/persistent.grpc.pb.h"
#include "policy/holder.h"
#include "server/call_gate.h"
#include "server/esdb/persistent_connections.h"
#include "server/esdb/persistent_names.h"
#include "server/esdb/persistent_read.h"
#include "server/esdb/persistent_settings.h"
#include "subscribe/group_engine.h"

namespace cairn::server::esdb {

class PersistentSubscriptionsService final
    : public ps::PersistentSubscriptions::WithCallbackMethod_Read<
          ps::PersistentSubscriptions::Service> {
 public:
  PersistentSubscriptionsService(engine::EventStore* store, const CallGate* gate,
                                 const policy::PolicyHolder* policies,
                                 subscribe::GroupEngine* groups);

  grpc::Status Create(grpc::ServerContext* context, const ps::CreateReq* request,
                      ps::CreateResp* response) override;
  grpc::Status Update(grpc::ServerContext* context, const ps::UpdateReq* request,
                      ps::UpdateResp* response) override;
  grpc::Status Delete(grpc::ServerContext* context, const ps::DeleteReq* request,
                      ps::DeleteResp* response) override;
  grpc::Status GetInfo(grpc::ServerContext* context, const ps::GetInfoReq* request,
                       ps::GetInfoResp* response) override;
  grpc::Status List(grpc::ServerContext* context, const ps::ListReq* request,
                    ps::ListResp* response) override;
  grpc::Status ReplayParked(grpc::ServerContext* context, const ps::ReplayParkedReq* request,
                            ps::ReplayParkedResp* response) override;
  grpc::Status RestartSubsystem(grpc::ServerContext* context,
                                const event_store::client::Empty* request,
                                event_store::client::Empty* response) override;
  grpc::ServerBidiReactor<ps::ReadReq, ps::ReadResp>* Read(
      grpc::CallbackServerContext* context) override;

 private:
  // Admits the call and checks `admin`; on refusal the trailers are on `context`.
  grpc::Status AdmitAdmin(grpc::ServerContext* context, CallIdentity* id) const;
  // An audited admin act on the group a request names; `act` returns a cairn Status.
  template <class Options, class Act>
  grpc::Status AdminActOn(grpc::ServerContext* context, std::string act_name,
                          const Options& options, Act act);
  Status CreateGroup(const ps::CreateReq::Options& options);
  Status UpdateGroup(const EsdbGroupId& id, const ps::UpdateReq::Options& options);
  Status DeleteGroup(const EsdbGroupId& id);
  void FillInfo(const subscribe::GroupInfo& info, const EsdbGroupRecord& record,
                ps::SubscriptionInfo* out) const;

  engine::EventStore* store_;
  const CallGate* gate_;
  const policy::PolicyHolder* policies_;
  subscribe::GroupEngine* groups_;
  EsdbGroupRecords records_;
  PersistentConnections connections_;
  std::mutex admin_mu_;  // serialises Create, Update and Delete
};

}  // namespace cairn::server::esdb
