// JSON forms of engine values, one object per line. Hashes are lowercase hex. An event's
// `data` and `metadata` are JSON strings holding exactly the stored bytes when those are valid
// UTF-8, so an auditor can recompute data_hash = SHA-256(data), re-encode the entry and check
// leaf_hash from the JSON alone; otherwise they are given as `data_base64` / `metadata_base64`.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "crypto/sha256.h"
#include "engine/event_store.h"
#include "engine/types.h"

namespace cairn::cli {

using Json = nlohmann::ordered_json;

std::string HashHex(const crypto::Hash& hash);

Json EventToJson(const engine::RecordedEvent& event);
Json StreamInfoToJson(std::string_view stream, const engine::StreamInfo& info);
Json AppendResultToJson(const engine::AppendResult& result);
Json CheckpointToJson(const engine::SignedCheckpoint& checkpoint);
Json InclusionProofToJson(const engine::InclusionProof& proof);
Json ConsistencyProofToJson(const engine::ConsistencyProof& proof);
Json VerifyReportToJson(const engine::VerifyReport& report);

// Compact single-line text of `json` (UTF-8 as is, never throws on the values built above).
std::string JsonLine(const Json& json);

}  // namespace cairn::cli
