// event_store.client.gossip.Gossip: cluster membership as the EventStoreDB/KurrentDB clients
// ask for it when they discover nodes (`esdb+discover://`). cairn has no leader election: every
// node serves reads and writes of the one log (several nodes share it through PostgreSQL,
// docs/deployment.md), so Read answers with this node alone, as an alive Leader, at the address
// the client reached it by (the call's :authority; the listen address when that is missing).
//
// Like ServerFeatures, the clients call it without credentials; it discloses only the node's
// own address and a random instance id chosen at start, and the peer allowlist still applies.
//
// Thread safety: immutable after construction; safe for concurrent calls.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

#include "event_store/client/gossip.grpc.pb.h"
#include "server/call_gate.h"

namespace cairn::server::esdb {

class GossipService final : public event_store::client::gossip::Gossip::CallbackService {
 public:
  // `listen`: the gRPC listener's configured "host:port" (the fallback address). `gate` checks
  // each call's peer (no credentials: discovery answers before a client authenticates).
  GossipService(std::string_view listen, const CallGate* gate);

  grpc::ServerUnaryReactor* Read(grpc::CallbackServerContext* context,
                                 const event_store::client::Empty* request,
                                 event_store::client::gossip::ClusterInfo* response) override;

 private:
  const std::string instance_id_;  // 16 random bytes
  const CallGate* gate_;
  std::string listen_host_;
  uint32_t listen_port_ = 0;
};

}  // namespace cairn::server::esdb
