// cairn.v1.Integrity: signed checkpoints and proofs. Every call needs action `proof` (on the
// whole log: the stream argument of the decision is "*"), except GetVerifierKey, which any
// authenticated caller may fetch (the key is public; witnesses need it).
//
// Thread safety: stateless; gRPC calls the methods concurrently.
#pragma once

#include "cairn/v1/integrity.grpc.pb.h"
#include "engine/event_store.h"
#include "server/call_gate.h"

namespace cairn::server {

class IntegrityService final : public v1::Integrity::Service {
 public:
  IntegrityService(engine::EventStore* store, const CallGate* gate);

  grpc::Status GetCheckpoint(grpc::ServerContext* context, const v1::GetCheckpointRequest* request,
                             v1::Checkpoint* response) override;
  grpc::Status GetVerifierKey(grpc::ServerContext* context,
                              const v1::GetVerifierKeyRequest* request,
                              v1::VerifierKey* response) override;
  grpc::Status GetInclusionProof(grpc::ServerContext* context,
                                 const v1::InclusionProofRequest* request,
                                 v1::InclusionProof* response) override;
  grpc::Status GetConsistencyProof(grpc::ServerContext* context,
                                   const v1::ConsistencyProofRequest* request,
                                   v1::ConsistencyProof* response) override;

 private:
  grpc::Status AdmitProof(grpc::ServerContext* context) const;

  engine::EventStore* store_;
  const CallGate* gate_;
};

}  // namespace cairn::server
