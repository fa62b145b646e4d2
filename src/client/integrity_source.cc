// IntegritySourceFor: the server's Integrity service as an IntegritySource, on a Client's
// connection (the Client's calls, plus ReportViolation on a stub of the same channel).
#include <grpcpp/grpcpp.h>

#include "cairn/client.h"
#include "cairn/v1/integrity.grpc.pb.h"
#include "client/event_verifier.h"
#include "client/grpc_status.h"

namespace cairn {
namespace {

class ClientIntegritySource final : public IntegritySource {
 public:
  explicit ClientIntegritySource(Client* client)
      : client_(client), stub_(v1::Integrity::NewStub(client->channel())) {}

  Result<v1::Checkpoint> GetCheckpoint() override { return Checked(client_->GetCheckpoint()); }
  Result<v1::InclusionProof> GetInclusionProof(uint64_t index, uint64_t size) override {
    return Checked(client_->GetInclusionProof(index, size));
  }
  Result<v1::ConsistencyProof> GetConsistencyProof(uint64_t size1, uint64_t size2) override {
    return Checked(client_->GetConsistencyProof(size1, size2));
  }
  // One event, as Streams.Read shows it to this consumer: nothing when the stream is gone, or
  // this consumer may not read it or its type (the server leaves such events out).
  Result<std::optional<v1::RecordedEvent>> ReadStreamEvent(const std::string& stream,
                                                           uint64_t version) override {
    v1::ReadRequest request;
    request.set_stream(stream);
    request.set_from_version(version);
    request.set_limit(1);
    std::optional<v1::RecordedEvent> found;
    Status s = client_->Read(request, [&](const v1::ReadResponse& chunk) {
      for (const v1::RecordedEvent& e : chunk.events()) {
        if (!found && e.version() == version) found = e;
      }
      return !found;
    });
    if (found) return found;
    switch (s.code()) {
      case StatusCode::kOk:
      case StatusCode::kNotFound:
      case StatusCode::kStreamDeleted:
      case StatusCode::kPermissionDenied:
        return std::optional<v1::RecordedEvent>();
      default:
        return NotOurViolation(s);
    }
  }
  Status ReportViolation(const v1::ViolationReport& report) override {
    grpc::ClientContext context;
    client_->PrepareContext(&context, client_->options().timeout_ms);
    v1::ViolationReceipt receipt;
    grpc::Status status = stub_->ReportViolation(&context, report, &receipt);
    return status.ok() ? Status::Ok() : FromGrpcStatus(status);
  }

 private:
  template <typename T>
  static Result<T> Checked(Result<T> r) {
    if (r.ok()) return r;
    return NotOurViolation(r.status());
  }

  Client* client_;
  std::unique_ptr<v1::Integrity::Stub> stub_;
};

}  // namespace

Status NotOurViolation(Status status) {
  if (status.code() != StatusCode::kDataLoss) return status;
  return Status::Internal("the server reported lost or damaged data: " + status.message());
}

std::unique_ptr<IntegritySource> IntegritySourceFor(Client* client) {
  assert(client != nullptr);
  return std::make_unique<ClientIntegritySource>(client);
}

}  // namespace cairn
