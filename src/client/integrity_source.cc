// IntegritySourceFor: the server's Integrity service as an IntegritySource, on a Client's
// connection (the Client's calls, plus ReportViolation on a stub of the same channel).
#include <grpcpp/grpcpp.h>

#include <mutex>
#include <unordered_map>

#include "cairn/client.h"
#include "cairn/v1/integrity.grpc.pb.h"
#include "cairn/v1/streams.grpc.pb.h"
#include "client/event_verifier.h"
#include "client/grpc_status.h"
#include "common/steady_clock.h"

namespace cairn {
namespace {

// Streams whose predecessor reads the server refused (PERMISSION_DENIED) are not asked again for
// this long: a consumer that may subscribe but not read would otherwise send one refused call per
// unseen link. Bounded: the table is emptied when full.
constexpr int64_t kDeniedStreamTtlMs = 60'000;
constexpr size_t kDeniedStreamsMax = 1024;

class ClientIntegritySource final : public IntegritySource {
 public:
  explicit ClientIntegritySource(Client* client)
      : client_(client),
        stub_(v1::Integrity::NewStub(client->channel())),
        streams_(v1::Streams::NewStub(client->channel())) {}

  Result<v1::Checkpoint> GetCheckpoint() override { return Checked(client_->GetCheckpoint()); }
  Result<v1::InclusionProof> GetInclusionProof(uint64_t index, uint64_t size) override {
    return Checked(client_->GetInclusionProof(index, size));
  }
  Result<v1::ConsistencyProof> GetConsistencyProof(uint64_t size1, uint64_t size2) override {
    return Checked(client_->GetConsistencyProof(size1, size2));
  }
  // One event, as Streams.Read shows it to this consumer: nothing when the stream is gone, or
  // this consumer may not read it or its type (the server leaves such events out). A unary-sized
  // call: its deadline is the client's timeout_ms, not the read_timeout_ms of a whole read.
  Result<std::optional<v1::RecordedEvent>> ReadStreamEvent(const std::string& stream,
                                                           uint64_t version) override {
    if (RecentlyDenied(stream)) return std::optional<v1::RecordedEvent>();
    v1::ReadRequest request;
    request.set_stream(stream);
    request.set_from_version(version);
    request.set_limit(1);
    grpc::ClientContext context;
    client_->PrepareContext(&context, client_->options().timeout_ms);
    std::unique_ptr<grpc::ClientReader<v1::ReadResponse>> reader = streams_->Read(&context, request);
    std::optional<v1::RecordedEvent> found;
    v1::ReadResponse chunk;
    while (!found && reader->Read(&chunk)) {
      for (const v1::RecordedEvent& e : chunk.events()) {
        if (!found && e.version() == version) found = e;
      }
    }
    if (found) context.TryCancel();
    while (reader->Read(&chunk)) {
    }
    const Status s = FromGrpcStatus(reader->Finish());
    if (found) return found;
    switch (s.code()) {
      case StatusCode::kPermissionDenied:
        NoteDenied(stream);
        return std::optional<v1::RecordedEvent>();
      case StatusCode::kOk:
      case StatusCode::kNotFound:
      case StatusCode::kStreamDeleted:
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

  bool RecentlyDenied(const std::string& stream) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = denied_until_ms_.find(stream);
    if (it == denied_until_ms_.end()) return false;
    if (it->second > SteadyNowMs()) return true;
    denied_until_ms_.erase(it);
    return false;
  }
  void NoteDenied(const std::string& stream) {
    std::lock_guard<std::mutex> lock(mu_);
    if (denied_until_ms_.size() >= kDeniedStreamsMax) denied_until_ms_.clear();
    denied_until_ms_[stream] = SteadyNowMs() + kDeniedStreamTtlMs;
  }

  Client* client_;
  std::unique_ptr<v1::Integrity::Stub> stub_;
  std::unique_ptr<v1::Streams::Stub> streams_;
  std::mutex mu_;
  std::unordered_map<std::string, int64_t> denied_until_ms_;  // guarded by mu_
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
