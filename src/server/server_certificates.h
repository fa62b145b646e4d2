// ServerCertificates: the gRPC listener's certificate, key and client CA bundle, replaceable while
// the server runs, so that certificates rotate without a restart (server/tls_reload.h).
//
// Credentials() makes gRPC server credentials that ask this object for its material whenever a
// connection arrives (gRPC's certificate config fetcher,
// grpc_ssl_server_credentials_create_options_using_config_fetcher). Replace() installs new
// material: the next connection's handshake uses it, and connections already open keep the
// certificate they were made with. The caller checks material before it gives it (LoadTlsMaterial
// and the reload's date checks): gRPC would keep the old certificate without telling anyone if the
// new one did not load.
//
// What gRPC 1.51 imposes, and how it is met:
// - Its fetcher path builds TLS contexts without the credentials' minimum version (TLS 1.2..1.3
//   always). Credentials() is therefore only for tls.min_version = "1.2"; with "1.3" the server
//   keeps static credentials (server/tls_min_version.h) and refuses reloads.
// - It asserts that fetched material has a client root bundle, even when client certificates are
//   not requested. Without a client CA the served certificate stands in for it; it is never used,
//   since no client certificate is asked for.
// - After the fetch it reads its handshaker factory without its lock and only then takes a
//   reference to it, so a factory replaced by another thread's fetch in between would be freed
//   under it. Both happen in the listening socket's accept loop, which runs on one thread at a
//   time per socket: with one socket the two never overlap. The server uses these credentials
//   only where gRPC binds server.listen on one socket (TlsReloadRefusal in
//   server/tls_credentials.h; the server also turns SO_REUSEPORT off, with which gRPC would
//   clone the socket per poller); with several sockets the certificates are fixed.
//
// Lifetime: the credentials point at this object without owning it: it must outlive the
// grpc::Server that listens with them.
//
// Thread safety: all methods are thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>

#include <grpc/grpc_security.h>
#include <grpcpp/security/server_credentials.h>

#include "common/status.h"
#include "server/tls_material.h"

namespace cairn::server {

class ServerCertificates {
 public:
  // `request`: whether and how client certificates are asked for (fixed for the server's life).
  ServerCertificates(TlsMaterial initial, grpc_ssl_client_certificate_request_type request);
  ServerCertificates(const ServerCertificates&) = delete;
  ServerCertificates& operator=(const ServerCertificates&) = delete;

  // Credentials for one listening port with one socket (see above; this object tracks what one
  // listener took). kFailedPrecondition on a second call; kInternal when gRPC refuses them.
  Result<std::shared_ptr<grpc::ServerCredentials>> Credentials();

  // Installs `material` for the next connection; returns its generation (the initial material is
  // generation 1, each Replace() adds one).
  uint64_t Replace(TlsMaterial material);

  uint64_t generation() const;
  // The generation gRPC last took (0 before the listener started).
  uint64_t delivered_generation() const;

 private:
  static grpc_ssl_certificate_config_reload_status Fetch(
      void* self, grpc_ssl_server_certificate_config** config);
  grpc_ssl_certificate_config_reload_status FetchInto(grpc_ssl_server_certificate_config** config);

  const grpc_ssl_client_certificate_request_type request_;
  mutable std::mutex mu_;
  TlsMaterial material_;     // guarded by mu_
  uint64_t generation_ = 1;  // guarded by mu_
  uint64_t delivered_ = 0;   // guarded by mu_
  bool credentials_made_ = false;  // guarded by mu_
};

}  // namespace cairn::server
