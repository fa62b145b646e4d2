#include "server/esdb/streams_append.h"

#include <cassert>
#include <string>
#include <utility>

#include "server/call_audit.h"
#include "server/status_map.h"
#include "server/esdb/esdb_errors.h"
#include "server/esdb/streams_service.h"
#include "server/esdb/streams_wire.h"

namespace cairn::server::esdb {

namespace streams = event_store::client::streams;
using policy::Action;

AppendBatch::AppendBatch(uint64_t size_bytes_max, uint64_t events_max)
    : size_bytes_max_(size_bytes_max), events_max_(events_max) {
  assert(size_bytes_max_ > 0 && events_max_ > 0);
}

Status AppendBatch::Add(uint64_t size_bytes, Result<engine::ProposedEvent> event) {
  if (!event.ok()) return event.status();
  size_bytes_ += size_bytes;
  if (size_bytes_ > size_bytes_max_) {
    return Status::ResourceExhausted("append larger than " + std::to_string(size_bytes_max_) +
                                     " bytes");
  }
  if (events_.size() + 1 > events_max_) {
    return Status::ResourceExhausted("append of more than " + std::to_string(events_max_) +
                                     " events");
  }
  events_.push_back(std::move(event).value());
  return Status::Ok();
}

grpc::Status AppendBatch::Authorize(const CallIdentity& id, std::string_view stream) const {
  if (events_.empty()) return Require(id, Action::kAppend, stream, "");
  std::string_view last_checked;
  for (size_t i = 0; i < events_.size(); ++i) {
    const std::string& type = events_[i].event_type;
    if (i > 0 && type == last_checked) continue;  // batches usually repeat one type
    if (grpc::Status s = Require(id, Action::kAppend, stream, type); !s.ok()) return s;
    last_checked = type;
  }
  return grpc::Status::OK;
}

grpc::Status AppendBatch::AuthorizeLast(const CallIdentity& id, std::string_view stream) const {
  assert(!events_.empty());
  const std::string& type = events_.back().event_type;
  if (events_.size() > 1 && events_[events_.size() - 2].event_type == type) {
    return grpc::Status::OK;  // checked with the previous event
  }
  return Require(id, Action::kAppend, stream, type);
}

void AuditAppend(const CallIdentity& id, std::string_view stream, size_t event_count,
                 const Status& outcome) {
  if (!id.audit->data_plane_wanted(/*is_write=*/true)) return;
  id.audit->DataPlane(id, Action::kAppend, stream,
                      outcome.ok() ? grpc::Status::OK : ToGrpcStatus(outcome),
                      {{"events", std::to_string(event_count)}, {"protocol", "esdb"}});
}

Result<std::optional<engine::AppendResult>> AppendNothing(engine::EventStore& store,
                                                          std::string_view stream,
                                                          const engine::ExpectedVersion& expected) {
  CAIRN_ASSIGN_OR_RETURN(engine::StreamInfo info, store.GetStreamInfo(stream));
  if (info.deleted) return Status::StreamDeleted("stream deleted");
  using Kind = engine::ExpectedVersion::Kind;
  const bool ok = expected.kind == Kind::kAny ||
                  (expected.kind == Kind::kNoStream && !info.exists) ||
                  (expected.kind == Kind::kStreamExists && info.exists) ||
                  (expected.kind == Kind::kExact && info.exists &&
                   info.last_version == expected.version);
  if (!ok) {
    return Status::WrongExpectedVersion(
        "wrong expected version", info.exists ? static_cast<int64_t>(info.last_version) : -1);
  }
  if (!info.exists) return std::optional<engine::AppendResult>();
  engine::AppendResult result;
  result.first_position = result.last_position = info.last_position;
  result.first_version = result.last_version = info.last_version;
  result.idempotent_replay = true;
  return std::optional<engine::AppendResult>(result);
}

grpc::Status StreamsService::Append(grpc::ServerContext* context,
                                    grpc::ServerReader<streams::AppendReq>* reader,
                                    streams::AppendResp* response) {
  CallIdentity id;
  if (grpc::Status s = gate_->Admit(context, &id); !s.ok()) {
    return Finish(context, FromGateStatus(s));
  }
  streams::AppendReq message;
  if (!reader->Read(&message) || message.content_case() != streams::AppendReq::kOptions) {
    return Finish(context, InvalidArgument("an append starts with its options"));
  }
  const std::string stream = StreamName(message.options().stream_identifier());
  const engine::ExpectedVersion expected = ExpectedFromOptions(message.options());
  // A caller who may not append to the stream at all is refused before anything is buffered,
  // and each new event type as it arrives: nothing is held for a caller the policy refuses.
  if (grpc::Status s = Require(id, Action::kAppend, stream, ""); !s.ok()) {
    return Finish(context, FromGateStatus(s));
  }
  AppendBatch batch(options_.append_size_bytes_max, options_.append_events_max);
  while (reader->Read(&message)) {
    if (message.content_case() != streams::AppendReq::kProposedMessage) {
      return Finish(context, InvalidArgument("an append sends its options only once"));
    }
    if (Status s = batch.Add(message.proposed_message()); !s.ok()) {
      return Finish(context, FromStatus(s, stream, expected, options_.append_size_bytes_max));
    }
    if (grpc::Status s = batch.AuthorizeLast(id, stream); !s.ok()) {
      return Finish(context, FromGateStatus(s));
    }
  }
  // The call may have lasted: judged by the policy in force and the credential's expiry now.
  if (grpc::Status s = gate_->Refresh(&id); !s.ok()) return Finish(context, FromGateStatus(s));
  if (grpc::Status s = batch.Authorize(id, stream); !s.ok()) {
    return Finish(context, FromGateStatus(s));
  }
  id.audit->CountAllowed(Action::kAppend);
  const size_t count = batch.event_count();
  Result<std::optional<engine::AppendResult>> result = std::optional<engine::AppendResult>();
  if (count == 0) {
    result = AppendNothing(*store_, stream, expected);
  } else {
    auto appended = store_->Append(stream, expected, batch.TakeEvents());
    if (appended.ok()) {
      result = std::optional<engine::AppendResult>(*appended);
    } else {
      result = appended.status();
    }
  }
  AuditAppend(id, stream, count, result.status());
  if (result.ok()) {
    ToWireSuccess(*result, response->mutable_success());
    return grpc::Status::OK;
  }
  if (result.status().code() == StatusCode::kWrongExpectedVersion) {
    ToWireWrongExpectedVersion(result.status(), expected,
                               response->mutable_wrong_expected_version());
    return grpc::Status::OK;
  }
  return Finish(context, FromStatus(result.status(), stream, expected,
                                    options_.append_size_bytes_max));
}

}  // namespace cairn::server::esdb
