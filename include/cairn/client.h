// cairn::Client — the C++ client library of the cairn gRPC API (proto/cairn/v1).
//
// A Client holds one gRPC channel to one server: TLS by default (server certificate verified
// against `ca_file`, or the system roots when it is empty), optionally a client certificate for
// mTLS, and a bearer credential (a JWT or an API key `cairn_<id>_<secret>`) sent with every
// call as `authorization: Bearer …`. Connect() does not block; the first call connects.
//
// Errors come back as cairn::Status values with the server's code and message; a wrong expected
// version carries the stream's current version in Status::detail() (-1: no stream), exactly as
// the embedded engine reports it; an append refused by the caller's append quota (the policy's
// [[quota]]) is kResourceExhausted with the milliseconds to wait before retrying in detail().
//
// Thread safety: a Client may be shared by any number of threads (gRPC channels are
// thread-safe). Callbacks of Read/ReadAll run on the calling thread; AppendAsync's on a gRPC
// thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "cairn/v1/admin.pb.h"
#include "cairn/v1/integrity.pb.h"
#include "cairn/v1/streams.pb.h"
#include "common/status.h"

namespace grpc {
class Channel;
class ClientContext;
}  // namespace grpc

namespace cairn {

struct ClientOptions {
  std::string server = "127.0.0.1:7400";  // host:port or [v6]:port
  std::string ca_file;                    // PEM roots that sign the server's certificate
  std::string token;                      // JWT or API key; empty: none
  std::string cert_file;                  // client certificate chain (PEM), for mTLS
  std::string key_file;                   // its private key (PEM)
  bool plaintext = false;                 // only for a server with tls.enabled = false; with a
                                          // token only to loopback (Connect refuses otherwise)
  std::string server_name;                // TLS name to verify; empty: the host of `server`
  int64_t timeout_ms = 30000;             // deadline of each unary call
  int64_t read_timeout_ms = 600000;       // deadline of a whole Read/ReadAll
};

class Client {
 public:
  static Result<std::unique_ptr<Client>> Connect(const ClientOptions& options);
  virtual ~Client() = default;

  virtual Result<v1::AppendResponse> Append(const v1::AppendRequest& request) = 0;
  // Starts an append and returns at once; `done` runs exactly once with the result, on a gRPC
  // thread. Keep `done` short; it may start the next call. The call's own state is freed before
  // `done` runs, so once every `done` has been called the Client may be destroyed.
  using AppendDone = std::function<void(Result<v1::AppendResponse>)>;
  virtual void AppendAsync(v1::AppendRequest request, AppendDone done) = 0;
  // Calls `on_chunk` for each chunk of the read in order; returning false stops the read early
  // (the call is cancelled and Read returns OK).
  using ChunkHandler = std::function<bool(const v1::ReadResponse& chunk)>;
  virtual Status Read(const v1::ReadRequest& request, const ChunkHandler& on_chunk) = 0;
  virtual Status ReadAll(const v1::ReadAllRequest& request, const ChunkHandler& on_chunk) = 0;
  virtual Result<v1::DeleteResponse> Delete(const v1::DeleteRequest& request) = 0;
  virtual Result<v1::StreamInfo> GetStreamInfo(std::string_view stream) = 0;

  virtual Result<v1::Checkpoint> GetCheckpoint() = 0;
  // The latest checkpoint the server's C2SP witnesses cosigned, with their cosignature lines
  // (kFailedPrecondition: the server has no witnesses; kUnavailable: none cosigned yet). The
  // default (other implementations of this interface) answers kFailedPrecondition.
  virtual Result<v1::Checkpoint> GetCosignedCheckpoint() {
    return Status::FailedPrecondition("this client cannot ask for cosigned checkpoints");
  }
  virtual Result<v1::VerifierKey> GetVerifierKey() = 0;
  virtual Result<v1::InclusionProof> GetInclusionProof(uint64_t index, uint64_t size) = 0;
  // One call for 1..1000 positions (the server refuses more), all proven in one tree (`size`, or
  // 0 for the current one); the proofs in the order of `indexes`. The default (for other
  // implementations of this interface) asks GetInclusionProof once per position.
  virtual Result<v1::InclusionProofs> GetInclusionProofs(const std::vector<uint64_t>& indexes,
                                                         uint64_t size);
  virtual Result<v1::ConsistencyProof> GetConsistencyProof(uint64_t size1, uint64_t size2) = 0;

  virtual Result<v1::ServerInfoResponse> ServerInfo() = 0;
  virtual Result<v1::WhoAmIResponse> WhoAmI() = 0;
  virtual Result<v1::ReloadPolicyResponse> ReloadPolicy() = 0;
  // Admin.ReloadTls: the server re-reads its certificate, key and client CA files.
  virtual Result<v1::ReloadTlsResponse> ReloadTls() = 0;
  // Admin.ReloadApiKeys: the server re-reads [[auth.api_keys]] from its configuration file.
  virtual Result<v1::ReloadApiKeysResponse> ReloadApiKeys() = 0;
  virtual Result<v1::ForgetResponse> Forget(std::string_view subject) = 0;
  // One page of keys (see ListKeysRequest); the first page of up to 1000 keys without a request.
  // Only an empty next_page_token ends the listing (a page may be short or empty).
  virtual Result<v1::ListKeysResponse> ListKeys(const v1::ListKeysRequest& request) = 0;
  Result<v1::ListKeysResponse> ListKeys() { return ListKeys(v1::ListKeysRequest()); }
  virtual Result<v1::RotateKeyResponse> RotateKey(const v1::RotateKeyRequest& request) = 0;
  virtual Result<v1::BackupResponse> Backup() = 0;

  // For the service clients of the other headers in include/cairn/ (subscriptions, groups,
  // webhooks), which share this connection: the channel, and a context that carries this
  // client's credential and a deadline `timeout_ms` from now.
  virtual std::shared_ptr<grpc::Channel> channel() const = 0;
  virtual void PrepareContext(grpc::ClientContext* context, int64_t timeout_ms) const = 0;
  virtual const ClientOptions& options() const = 0;
};

}  // namespace cairn
