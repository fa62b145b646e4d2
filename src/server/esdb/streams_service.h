// event_store.client.streams.Streams (EventStoreDB/KurrentDB gRPC protocol) over cairn's
// EventStore, behind the same CallGate, policy, field protection, audit and metrics as
// cairn.v1.Streams (server/streams_service.h). docs/eventstoredb-clients.md says what maps to what.
//
// - Append (client stream: options, then events) and BatchAppend (bidi, by correlation id): the
//   caller needs `append` on the stream for every distinct event type; one denied type denies the
//   whole append (access-denied) and nothing is written. A wrong expected revision is answered
//   as the protocol says: AppendResp.wrong_expected_version (Append) or a google.rpc.Status with
//   event_store.client.WrongExpectedVersion details (BatchAppend). More than
//   append_size_bytes_max bytes of events is refused (maximum-append-size-exceeded).
// - Read: a stream (needs `read` on it; `$audit`/`$alerts` need `audit.read`) or `$all`,
//   forwards or backwards, with a count and a filter (streams_filter.h). Events whose type the
//   caller may not read are left out; protected fields are revealed through EventStore::Reveal
//   (masked without `read.pii`). A missing stream is answered with stream_not_found, a deleted
//   one with stream-deleted. With the subscription option the read is a catch-up subscription
//   on the server's LiveHub (`subscribe` instead of `read`; streams_subscription.h).
// - Delete and Tombstone: both are cairn's one permanent delete (EventStore::DeleteStream, needs
//   `delete`): EventStoreDB's soft delete has no cairn equivalent, and a delete that could be
//   undone by the next append would contradict cairn's immutable log (docs/eventstoredb-clients.md).
//
// Reads, subscriptions, Append and BatchAppend use gRPC's callback API (no thread per call; a
// client that streams an append slowly holds none); Delete and Tombstone are synchronous.
// Appends complete on the engine's commit thread (EventStore::AppendAsync), so concurrent
// appends share group commits. An Append call that is cancelled before the client half-closes
// appends nothing.
//
// Thread safety: gRPC calls the methods concurrently; the service holds no mutable state. The
// store, gate, hub and metrics registry must outlive the server's calls.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "audit/metrics.h"
#include "common/task_runner.h"
#include "engine/event_store.h"
#include "event_store/client/streams.grpc.pb.h"
#include "server/call_gate.h"
#include "server/read_slots.h"
#include "server/esdb/streams_append.h"
#include "server/esdb/streams_read.h"
#include "subscribe/live_hub.h"

namespace cairn::server::esdb {

struct StreamsServiceOptions {
  // Subscriptions (Read with the subscription option); required, not owned.
  subscribe::LiveHub* live_hub = nullptr;
  // Events per engine read (reads page through the log; engine::Limits::read_events_max caps it).
  uint64_t read_page_events_max = 512;
  // The largest append (sum of data and custom metadata), reported to clients as
  // maximum-append-size; the engine's batch limits apply as well.
  uint64_t append_size_bytes_max = uint64_t{4} << 20;
  // Events of one append (the engine refuses more than engine::Limits::batch_events_max).
  uint64_t append_events_max = 1000;
  // BatchAppend, per call: appends waiting for their commit and their bytes (beyond either the
  // call stops reading until one completes), and correlation ids whose chunks are still
  // arriving (beyond it a new correlation id is refused; each holds at most
  // append_size_bytes_max bytes).
  size_t batch_appends_in_flight_max = 64;
  uint64_t batch_in_flight_bytes_max = uint64_t{16} << 20;
  size_t batch_open_correlations_max = 8;
  // All calls together: the bytes of appends whose messages are still arriving (AppendBudget;
  // beyond it, or beyond a quarter of it for one principal, an event is refused with
  // UNAVAILABLE; cairn serve raises it to room for four appends at [limits]). StreamsService makes the budget and sets append_budget; leave it null.
  uint64_t unfinished_append_bytes_max = uint64_t{256} << 20;
  AppendBudget* append_budget = nullptr;
  // cairn_read_calls_total / cairn_read_events_total, shared with cairn.v1; not owned.
  audit::MetricsRegistry* metrics = nullptr;
  // Bounds the Read calls (not subscriptions) in progress, in all and per principal: each holds
  // a page of answers while its client takes them (server/read_slots.h; cairn serve gives this
  // protocol its own instance with the limits of cairn.v1's). Not owned; nullptr = unbounded.
  ReadSlots* read_slots = nullptr;
  // Ends reads whose client stopped reading (limits.write_stall_ms_max), as on cairn.v1; not
  // owned, may be null.
  WriteWatchdog* write_watchdog = nullptr;
  // Ends an Append whose client stopped sending before it half-closed, and a BatchAppend whose
  // client stopped sending while an append of it is incomplete (the chunks received are held
  // meanwhile); not owned, may be null.
  WriteWatchdog* append_watchdog = nullptr;
  // The longest an append may stay unfinished, from the call's start (Append) or its first chunk
  // (BatchAppend): a client that sends a little now and then renews the append watchdog, and
  // would otherwise hold its share of the append budget for ever. Checked as each message
  // arrives, so an append is held at most this plus the watchdog's stall limit; then it is
  // refused with RESOURCE_EXHAUSTED and nothing of it is written ([limits] append_open_ms_max).
  int64_t append_open_ms_max = 120000;
  // Counts those refusals (cairn_esdb_appends_open_too_long_total): StreamsService sets it from
  // `metrics`; leave it null.
  audit::Counter* open_too_long_metric = nullptr;
};

// The refusal of an append that stayed open longer than `append_open_ms_max`.
grpc::Status AppendOpenTooLong(int64_t append_open_ms_max);

class StreamsService final
    : public event_store::client::streams::Streams::WithCallbackMethod_Read<
          event_store::client::streams::Streams::WithCallbackMethod_Append<
              event_store::client::streams::Streams::WithCallbackMethod_BatchAppend<
                  event_store::client::streams::Streams::Service>>> {
 public:
  StreamsService(engine::EventStore* store, const CallGate* gate, StreamsServiceOptions options);

  grpc::ServerWriteReactor<event_store::client::streams::ReadResp>* Read(
      grpc::CallbackServerContext* context,
      const event_store::client::streams::ReadReq* request) override;
  grpc::ServerReadReactor<event_store::client::streams::AppendReq>* Append(
      grpc::CallbackServerContext* context,
      event_store::client::streams::AppendResp* response) override;
  grpc::ServerBidiReactor<event_store::client::streams::BatchAppendReq,
                          event_store::client::streams::BatchAppendResp>*
  BatchAppend(grpc::CallbackServerContext* context) override;
  grpc::Status Delete(grpc::ServerContext* context,
                      const event_store::client::streams::DeleteReq* request,
                      event_store::client::streams::DeleteResp* response) override;
  grpc::Status Tombstone(grpc::ServerContext* context,
                         const event_store::client::streams::TombstoneReq* request,
                         event_store::client::streams::TombstoneResp* response) override;

 private:
  engine::EventStore* store_;
  const CallGate* gate_;
  StreamsServiceOptions options_;
  std::unique_ptr<AppendBudget> append_budget_;  // options_.append_budget
  audit::Counter* read_calls_ = nullptr;   // null when metrics are off
  audit::Counter* read_events_ = nullptr;  // events read from the log, before filtering
  // Reads that scan long without finding an event to send continue here, not on the gRPC
  // callback threads every callback-API call shares (streams_read.h).
  LongScans long_scans_;
};

}  // namespace cairn::server::esdb
