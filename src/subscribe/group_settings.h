// GroupSettings: what a consumer group reads and how it delivers (docs/consumers.md), and the
// limits every group of a server lives within.
//
// A group reads one stream, or the whole log ("$all"), from `start_position` (a log position),
// and keeps only events that pass its filter (stream id prefixes; event types exact or by prefix
// — an event type passes when it equals one of event_types or starts with one of
// event_type_prefixes; empty lists pass everything). Events of system streams (ids starting with '$', such as the group's
// own `$parked-<group>`) never pass: a group never consumes the store's own records.
//
// Thread safety: plain values; the functions are pure.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "policy/pattern.h"

namespace cairn::subscribe {

inline constexpr std::string_view kGroupAllStreams = "$all";

// Bounds of the group engine; each has a unit or a count in its name.
struct GroupLimits {
  size_t groups_max = 64;
  size_t consumers_per_group_max = 32;
  uint32_t in_flight_max = 1000;            // per consumer
  uint32_t retry_limit_max = 100;
  uint32_t ack_timeout_ms_min = 100;
  uint32_t ack_timeout_ms_max = 3600000;
  size_t filter_entries_max = 64;           // stream prefixes + event types + type prefixes
  size_t buffer_events_max = 2048;          // events read ahead and not done, per group
  size_t buffer_bytes_max = 64u << 20;      // their data + metadata, per group
  size_t done_above_max = 4096;             // done events tracked above the group's position
  size_t read_batch_events_max = 256;       // one ReadAll of the group
  size_t replay_batch_events_max = 256;     // parked references loaded at a time…
  size_t replay_buffer_bytes_max = 16u << 20;  // …and the bytes of their events, per group
  uint32_t checkpoint_interval_ms = 1000;   // state saved at most this often while it changes…
  uint32_t checkpoint_changes_max = 512;    // …or after this many changes
  uint32_t tick_ms = 50;                    // ack timeouts are checked this often
  // A consumer whose transport has not taken a message for this long (it stopped reading) is
  // dropped from its group: its deliveries go to others and its slot is free again.
  int64_t write_stall_ms_max = 60000;
};

struct GroupSettings {
  std::string name;
  std::string source = std::string(kGroupAllStreams);
  std::vector<std::string> stream_prefixes;
  std::vector<std::string> event_types;
  std::vector<std::string> event_type_prefixes;
  uint64_t start_position = 0;
  uint32_t max_in_flight = 16;    // per consumer
  uint32_t retry_limit = 5;       // deliveries before the event is parked
  uint32_t ack_timeout_ms = 30000;
  // Who may join as a consumer: principal patterns as in policy bindings ("apikey:billing",
  // "jwt:svc-billing-*", "mtls:spiffe://acme/billing", "*"), at most kGroupConsumersMax. Empty:
  // any principal with `subscribe` on the source (EventStoreDB's rule). A consumer also needs
  // that `subscribe` either way.
  std::vector<std::string> consumers;

  bool operator==(const GroupSettings&) const = default;
  // The source and the filter: does the group consume this event at all?
  bool Passes(std::string_view stream_id, std::string_view event_type) const;
  // May this principal join (consumers empty, or one of its patterns matches the id)?
  bool Admits(std::string_view principal_id) const;
};

inline constexpr size_t kGroupConsumersMax = 64;

// GroupSettings::consumers compiled once, for checks that repeat (every delivery round).
class ConsumerPatterns {
 public:
  explicit ConsumerPatterns(const std::vector<std::string>& consumers);
  bool Admits(std::string_view principal_id) const;  // true when the list was empty

 private:
  bool any_ = true;
  std::vector<policy::PrincipalPattern> patterns_;
};

inline constexpr uint32_t kDefaultMaxInFlight = 16;
inline constexpr uint32_t kDefaultRetryLimit = 5;
inline constexpr uint32_t kDefaultAckTimeoutMs = 30000;
inline constexpr size_t kParkReasonSizeBytesMax = 256;

// [A-Za-z0-9._-]{1,64}, not starting with "webhook-" (`$parked-webhook-*` are the webhooks').
// Safe inside a stream id and a storage key.
Status ValidateGroupName(std::string_view name);
// Replaces zeros by the defaults above and checks every bound against `limits`;
// kInvalidArgument naming the field.
Status NormalizeGroupSettings(const GroupLimits& limits, GroupSettings* settings);
// Update may change only max_in_flight, retry_limit, ack_timeout_ms and consumers.
Status CheckGroupUpdate(const GroupSettings& current, const GroupSettings& wanted);

// The stored form (JSON); DecodeGroupSettings returns kDataLoss for bytes it cannot read.
std::string EncodeGroupSettings(const GroupSettings& settings);
Result<GroupSettings> DecodeGroupSettings(std::string_view text);

}  // namespace cairn::subscribe
