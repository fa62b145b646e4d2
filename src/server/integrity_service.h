// cairn.v1.Integrity: signed checkpoints and proofs. Every call needs action `proof` (on the
// whole log: the stream argument of the decision is "*"), except GetVerifierKey, which any
// authenticated caller may fetch (the key is public; witnesses need it).
//
// ReportViolation (a verifying consumer saw an event or checkpoint that failed verification)
// is allowed with `proof` on the log, or with `read` on the reported stream (stream level): a
// consumer that may read a stream may say what it saw there. The report is validated (sizes,
// kind, printable detail), rate-limited per principal (ViolationLog), counted, kept among the
// latest reports, and written as one JSON line on stderr (no event data, no detail text, no
// credential). The server does not re-check the claim: a report is a signal for the audit.
//
// Thread safety: gRPC calls the methods concurrently; the ViolationLog is thread-safe.
#pragma once

#include "cairn/v1/integrity.grpc.pb.h"
#include "engine/event_store.h"
#include "server/call_gate.h"
#include "server/read_slots.h"
#include "server/violation_log.h"
#include "server/witness_pusher.h"

namespace cairn::server {

// Positions per GetInclusionProofs call: ~2.2 MB of proofs at most (64 hashes each), within the
// default [limits] max_message_bytes (4 MiB). With a smaller limit the answer fails with
// RESOURCE_EXHAUSTED and the client asks again in halves.
inline constexpr size_t kInclusionProofsPerCallMax = 1000;

class IntegrityService final : public v1::Integrity::Service {
 public:
  // `witnesses` (nullable, outliving the service): where GetCheckpoint(cosigned) takes its note.
  // `read_slots` (nullable, outliving the service): GetCheckpoint may wait up to a checkpoint
  // interval for the next paced signing on a server thread, so it takes a slot of the cairn.v1
  // reads' budget for the call (server/read_slots.h); null: unbounded.
  IntegrityService(engine::EventStore* store, const CallGate* gate,
                   const WitnessPusher* witnesses = nullptr, ReadSlots* read_slots = nullptr);

  grpc::Status GetCheckpoint(grpc::ServerContext* context, const v1::GetCheckpointRequest* request,
                             v1::Checkpoint* response) override;
  grpc::Status GetVerifierKey(grpc::ServerContext* context,
                              const v1::GetVerifierKeyRequest* request,
                              v1::VerifierKey* response) override;
  grpc::Status GetInclusionProof(grpc::ServerContext* context,
                                 const v1::InclusionProofRequest* request,
                                 v1::InclusionProof* response) override;
  // Up to kInclusionProofsPerCallMax proofs in one tree (the request's size, else the tree when
  // the call is served); INVALID_ARGUMENT for none, too many, or a position beyond the tree.
  grpc::Status GetInclusionProofs(grpc::ServerContext* context,
                                  const v1::InclusionProofsRequest* request,
                                  v1::InclusionProofs* response) override;
  grpc::Status GetConsistencyProof(grpc::ServerContext* context,
                                   const v1::ConsistencyProofRequest* request,
                                   v1::ConsistencyProof* response) override;
  grpc::Status ReportViolation(grpc::ServerContext* context, const v1::ViolationReport* request,
                               v1::ViolationReceipt* response) override;

  // Reports accepted since start (for Admin.ServerInfo), and the latest ones.
  uint64_t violation_reports() const { return violations_.count(); }
  const ViolationLog& violations() const { return violations_; }

 private:
  // Admits a caller with `proof` on the log; *id (may be null) gets its identity.
  grpc::Status AdmitProof(grpc::ServerContext* context, CallIdentity* id = nullptr) const;
  grpc::Status CosignedCheckpoint(v1::Checkpoint* response) const;

  engine::EventStore* store_;
  const CallGate* gate_;
  const WitnessPusher* witnesses_;
  ReadSlots* read_slots_;  // may be null
  ViolationLog violations_;
};

}  // namespace cairn::server
