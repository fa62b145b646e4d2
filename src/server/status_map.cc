#include "server/status_map.h"

#include <string>

#include "auth/api_key.h"
#include "cairn/v1/common.pb.h"

namespace cairn::server {
namespace {

struct Mapping {
  grpc::StatusCode code;
  const char* reason;
};

Mapping MapCode(StatusCode code) {
  switch (code) {
    case StatusCode::kOk: return {grpc::StatusCode::OK, ""};
    case StatusCode::kInvalidArgument: return {grpc::StatusCode::INVALID_ARGUMENT, "INVALID_ARGUMENT"};
    case StatusCode::kNotFound: return {grpc::StatusCode::NOT_FOUND, "NOT_FOUND"};
    case StatusCode::kAlreadyExists: return {grpc::StatusCode::ALREADY_EXISTS, "ALREADY_EXISTS"};
    case StatusCode::kWrongExpectedVersion: return {grpc::StatusCode::ABORTED, "WRONG_EXPECTED_VERSION"};
    case StatusCode::kStreamDeleted: return {grpc::StatusCode::FAILED_PRECONDITION, "STREAM_DELETED"};
    case StatusCode::kResourceExhausted: return {grpc::StatusCode::RESOURCE_EXHAUSTED, "RESOURCE_EXHAUSTED"};
    case StatusCode::kFailedPrecondition: return {grpc::StatusCode::FAILED_PRECONDITION, "FAILED_PRECONDITION"};
    case StatusCode::kPermissionDenied: return {grpc::StatusCode::PERMISSION_DENIED, "PERMISSION_DENIED"};
    case StatusCode::kUnauthenticated: return {grpc::StatusCode::UNAUTHENTICATED, "UNAUTHENTICATED"};
    case StatusCode::kAborted: return {grpc::StatusCode::ABORTED, "ABORTED"};
    case StatusCode::kUnavailable: return {grpc::StatusCode::UNAVAILABLE, "UNAVAILABLE"};
    case StatusCode::kDataLoss: return {grpc::StatusCode::DATA_LOSS, "DATA_LOSS"};
    case StatusCode::kIOError: return {grpc::StatusCode::INTERNAL, "INTERNAL"};
    case StatusCode::kInternal: return {grpc::StatusCode::INTERNAL, "INTERNAL"};
  }
  return {grpc::StatusCode::INTERNAL, "INTERNAL"};
}

grpc::Status WithDetail(grpc::StatusCode code, std::string message, const v1::ErrorDetail& detail) {
  return grpc::Status(code, std::move(message), detail.SerializeAsString());
}

}  // namespace

std::string_view ReasonOf(StatusCode code) { return MapCode(code).reason; }

grpc::Status ToGrpcStatus(const Status& status) {
  if (status.ok()) return grpc::Status::OK;
  const Mapping m = MapCode(status.code());
  v1::ErrorDetail detail;
  detail.set_reason(m.reason);
  if (status.code() == StatusCode::kWrongExpectedVersion && status.detail()) {
    detail.set_current_version(*status.detail());
  }
  if (status.code() == StatusCode::kDataLoss && status.detail() && *status.detail() >= 0) {
    detail.set_position(static_cast<uint64_t>(*status.detail()));
  }
  // Storage failures can carry paths and library text; callers get a generic message.
  std::string message = status.code() == StatusCode::kIOError || status.code() == StatusCode::kInternal
                            ? std::string("internal error")
                            : status.message();
  return WithDetail(m.code, std::move(message), detail);
}

grpc::Status DeniedStatus(std::string_view action, std::string_view resource,
                          std::string_view event_type) {
  v1::ErrorDetail detail;
  detail.set_reason("PERMISSION_DENIED");
  detail.set_action(std::string(action));
  detail.set_resource(std::string(resource));
  detail.set_event_type(std::string(event_type));
  std::string message = "permission denied: " + std::string(action) + " on '" +
                        std::string(resource) + "'";
  if (!event_type.empty()) message += " for event type '" + std::string(event_type) + "'";
  return WithDetail(grpc::StatusCode::PERMISSION_DENIED, std::move(message), detail);
}

grpc::Status QuotaExceededStatus(std::string message, uint64_t retry_after_ms) {
  v1::ErrorDetail detail;
  detail.set_reason("QUOTA_EXCEEDED");
  detail.set_retry_after_ms(retry_after_ms);
  return WithDetail(grpc::StatusCode::RESOURCE_EXHAUSTED, std::move(message), detail);
}

grpc::Status UnauthenticatedStatus(const Status& status) {
  v1::ErrorDetail detail;
  detail.set_reason("UNAUTHENTICATED");
  // Whether an API key id exists is not the caller's to learn: an unknown id reads as a wrong
  // key (the audit record keeps which it was).
  const std::string_view message = status.message() == auth::kApiKeyUnknownText
                                       ? auth::kApiKeyInvalidText
                                       : std::string_view(status.message());
  return WithDetail(grpc::StatusCode::UNAUTHENTICATED, std::string(message), detail);
}

}  // namespace cairn::server
