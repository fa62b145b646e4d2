// PeerFilter: refuses a TCP connection from an address outside `server.allow_cidrs` the moment
// it is accepted, before the TLS handshake and before any call (DESIGN.md, Network isolation).
//
// gRPC 1.51 exposes no public accept hook; the filter is installed as a socket mutator
// (GRPC_ARG_SOCKET_MUTATOR), which gRPC's TCP server applies to every accepted socket with the
// usage GRPC_FD_SERVER_CONNECTION_USAGE, right after accept(2). A refused socket is shut down
// there (see peer_filter.cc for why the mutator does not report failure). The vtable layout is gRPC 1.51's (src/core/lib/iomgr/socket_mutator.h); the
// integration test that connects from 127.0.0.2 fails if a gRPC upgrade changes it. The
// per-call check in CallGate stays as a second line of defence. A peer inside the set is then
// held to the connection limits (server/connection_table.h) the same way.
//
// Thread safety: Allow() is called on gRPC's poller threads; the counters are atomic. The
// filter must outlive the grpc::Server it is installed in.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>

#include <grpcpp/support/channel_arguments.h>

#include "server/cidr.h"
#include "server/connection_table.h"

namespace cairn::server {

class PeerFilter {
 public:
  // An empty set admits every peer (only allowed for loopback listeners; see ValidateForServe).
  // A peer it admits is admitted while `limits` leave room for one more connection.
  PeerFilter(CidrSet allowed, ConnectionLimits limits);
  ~PeerFilter();
  PeerFilter(const PeerFilter&) = delete;
  PeerFilter& operator=(const PeerFilter&) = delete;

  // Installs the filter in the server's channel arguments (via ServerBuilder::SetOption).
  void InstallIn(grpc::ChannelArguments* args);

  // Decides for an accepted socket; counts refusals.
  bool AllowSocket(int fd);
  bool AllowAddress(std::string_view ip_text) const;

  struct Mutator;  // the socket mutator object gRPC holds; defined in peer_filter.cc

  // Connections refused because their address is outside the set.
  uint64_t refused_count() const { return refused_.load(std::memory_order_relaxed); }
  // Connections refused because the connection limits were reached.
  uint64_t over_limit_count() const { return over_limit_.load(std::memory_order_relaxed); }
  // Called with the peer's IP text (may be empty) and the cause on each refusal (for the audit
  // trail).
  void set_on_refused(std::function<void(const std::string& ip, ConnectionRefusal why)> fn) {
    on_refused_ = std::move(fn);
  }

 private:
  CidrSet allowed_;
  ConnectionTable connections_;
  std::atomic<uint64_t> refused_{0};
  std::atomic<uint64_t> over_limit_{0};
  std::function<void(const std::string&, ConnectionRefusal)> on_refused_;
  Mutator* mutator_ = nullptr;  // refcounted: one reference ours, the others gRPC's
};

}  // namespace cairn::server
