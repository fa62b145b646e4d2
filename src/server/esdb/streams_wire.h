// Wire answers of the EventStoreDB Streams service built from engine results: append successes,
// wrong expected versions (AppendResp and the shared WrongExpectedVersion that BatchAppend sends
// inside a google.rpc.Status), BatchAppend error statuses, and delete positions.
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include <grpcpp/support/status.h>

#include "common/status.h"
#include "engine/types.h"
#include "event_store/client/shared.pb.h"
#include "event_store/client/status.pb.h"
#include "event_store/client/streams.pb.h"

namespace cairn::server::esdb {

// AppendResp.Success / BatchAppendResp.Success: the stream's revision after the append and the
// `$all` position of its last event (commit = prepare = cairn's log position); nullopt (an empty
// append to a missing stream) is no_stream without a position.
template <class Success>
void ToWireSuccess(const std::optional<engine::AppendResult>& result, Success* out) {
  if (!result) {
    out->mutable_no_stream();
    out->mutable_no_position();
    return;
  }
  out->set_current_revision(result->last_version);
  out->mutable_position()->set_commit_position(result->last_position);
  out->mutable_position()->set_prepare_position(result->last_position);
}

// `status` is kWrongExpectedVersion with the current version (-1: none) as detail.
void ToWireWrongExpectedVersion(const Status& status, const engine::ExpectedVersion& expected,
                                event_store::client::streams::AppendResp::WrongExpectedVersion* out);
void ToWireWrongExpectedVersion(const Status& status, const engine::ExpectedVersion& expected,
                                event_store::client::WrongExpectedVersion* out);

// A BatchAppend error status of a status cairn.v1 would answer with (QuotaRefusal::ToGrpc):
// its code and message, and its cairn.v1.ErrorDetail (when it carries one) as the details.
google::rpc::Status BatchStatusOf(const grpc::Status& status);

// A failed BatchAppend batch as the client unpacks it (unpackError.ts): the code and message of
// the unary mapping and, where the client has a type for it, details = Any of
// event_store.client.{WrongExpectedVersion, StreamDeleted, AccessDenied, Timeout,
// MaximumAppendSizeExceeded, Unknown}.
google::rpc::Status BatchErrorStatus(const Status& status, std::string_view stream,
                                     const engine::ExpectedVersion& expected,
                                     uint64_t append_size_bytes_max);

// DEADLINE_EXCEEDED with event_store.client.Timeout: a batch whose deadline passed.
google::rpc::Status BatchTimeoutStatus();

// DeleteResp / TombstoneResp: the position of the tombstone event.
template <class Response>
void ToWireDeletePosition(const engine::AppendResult& result, Response* out) {
  out->mutable_position()->set_commit_position(result.last_position);
  out->mutable_position()->set_prepare_position(result.last_position);
}

}  // namespace cairn::server::esdb
