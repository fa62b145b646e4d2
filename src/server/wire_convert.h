// Conversions between the engine's values and the cairn.v1 wire messages. Used by the server's
// services and by the CLI's remote mode, so both sides agree field by field.
//
// FromWire functions validate what the engine would otherwise take on trust (hash and id sizes)
// and return kInvalidArgument naming the field.
#pragma once

#include "cairn/v1/common.pb.h"
#include "cairn/v1/integrity.pb.h"
#include "cairn/v1/streams.pb.h"
#include "common/status.h"
#include "engine/event_store.h"
#include "engine/types.h"

namespace cairn::server {

void ToWire(const engine::RecordedEvent& event, v1::RecordedEvent* out);
Result<engine::RecordedEvent> FromWire(const v1::RecordedEvent& event);

void ToWire(const engine::ExpectedVersion& expected, v1::ExpectedVersion* out);
engine::ExpectedVersion FromWire(const v1::ExpectedVersion& expected);

void ToWire(const engine::ProposedEvent& event, v1::ProposedEvent* out);
Result<engine::ProposedEvent> FromWire(const v1::ProposedEvent& event);

void ToWire(const engine::AppendResult& result, v1::AppendResponse* out);
engine::AppendResult FromWire(const v1::AppendResponse& result);

void ToWire(const engine::StreamInfo& info, v1::StreamInfo* out);
engine::StreamInfo FromWire(const v1::StreamInfo& info);

void ToWire(const engine::SignedCheckpoint& checkpoint, v1::Checkpoint* out);
Result<engine::SignedCheckpoint> FromWire(const v1::Checkpoint& checkpoint);

void ToWire(const engine::InclusionProof& proof, v1::InclusionProof* out);
Result<engine::InclusionProof> FromWire(const v1::InclusionProof& proof);

void ToWire(const engine::ConsistencyProof& proof, v1::ConsistencyProof* out);
Result<engine::ConsistencyProof> FromWire(const v1::ConsistencyProof& proof);

}  // namespace cairn::server
