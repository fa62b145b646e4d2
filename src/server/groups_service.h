// cairn.v1.PersistentSubscriptions: consumer groups over the GroupEngine (subscribe/).
//
// Create, Update, Delete, List and ReplayParked need action `admin` (resource "*"). Connect
// needs `subscribe` on the group's source (for "$all": some `subscribe` grant); after that the
// group delivers each event only to consumers whose identity may `subscribe` to its stream and
// type, judged by the policy in force at each delivery round (a reload takes effect at once; a
// consumer that loses `subscribe` on the source is ended with PERMISSION_DENIED), and shows
// protected fields in clear only with `read.pii` (EventStore::Reveal; masked otherwise).
//
// Connect uses gRPC's callback API: a consumer holds no server thread. Its outgoing queue is
// bounded by its max in-flight (plus a small margin); the group counts a delivery that does not
// fit as failed and delivers it again later.
//
// Thread safety: gRPC calls the methods concurrently; the engine is thread-safe. The store,
// gate, policy holder and engine must outlive the service and every call.
#pragma once

#include "cairn/v1/groups.grpc.pb.h"
#include "engine/event_store.h"
#include "policy/holder.h"
#include "server/call_gate.h"
#include "subscribe/group_engine.h"

namespace cairn::server {

class GroupsService final
    : public v1::PersistentSubscriptions::WithCallbackMethod_Connect<
          v1::PersistentSubscriptions::Service> {
 public:
  GroupsService(engine::EventStore* store, const CallGate* gate,
                const policy::PolicyHolder* policies, subscribe::GroupEngine* groups)
      : store_(store), gate_(gate), policies_(policies), groups_(groups) {}

  grpc::Status Create(grpc::ServerContext* context, const v1::CreateGroupRequest* request,
                      v1::CreateGroupResponse* response) override;
  grpc::Status Update(grpc::ServerContext* context, const v1::UpdateGroupRequest* request,
                      v1::UpdateGroupResponse* response) override;
  grpc::Status Delete(grpc::ServerContext* context, const v1::DeleteGroupRequest* request,
                      v1::DeleteGroupResponse* response) override;
  grpc::Status List(grpc::ServerContext* context, const v1::ListGroupsRequest* request,
                    v1::ListGroupsResponse* response) override;
  grpc::Status ReplayParked(grpc::ServerContext* context, const v1::ReplayParkedRequest* request,
                            v1::ReplayParkedResponse* response) override;
  grpc::ServerBidiReactor<v1::GroupClientMessage, v1::GroupServerMessage>* Connect(
      grpc::CallbackServerContext* context) override;

 private:
  grpc::Status AdmitAdmin(grpc::ServerContext* context, CallIdentity* id) const;
  template <typename Act>
  grpc::Status AdminActOn(grpc::ServerContext* context, std::string act_name,
                          const std::string& name, Act act) const;

  engine::EventStore* store_;
  const CallGate* gate_;
  const policy::PolicyHolder* policies_;
  subscribe::GroupEngine* groups_;
};

}  // namespace cairn::server
