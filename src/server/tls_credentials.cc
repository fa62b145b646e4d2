#include "server/tls_credentials.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <string>
#include <utility>

#include "crypto/secure.h"
#include "server/cidr.h"
#include "server/tls_min_version.h"

namespace cairn::server {

namespace {

// True when gRPC binds `listen` on one socket: an address, not a name (which may resolve to
// several addresses, a socket each). A wildcard is one socket too: gRPC binds "::" and turns
// IPV6_V6ONLY off on it itself (or binds "0.0.0.0" alone without IPv6). The server counts its
// sockets after the start as well (server/listening_sockets.h).
bool OneListeningSocket(const std::string& listen) {
  Result<HostPort> host_port = ParseHostPort(listen);
  if (!host_port.ok()) return false;
  in6_addr v6{};
  in_addr v4{};
  return ::inet_pton(AF_INET, host_port->host.c_str(), &v4) == 1 ||
         ::inet_pton(AF_INET6, host_port->host.c_str(), &v6) == 1;
}

}  // namespace

Status TlsReloadRefusal(const TlsSection& tls, const std::string& listen) {
  if (!tls.enabled) {
    return Status::FailedPrecondition("tls.enabled = false: there is no certificate to reload");
  }
  if (tls.min_version == "1.3") {
    return Status::FailedPrecondition(
        "tls.min_version = \"1.3\": the certificates are fixed until a restart (gRPC 1.51 "
        "cannot keep that minimum on replaced certificates)");
  }
  if (!OneListeningSocket(listen)) {
    return Status::FailedPrecondition(
        "server.listen = \"" + listen + "\" may be bound on several sockets, whose handshakes "
        "gRPC 1.51 does not serialise against a certificate change: the certificates are fixed "
        "until a restart (listen on an IP address to reload them)");
  }
  return Status::Ok();
}

grpc_ssl_client_certificate_request_type ClientCertificateRequest(const TlsSection& tls) {
  if (tls.client_ca.empty()) return GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE;
  return tls.require_client_cert ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
                                 : GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY;
}

Result<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(const TlsSection& tls,
                                                                       const TlsMaterial& material) {
  grpc::SslServerCredentialsOptions options(ClientCertificateRequest(tls));
  options.pem_root_certs = material.client_ca_pem;
  options.pem_key_cert_pairs.push_back(
      {std::string(material.key_pem.view()), material.cert_chain_pem});
  const TlsMinVersion min = tls.min_version == "1.3" ? TlsMinVersion::k13 : TlsMinVersion::k12;
  auto credentials = SslServerCredentialsWithMinVersion(options, min);
  crypto::Cleanse(&options.pem_key_cert_pairs.front().private_key);
  return credentials;
}

Result<std::shared_ptr<const AdminTlsContext>> MakeAdminTlsContext(const TlsSection& tls) {
  if (!tls.enabled) return Status::FailedPrecondition("the admin listener's TLS needs tls.enabled");
  CAIRN_ASSIGN_OR_RETURN(TlsMaterial material, LoadTlsMaterial(tls));
  return MakeAdminTlsContext(tls, material);
}

Result<std::shared_ptr<const AdminTlsContext>> MakeAdminTlsContext(const TlsSection& tls,
                                                                   const TlsMaterial& material) {
  AdminTlsOptions options;
  options.cert_chain_pem = material.cert_chain_pem;
  options.key_pem = std::string(material.key_pem.view());
  options.client_ca_pem = material.client_ca_pem;
  options.require_client_cert = !material.client_ca_pem.empty() && tls.require_client_cert;
  options.tls13_only = tls.min_version == "1.3";
  return AdminTlsContext::Create(std::move(options));  // wipes the key
}

}  // namespace cairn::server
