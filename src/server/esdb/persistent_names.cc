#include "server/esdb/persistent_names.h"

#include <nlohmann/json.hpp>

#include "common/bytes.h"
#include "crypto/sha256.h"

namespace cairn::server::esdb {
namespace {

constexpr size_t kDigestHexChars = 32;  // 128 bits
constexpr std::string_view kRecordPrefix = "esdb-ps/";

std::string RecordName(const std::string& cairn_name) {
  return std::string(kRecordPrefix) + cairn_name;
}

}  // namespace

std::string CairnGroupName(std::string_view stream, std::string_view group) {
  crypto::Sha256Hasher hasher;
  // Length-prefixed, so that ("ab", "c") and ("a", "bc") differ.
  const uint32_t size = static_cast<uint32_t>(stream.size());
  for (int shift = 24; shift >= 0; shift -= 8) hasher.Update(static_cast<uint8_t>(size >> shift));
  hasher.Update(stream);
  hasher.Update(group);
  const crypto::Hash digest = hasher.Final();
  std::string name = std::string(kEsdbGroupPrefix) + HexEncode(digest).substr(0, kDigestHexChars);
  assert(name.size() == kEsdbGroupPrefix.size() + kDigestHexChars);
  return name;
}

Status ValidateEsdbGroupName(std::string_view group) {
  if (group.empty() || group.size() > kEsdbGroupNameSizeBytesMax) {
    return Status::InvalidArgument("group name must be 1..256 bytes");
  }
  for (char c : group) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      return Status::InvalidArgument("group name must not hold control characters");
    }
  }
  return Status::Ok();
}

std::string SubscriptionId(std::string_view stream, std::string_view group) {
  return std::string(stream) + "::" + std::string(group);
}

std::string EncodeEsdbGroupRecord(const EsdbGroupRecord& r) {
  nlohmann::json j{{"v", 1},
                   {"stream", r.stream},
                   {"group", r.group},
                   {"start_from", r.start_from},
                   {"consumer_strategy", r.consumer_strategy},
                   {"resolve_links", r.resolve_links},
                   {"extra_statistics", r.extra_statistics},
                   {"message_timeout_ms", r.message_timeout_ms},
                   {"max_retry_count", r.max_retry_count},
                   {"checkpoint_after_ms", r.checkpoint_after_ms},
                   {"min_checkpoint_count", r.min_checkpoint_count},
                   {"max_checkpoint_count", r.max_checkpoint_count},
                   {"max_subscriber_count", r.max_subscriber_count},
                   {"live_buffer_size", r.live_buffer_size},
                   {"read_batch_size", r.read_batch_size},
                   {"history_buffer_size", r.history_buffer_size}};
  return j.dump();
}

Result<EsdbGroupRecord> DecodeEsdbGroupRecord(std::string_view text) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  const auto version = j.is_object() ? j.find("v") : j.end();
  if (!j.is_object() || version == j.end() || !version->is_number_integer() || *version != 1) {
    return Status::DataLoss("stored ESDB group record is not readable");
  }
  try {
    EsdbGroupRecord r;
    r.stream = j.at("stream").get<std::string>();
    r.group = j.at("group").get<std::string>();
    r.start_from = j.at("start_from").get<std::string>();
    r.consumer_strategy = j.at("consumer_strategy").get<std::string>();
    r.resolve_links = j.at("resolve_links").get<bool>();
    r.extra_statistics = j.at("extra_statistics").get<bool>();
    r.message_timeout_ms = j.at("message_timeout_ms").get<int32_t>();
    r.max_retry_count = j.at("max_retry_count").get<int32_t>();
    r.checkpoint_after_ms = j.at("checkpoint_after_ms").get<int32_t>();
    r.min_checkpoint_count = j.at("min_checkpoint_count").get<int32_t>();
    r.max_checkpoint_count = j.at("max_checkpoint_count").get<int32_t>();
    r.max_subscriber_count = j.at("max_subscriber_count").get<int32_t>();
    r.live_buffer_size = j.at("live_buffer_size").get<int32_t>();
    r.read_batch_size = j.at("read_batch_size").get<int32_t>();
    r.history_buffer_size = j.at("history_buffer_size").get<int32_t>();
    return r;
  } catch (const nlohmann::json::exception&) {
    return Status::DataLoss("stored ESDB group record is not readable");
  }
}

Status EsdbGroupRecords::Save(const EsdbGroupRecord& record) {
  return store_->PutComponentState(RecordName(CairnGroupName(record.stream, record.group)),
                                   EncodeEsdbGroupRecord(record));
}

Result<std::optional<EsdbGroupRecord>> EsdbGroupRecords::Load(const std::string& cairn_name) {
  CAIRN_ASSIGN_OR_RETURN(std::optional<std::string> text,
                         store_->ReadComponentState(RecordName(cairn_name)));
  if (!text || text->empty()) return std::optional<EsdbGroupRecord>();
  CAIRN_ASSIGN_OR_RETURN(EsdbGroupRecord record, DecodeEsdbGroupRecord(*text));
  return std::optional<EsdbGroupRecord>(std::move(record));
}

Status EsdbGroupRecords::Remove(const std::string& cairn_name) {
  return store_->PutComponentState(RecordName(cairn_name), "");
}

}  // namespace cairn::server::esdb
