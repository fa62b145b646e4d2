#include "server/peer_filter.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cassert>
#include <chrono>
#include <string>

#include <grpc/support/sync.h>

// gRPC 1.51's socket mutator ABI (src/core/lib/iomgr/socket_mutator.h, not installed).
typedef enum {
  GRPC_FD_CLIENT_CONNECTION_USAGE,
  GRPC_FD_SERVER_LISTENER_USAGE,
  GRPC_FD_SERVER_CONNECTION_USAGE,
} grpc_fd_usage;

typedef struct {
  int fd;
  grpc_fd_usage usage;
} grpc_mutate_socket_info;

struct grpc_socket_mutator_vtable {
  bool (*mutate_fd)(int fd, grpc_socket_mutator* mutator);
  int (*compare)(grpc_socket_mutator* a, grpc_socket_mutator* b);
  void (*destroy)(grpc_socket_mutator* mutator);
  bool (*mutate_fd_2)(const grpc_mutate_socket_info* info, grpc_socket_mutator* mutator);
};

struct grpc_socket_mutator {
  const grpc_socket_mutator_vtable* vtable;
  gpr_refcount refcount;
};

void grpc_socket_mutator_init(grpc_socket_mutator* mutator,
                              const grpc_socket_mutator_vtable* vtable);
grpc_socket_mutator* grpc_socket_mutator_ref(grpc_socket_mutator* mutator);
void grpc_socket_mutator_unref(grpc_socket_mutator* mutator);

namespace cairn::server {

struct PeerFilter::Mutator {
  grpc_socket_mutator base;  // first member: gRPC casts between the two
  PeerFilter* filter;
};

namespace {

PeerFilter* FilterOf(grpc_socket_mutator* m) {
  return reinterpret_cast<PeerFilter::Mutator*>(m)->filter;
}

// Never returns false: gRPC 1.51's TCP server treats a failed mutation of an accepted socket as
// an accept error and stops re-arming the listener (and leaks the fd). A refused peer's socket
// is instead shut down here, with SO_LINGER 0 so the peer gets a reset: gRPC then reads EOF
// before any byte of the TLS handshake and closes it.
bool MutateFd2(const grpc_mutate_socket_info* info, grpc_socket_mutator* m) {
  if (info->usage != GRPC_FD_SERVER_CONNECTION_USAGE) return true;
  PeerFilter* filter = FilterOf(m);
  if (filter == nullptr || filter->AllowSocket(info->fd)) return true;
  linger reset{1, 0};
  setsockopt(info->fd, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
  shutdown(info->fd, SHUT_RDWR);
  return true;
}

bool MutateFd(int fd, grpc_socket_mutator* m) { return true; }

int Compare(grpc_socket_mutator* a, grpc_socket_mutator* b) {
  return a < b ? -1 : (a > b ? 1 : 0);
}

void Destroy(grpc_socket_mutator* m) { delete reinterpret_cast<PeerFilter::Mutator*>(m); }

const grpc_socket_mutator_vtable kVtable = {MutateFd, Compare, Destroy, MutateFd2};

std::string PeerIp(int fd) {
  sockaddr_storage addr{};
  socklen_t len = sizeof(addr);
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return "";
  char text[INET6_ADDRSTRLEN] = {0};
  if (addr.ss_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(&addr)->sin_addr, text, sizeof(text));
  } else if (addr.ss_family == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(&addr)->sin6_addr, text, sizeof(text));
  }
  return text;
}

}  // namespace

PeerFilter::PeerFilter(CidrSet allowed, ConnectionLimits limits)
    : allowed_(std::move(allowed)), connections_(limits) {}

PeerFilter::~PeerFilter() {
  // gRPC may still hold the mutator (copies of the channel args): detach it from this filter,
  // then drop our own reference (the object lives until gRPC drops its references too).
  if (mutator_ == nullptr) return;
  mutator_->filter = nullptr;
  grpc_socket_mutator_unref(&mutator_->base);
}

void PeerFilter::InstallIn(grpc::ChannelArguments* args) {
  assert(mutator_ == nullptr);
  mutator_ = new Mutator{};
  mutator_->filter = this;
  grpc_socket_mutator_init(&mutator_->base, &kVtable);
  grpc_socket_mutator_ref(&mutator_->base);  // ours, dropped in the destructor
  args->SetSocketMutator(&mutator_->base);   // takes the initial reference
}

bool PeerFilter::AllowAddress(std::string_view ip_text) const {
  if (allowed_.empty()) return true;
  return allowed_.ContainsText(ip_text);
}

bool PeerFilter::AllowSocket(int fd) {
  const std::string ip = PeerIp(fd);
  if (ip.empty() || !AllowAddress(ip)) {
    refused_.fetch_add(1, std::memory_order_relaxed);
    if (on_refused_) on_refused_(ip, ConnectionRefusal::kAddressNotAllowed);
    return false;
  }
  const int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::steady_clock::now().time_since_epoch())
                             .count();
  const ConnectionTable::Verdict verdict = connections_.Admit(fd, ip, now_ms);
  if (verdict == ConnectionTable::Verdict::kAdmitted) return true;
  over_limit_.fetch_add(1, std::memory_order_relaxed);
  if (on_refused_) {
    on_refused_(ip, verdict == ConnectionTable::Verdict::kSourceFull ? ConnectionRefusal::kSourceLimit
                                                                     : ConnectionRefusal::kTotalLimit);
  }
  return false;
}

}  // namespace cairn::server
