// cairn.v1.Streams over an EventStore, behind the CallGate and the policy.
//
// Append: the caller needs `append` on the stream for every distinct event type of the batch;
// one denied type denies the whole batch (PERMISSION_DENIED naming action, stream and type) and
// nothing is written. Read/ReadAll: events whose type the caller may not `read` are left out
// and counted in ReadResponse.filtered_events. Read additionally needs `read` on the stream as a
// whole. Delete needs `delete` on the stream; GetStreamInfo needs `read` on it.
//
// Reads stream in chunks of at most `read_chunk_events_max` events and about
// `read_chunk_bytes_max` bytes, checking for cancellation between chunks. An authorized read
// takes a slot of `read_slots` for its duration, or is refused with RESOURCE_EXHAUSTED.
//
// Thread safety: gRPC calls the methods concurrently; the service holds no mutable state.
#pragma once

#include <cstdint>

#include "audit/metrics.h"
#include "cairn/v1/streams.grpc.pb.h"
#include "engine/event_store.h"
#include "server/call_gate.h"
#include "server/read_slots.h"
#include "server/write_watchdog.h"

namespace cairn::server {

struct StreamsServiceOptions {
  uint64_t read_chunk_events_max = 512;
  uint64_t read_chunk_bytes_max = 1 << 20;
  // cairn_read_calls_total / cairn_read_events_total (Read and ReadAll); not owned, nullptr = off.
  audit::MetricsRegistry* metrics = nullptr;
  // Cancels a Read/ReadAll whose client stopped reading (server/write_watchdog.h); not owned,
  // nullptr = unwatched.
  WriteWatchdog* write_watchdog = nullptr;
  // Bounds the Read/ReadAll calls in progress (server/read_slots.h); not owned, nullptr =
  // unbounded.
  ReadSlots* read_slots = nullptr;
  // The engine's limit on events per append (limits.batch_events_max), checked before any
  // per-event work: a 4 MiB request of empty events holds ~2 million of them.
  uint64_t append_events_max = 1000;
};

// Append uses gRPC's callback API: the handler returns at once and the engine's commit thread
// finishes the call (EventStore::AppendAsync), so no server thread waits for a group commit.
class StreamsService final : public v1::Streams::WithCallbackMethod_Append<v1::Streams::Service> {
 public:
  StreamsService(engine::EventStore* store, const CallGate* gate, StreamsServiceOptions options);

  grpc::ServerUnaryReactor* Append(grpc::CallbackServerContext* context,
                                   const v1::AppendRequest* request,
                                   v1::AppendResponse* response) override;
  grpc::Status Read(grpc::ServerContext* context, const v1::ReadRequest* request,
                    grpc::ServerWriter<v1::ReadResponse>* writer) override;
  grpc::Status ReadAll(grpc::ServerContext* context, const v1::ReadAllRequest* request,
                       grpc::ServerWriter<v1::ReadResponse>* writer) override;
  grpc::Status Delete(grpc::ServerContext* context, const v1::DeleteRequest* request,
                      v1::DeleteResponse* response) override;
  grpc::Status GetStreamInfo(grpc::ServerContext* context, const v1::GetStreamInfoRequest* request,
                             v1::StreamInfo* response) override;

 private:
  grpc::Status AllowedEvents(const CallIdentity& id, const v1::AppendRequest& request,
                             std::vector<engine::ProposedEvent>* events) const;
  // The pages of an admitted Read / ReadAll; their status is the call's (and its audit record's).
  grpc::Status ReadPages(grpc::ServerContext* context, const v1::ReadRequest& request,
                         CallIdentity* id, grpc::ServerWriter<v1::ReadResponse>* writer);
  grpc::Status ReadAllPages(grpc::ServerContext* context, const v1::ReadAllRequest& request,
                            CallIdentity* id, grpc::ServerWriter<v1::ReadResponse>* writer);
  // A slot of options_.read_slots for the caller (OK and none held when unbounded).
  grpc::Status TakeReadSlot(const CallIdentity& id, ReadSlots::Slot* slot) const;

  engine::EventStore* store_;
  const CallGate* gate_;
  StreamsServiceOptions options_;
  audit::Counter* read_calls_ = nullptr;   // null when metrics are off
  audit::Counter* read_events_ = nullptr;  // events read from the log, before type filtering
};

}  // namespace cairn::server
