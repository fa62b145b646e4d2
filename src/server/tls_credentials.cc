#include "server/tls_credentials.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <string>
#include <utility>

#include "common/trusted_file.h"
#include "crypto/secure.h"
#include "server/cidr.h"
#include "server/tls_min_version.h"

namespace cairn::server {

namespace {

// True when gRPC binds `listen` on exactly one socket, so that one thread at a time accepts its
// connections (and fetches certificates for them).
bool OneListeningSocket(const std::string& listen) {
  Result<HostPort> host_port = ParseHostPort(listen);
  if (!host_port.ok()) return false;
  const std::string& host = host_port->host;
  in6_addr v6{};
  in_addr v4{};
  const bool is_v4 = ::inet_pton(AF_INET, host.c_str(), &v4) == 1;
  const bool is_v6 = ::inet_pton(AF_INET6, host.c_str(), &v6) == 1;
  if (!is_v4 && !is_v6) return false;  // a name may resolve to several addresses
  const bool wildcard = (is_v4 && v4.s_addr == INADDR_ANY) || (is_v6 && IN6_IS_ADDR_UNSPECIFIED(&v6));
  if (!wildcard) return true;
  // gRPC binds a wildcard as one dual-stack "::" socket, or "::" plus "0.0.0.0" where IPv6
  // sockets are IPv6-only. Without IPv6 the file is absent and only "0.0.0.0" is bound.
  Result<std::string> v6only = ReadSmallFile("/proc/sys/net/ipv6/bindv6only", "bindv6only", 16);
  return !v6only.ok() || v6only->rfind('1', 0) != 0;
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
