// IntegritySourceFor: the server's Integrity service as an IntegritySource, on a Client's
// connection (the Client's calls, plus ReportViolation on a stub of the same channel).
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <cassert>
#include <mutex>
#include <unordered_map>
#include <unordered_set>

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
        integrity_(v1::Integrity::NewStub(client->channel())),
        streams_(v1::Streams::NewStub(client->channel())) {}

  Result<v1::Checkpoint> GetCheckpoint() override {
    return Checked(Unary<v1::Checkpoint>([&](grpc::ClientContext* c, v1::Checkpoint* r) {
      return integrity_->GetCheckpoint(c, v1::GetCheckpointRequest(), r);
    }));
  }
  Result<v1::Checkpoint> GetCosignedCheckpoint() override {
    v1::GetCheckpointRequest request;
    request.set_cosigned(true);
    return Checked(Unary<v1::Checkpoint>([&](grpc::ClientContext* c, v1::Checkpoint* r) {
      return integrity_->GetCheckpoint(c, request, r);
    }));
  }
  Result<v1::InclusionProof> GetInclusionProof(uint64_t index, uint64_t size) override {
    v1::InclusionProofRequest request;
    request.set_index(index);
    request.set_size(size);
    return Checked(Unary<v1::InclusionProof>([&](grpc::ClientContext* c, v1::InclusionProof* r) {
      return integrity_->GetInclusionProof(c, request, r);
    }));
  }
  // One call per batch; one call per position against a server without the batch call. An
  // answer larger than the server's message limit (RESOURCE_EXHAUSTED: [limits]
  // max_message_bytes) is asked for again in halves.
  Result<std::vector<v1::InclusionProof>> GetInclusionProofs(const std::vector<uint64_t>& indexes,
                                                             uint64_t size) override {
    if (!batch_unsupported_.load(std::memory_order_relaxed) && indexes.size() > 1) {
      v1::InclusionProofsRequest request;
      request.mutable_indexes()->Add(indexes.begin(), indexes.end());
      request.set_size(size);
      grpc::StatusCode code = grpc::StatusCode::OK;
      auto batch = Unary<v1::InclusionProofs>([&](grpc::ClientContext* c, v1::InclusionProofs* r) {
        grpc::Status status = integrity_->GetInclusionProofs(c, request, r);
        code = status.error_code();
        return status;
      });
      if (batch.ok()) {
        std::vector<v1::InclusionProof> proofs;
        proofs.reserve(static_cast<size_t>(batch->proofs_size()));
        for (v1::InclusionProof& proof : *batch->mutable_proofs()) proofs.push_back(std::move(proof));
        return proofs;
      }
      if (code == grpc::StatusCode::RESOURCE_EXHAUSTED) return InHalves(indexes, size);
      if (code != grpc::StatusCode::UNIMPLEMENTED) return NotOurViolation(batch.status());
      batch_unsupported_.store(true, std::memory_order_relaxed);
    }
    return IntegritySource::GetInclusionProofs(indexes, size);
  }
  Result<v1::ConsistencyProof> GetConsistencyProof(uint64_t size1, uint64_t size2) override {
    v1::ConsistencyProofRequest request;
    request.set_size1(size1);
    request.set_size2(size2);
    return Checked(Unary<v1::ConsistencyProof>([&](grpc::ClientContext* c, v1::ConsistencyProof* r) {
      return integrity_->GetConsistencyProof(c, request, r);
    }));
  }
  void Cancel() override {
    std::lock_guard<std::mutex> lock(mu_);
    cancelled_ = true;
    for (grpc::ClientContext* context : live_) context->TryCancel();
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
    LiveCall live(this, &context);
    if (!live.admitted()) return Cancelled();
    std::unique_ptr<grpc::ClientReader<v1::ReadResponse>> reader = streams_->Read(&context, request);
    std::optional<v1::RecordedEvent> found;
    uint64_t filtered = 0;  // left out because this consumer may not read their type
    bool deleted = false;   // the stream is tombstoned
    v1::ReadResponse chunk;
    while (!found && reader->Read(&chunk)) {
      filtered += chunk.filtered_events();
      deleted = deleted || chunk.stream_deleted();
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
        if (filtered > 0 || deleted) return std::optional<v1::RecordedEvent>();  // not ours to see
        return Status::NotFound("the server shows no such version and filtered nothing");
      case StatusCode::kNotFound:
        return Status::NotFound("the server says the stream does not exist");
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
    grpc::Status status = integrity_->ReportViolation(&context, report, &receipt);
    return status.ok() ? Status::Ok() : FromGrpcStatus(status);
  }

 private:
  // A call in progress, cancelled by Cancel(); not admitted once the source is cancelled.
  class LiveCall {
   public:
    LiveCall(ClientIntegritySource* source, grpc::ClientContext* context)
        : source_(source), context_(context) {
      std::lock_guard<std::mutex> lock(source_->mu_);
      admitted_ = !source_->cancelled_;
      if (admitted_) source_->live_.insert(context_);
    }
    ~LiveCall() {
      std::lock_guard<std::mutex> lock(source_->mu_);
      source_->live_.erase(context_);
    }
    bool admitted() const { return admitted_; }

   private:
    ClientIntegritySource* source_;
    grpc::ClientContext* context_;
    bool admitted_ = false;
  };

  Result<std::vector<v1::InclusionProof>> InHalves(const std::vector<uint64_t>& indexes,
                                                    uint64_t size) {
    assert(indexes.size() > 1);
    const auto middle = indexes.begin() + static_cast<ptrdiff_t>(indexes.size() / 2);
    CAIRN_ASSIGN_OR_RETURN(std::vector<v1::InclusionProof> proofs,
                           GetInclusionProofs(std::vector<uint64_t>(indexes.begin(), middle), size));
    CAIRN_ASSIGN_OR_RETURN(std::vector<v1::InclusionProof> rest,
                           GetInclusionProofs(std::vector<uint64_t>(middle, indexes.end()), size));
    for (v1::InclusionProof& p : rest) proofs.push_back(std::move(p));
    return proofs;
  }

  static Status Cancelled() { return Status::Unavailable("the verifying subscription was cancelled"); }

  template <typename Response, typename Call>
  Result<Response> Unary(const Call& call) {
    grpc::ClientContext context;
    client_->PrepareContext(&context, client_->options().timeout_ms);
    LiveCall live(this, &context);
    if (!live.admitted()) return Cancelled();
    Response response;
    const grpc::Status status = call(&context, &response);
    if (!status.ok()) return FromGrpcStatus(status);
    return response;
  }

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
  std::unique_ptr<v1::Integrity::Stub> integrity_;
  std::unique_ptr<v1::Streams::Stub> streams_;
  std::mutex mu_;
  std::unordered_map<std::string, int64_t> denied_until_ms_;  // guarded by mu_
  bool cancelled_ = false;                                   // guarded by mu_
  std::atomic<bool> batch_unsupported_{false};  // the server answered GetInclusionProofs UNIMPLEMENTED
  std::unordered_set<grpc::ClientContext*> live_;            // calls in progress; guarded by mu_
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
