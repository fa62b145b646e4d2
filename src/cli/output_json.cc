#include "cli/output_json.h"

#include "cli/utf8.h"
#include "common/bytes.h"

namespace cairn::cli {
namespace {

// Adds `bytes` as field `name` when it is UTF-8 text, else as `name`_base64.
void AddBytesField(Json* json, const std::string& name, const std::string& bytes) {
  if (IsValidUtf8(bytes)) {
    (*json)[name] = bytes;
  } else {
    (*json)[name + "_base64"] = Base64Encode(bytes);
  }
}

Json HashList(const std::vector<crypto::Hash>& hashes) {
  Json list = Json::array();
  for (const auto& h : hashes) list.push_back(HashHex(h));
  return list;
}

}  // namespace

std::string HashHex(const crypto::Hash& hash) { return HexEncode(std::span<const uint8_t>(hash)); }

Json EventToJson(const engine::RecordedEvent& event) {
  const integrity::Entry& e = event.entry;
  Json json = {
      {"position", e.position},
      {"stream", e.stream_id},
      {"version", e.stream_version},
      {"id", engine::FormatUuid(e.event_id)},
      {"type", e.event_type},
      {"content_type", e.content_type},
      {"recorded_at_ns", e.recorded_at_ns},
      {"metadata_hash", HashHex(e.metadata_hash)},
      {"data_hash", HashHex(e.data_hash)},
      {"stream_prev", HashHex(e.stream_prev)},
      {"leaf_hash", HashHex(event.leaf_hash)},
  };
  AddBytesField(&json, "data", event.data);
  AddBytesField(&json, "metadata", event.metadata);
  if (!event.masked.empty()) json["masked"] = event.masked;
  if (!event.erased.empty()) json["erased"] = event.erased;
  if (!event.revealed.empty()) json["revealed"] = event.revealed;
  return json;
}

Json StreamInfoToJson(std::string_view stream, const engine::StreamInfo& info) {
  Json json = {{"stream", stream}, {"exists", info.exists}, {"deleted", info.deleted},
               {"event_count", info.event_count}};
  json["last_version"] = info.exists ? Json(info.last_version) : Json(nullptr);
  json["last_position"] = info.exists ? Json(info.last_position) : Json(nullptr);
  return json;
}

Json AppendResultToJson(const engine::AppendResult& result) {
  return Json{{"position", result.last_position},
              {"version", result.last_version},
              {"first_position", result.first_position},
              {"first_version", result.first_version},
              {"idempotent_replay", result.idempotent_replay}};
}

Json CheckpointToJson(const engine::SignedCheckpoint& checkpoint) {
  return Json{{"size", checkpoint.size},
              {"root", HashHex(checkpoint.root)},
              {"note", checkpoint.note}};
}

Json InclusionProofToJson(const engine::InclusionProof& proof) {
  return Json{{"index", proof.index},
              {"size", proof.size},
              {"leaf_hash", HashHex(proof.leaf_hash)},
              {"root", HashHex(proof.root)},
              {"proof", HashList(proof.proof)}};
}

Json ConsistencyProofToJson(const engine::ConsistencyProof& proof) {
  return Json{{"size1", proof.size1},
              {"size2", proof.size2},
              {"root1", HashHex(proof.root1)},
              {"root2", HashHex(proof.root2)},
              {"proof", HashList(proof.proof)}};
}

Json VerifyReportToJson(const engine::VerifyReport& report) {
  Json json = {{"ok", report.ok},
               {"records_checked", report.records_checked},
               {"streams_checked", report.streams_checked},
               {"checkpoints_checked", report.checkpoints_checked},
               {"nodes_checked", report.nodes_checked},
               {"index_entries_checked", report.index_entries_checked}};
  json["bad_position"] = report.bad_position ? Json(*report.bad_position) : Json(nullptr);
  json["failure"] = report.ok ? Json(nullptr) : Json(report.failure);
  json["root"] = report.ok ? Json(HexEncode(std::span<const uint8_t>(report.root))) : Json(nullptr);
  json["key_pinned"] = report.key_pinned;
  json["anchored_size"] = report.anchored_size ? Json(*report.anchored_size) : Json(nullptr);
  return json;
}

std::string JsonLine(const Json& json) {
  // `replace` keeps output flowing if a message ever carries a stray byte; event bytes are
  // checked with IsValidUtf8 before they are put in a string field.
  return json.dump(-1, ' ', false, Json::error_handler_t::replace);
}

}  // namespace cairn::cli
