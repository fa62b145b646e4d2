// gRPC server TLS credentials with a minimum protocol version ([tls] min_version).
//
// gRPC 1.51's public C++ and C APIs negotiate TLS 1.2..1.3 and offer no setter for the minimum
// version (SslServerCredentialsOptions and TlsServerCredentialsOptions have no such field, and no
// exported C function takes one). The core credentials object does have one:
// grpc_ssl_server_credentials::set_min_tls_version(grpc_tls_version), an ordinary exported
// member of libgrpc.so.29 that stores the bound used when the TLS handshaker factory is built.
// SslServerCredentialsWithMinVersion() creates the core credentials exactly as
// grpc::SslServerCredentials() does (grpc_ssl_server_credentials_create_ex), calls that member,
// and wraps the result in a grpc::ServerCredentials whose AddPortToServer() passes it to
// grpc_server_add_http2_port(), as gRPC's own SecureServerCredentials does.
//
// Why calling the member is sound (Itanium C++ ABI, which gcc and clang follow on Linux):
// - A non-virtual member call needs only the symbol and the right `this`; the symbol
//   _ZN27grpc_ssl_server_credentials19set_min_tls_versionE16grpc_tls_version is exported by
//   libgrpc.so.29, so a declaration of the class with just that member (in the .cc) links to it,
//   and the member's body (`config_.min_tls_version = v`) runs with libgrpc's own layout.
// - grpc_ssl_server_credentials_create_with_options() returns the pointer from
//   `new grpc_ssl_server_credentials(...)` unadjusted (the class is final with one non-virtual
//   base, grpc_server_credentials, at offset 0), so the grpc_server_credentials* we get is the
//   `this` the member expects. We do not rely on that silently: before the call the .cc reads the
//   object's vtable prefix and requires the dynamic type's name to be grpc_ssl_server_credentials
//   and the offset-to-top to be 0 (i.e. the pointer is the complete object). Otherwise the result
//   is kInternal and nothing is written, so a libgrpc with a different layout fails loudly at
//   start-up instead of corrupting memory or silently accepting TLS 1.2.
// - The bound must be set before the security connector exists; with no config fetcher (cairn
//   registers none) grpc_server_add_http2_port() creates it from the credentials, and that only
//   happens after this function returns.
// The soname (libgrpc.so.29) pins the ABI; a newer gRPC that drops the symbol fails to link or
// load rather than misbehave. tests/unit/server/tls_min_version_test.cc proves the behaviour with
// raw OpenSSL clients against a real grpc::Server.
//
// Differences from grpc::SslServerCredentials(), none of which cairn uses:
// - SetAuthMetadataProcessor() on the returned credentials aborts the process (a programming
//   error): gRPC's adapter for it is internal, and ignoring a processor would silently skip
//   authentication. Cairn authenticates per call (CallGate) instead.
// - The credentials cannot be an xDS fallback (grpc::XdsServerCredentials needs gRPC's internal
//   SecureServerCredentials).
// Everything else is unchanged: the peer certificate is still in the auth context as
// "x509_pem_cert", and every grpc_ssl_client_certificate_request_type behaves as with
// grpc::SslServerCredentials() (force_client_auth still means REQUEST_AND_REQUIRE_..._AND_VERIFY).
//
// Errors: kInvalidArgument when `options` has no key/certificate pair or an unknown `min`;
// kInternal when gRPC refuses the options (e.g. unparsable PEM is reported by gRPC only when the
// port is added, as with grpc::SslServerCredentials) or the object check above fails.
//
// Thread safety: the function is thread-safe. The returned credentials are immutable and may be
// shared by several servers.
#pragma once

#include <memory>

#include <grpcpp/security/server_credentials.h>

#include "common/status.h"

namespace cairn::server {

enum class TlsMinVersion { k12, k13 };

// Server credentials like grpc::SslServerCredentials(options) but refusing TLS versions below
// `min` (TLS 1.2 or TLS 1.3): with k13 a client offering at most TLS 1.2 fails the handshake.
// The maximum stays TLS 1.3.
Result<std::shared_ptr<grpc::ServerCredentials>> SslServerCredentialsWithMinVersion(
    const grpc::SslServerCredentialsOptions& options, TlsMinVersion min);

}  // namespace cairn::server
