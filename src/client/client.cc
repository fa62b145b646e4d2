#include "cairn/client.h"

#include <chrono>

#include <grpcpp/grpcpp.h>

#include "cairn/v1/admin.grpc.pb.h"
#include "cairn/v1/common.pb.h"
#include "cairn/v1/integrity.grpc.pb.h"
#include "cairn/v1/streams.grpc.pb.h"
#include "client/grpc_status.h"
#include "common/trusted_file.h"
#include "crypto/secure.h"

namespace cairn {
namespace {

constexpr size_t kPemFileSizeBytesMax = 1 << 20;
constexpr int kMessageSizeBytesMax = 64 << 20;
constexpr int64_t kBackupTimeoutMsMin = 30 * 60 * 1000;

Result<std::string> ReadFile(const std::string& path, std::string_view what) {
  return ReadSmallFile(path, what, kPemFileSizeBytesMax);
}

class GrpcClient final : public Client {
 public:
  GrpcClient(std::shared_ptr<grpc::Channel> channel, ClientOptions options)
      : options_(std::move(options)),
        channel_(channel),
        streams_(v1::Streams::NewStub(channel)),
        integrity_(v1::Integrity::NewStub(channel)),
        admin_(v1::Admin::NewStub(channel)) {}
  ~GrpcClient() override { crypto::Cleanse(&options_.token); }

  Result<v1::AppendResponse> Append(const v1::AppendRequest& request) override {
    return Unary<v1::AppendResponse>(
        [&](grpc::ClientContext* c, v1::AppendResponse* r) { return streams_->Append(c, request, r); });
  }
  void AppendAsync(v1::AppendRequest request, AppendDone done) override {
    struct Call {
      grpc::ClientContext context;
      v1::AppendRequest request;
      v1::AppendResponse response;
      AppendDone done;
    };
    auto* call = new Call{{}, std::move(request), {}, std::move(done)};
    Prepare(&call->context, options_.timeout_ms);
    streams_->async()->Append(&call->context, &call->request, &call->response,
                              [call](grpc::Status status) {
                                // The call is freed before `done` runs: once `done` has
                                // answered, nothing of this call is touched again, so its
                                // caller may destroy the Client (or exit) right away.
                                AppendDone done = std::move(call->done);
                                Result<v1::AppendResponse> result =
                                    status.ok() ? Result<v1::AppendResponse>(
                                                      std::move(call->response))
                                                : Result<v1::AppendResponse>(
                                                      FromGrpcStatus(status));
                                delete call;
                                done(std::move(result));
                              });
  }
  Status Read(const v1::ReadRequest& request, const ChunkHandler& on_chunk) override {
    grpc::ClientContext context;
    Prepare(&context, options_.read_timeout_ms);
    return Drain(&context, streams_->Read(&context, request), on_chunk);
  }
  Status ReadAll(const v1::ReadAllRequest& request, const ChunkHandler& on_chunk) override {
    grpc::ClientContext context;
    Prepare(&context, options_.read_timeout_ms);
    return Drain(&context, streams_->ReadAll(&context, request), on_chunk);
  }
  Result<v1::DeleteResponse> Delete(const v1::DeleteRequest& request) override {
    return Unary<v1::DeleteResponse>(
        [&](grpc::ClientContext* c, v1::DeleteResponse* r) { return streams_->Delete(c, request, r); });
  }
  Result<v1::StreamInfo> GetStreamInfo(std::string_view stream) override {
    v1::GetStreamInfoRequest request;
    request.set_stream(std::string(stream));
    return Unary<v1::StreamInfo>([&](grpc::ClientContext* c, v1::StreamInfo* r) {
      return streams_->GetStreamInfo(c, request, r);
    });
  }
  Result<v1::Checkpoint> GetCheckpoint() override {
    return Unary<v1::Checkpoint>([&](grpc::ClientContext* c, v1::Checkpoint* r) {
      return integrity_->GetCheckpoint(c, v1::GetCheckpointRequest(), r);
    });
  }
  Result<v1::Checkpoint> GetCosignedCheckpoint() override {
    v1::GetCheckpointRequest request;
    request.set_cosigned(true);
    return Unary<v1::Checkpoint>([&](grpc::ClientContext* c, v1::Checkpoint* r) {
      return integrity_->GetCheckpoint(c, request, r);
    });
  }
  Result<v1::VerifierKey> GetVerifierKey() override {
    return Unary<v1::VerifierKey>([&](grpc::ClientContext* c, v1::VerifierKey* r) {
      return integrity_->GetVerifierKey(c, v1::GetVerifierKeyRequest(), r);
    });
  }
  Result<v1::InclusionProof> GetInclusionProof(uint64_t index, uint64_t size) override {
    v1::InclusionProofRequest request;
    request.set_index(index);
    request.set_size(size);
    return Unary<v1::InclusionProof>([&](grpc::ClientContext* c, v1::InclusionProof* r) {
      return integrity_->GetInclusionProof(c, request, r);
    });
  }
  Result<v1::InclusionProofs> GetInclusionProofs(const std::vector<uint64_t>& indexes,
                                                 uint64_t size) override {
    v1::InclusionProofsRequest request;
    request.mutable_indexes()->Add(indexes.begin(), indexes.end());
    request.set_size(size);
    return Unary<v1::InclusionProofs>([&](grpc::ClientContext* c, v1::InclusionProofs* r) {
      return integrity_->GetInclusionProofs(c, request, r);
    });
  }
  Result<v1::ConsistencyProof> GetConsistencyProof(uint64_t size1, uint64_t size2) override {
    v1::ConsistencyProofRequest request;
    request.set_size1(size1);
    request.set_size2(size2);
    return Unary<v1::ConsistencyProof>([&](grpc::ClientContext* c, v1::ConsistencyProof* r) {
      return integrity_->GetConsistencyProof(c, request, r);
    });
  }
  Result<v1::ServerInfoResponse> ServerInfo() override {
    return Unary<v1::ServerInfoResponse>([&](grpc::ClientContext* c, v1::ServerInfoResponse* r) {
      return admin_->ServerInfo(c, v1::ServerInfoRequest(), r);
    });
  }
  Result<v1::WhoAmIResponse> WhoAmI() override {
    return Unary<v1::WhoAmIResponse>([&](grpc::ClientContext* c, v1::WhoAmIResponse* r) {
      return admin_->WhoAmI(c, v1::WhoAmIRequest(), r);
    });
  }
  Result<v1::ReloadPolicyResponse> ReloadPolicy() override {
    return Unary<v1::ReloadPolicyResponse>(
        [&](grpc::ClientContext* c, v1::ReloadPolicyResponse* r) {
          return admin_->ReloadPolicy(c, v1::ReloadPolicyRequest(), r);
        });
  }
  Result<v1::ReloadApiKeysResponse> ReloadApiKeys() override {
    return Unary<v1::ReloadApiKeysResponse>(
        [&](grpc::ClientContext* c, v1::ReloadApiKeysResponse* r) {
          return admin_->ReloadApiKeys(c, v1::ReloadApiKeysRequest(), r);
        });
  }
  Result<v1::ReloadTlsResponse> ReloadTls() override {
    return Unary<v1::ReloadTlsResponse>([&](grpc::ClientContext* c, v1::ReloadTlsResponse* r) {
      return admin_->ReloadTls(c, v1::ReloadTlsRequest(), r);
    });
  }
  Result<v1::ForgetResponse> Forget(std::string_view subject) override {
    v1::ForgetRequest request;
    request.set_subject(std::string(subject));
    return Unary<v1::ForgetResponse>([&](grpc::ClientContext* c, v1::ForgetResponse* r) {
      return admin_->Forget(c, request, r);
    });
  }
  using Client::ListKeys;
  Result<v1::ListKeysResponse> ListKeys(const v1::ListKeysRequest& request) override {
    return Unary<v1::ListKeysResponse>([&](grpc::ClientContext* c, v1::ListKeysResponse* r) {
      return admin_->ListKeys(c, request, r);
    });
  }
  Result<v1::RotateKeyResponse> RotateKey(const v1::RotateKeyRequest& request) override {
    return Unary<v1::RotateKeyResponse>([&](grpc::ClientContext* c, v1::RotateKeyResponse* r) {
      return admin_->RotateKey(c, request, r);
    });
  }
  Result<v1::BackupResponse> Backup() override {
    // A copy of a large store takes longer than other calls: at least kBackupTimeoutMsMin.
    grpc::ClientContext context;
    Prepare(&context, std::max(options_.timeout_ms, kBackupTimeoutMsMin));
    v1::BackupResponse response;
    grpc::Status status = admin_->Backup(&context, v1::BackupRequest(), &response);
    if (!status.ok()) return FromGrpcStatus(status);
    return response;
  }

  std::shared_ptr<grpc::Channel> channel() const override { return channel_; }
  void PrepareContext(grpc::ClientContext* context, int64_t timeout_ms) const override {
    Prepare(context, timeout_ms);
  }
  const ClientOptions& options() const override { return options_; }

 private:
  void Prepare(grpc::ClientContext* context, int64_t timeout_ms) const {
    context->set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(timeout_ms));
    if (!options_.token.empty()) context->AddMetadata("authorization", "Bearer " + options_.token);
  }

  template <typename Response, typename Call>
  Result<Response> Unary(const Call& call) {
    grpc::ClientContext context;
    Prepare(&context, options_.timeout_ms);
    Response response;
    grpc::Status status = call(&context, &response);
    if (!status.ok()) return FromGrpcStatus(status);
    return response;
  }

  Status Drain(grpc::ClientContext* context,
               std::unique_ptr<grpc::ClientReader<v1::ReadResponse>> reader,
               const ChunkHandler& on_chunk) {
    v1::ReadResponse chunk;
    while (reader->Read(&chunk)) {
      if (!on_chunk(chunk)) {
        context->TryCancel();
        while (reader->Read(&chunk)) {
        }
        reader->Finish();
        return Status::Ok();
      }
    }
    return FromGrpcStatus(reader->Finish());
  }

  ClientOptions options_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Streams::Stub> streams_;
  std::unique_ptr<v1::Integrity::Stub> integrity_;
  std::unique_ptr<v1::Admin::Stub> admin_;
};

Result<std::shared_ptr<grpc::ChannelCredentials>> MakeCredentials(const ClientOptions& options) {
  if (options.plaintext) return grpc::InsecureChannelCredentials();
  grpc::SslCredentialsOptions ssl;
  if (!options.ca_file.empty()) {
    auto ca = ReadFile(options.ca_file, "--ca");
    if (!ca.ok()) return ca.status();
    ssl.pem_root_certs = std::move(ca).value();
  }
  if (options.cert_file.empty() != options.key_file.empty()) {
    return Status::InvalidArgument("--cert and --key go together");
  }
  if (!options.cert_file.empty()) {
    auto cert = ReadFile(options.cert_file, "--cert");
    if (!cert.ok()) return cert.status();
    auto key = ReadFile(options.key_file, "--key");
    if (!key.ok()) return key.status();
    ssl.pem_cert_chain = std::move(cert).value();
    ssl.pem_private_key = std::move(key).value();
  }
  auto credentials = grpc::SslCredentials(ssl);
  crypto::Cleanse(&ssl.pem_private_key);
  return credentials;
}

// The host of a gRPC target ("host:port", "[v6]:port", "dns:///host:port", "ipv4:a.b.c.d:port",
// "unix:path"): loopback or a local socket.
bool IsLocalTarget(std::string_view target) {
  if (target.substr(0, 5) == "unix:" || target.substr(0, 14) == "unix-abstract:") return true;
  for (std::string_view scheme : {"dns:///", "ipv4:", "ipv6:"}) {
    if (target.substr(0, scheme.size()) == scheme) target.remove_prefix(scheme.size());
  }
  std::string_view host = target;
  if (!host.empty() && host.front() == '[') {
    host = host.substr(1, host.find(']') == std::string_view::npos ? 0 : host.find(']') - 1);
  } else if (host.find(':') != std::string_view::npos) {
    host = host.substr(0, host.rfind(':'));
  }
  if (host == "localhost" || host == "::1") return true;
  // 127.0.0.0/8, written as four decimal numbers.
  if (host.substr(0, 4) != "127.") return false;
  int dots = 0;
  for (char c : host) {
    if (c == '.') {
      ++dots;
    } else if (c < '0' || c > '9') {
      return false;
    }
  }
  return dots == 3;
}

}  // namespace

Result<std::unique_ptr<Client>> Client::Connect(const ClientOptions& options) {
  if (options.server.empty()) return Status::InvalidArgument("--server: empty address");
  if (options.plaintext && !options.token.empty() && !IsLocalTarget(options.server)) {
    return Status::InvalidArgument(
        "plaintext with a token is allowed only to a loopback server (the credential would "
        "cross the network in clear)");
  }
  auto credentials = MakeCredentials(options);
  if (!credentials.ok()) return credentials.status();
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(kMessageSizeBytesMax);
  args.SetMaxSendMessageSize(kMessageSizeBytesMax);
  if (!options.server_name.empty()) args.SetSslTargetNameOverride(options.server_name);
  // One connection per Client: channels with equal arguments would otherwise share one.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  auto channel = grpc::CreateCustomChannel(options.server, *credentials, args);
  return std::unique_ptr<Client>(std::make_unique<GrpcClient>(std::move(channel), options));
}

Result<v1::InclusionProofs> Client::GetInclusionProofs(const std::vector<uint64_t>& indexes,
                                                      uint64_t size) {
  v1::InclusionProofs out;
  for (const uint64_t index : indexes) {
    CAIRN_ASSIGN_OR_RETURN(v1::InclusionProof proof, GetInclusionProof(index, size));
    size = proof.size();  // the first fixes the tree for the rest
    *out.add_proofs() = std::move(proof);
  }
  return out;
}

}  // namespace cairn
