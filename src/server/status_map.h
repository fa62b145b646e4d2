// Mapping of cairn Status values onto gRPC status codes with a machine-readable ErrorDetail
// (proto/cairn/v1/common.proto) in the status details.
//
// WRONG_EXPECTED_VERSION → ABORTED (optimistic concurrency: re-read and retry) with the
// current version; STREAM_DELETED → FAILED_PRECONDITION; validation → INVALID_ARGUMENT; limits →
// RESOURCE_EXHAUSTED; denials → PERMISSION_DENIED naming action, stream and event type, never
// the policy rule; storage and internal failures → INTERNAL / UNAVAILABLE with a generic text.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <grpcpp/support/status.h>

#include "common/status.h"

namespace cairn::server {

grpc::Status ToGrpcStatus(const Status& status);

// The ErrorDetail.reason of `code` ("INVALID_ARGUMENT", "RESOURCE_EXHAUSTED", ...).
std::string_view ReasonOf(StatusCode code);

// PERMISSION_DENIED for `action` on `resource` (and `event_type`, when the action is typed).
grpc::Status DeniedStatus(std::string_view action, std::string_view resource,
                          std::string_view event_type);

// RESOURCE_EXHAUSTED for an append past the caller's append quota (server/append_quota.h):
// `message`, and ErrorDetail reason QUOTA_EXCEEDED with `retry_after_ms`.
grpc::Status QuotaExceededStatus(std::string message, uint64_t retry_after_ms);

// UNAUTHENTICATED with the authenticator's reason, except that an unknown API key id reads as
// "api key invalid" (callers must not learn which ids exist).
grpc::Status UnauthenticatedStatus(const Status& status);

}  // namespace cairn::server
