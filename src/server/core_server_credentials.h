// CoreServerCredentials: a grpc::ServerCredentials that owns one reference to gRPC core server
// credentials (grpc_server_credentials*) and adds ports with them, as gRPC's internal
// SecureServerCredentials does. For credentials made through the core C API with settings the
// C++ API does not offer (server/tls_min_version.h, server/tls_reload.h).
//
// grpc::Server calls only AddPortToServer() on server credentials; IsInsecure() and
// AsSecureServerCredentials() keep their defaults (false, null), which only
// grpc::XdsServerCredentials reads. SetAuthMetadataProcessor() aborts the process (a programming
// error): gRPC's adapter for it is internal, and ignoring a processor would silently skip
// authentication. Cairn authenticates per call (CallGate) instead.
//
// Thread safety: immutable once Adopt() returned; may be shared by several servers.
#pragma once

#include <cstdlib>
#include <string>

#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/log.h>
#include <grpcpp/security/server_credentials.h>

namespace cairn::server {

class CoreServerCredentials final : public grpc::ServerCredentials {
 public:
  // The base constructor initialises the gRPC library, so the core object is created afterwards
  // and given to Adopt(); it is released before the base destructor shuts the library down.
  CoreServerCredentials() = default;
  ~CoreServerCredentials() override {
    if (creds_ != nullptr) grpc_server_credentials_release(creds_);
  }
  CoreServerCredentials(const CoreServerCredentials&) = delete;
  CoreServerCredentials& operator=(const CoreServerCredentials&) = delete;

  // Takes the caller's reference to `creds` (not null; once).
  void Adopt(grpc_server_credentials* creds) { creds_ = creds; }

  void SetAuthMetadataProcessor(
      const std::shared_ptr<grpc::AuthMetadataProcessor>& /*processor*/) override {
    gpr_log(GPR_ERROR, "cairn: SetAuthMetadataProcessor is not supported on these credentials");
    std::abort();
  }

 private:
  int AddPortToServer(const std::string& addr, grpc_server* server) override {
    return grpc_server_add_http2_port(server, addr.c_str(), creds_);
  }

  grpc_server_credentials* creds_ = nullptr;
};

}  // namespace cairn::server
