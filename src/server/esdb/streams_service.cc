#include "server/esdb/streams_service.h"

#include <cassert>
#include <string>
#include <utility>

#include "server/append_quota.h"
#include "server/call_audit.h"
#include "server/esdb/esdb_convert.h"
#include "server/esdb/esdb_errors.h"
#include "server/esdb/streams_read.h"
#include "server/esdb/streams_subscription.h"
#include "server/esdb/streams_wire.h"
#include "server/status_map.h"

namespace cairn::server::esdb {

namespace streams = event_store::client::streams;
using policy::Action;

namespace {

// Delete and Tombstone: cairn's one permanent delete (streams_service.h says why).
template <class Request, class Response>
grpc::Status DeleteCall(grpc::ServerContext* context, const CallGate& gate,
                        engine::EventStore& store, const Request& request, Response* response) {
  CallIdentity id;
  if (grpc::Status s = gate.Admit(context, &id); !s.ok()) return Finish(context, FromGateStatus(s));
  const std::string& stream = StreamName(request.options().stream_identifier());
  if (grpc::Status s = Require(id, Action::kDelete, stream, ""); !s.ok()) {
    return Finish(context, FromGateStatus(s));
  }
  // A delete appends its tombstone: one event of the caller's append quota.
  if (auto refused = ChargeAppendQuota(id, stream, 1, 0)) {
    return Finish(context, FromGateStatus(refused->ToGrpc()));
  }
  id.audit->CountAllowed(Action::kDelete);
  const engine::ExpectedVersion expected = ExpectedFromOptions(request.options());
  auto result = store.DeleteStream(stream, expected);
  id.audit->DataPlane(id, Action::kDelete, stream,
                      result.ok() ? grpc::Status::OK : ToGrpcStatus(result.status()),
                      {{"protocol", "esdb"}});
  if (!result.ok()) return Finish(context, FromStatus(result.status(), stream, expected));
  ToWireDeletePosition(*result, response);
  return grpc::Status::OK;
}

}  // namespace

StreamsService::StreamsService(engine::EventStore* store, const CallGate* gate,
                               StreamsServiceOptions options)
    : store_(store), gate_(gate), options_(options) {
  assert(store_ != nullptr && gate_ != nullptr && options_.live_hub != nullptr);
  assert(options_.read_page_events_max > 0 && options_.append_size_bytes_max > 0);
  assert(options_.append_events_max > 0 && options_.batch_appends_in_flight_max > 0);
  assert(options_.batch_open_correlations_max > 0 && options_.batch_in_flight_bytes_max > 0);
  assert(options_.append_budget == nullptr && options_.unfinished_append_bytes_max > 0);
  append_budget_ = std::make_unique<AppendBudget>(options_.unfinished_append_bytes_max);
  options_.append_budget = append_budget_.get();
  assert(options_.append_open_ms_max > 0 && options_.open_too_long_metric == nullptr);
  if (options_.metrics != nullptr) {
    options_.open_too_long_metric = options_.metrics->GetCounter(
        "cairn_esdb_appends_open_too_long_total",
        "EventStoreDB appends refused because they stayed unfinished longer than "
        "limits.append_open_ms_max.");
    read_calls_ = options_.metrics->GetCounter("cairn_read_calls_total",
                                               "Client read calls (Read and ReadAll RPCs).");
    read_events_ = options_.metrics->GetCounter(
        "cairn_read_events_total", "Events read from the log for client reads (before filtering).");
    long_scans_.turns_metric = options_.metrics->GetCounter(
        "cairn_esdb_long_scan_turns_total",
        "Turns of EventStoreDB reads that scan long without an answer, run off the gRPC callback "
        "threads.");
  }
}

ReadReactor* StreamsService::Read(grpc::CallbackServerContext* context,
                                  const streams::ReadReq* request) {
  CallIdentity id;
  if (grpc::Status s = gate_->Admit(context, &id); !s.ok()) {
    return FinishedRead(Finish(context, FromGateStatus(s)));
  }
  auto spec = ParseReadSpec(*request);
  if (!spec.ok()) return FinishedRead(Finish(context, InvalidArgument(spec.status().message())));
  if (spec->subscription) {
    return StartSubscription(context, options_.live_hub, std::move(id), std::move(spec).value());
  }
  if (read_calls_ != nullptr) read_calls_->Increment();
  // A stream needs the stream-level grant; `$all` some read grant, then filters event by event
  // (as cairn.v1 ReadAll).
  const Action action =
      !spec->all && policy::IsAuditReadStream(spec->stream) ? Action::kAuditRead : Action::kRead;
  if (grpc::Status s = spec->all ? RequireOnWholeLog(id, action) : Require(id, action, spec->stream, "");
      !s.ok()) {
    return FinishedRead(Finish(context, FromGateStatus(s)));
  }
  id.audit->CountAllowed(action);
  ReadSlots::Slot slot;
  if (options_.read_slots != nullptr) {
    if (grpc::Status s = options_.read_slots->Acquire(id.principal.id, &slot); !s.ok()) {
      id.audit->DataPlane(id, action, spec->stream, s, {{"protocol", "esdb"}});
      return FinishedRead(Finish(context, FromGateStatus(s)));
    }
  }
  id.audit->DataPlane(id, action, spec->stream, grpc::Status::OK, {{"protocol", "esdb"}});
  ReadLimits limits;
  limits.page_events_max = options_.read_page_events_max;
  limits.read_events = read_events_;
  limits.long_scans = &long_scans_;
  limits.write_watchdog = options_.write_watchdog;
  return StartRead(context, store_, std::move(id), std::move(spec).value(), limits,
                   std::move(slot));
}

grpc::Status StreamsService::Delete(grpc::ServerContext* context,
                                    const streams::DeleteReq* request,
                                    streams::DeleteResp* response) {
  return DeleteCall(context, *gate_, *store_, *request, response);
}

grpc::Status StreamsService::Tombstone(grpc::ServerContext* context,
                                       const streams::TombstoneReq* request,
                                       streams::TombstoneResp* response) {
  return DeleteCall(context, *gate_, *store_, *request, response);
}

}  // namespace cairn::server::esdb
