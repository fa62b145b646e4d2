#include "server/integrity_service.h"

#include "server/status_map.h"
#include "server/wire_convert.h"

namespace cairn::server {
namespace {

// The resource name of log-wide actions in decisions and denials.
constexpr std::string_view kWholeLog = "*";

}  // namespace

IntegrityService::IntegrityService(engine::EventStore* store, const CallGate* gate)
    : store_(store), gate_(gate) {}

grpc::Status IntegrityService::AdmitProof(grpc::ServerContext* context) const {
  CallIdentity id;
  if (grpc::Status s = gate_->Admit(context, &id); !s.ok()) return s;
  if (!id.Decide(policy::Action::kProof, kWholeLog, "").allowed) {
    return DeniedStatus(policy::ActionName(policy::Action::kProof), kWholeLog, "");
  }
  return grpc::Status::OK;
}

grpc::Status IntegrityService::GetCheckpoint(grpc::ServerContext* context,
                                             const v1::GetCheckpointRequest*,
                                             v1::Checkpoint* response) {
  if (grpc::Status s = AdmitProof(context); !s.ok()) return s;
  auto checkpoint = store_->Checkpoint();
  if (!checkpoint.ok()) return ToGrpcStatus(checkpoint.status());
  ToWire(*checkpoint, response);
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

grpc::Status IntegrityService::GetConsistencyProof(grpc::ServerContext* context,
                                                   const v1::ConsistencyProofRequest* request,
                                                   v1::ConsistencyProof* response) {
  if (grpc::Status s = AdmitProof(context); !s.ok()) return s;
  auto proof = store_->ProveConsistency(request->size1(), request->size2());
  if (!proof.ok()) return ToGrpcStatus(proof.status());
  ToWire(*proof, response);
  return grpc::Status::OK;
}

}  // namespace cairn::server
