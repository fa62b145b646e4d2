// ESDB persistent-subscription settings <-> cairn consumer groups (issue 9; see
// persistent_names.h for the naming).
//
// What cairn honours: the start (stream revision → the log position of that event, or the log's
// end when the stream is not that long yet; start/end; a `$all` commit position = cairn log
// position), max_retry_count (retry_limit = max_retry_count + 1 deliveries before parking, as
// ESDB retries an event max_retry_count times), message_timeout (ack_timeout_ms), the `$all`
// filter on stream-name prefixes and event-type prefixes, and max_subscriber_count (checked when
// a consumer connects). Accepted and only reported back: resolve_links (cairn has no link
// events), extra_statistics, checkpoint_after / min / max checkpoint counts (cairn saves a
// group's position at least every second), live/history buffer sizes and read batch size (cairn's
// GroupLimits bound its buffers), and the consumer strategy (cairn delivers round robin among
// the consumers with room, whatever the name). Refused with kInvalidArgument: negative numbers,
// an unknown strategy, a regular-expression filter (except ESDB's "exclude system events", which
// is what a cairn group does anyway), and anything GroupSettings' bounds refuse.
//
// Thread safety: pure functions except for the reads of `store` (thread-safe).
#pragma once

#include <optional>
#include <string>

#include "common/status.h"
#include "engine/event_store.h"
#include "event_store/client/persistent.pb.h"
#include "server/esdb/persistent_names.h"
#include "subscribe/group_engine.h"

namespace cairn::server::esdb {

namespace ps = event_store::client::persistent_subscriptions;

// A group as ESDB asked for it: the cairn settings and the ESDB record.
struct EsdbGroupPlan {
  subscribe::GroupSettings settings;
  EsdbGroupRecord record;
};

// The (stream, group) a request names; stream is "$all" for a subscription to all.
struct EsdbGroupId {
  std::string stream;
  std::string group;
  std::string cairn_name() const { return CairnGroupName(stream, group); }
};

Result<EsdbGroupId> IdOf(const ps::CreateReq::Options& options);
Result<EsdbGroupId> IdOf(const ps::UpdateReq::Options& options);
Result<EsdbGroupId> IdOf(const ps::DeleteReq::Options& options);
Result<EsdbGroupId> IdOf(const ps::GetInfoReq::Options& options);
Result<EsdbGroupId> IdOf(const ps::ReplayParkedReq::Options& options);
Result<EsdbGroupId> IdOf(const ps::ReadReq::Options& options);

// A new group; the start is resolved against `store` now.
Result<EsdbGroupPlan> PlanCreate(engine::EventStore* store, const ps::CreateReq::Options& options);
// `current` changed as an update asks: retry limit and ack timeout act; the rest is reported.
// The start of a running group does not move (ESDB too starts from it only without a
// checkpoint); the record reports the new one.
Result<EsdbGroupPlan> PlanUpdate(const ps::UpdateReq::Options& options,
                                 const subscribe::GroupSettings& current,
                                 const EsdbGroupRecord& current_record);

// GetInfo / List: the settings cairn acts on win over the record's copies; figures cairn does not
// keep are 0. `parked_stream_events`: the event count of the group's `$parked-<group>` stream
// (the parked count is what of it is not replayed yet). Connections are the caller's to add.
void ToSubscriptionInfo(const subscribe::GroupInfo& info, const EsdbGroupRecord& record,
                        uint64_t parked_stream_events, ps::SubscriptionInfo* out);

// The revision of `stream`'s last event below log `position` — what GetInfo reports of a stream
// group as its last checkpointed (position = done_below) and last known (the read position)
// event. Looks back at most kRevisionLookBackEvents events; nullopt beyond that, for a stream
// without such an event, and on a read error (the figure is then left out).
inline constexpr uint64_t kRevisionLookBackEvents = 256;
std::optional<uint64_t> RevisionBefore(engine::EventStore* store, const std::string& stream,
                                       uint64_t position);

}  // namespace cairn::server::esdb
