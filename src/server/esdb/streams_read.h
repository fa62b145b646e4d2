// The Read RPC of the EventStoreDB Streams service (streams_service.h): what a ReadReq asks for
// (ReadSpec), and the reactors that answer it — a paged read (this file) or a catch-up
// subscription (streams_subscription.h).
//
// A read pages through the engine, at most ReadLimits::page_events_max events per engine call,
// and holds at most one page of answers at a time (one ReadResp per event, written one after
// another). It ends at the log's or the stream's end as it was when the read started, or after
// `count` events delivered. Per event: the filter, then `read` (`audit.read` for `$audit` and
// `$alerts`) for its stream and type, else it is skipped; protected fields are revealed for the
// caller (EventStore::Reveal; masked without `read.pii`).
//
// Positions: a stream read from a revision includes it; a `$all` read forwards from a position
// includes it, backwards from a position excludes it (it yields the events before it).
//
// Thread safety: each reactor belongs to its call; gRPC serialises its callbacks.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>

#include <grpcpp/support/server_callback.h>

#include "audit/metrics.h"
#include "common/status.h"
#include "common/task_runner.h"
#include "engine/event_store.h"
#include "event_store/client/streams.pb.h"
#include "server/call_gate.h"
#include "server/principal_tally.h"
#include "server/read_slots.h"
#include "server/esdb/streams_filter.h"
#include "server/write_watchdog.h"

namespace cairn::server::esdb {

inline constexpr uint64_t kCheckpointWindowDefault = 32;
inline constexpr uint64_t kCheckpointEventsMax = uint64_t{1} << 20;

struct ReadSpec {
  enum class From : uint8_t { kStart, kEnd, kAt };

  bool all = false;    // `$all`; otherwise `stream`
  std::string stream;  // the stream, or "$all"
  bool backwards = false;
  From from = From::kStart;
  uint64_t at = 0;     // kAt: a stream revision, or a `$all` commit position
  uint64_t count = 0;  // events to deliver at most (reads; 0 = none)
  bool subscription = false;
  bool structured_uuid = false;
  ReadFilter filter;
  // Filtered subscriptions: a checkpoint every this many events considered — the search window
  // (FilterOptions.max, else kCheckpointWindowDefault) times checkpointIntervalMultiplier, as
  // EventStoreDB counts; at most kCheckpointEventsMax.
  uint64_t checkpoint_events = kCheckpointWindowDefault;
};

// kInvalidArgument for a request without stream_option, with an empty stream name, or with a
// filter ReadFilter::Parse refuses.
Result<ReadSpec> ParseReadSpec(const event_store::client::streams::ReadReq& request);

// A read that scans this many pages without finding an event it may send (a `$all` read of a
// caller who may read little of it, a filter that matches little) hands the rest of its scan to
// LongScans::runner, a few pages per turn, and gives the gRPC callback thread back: such a scan
// could otherwise pin a callback thread for as long as the log takes to read. At most
// kLongScansActiveMax reads scan on it at once — a read holds its slot from the hand-over until
// its scan finds something to send (each has at most one turn queued, so a running scan's next
// turn is always taken); a read that would be one more ends with RESOURCE_EXHAUSTED. One
// principal holds at most kLongScansPerPrincipalMax slots, so that a caller who may read nothing
// of `$all` cannot take them all with reads that scan to the end of the log.
inline constexpr uint64_t kScanPagesPerTurnMax = 8;
inline constexpr size_t kLongScanThreads = 2;
inline constexpr size_t kLongScansActiveMax = 256;
inline constexpr size_t kLongScansPerPrincipalMax = 32;

struct LongScans {
  TaskRunner runner{kLongScanThreads, kLongScansActiveMax, "cairn-esdb-scan"};
  std::atomic<size_t> active{0};  // reads handed over and not done; ≤ kLongScansActiveMax
  std::atomic<uint64_t> turns{0};  // turns run so far (tests, metrics)
  audit::Counter* turns_metric = nullptr;  // cairn_esdb_long_scan_turns_total; may be null

  // Takes a slot for `principal`: false when every slot, or every slot one principal may hold,
  // is taken. Each true is followed by exactly one Release with the same principal.
  bool Acquire(const std::string& principal);
  void Release(const std::string& principal);

 private:
  std::mutex mu_;
  PrincipalTally by_principal_;  // slots held; guarded by mu_
};

struct ReadLimits {
  uint64_t page_events_max = 512;
  audit::Counter* read_events = nullptr;  // events read from the log; may be null
  LongScans* long_scans = nullptr;        // null: every page is read on the callback thread
  // Watches each answer's write: a client that stops reading has its call cancelled after the
  // watchdog's stall limit, which frees the page it holds (server/write_watchdog.h). May be null.
  WriteWatchdog* write_watchdog = nullptr;
};

using ReadReactor = grpc::ServerWriteReactor<event_store::client::streams::ReadResp>;

// A reactor that answers a read already allowed for `id` (the caller checked the stream-level
// grant and audited the call). `store` must outlive the call. The reactor keeps `slot` (the
// read's claim on ReadSlots, or an empty one) until the call is done.
ReadReactor* StartRead(grpc::CallbackServerContext* context, engine::EventStore* store,
                       CallIdentity id, ReadSpec spec, ReadLimits limits,
                       ReadSlots::Slot slot = {});

// A reactor that finishes the call at once with `status` (its trailers are already on
// `context`, see esdb_errors.h Finish).
ReadReactor* FinishedRead(grpc::Status status);

}  // namespace cairn::server::esdb
