// Server: `cairn serve` — the gRPC API (Streams, Integrity, Admin) over TLS on `server.listen`
// and the admin HTTP listener (/healthz, /readyz, /checkpoint) on `server.admin_listen`.
//
// Start() validates the configuration (ValidateForServe: the one-line refusals), opens the data
// directory, loads the authenticator and the policy, and starts listening. Connections from
// addresses outside `server.allow_cidrs` are closed when accepted (PeerFilter), before the TLS
// handshake. Every call is authenticated and judged by the policy (CallGate).
//
// Shutdown() stops accepting, lets in-flight calls finish (up to `drain_timeout_ms`, then
// cancels them), and closes the store after its queued commits are durable. It is idempotent
// and also runs in the destructor.
//
// Thread safety: ReloadPolicy(), ReloadTls(), ReloadApiKeys() and the accessors may be called from any thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "common/status.h"
#include "server/api_key_reload.h"
#include "server/config.h"
#include "server/tls_reload.h"

namespace cairn::server {

class Server {
 public:
  static Result<std::unique_ptr<Server>> Start(const Config& config);
  virtual ~Server() = default;

  virtual int grpc_port() const = 0;   // the bound port (useful with port 0)
  virtual int admin_port() const = 0;
  // Re-reads the policy file; an invalid file is rejected and the old policy stays.
  virtual Status ReloadPolicy() = 0;
  // Re-reads the [tls] certificate, key and client CA files (server/tls_reload.h); a refused
  // reload leaves the served certificate in place. Audited like Admin.ReloadTls, unless
  // TlsReloadRefusal() says no reload is possible: then that, and nothing is attempted.
  virtual Result<TlsReloaded> ReloadTls() = 0;
  virtual Status TlsReloadRefusal() const = 0;
  // Re-reads [[auth.api_keys]] from the configuration file (server/api_key_reload.h); a refused
  // reload leaves the keys in force. Audited like Admin.ReloadApiKeys.
  virtual Result<ApiKeysReloaded> ReloadApiKeys() = 0;
  virtual uint64_t refused_connections() const = 0;
  virtual void Shutdown(int64_t drain_timeout_ms = 5000) = 0;
};

}  // namespace cairn::server
