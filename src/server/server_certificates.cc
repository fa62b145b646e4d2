#include "server/server_certificates.h"

#include <cassert>
#include <string>
#include <utility>

#include "server/core_server_credentials.h"

namespace cairn::server {

ServerCertificates::ServerCertificates(TlsMaterial initial,
                                       grpc_ssl_client_certificate_request_type request)
    : request_(request), material_(std::move(initial)) {}

Result<std::shared_ptr<grpc::ServerCredentials>> ServerCertificates::Credentials() {
  {
    std::lock_guard lock(mu_);
    if (credentials_made_) {
      return Status::FailedPrecondition("the reloadable TLS credentials serve one port only");
    }
    credentials_made_ = true;
  }
  auto credentials = std::make_shared<CoreServerCredentials>();  // initialises gRPC first
  grpc_ssl_server_credentials_options* options =
      grpc_ssl_server_credentials_create_options_using_config_fetcher(request_, &Fetch, this);
  if (options == nullptr) return Status::Internal("gRPC refused the TLS certificate fetcher");
  grpc_server_credentials* creds = grpc_ssl_server_credentials_create_with_options(options);
  if (creds == nullptr) return Status::Internal("gRPC refused the TLS server credentials");
  credentials->Adopt(creds);
  return std::shared_ptr<grpc::ServerCredentials>(std::move(credentials));
}

uint64_t ServerCertificates::Replace(TlsMaterial material) {
  assert(!material.cert_chain_pem.empty() && !material.key_pem.empty());
  std::lock_guard lock(mu_);
  material_ = std::move(material);
  ++generation_;
  return generation_;
}

uint64_t ServerCertificates::generation() const {
  std::lock_guard lock(mu_);
  return generation_;
}

uint64_t ServerCertificates::delivered_generation() const {
  std::lock_guard lock(mu_);
  return delivered_;
}

grpc_ssl_certificate_config_reload_status ServerCertificates::Fetch(
    void* self, grpc_ssl_server_certificate_config** config) {
  return static_cast<ServerCertificates*>(self)->FetchInto(config);
}

grpc_ssl_certificate_config_reload_status ServerCertificates::FetchInto(
    grpc_ssl_server_certificate_config** config) {
  std::lock_guard lock(mu_);
  if (delivered_ == generation_) return GRPC_SSL_CERTIFICATE_CONFIG_RELOAD_UNCHANGED;
  assert(delivered_ < generation_);
  // NUL-terminated copies for the C API, which copies them again; the key's is wiped here.
  std::string key(material_.key_pem.view());
  const grpc_ssl_pem_key_cert_pair pair{key.c_str(), material_.cert_chain_pem.c_str()};
  const std::string& roots =
      material_.client_ca_pem.empty() ? material_.cert_chain_pem : material_.client_ca_pem;
  *config = grpc_ssl_server_certificate_config_create(roots.c_str(), &pair, 1);
  crypto::Cleanse(&key);
  if (*config == nullptr) return GRPC_SSL_CERTIFICATE_CONFIG_RELOAD_FAIL;
  delivered_ = generation_;
  return GRPC_SSL_CERTIFICATE_CONFIG_RELOAD_NEW;
}

}  // namespace cairn::server
