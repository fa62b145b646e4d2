#include "server/integrity_service.h"

#include "integrity/checkpoint.h"

#include <cassert>
#include <chrono>
#include <cctype>
#include <string>

#include "common/bytes.h"
#include "common/log.h"
#include "common/wall_clock.h"
#include "integrity/entry.h"
#include "server/call_audit.h"
#include "server/status_map.h"
#include "server/wire_convert.h"

namespace cairn::server {
namespace {

// The resource name of log-wide actions in decisions and denials.
constexpr std::string_view kWholeLog = "*";
constexpr size_t kViolationDetailSizeBytesMax = 256;

bool IsPrintableAscii(std::string_view text) {
  for (char c : text) {
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

bool HasControlCharacter(std::string_view text) {
  for (unsigned char c : text) {
    if (c < 0x20 || c == 0x7f) return true;
  }
  return false;
}

// kInvalidArgument naming the first field that is out of bounds.
Status ValidateReport(const v1::ViolationReport& report) {
  if (report.kind() == v1::VIOLATION_KIND_UNSPECIFIED || !v1::ViolationKind_IsValid(report.kind())) {
    return Status::InvalidArgument("violation report: unknown kind");
  }
  if (report.stream().size() > integrity::kStreamIdSizeBytesMax ||
      HasControlCharacter(report.stream())) {
    return Status::InvalidArgument("violation report: stream must be at most 512 bytes without control characters");
  }
  if (report.detail().size() > kViolationDetailSizeBytesMax || !IsPrintableAscii(report.detail())) {
    return Status::InvalidArgument("violation report: detail must be at most 256 bytes of printable ASCII");
  }
  const bool has_checkpoint = report.checkpoint_size() > 0;
  if (report.checkpoint_root().size() != (has_checkpoint ? crypto::kSha256SizeBytes : 0)) {
    return Status::InvalidArgument(
        "violation report: checkpoint_root must be 32 bytes with a checkpoint_size, empty without");
  }
  return Status::Ok();
}

std::string KindName(int kind) {
  std::string name = v1::ViolationKind_Name(static_cast<v1::ViolationKind>(kind));
  constexpr std::string_view kPrefix = "VIOLATION_";
  if (name.starts_with(kPrefix)) name.erase(0, kPrefix.size());
  for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return name;
}

// One log line: who reported what about which position. The detail text and any event data
// stay out of the log; stream ids carry no personal data by contract (DESIGN.md).
void LogViolation(const ViolationRecord& r, std::string_view peer_ip) {
  log::Error("integrity violation reported",
            {.action = "integrity.violation",
             .outcome = "failure",
             .source_ip = peer_ip,
             .user_id = r.principal,
             .extra = {{"cairn.report", std::to_string(r.number)},
                       {"cairn.kind", KindName(r.kind)},
                       {"cairn.position", std::to_string(r.position)},
                       {"cairn.stream", r.stream},
                       {"cairn.version", std::to_string(r.version)},
                       {"cairn.checkpoint_size", std::to_string(r.checkpoint_size)},
                       {"cairn.checkpoint_root",
                        r.checkpoint_size > 0 ? HexEncode(r.checkpoint_root) : ""}}});
}

// The `$integrity.violation` audit record of an accepted report: what was reported and by whom,
// never the detail text (it is the reporter's free text).
void AuditViolation(const CallIdentity& id, const ViolationRecord& v) {
  audit::AuditRecord r;
  r.kind = audit::AuditKind::kIntegrityViolation;
  r.request_id = id.request_id;
  r.principal = id.principal.id;
  r.auth_method = AuthMethodName(id.principal.method);
  r.source_ip = id.peer_ip;
  r.action = "integrity.report";
  r.resource = v.stream.empty() ? std::string(kWholeLog) : v.stream;
  r.outcome = "success";
  r.reason = "reported by a verifying client";
  r.details = {{"source", "report"},
               {"kind", std::to_string(static_cast<int>(v.kind))},
               {"position", std::to_string(v.position)},
               {"version", std::to_string(v.version)},
               {"checkpoint_size", std::to_string(v.checkpoint_size)},
               {"report_number", std::to_string(v.number)}};
  id.audit->trail()->Submit(std::move(r));
}

}  // namespace

IntegrityService::IntegrityService(engine::EventStore* store, const CallGate* gate,
                                   const WitnessPusher* witnesses, ReadSlots* read_slots)
    : store_(store), gate_(gate), witnesses_(witnesses), read_slots_(read_slots) {}

grpc::Status IntegrityService::AdmitProof(grpc::ServerContext* context, CallIdentity* out) const {
  CallIdentity local;
  CallIdentity& id = out != nullptr ? *out : local;
  if (grpc::Status s = gate_->Admit(context, &id); !s.ok()) return s;
  if (grpc::Status s = Require(id, policy::Action::kProof, kWholeLog, ""); !s.ok()) return s;
  id.audit->CountAllowed(policy::Action::kProof);
  return grpc::Status::OK;
}

grpc::Status IntegrityService::GetCheckpoint(grpc::ServerContext* context,
                                             const v1::GetCheckpointRequest* request,
                                             v1::Checkpoint* response) {
  CallIdentity id;
  if (grpc::Status s = AdmitProof(context, &id); !s.ok()) return s;
  if (request->cosigned()) return CosignedCheckpoint(response);
  // The request may wait for the next paced signing (up to a checkpoint interval) on this
  // thread: it holds a slot of the reads' budget meanwhile, so that one principal's requests
  // cannot hold every server thread.
  ReadSlots::Slot slot;
  if (read_slots_ != nullptr) {
    if (grpc::Status s = read_slots_->Acquire(id.principal.id, &slot); !s.ok()) return s;
  }
  auto checkpoint = store_->CheckpointOnRequest();  // paced: requests cannot grow the log's checkpoints
  if (!checkpoint.ok()) return ToGrpcStatus(checkpoint.status());
  ToWire(*checkpoint, response);
  return grpc::Status::OK;
}

grpc::Status IntegrityService::CosignedCheckpoint(v1::Checkpoint* response) const {
  if (witnesses_ == nullptr) {
    return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                        "this server has no witnesses configured ([[witness]])");
  }
  std::string note = witnesses_->Cosigned();
  if (note.empty()) {
    return grpc::Status(grpc::StatusCode::UNAVAILABLE, "no checkpoint is cosigned yet");
  }
  const size_t text_end = note.find("\n\n");
  auto checkpoint = integrity::ParseCheckpoint(std::string_view(note).substr(0, text_end + 1));
  assert(text_end != std::string::npos && checkpoint.ok() && "the server's own signed note");
  if (!checkpoint.ok()) return ToGrpcStatus(checkpoint.status());
  ToWire(engine::SignedCheckpoint{checkpoint->size, checkpoint->root, std::move(note)}, response);
  return grpc::Status::OK;
}

grpc::Status IntegrityService::GetVerifierKey(grpc::ServerContext* context,
                                              const v1::GetVerifierKeyRequest*,
                                              v1::VerifierKey* response) {
  CallIdentity id;
  if (grpc::Status s = gate_->Admit(context, &id); !s.ok()) return s;
  response->set_vkey(store_->verifier_key());
  response->set_origin(store_->origin());
  return grpc::Status::OK;
}

grpc::Status IntegrityService::GetInclusionProof(grpc::ServerContext* context,
                                                 const v1::InclusionProofRequest* request,
                                                 v1::InclusionProof* response) {
  if (grpc::Status s = AdmitProof(context); !s.ok()) return s;
  auto proof = store_->ProveInclusion(request->index(), request->size());
  if (!proof.ok()) return ToGrpcStatus(proof.status());
  ToWire(*proof, response);
  return grpc::Status::OK;
}

grpc::Status IntegrityService::GetInclusionProofs(grpc::ServerContext* context,
                                                  const v1::InclusionProofsRequest* request,
                                                  v1::InclusionProofs* response) {
  if (grpc::Status s = AdmitProof(context); !s.ok()) return s;
  const auto& indexes = request->indexes();
  if (indexes.empty() || static_cast<size_t>(indexes.size()) > kInclusionProofsPerCallMax) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "give 1 to " + std::to_string(kInclusionProofsPerCallMax) +
                            " positions per call (got " + std::to_string(indexes.size()) + ")");
  }
  auto proofs = store_->ProveInclusions(
      std::span<const uint64_t>(indexes.data(), static_cast<size_t>(indexes.size())), request->size());
  if (!proofs.ok()) return ToGrpcStatus(proofs.status());
  assert(proofs->size() == static_cast<size_t>(indexes.size()));
  for (const engine::InclusionProof& proof : *proofs) ToWire(proof, response->add_proofs());
  return grpc::Status::OK;
}

grpc::Status IntegrityService::GetConsistencyProof(grpc::ServerContext* context,
                                                   const v1::ConsistencyProofRequest* request,
                                                   v1::ConsistencyProof* response) {
  if (grpc::Status s = AdmitProof(context); !s.ok()) return s;
  auto proof = store_->ProveConsistency(request->size1(), request->size2());
  if (!proof.ok()) return ToGrpcStatus(proof.status());
  ToWire(*proof, response);
  return grpc::Status::OK;
}

grpc::Status IntegrityService::ReportViolation(grpc::ServerContext* context,
                                               const v1::ViolationReport* request,
                                               v1::ViolationReceipt* response) {
  CallIdentity id;
  if (grpc::Status s = gate_->Admit(context, &id); !s.ok()) return s;
  const bool may_read = !request->stream().empty() &&
                        id.Decide(policy::Action::kRead, request->stream(), "").allowed;
  if (!may_read) {
    if (grpc::Status s = Require(id, policy::Action::kProof, kWholeLog, ""); !s.ok()) return s;
  }
  if (Status s = ValidateReport(*request); !s.ok()) return ToGrpcStatus(s);
  ViolationRecord record;
  record.received_unix_s = NowUnixSeconds();
  record.principal = id.principal.id;
  record.kind = request->kind();
  record.position = request->position();
  record.stream = request->stream();
  record.version = request->version();
  record.checkpoint_size = request->checkpoint_size();
  if (record.checkpoint_size > 0) record.checkpoint_root = crypto::HashFromBytes(request->checkpoint_root());
  record.detail = request->detail();
  const uint64_t number = violations_.Record(record);
  if (number == 0) {
    return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                        "too many violation reports from this principal; retry in a minute");
  }
  record.number = number;
  LogViolation(record, id.peer_ip);
  AuditViolation(id, record);
  response->set_report_number(number);
  return grpc::Status::OK;
}

}  // namespace cairn::server
