#include "server/tls_credentials.h"

#include <string>
#include <utility>

#include "crypto/secure.h"
#include "server/tls_min_version.h"

namespace cairn::server {

bool TlsReloadable(const TlsSection& tls) { return tls.enabled && tls.min_version != "1.3"; }

grpc_ssl_client_certificate_request_type ClientCertificateRequest(const TlsSection& tls) {
  if (tls.client_ca.empty()) return GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE;
  return tls.require_client_cert ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
                                 : GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY;
}

Result<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(const TlsSection& tls) {
  if (!tls.enabled) return grpc::InsecureServerCredentials();
  CAIRN_ASSIGN_OR_RETURN(TlsMaterial material, LoadTlsMaterial(tls));
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
