#include "server/esdb/gossip_service.h"

#include <cassert>

#include <chrono>
#include <string_view>

#include "engine/types.h"
#include "server/esdb/esdb_convert.h"

namespace cairn::server::esdb {
namespace {

using event_store::client::gossip::MemberInfo;

constexpr size_t kAuthoritySizeBytesMax = 300;

// "host:port" or "[v6]:port" → host and port; false when it is not that shape.
bool SplitAuthority(std::string_view authority, std::string* host, uint32_t* port) {
  if (authority.empty() || authority.size() > kAuthoritySizeBytesMax) return false;
  const size_t colon = authority.rfind(':');
  if (colon == std::string_view::npos || colon + 1 >= authority.size()) return false;
  uint64_t value = 0;
  for (const char c : authority.substr(colon + 1)) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + static_cast<uint64_t>(c - '0');
    if (value > 65535) return false;
  }
  std::string_view name = authority.substr(0, colon);
  if (name.size() >= 2 && name.front() == '[' && name.back() == ']') {
    name = name.substr(1, name.size() - 2);
  }
  if (name.empty()) return false;
  host->assign(name);
  *port = static_cast<uint32_t>(value);
  return true;
}

int64_t NowTicks() {
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
      std::chrono::system_clock::now().time_since_epoch());
  return CreatedTicks(ns.count());
}

}  // namespace

GossipService::GossipService(std::string_view listen, const CallGate* gate)
    : instance_id_(engine::NewUuidV4()), gate_(gate) {
  assert(gate_ != nullptr);
  if (!SplitAuthority(listen, &listen_host_, &listen_port_)) listen_host_.assign(listen);
}

grpc::ServerUnaryReactor* GossipService::Read(grpc::CallbackServerContext* context,
                                              const event_store::client::Empty* /*request*/,
                                              event_store::client::gossip::ClusterInfo* response) {
  if (grpc::Status s = gate_->AdmitPeer(context); !s.ok()) {
    grpc::ServerUnaryReactor* refused = context->DefaultReactor();
    refused->Finish(s);
    return refused;
  }
  std::string host = listen_host_;
  uint32_t port = listen_port_;
  const grpc::string_ref authority = context->ExperimentalGetAuthority();
  (void)SplitAuthority(std::string_view(authority.data(), authority.size()), &host, &port);

  MemberInfo* member = response->add_members();
  ToWireUuid(instance_id_, /*structured=*/false, member->mutable_instance_id());
  member->set_time_stamp(NowTicks());
  member->set_state(MemberInfo::Leader);
  member->set_is_alive(true);
  member->mutable_http_end_point()->set_address(host);
  member->mutable_http_end_point()->set_port(port);
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

}  // namespace cairn::server::esdb
