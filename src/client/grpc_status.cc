#include "client/grpc_status.h"

#include "cairn/v1/common.pb.h"

namespace cairn {
namespace {

StatusCode MapCode(grpc::StatusCode code, const v1::ErrorDetail& detail) {
  switch (code) {
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::OUT_OF_RANGE: return StatusCode::kInvalidArgument;
    case grpc::StatusCode::NOT_FOUND: return StatusCode::kNotFound;
    case grpc::StatusCode::ALREADY_EXISTS: return StatusCode::kAlreadyExists;
    case grpc::StatusCode::ABORTED:
      return detail.reason() == "WRONG_EXPECTED_VERSION" ? StatusCode::kWrongExpectedVersion
                                                         : StatusCode::kAborted;
    case grpc::StatusCode::FAILED_PRECONDITION:
      return detail.reason() == "STREAM_DELETED" ? StatusCode::kStreamDeleted
                                                 : StatusCode::kFailedPrecondition;
    case grpc::StatusCode::RESOURCE_EXHAUSTED: return StatusCode::kResourceExhausted;
    case grpc::StatusCode::PERMISSION_DENIED: return StatusCode::kPermissionDenied;
    case grpc::StatusCode::UNAUTHENTICATED: return StatusCode::kUnauthenticated;
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
    case grpc::StatusCode::CANCELLED: return StatusCode::kUnavailable;
    case grpc::StatusCode::DATA_LOSS: return StatusCode::kDataLoss;
    default: return StatusCode::kInternal;
  }
}

}  // namespace

Status FromGrpcStatus(const grpc::Status& status) {
  if (status.ok()) return Status::Ok();
  v1::ErrorDetail detail;
  if (!status.error_details().empty()) detail.ParseFromString(status.error_details());
  const StatusCode code = MapCode(status.error_code(), detail);
  std::optional<int64_t> value;
  if (detail.has_current_version()) value = detail.current_version();
  if (detail.has_position()) value = static_cast<int64_t>(detail.position());
  if (detail.has_retry_after_ms()) value = static_cast<int64_t>(detail.retry_after_ms());
  std::string message = status.error_message();
  if (code == StatusCode::kUnavailable && message.empty()) message = "server unavailable";
  return Status(code, message, value);
}

}  // namespace cairn
