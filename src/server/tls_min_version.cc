#include "server/tls_min_version.h"

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <string>
#include <typeinfo>
#include <vector>

#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/grpc_security_constants.h>
#include <grpc/support/log.h>

#include "server/core_server_credentials.h"

// libgrpc's core class (src/core/lib/security/credentials/ssl/ssl_credentials.h), declared with
// the one non-virtual member we call. Nothing else of it is used here: no object of this type is
// created, copied or destroyed in this file, and it has no virtual functions here, so no vtable or
// typeinfo is emitted that could clash with libgrpc's. See the header for the ABI argument.
class grpc_ssl_server_credentials {
 public:
  void set_min_tls_version(grpc_tls_version min_tls_version);
};

namespace cairn::server {
namespace {

constexpr char kSslServerCredentialsTypeName[] = "27grpc_ssl_server_credentials";

// True when `creds` points at the start of a complete grpc_ssl_server_credentials object, read
// from its Itanium ABI vtable prefix: vptr[-1] is the std::type_info of the dynamic type and
// vptr[-2] the offset from this subobject to the complete object. grpc_server_credentials is
// polymorphic (virtual destructor), so the object starts with a vptr.
bool IsCompleteSslServerCredentials(const grpc_server_credentials* creds) {
  const void* const* vptr = *reinterpret_cast<const void* const* const*>(creds);
  if (vptr == nullptr) return false;
  const auto offset_to_top = reinterpret_cast<std::ptrdiff_t>(vptr[-2]);
  const auto* type = static_cast<const std::type_info*>(vptr[-1]);
  if (offset_to_top != 0 || type == nullptr) return false;
  const char* name = type->name();
  if (name[0] == '*') ++name;  // gcc marks names it compares by address with a leading '*'
  return std::strcmp(name, kSslServerCredentialsTypeName) == 0;
}

// The core credentials of `options` with the minimum version set; null with the reason in
// *status.
grpc_server_credentials* CreateWithMinVersion(const grpc::SslServerCredentialsOptions& options,
                                              grpc_tls_version min, Status* status) {
  std::vector<grpc_ssl_pem_key_cert_pair> pairs;
  pairs.reserve(options.pem_key_cert_pairs.size());
  for (const auto& pair : options.pem_key_cert_pairs) {
    pairs.push_back({pair.private_key.c_str(), pair.cert_chain.c_str()});
  }
  // The same call and arguments as grpc::SslServerCredentials() in gRPC 1.51; the core copies
  // the PEM strings.
  grpc_server_credentials* creds = grpc_ssl_server_credentials_create_ex(
      options.pem_root_certs.empty() ? nullptr : options.pem_root_certs.c_str(), pairs.data(),
      pairs.size(),
      options.force_client_auth ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
                                : options.client_certificate_request,
      nullptr);
  if (creds == nullptr) {
    *status = Status::Internal("gRPC refused the TLS server credentials");
    return nullptr;
  }
  if (!IsCompleteSslServerCredentials(creds)) {
    grpc_server_credentials_release(creds);
    *status = Status::Internal(
        "gRPC returned TLS server credentials of an unexpected type; cannot set the minimum "
        "TLS version with this libgrpc");
    return nullptr;
  }
  reinterpret_cast<grpc_ssl_server_credentials*>(creds)->set_min_tls_version(min);
  return creds;
}

}  // namespace

Result<std::shared_ptr<grpc::ServerCredentials>> SslServerCredentialsWithMinVersion(
    const grpc::SslServerCredentialsOptions& options, TlsMinVersion min) {
  grpc_tls_version core_min;
  switch (min) {
    case TlsMinVersion::k12: core_min = grpc_tls_version::TLS1_2; break;
    case TlsMinVersion::k13: core_min = grpc_tls_version::TLS1_3; break;
    default: return Status::InvalidArgument("unknown minimum TLS version");
  }
  // gRPC aborts the process on an empty list; report it as a value instead.
  if (options.pem_key_cert_pairs.empty()) {
    return Status::InvalidArgument("TLS server credentials need a key and certificate");
  }
  auto credentials = std::make_shared<CoreServerCredentials>();  // initialises gRPC first
  Status status;
  grpc_server_credentials* creds = CreateWithMinVersion(options, core_min, &status);
  if (creds == nullptr) return status;
  credentials->Adopt(creds);
  return std::shared_ptr<grpc::ServerCredentials>(std::move(credentials));
}

}  // namespace cairn::server
