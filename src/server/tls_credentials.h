// Server TLS credentials from the [tls] settings: the server's certificate chain and key, and,
// when `client_ca` is set, verification of client certificates against it (required when
// `require_client_cert`). TLS 1.2 and 1.3 are accepted (1.3 negotiated whenever the client
// offers it); `min_version = "1.3"` refuses TLS 1.2 (server/tls_min_version.h). The admin
// listener's HTTPS (server/admin_tls.h) is made from the same files.
//
// Where TlsReloadRefusal() allows it, the gRPC listener's certificates can be replaced while it
// runs (server/server_certificates.h, server/tls_reload.h); otherwise they are fixed for the
// process's life (MakeServerCredentials).
#pragma once

#include <memory>
#include <string>

#include <grpc/grpc_security_constants.h>
#include <grpcpp/security/server_credentials.h>

#include "common/status.h"
#include "server/admin_tls.h"
#include "server/config.h"
#include "server/tls_material.h"

namespace cairn::server {

// OK when the gRPC listener's certificates can be replaced while it runs (server/tls_reload.h);
// otherwise kFailedPrecondition saying why not: TLS is off; min_version is "1.3" (gRPC 1.51 builds
// replaced certificates' TLS contexts without the minimum); or `listen` is a host name, which gRPC
// may bind on several sockets, whose handshakes it does not serialise against a replacement
// (server/server_certificates.h). After the start the server also counts the sockets it got.
Status TlsReloadRefusal(const TlsSection& tls, const std::string& listen);

// How client certificates are asked for: not at all without client_ca; requested and verified
// with it; also required with require_client_cert.
grpc_ssl_client_certificate_request_type ClientCertificateRequest(const TlsSection& tls);

// Credentials of `material` fixed for the process's life, with tls.min_version.
Result<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(const TlsSection& tls,
                                                                       const TlsMaterial& material);

// The admin listener's TLS (server.admin_tls) from the same settings: certificate, key, client
// CA (requested when set, required with require_client_cert) and minimum version. The first form
// reads the files (kFailedPrecondition when tls.enabled is false); the second takes material
// already read and checked.
Result<std::shared_ptr<const AdminTlsContext>> MakeAdminTlsContext(const TlsSection& tls);
Result<std::shared_ptr<const AdminTlsContext>> MakeAdminTlsContext(const TlsSection& tls,
                                                                   const TlsMaterial& material);

}  // namespace cairn::server
