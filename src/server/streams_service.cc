#include "server/streams_service.h"

#include <algorithm>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "server/append_quota.h"
#include "server/call_audit.h"
#include "server/status_map.h"
#include "server/write_watchdog.h"
#include "server/wire_convert.h"

namespace cairn::server {
namespace {

using policy::Action;
using policy::ActionName;

// `$audit` and `$alerts` are read with audit.read (policy.h); every other stream with read.
Action ReadActionFor(std::string_view stream) {
  return policy::IsAuditReadStream(stream) ? Action::kAuditRead : Action::kRead;
}

// The answer to an append call (the response filled in on success).
grpc::Status AppendAnswer(v1::AppendResponse* response, const Result<engine::AppendResult>& result) {
  if (!result.ok()) return ToGrpcStatus(result.status());
  ToWire(*result, response);
  return grpc::Status::OK;
}

// Data + metadata of `events`: what an append quota's bytes count (policy/quota.h).
uint64_t EventBytes(const std::vector<engine::ProposedEvent>& events) {
  uint64_t bytes = 0;
  for (const engine::ProposedEvent& event : events) bytes += event.data.size() + event.metadata.size();
  return bytes;
}

// Entry fields and hashes of one event on the wire, beyond its data and metadata.
constexpr uint64_t kEventOverheadBytes = 256;

// One read call's writes, each watched: a client that stops reading gets its call cancelled
// after kWriteStallMsMax instead of holding the handler's thread (server/write_watchdog.h).
struct ChunkWriter {
  grpc::ServerContext* context;
  WriteWatchdog* watchdog;  // may be null
  grpc::ServerWriter<v1::ReadResponse>* writer;

  bool Write(const v1::ReadResponse& chunk) const {
    WriteWatchdog::Watch watch(watchdog, [context = context] { context->TryCancel(); });
    return writer->Write(chunk);
  }
};

// Writes the readable events of `events`, each in the reader's view of protected fields, in
// chunks of at most `bytes_max` (about; one event may make a chunk on its own), counting the
// others in the chunk that covers them. The last chunk stays in *chunk for the caller to finish;
// CANCELLED when the client went away.
grpc::Status WriteReadable(const CallIdentity& id, engine::EventStore& store,
                           std::vector<engine::RecordedEvent>& events, uint64_t bytes_max,
                           const ChunkWriter& writer, v1::ReadResponse* chunk) {
  // Decide first, then reveal the shown protected events together (two threads for long runs):
  // plaintext for read.pii, the mask otherwise, the erased value after forget. A field that fails
  // to decrypt fails the read (DATA_LOSS): never ciphertext as plaintext.
  std::vector<engine::FieldView> views(events.size(), engine::FieldView::kStored);
  std::vector<bool> shown(events.size(), false);
  bool any_protected = false;
  for (size_t i = 0; i < events.size(); ++i) {
    const integrity::Entry& entry = events[i].entry;
    if (!id.Decide(Action::kRead, entry.stream_id, entry.event_type).allowed) continue;
    shown[i] = true;
    if (!store.IsProtected(entry.event_type)) continue;
    any_protected = true;
    views[i] = id.Decide(Action::kReadPii, entry.stream_id, entry.event_type).allowed
                   ? engine::FieldView::kPlain
                   : engine::FieldView::kMasked;
  }
  if (any_protected) {
    if (Status s = store.RevealMany(events, views); !s.ok()) return ToGrpcStatus(s);
  }
  uint64_t bytes = 0;
  for (size_t i = 0; i < events.size(); ++i) {
    if (!shown[i]) {
      chunk->set_filtered_events(chunk->filtered_events() + 1);
      continue;
    }
    const engine::RecordedEvent& event = events[i];
    const uint64_t size = event.data.size() + event.metadata.size() + kEventOverheadBytes;
    if (chunk->events_size() > 0 && bytes + size > bytes_max) {
      if (!writer.Write(*chunk)) return grpc::Status::CANCELLED;
      chunk->Clear();
      bytes = 0;
    }
    bytes += size;
    ToWire(event, chunk->add_events());
  }
  return grpc::Status::OK;
}

}  // namespace

StreamsService::StreamsService(engine::EventStore* store, const CallGate* gate,
                               StreamsServiceOptions options)
    : store_(store), gate_(gate), options_(options) {
  assert(options_.read_chunk_events_max > 0);
  if (options_.metrics != nullptr) {
    read_calls_ = options_.metrics->GetCounter("cairn_read_calls_total",
                                               "Client read calls (Read and ReadAll RPCs).");
    read_events_ = options_.metrics->GetCounter(
        "cairn_read_events_total", "Events read from the log for client reads (before filtering).");
  }
}

// The events of an append request, after the policy allowed every event type of the batch.
grpc::Status StreamsService::AllowedEvents(const CallIdentity& id, const v1::AppendRequest& request,
                                           std::vector<engine::ProposedEvent>* events) const {
  const std::string& stream = request.stream();
  const uint64_t count = static_cast<uint64_t>(request.events_size());
  if (count > options_.append_events_max) {  // the engine's words (engine/event_codec.cc)
    // A caller that may not append here at all is denied (and audited) as such first.
    if (grpc::Status s = Require(id, Action::kAppend, stream, request.events(0).type()); !s.ok()) {
      return s;
    }
    return ToGrpcStatus(Status::ResourceExhausted(
        "an append of " + std::to_string(count) + " events exceeds the limit of " +
        std::to_string(options_.append_events_max)));
  }
  events->reserve(count);
  std::string_view last_checked_type;
  for (const auto& wire : request.events()) {
    // Batches usually repeat one type: skip the policy call when the type repeats.
    if (wire.type() != last_checked_type || events->empty()) {
      if (grpc::Status s = Require(id, Action::kAppend, stream, wire.type()); !s.ok()) return s;
      last_checked_type = wire.type();
    }
    auto event = FromWire(wire);
    if (!event.ok()) return ToGrpcStatus(event.status());
    events->push_back(std::move(event).value());
  }
  return grpc::Status::OK;
}

grpc::ServerUnaryReactor* StreamsService::Append(grpc::CallbackServerContext* context,
                                                 const v1::AppendRequest* request,
                                                 v1::AppendResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  CallIdentity id;
  std::vector<engine::ProposedEvent> events;
  grpc::Status status = gate_->Admit(context, &id);
  if (status.ok()) status = AllowedEvents(id, *request, &events);
  if (status.ok()) {
    auto refused = ChargeAppendQuota(id, request->stream(), events.size(), EventBytes(events));
    if (refused) status = refused->ToGrpc();
  }
  if (!status.ok()) {
    reactor->Finish(status);
    return reactor;
  }
  id.audit->CountAllowed(Action::kAppend);
  if (!id.audit->data_plane_wanted(/*is_write=*/true)) {
    store_->AppendAsync(request->stream(), FromWire(request->expected()), std::move(events),
                        [reactor, response](Result<engine::AppendResult> result) {
                          reactor->Finish(AppendAnswer(response, result));
                        });
    return reactor;
  }
  // audit.data_plane: one record per append call, with its outcome, from the commit callback.
  auto record = std::make_shared<audit::AuditRecord>(
      id.audit->DataPlaneRecord(id, Action::kAppend, request->stream()));
  record->details.emplace_back("events", std::to_string(events.size()));
  const CallAudit* call_audit = id.audit;
  store_->AppendAsync(request->stream(), FromWire(request->expected()), std::move(events),
                      [reactor, response, record, call_audit](Result<engine::AppendResult> result) {
                        if (result.ok()) {
                          record->details.emplace_back("first_position",
                                                       std::to_string(result->first_position));
                        }
                        grpc::Status status = AppendAnswer(response, result);
                        // Before Finish: the server's shutdown waits for Finish, then stops the
                        // trail.
                        call_audit->SubmitDataPlane(std::move(*record), status);
                        reactor->Finish(std::move(status));
                      });
  return reactor;
}

grpc::Status StreamsService::Read(grpc::ServerContext* context, const v1::ReadRequest* request,
                                  grpc::ServerWriter<v1::ReadResponse>* writer) {
  if (read_calls_ != nullptr) read_calls_->Increment();
  CallIdentity id;
  if (grpc::Status s = gate_->Admit(context, &id); !s.ok()) return s;
  const std::string& stream = request->stream();
  const Action action = ReadActionFor(stream);
  if (grpc::Status s = Require(id, action, stream, ""); !s.ok()) return s;
  id.audit->CountAllowed(action);
  // Recorded with the read's outcome (a missing or deleted stream, an expired credential, too
  // many reads in progress, ...).
  ReadSlots::Slot slot;
  grpc::Status status = TakeReadSlot(id, &slot);
  if (status.ok()) status = ReadPages(context, *request, &id, writer);
  id.audit->DataPlane(id, action, stream, status);
  return status;
}

grpc::Status StreamsService::TakeReadSlot(const CallIdentity& id, ReadSlots::Slot* slot) const {
  if (options_.read_slots == nullptr) return grpc::Status::OK;
  return options_.read_slots->Acquire(id.principal.id, slot);
}

grpc::Status StreamsService::ReadPages(grpc::ServerContext* context,
                                       const v1::ReadRequest& request, CallIdentity* identity,
                                       grpc::ServerWriter<v1::ReadResponse>* writer) {
  CallIdentity& id = *identity;
  const std::string& stream = request.stream();
  const auto direction =
      request.backwards() ? engine::Direction::kBackwards : engine::Direction::kForwards;
  uint64_t remaining = request.limit() == 0 ? std::numeric_limits<uint64_t>::max() : request.limit();
  uint64_t from = request.from_version();
  // A forward read ends at the log's end as of its first page's read, as ReadAll does: events
  // appended meanwhile are for the next read (or a subscription), which the policy of its own
  // time judges. Taken only when the read goes on past its first page, so a read of one page
  // (the common case) costs no extra round trip on a shared store.
  std::optional<uint64_t> end_position;
  const ChunkWriter chunks{context, options_.write_watchdog, writer};
  uint64_t pages = 0;
  for (;;) {
    if (context->IsCancelled()) return grpc::Status::CANCELLED;
    // A long read ends when its credential does (its policy stays the one it started with);
    // checked from the second page on, so that the leeway that admitted the call holds for it.
    if (grpc::Status s = pages++ == 0 ? grpc::Status::OK : CheckNotExpired(&id); !s.ok()) return s;
    const uint64_t want = std::min(remaining, options_.read_chunk_events_max);
    auto page = store_->ReadStream(stream, from, direction, want);
    if (!page.ok()) return ToGrpcStatus(page.status());
    if (direction == engine::Direction::kForwards && !end_position && !page->end_of_stream &&
        remaining > page->events.size()) {
      auto latest = store_->LatestTreeSize();  // at or past every event of this page
      if (!latest.ok()) return ToGrpcStatus(latest.status());
      end_position = *latest;
    }
    if (direction == engine::Direction::kForwards && end_position) {
      auto& events = page->events;
      const auto later = std::find_if(events.begin(), events.end(), [&](const auto& e) {
        return e.entry.position >= *end_position;
      });
      if (later != events.end()) {
        events.erase(later, events.end());
        page->end_of_stream = true;
      }
    }
    if (read_events_ != nullptr) read_events_->Increment(page->events.size());
    v1::ReadResponse chunk;
    if (grpc::Status s = WriteReadable(id, *store_, page->events, options_.read_chunk_bytes_max,
                                       chunks, &chunk);
        !s.ok()) {
      return s;
    }
    const uint64_t got = page->events.size();
    remaining -= std::min(remaining, got);
    const bool at_end = page->end_of_stream || got == 0;
    if (!page->events.empty()) {
      const uint64_t last = page->events.back().entry.stream_version;
      if (direction == engine::Direction::kForwards) {
        from = last + 1;
      } else if (last == 0) {
        chunk.set_end_of_stream(true);
      } else {
        from = last - 1;
      }
    }
    if (at_end) chunk.set_end_of_stream(true);
    const bool done = at_end || remaining == 0 || chunk.end_of_stream();
    chunk.set_end(done);
    if (!chunks.Write(chunk)) return grpc::Status::CANCELLED;
    if (done) return grpc::Status::OK;
  }
}

grpc::Status StreamsService::ReadAll(grpc::ServerContext* context,
                                     const v1::ReadAllRequest* request,
                                     grpc::ServerWriter<v1::ReadResponse>* writer) {
  if (read_calls_ != nullptr) read_calls_->Increment();
  CallIdentity id;
  if (grpc::Status s = gate_->Admit(context, &id); !s.ok()) return s;
  // Some read grant, then every event is judged on its own: a caller with none would learn only
  // the log's size and how many events it may not see.
  if (grpc::Status s = RequireOnWholeLog(id, Action::kRead); !s.ok()) return s;
  id.audit->CountAllowed(Action::kRead);
  ReadSlots::Slot slot;
  grpc::Status status = TakeReadSlot(id, &slot);
  if (status.ok()) status = ReadAllPages(context, *request, &id, writer);
  id.audit->DataPlane(id, Action::kRead, "$all", status);
  return status;
}

grpc::Status StreamsService::ReadAllPages(grpc::ServerContext* context,
                                          const v1::ReadAllRequest& request, CallIdentity* identity,
                                          grpc::ServerWriter<v1::ReadResponse>* writer) {
  CallIdentity& id = *identity;
  auto latest = store_->LatestTreeSize();
  if (!latest.ok()) return ToGrpcStatus(latest.status());
  const uint64_t end_position = *latest;
  const ChunkWriter chunks{context, options_.write_watchdog, writer};
  uint64_t pages = 0;
  uint64_t from = request.from_position();
  uint64_t remaining = request.limit() == 0 ? std::numeric_limits<uint64_t>::max() : request.limit();
  for (;;) {
    if (context->IsCancelled()) return grpc::Status::CANCELLED;
    // A long read ends when its credential does (its policy stays the one it started with);
    // checked from the second page on, so that the leeway that admitted the call holds for it.
    if (grpc::Status s = pages++ == 0 ? grpc::Status::OK : CheckNotExpired(&id); !s.ok()) return s;
    const uint64_t available = end_position > from ? end_position - from : 0;
    const uint64_t want = std::min({remaining, options_.read_chunk_events_max, available});
    v1::ReadResponse chunk;
    if (want > 0) {
      auto events = store_->ReadAll(from, want);
      if (!events.ok()) return ToGrpcStatus(events.status());
      if (read_events_ != nullptr) read_events_->Increment(events->size());
      if (grpc::Status s = WriteReadable(id, *store_, *events, options_.read_chunk_bytes_max,
                                         chunks, &chunk);
          !s.ok()) {
        return s;
      }
      from += events->size();
      remaining -= std::min<uint64_t>(remaining, events->size());
      if (events->empty()) remaining = 0;
    }
    const bool done = want == 0 || remaining == 0 || from >= end_position;
    chunk.set_end(done);
    if (!chunks.Write(chunk)) return grpc::Status::CANCELLED;
    if (done) return grpc::Status::OK;
  }
}

grpc::Status StreamsService::Delete(grpc::ServerContext* context, const v1::DeleteRequest* request,
                                    v1::DeleteResponse* response) {
  CallIdentity id;
  if (grpc::Status s = gate_->Admit(context, &id); !s.ok()) return s;
  if (grpc::Status s = Require(id, Action::kDelete, request->stream(), ""); !s.ok()) return s;
  // A delete appends its tombstone: one event of the caller's append quota.
  if (auto refused = ChargeAppendQuota(id, request->stream(), 1, 0)) return refused->ToGrpc();
  id.audit->CountAllowed(Action::kDelete);
  auto result = store_->DeleteStream(request->stream(), FromWire(request->expected()));
  grpc::Status status = grpc::Status::OK;
  if (result.ok()) {
    response->set_position(result->last_position);
    response->set_version(result->last_version);
  } else {
    status = ToGrpcStatus(result.status());
  }
  id.audit->DataPlane(id, Action::kDelete, request->stream(), status);
  return status;
}

grpc::Status StreamsService::GetStreamInfo(grpc::ServerContext* context,
                                           const v1::GetStreamInfoRequest* request,
                                           v1::StreamInfo* response) {
  CallIdentity id;
  if (grpc::Status s = gate_->Admit(context, &id); !s.ok()) return s;
  const Action action = ReadActionFor(request->stream());
  if (grpc::Status s = Require(id, action, request->stream(), ""); !s.ok()) return s;
  id.audit->CountAllowed(action);
  auto info = store_->GetStreamInfo(request->stream());
  const grpc::Status status = info.ok() ? grpc::Status::OK : ToGrpcStatus(info.status());
  if (info.ok()) ToWire(*info, response);
  id.audit->DataPlane(id, action, request->stream(), status);  // a read of the stream's head
  return status;
}

}  // namespace cairn::server
