// How an EventStoreDB persistent subscription — a (stream, group) pair, or ("$all", group) —
// maps onto a cairn consumer group, and what cairn keeps beside the group so that GetInfo and
// List can answer in ESDB's terms.
//
// The cairn group name is "esdb-" + the first 32 hex digits of SHA-256(u32 length of stream ||
// stream || group): deterministic, valid under ValidateGroupName ([A-Za-z0-9._-], 37 bytes), and
// collision-free for any practical number of groups (128 bits). The ESDB names and the settings
// cairn accepts but does not act on (resolve links, checkpoint counts, buffer sizes, consumer
// strategy, ...) live in component state "esdb-ps/<cairn name>" (EsdbGroupRecord, JSON). Stream
// and group names are not personal data (DESIGN.md, Data model): they may be stored unencrypted.
//
// Thread safety: the functions are pure; EsdbGroupRecords is safe for concurrent use (each call
// is one store operation).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"
#include "engine/event_store.h"

namespace cairn::server::esdb {

inline constexpr std::string_view kEsdbAllStream = "$all";
inline constexpr std::string_view kEsdbGroupPrefix = "esdb-";
// ESDB group names: 1..256 bytes (cairn's bound; the name only goes into the record and the
// digest).
inline constexpr size_t kEsdbGroupNameSizeBytesMax = 256;

// The ESDB view of one group. Settings that cairn honours are mirrored in GroupSettings; the
// others are kept only to be reported back.
struct EsdbGroupRecord {
  std::string stream;      // a stream id or "$all"
  std::string group;       // the ESDB group name
  std::string start_from;  // as ESDB reports it: "0"/"-1"/"<rev>" or "C:<c>/P:<p>"
  std::string consumer_strategy = "RoundRobin";
  bool resolve_links = false;
  bool extra_statistics = false;
  int32_t message_timeout_ms = 30000;
  int32_t max_retry_count = 10;
  int32_t checkpoint_after_ms = 2000;
  int32_t min_checkpoint_count = 10;
  int32_t max_checkpoint_count = 1000;
  int32_t max_subscriber_count = 0;  // 0 = unbounded (up to cairn's consumers_per_group_max)
  int32_t live_buffer_size = 500;
  int32_t read_batch_size = 20;
  int32_t history_buffer_size = 500;
  bool operator==(const EsdbGroupRecord&) const = default;
};

// The cairn group name of (stream, group); `stream` is a stream id or "$all".
std::string CairnGroupName(std::string_view stream, std::string_view group);
// kInvalidArgument for an empty or oversized group name.
Status ValidateEsdbGroupName(std::string_view group);
// "<stream>::<group>", ESDB's subscription id (sent in the confirmation).
std::string SubscriptionId(std::string_view stream, std::string_view group);

std::string EncodeEsdbGroupRecord(const EsdbGroupRecord& record);
// kDataLoss for bytes that are not a record.
Result<EsdbGroupRecord> DecodeEsdbGroupRecord(std::string_view text);

// The records in the store's component state.
class EsdbGroupRecords {
 public:
  explicit EsdbGroupRecords(engine::EventStore* store) : store_(store) {}
  Status Save(const EsdbGroupRecord& record);
  // nullopt when the group has no record (never made through ESDB, or removed).
  Result<std::optional<EsdbGroupRecord>> Load(const std::string& cairn_name);
  // Blanks the record (component state has no delete).
  Status Remove(const std::string& cairn_name);

 private:
  engine::EventStore* store_;
};

}  // namespace cairn::server::esdb
