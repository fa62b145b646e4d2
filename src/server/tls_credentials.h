// Server TLS credentials from the [tls] settings: the server's certificate chain and key, and,
// when `client_ca` is set, verification of client certificates against it (required when
// `require_client_cert`). TLS 1.2 and 1.3 are accepted (1.3 negotiated whenever the client
// offers it); `min_version = "1.3"` refuses TLS 1.2 (server/tls_min_version.h). The admin
// listener's HTTPS (server/admin_tls.h) is made from the same files.
#pragma once

#include <memory>

#include <grpcpp/security/server_credentials.h>

#include "common/status.h"
#include "server/admin_tls.h"
#include "server/config.h"

namespace cairn::server {

// Plaintext credentials when tls.enabled is false (ValidateForServe allows that on loopback only).
Result<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(const TlsSection& tls);

// The admin listener's TLS (server.admin_tls) from the same settings: certificate, key, client
// CA (requested when set, required with require_client_cert) and minimum version.
// kFailedPrecondition when tls.enabled is false.
Result<std::shared_ptr<const AdminTlsContext>> MakeAdminTlsContext(const TlsSection& tls);

}  // namespace cairn::server
