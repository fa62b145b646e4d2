#include "server/esdb/esdb_errors.h"

#include <cassert>
#include <cstdio>

#include "server/status_map.h"

namespace cairn::server::esdb {
namespace {

constexpr int64_t kExpectedAny = -2;
constexpr int64_t kExpectedNoStream = -1;
constexpr int64_t kExpectedStreamExists = -4;

EsdbError Make(grpc::StatusCode code, std::string message, std::string_view exception) {
  EsdbError error;
  error.code = code;
  error.message = std::move(message);
  error.trailers.emplace_back("exception", std::string(exception));
  return error;
}

void AddTrailer(EsdbError* error, std::string key, std::string_view value) {
  error->trailers.emplace_back(std::move(key), TrailerValue(value));
}

EsdbError GroupError(grpc::StatusCode code, std::string message, std::string_view exception,
                     std::string_view stream, std::string_view group) {
  EsdbError error = Make(code, std::move(message), exception);
  AddTrailer(&error, "stream-name", stream);
  AddTrailer(&error, "group-name", group);
  return error;
}

}  // namespace

grpc::Status Finish(grpc::ServerContextBase* context, const EsdbError& error) {
  assert(error.code != grpc::StatusCode::OK);
  for (const auto& [key, value] : error.trailers) context->AddTrailingMetadata(key, value);
  return grpc::Status(error.code, error.message);
}

std::string TrailerValue(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const unsigned char c : text) {
    if (out.size() + 3 > kTrailerValueSizeBytesMax) break;
    if (c >= 0x20 && c < 0x7f && c != '%') {
      out.push_back(static_cast<char>(c));
    } else {
      char hex[4];
      std::snprintf(hex, sizeof(hex), "%%%02X", c);
      out.append(hex, 3);
    }
  }
  return out;
}

std::string ExpectedVersionTrailer(const engine::ExpectedVersion& expected) {
  using Kind = engine::ExpectedVersion::Kind;
  switch (expected.kind) {
    case Kind::kAny: return std::to_string(kExpectedAny);
    case Kind::kNoStream: return std::to_string(kExpectedNoStream);
    case Kind::kStreamExists: return std::to_string(kExpectedStreamExists);
    case Kind::kExact: return std::to_string(expected.version);
  }
  return std::to_string(kExpectedAny);
}

EsdbError WrongExpectedVersion(std::string_view stream, const engine::ExpectedVersion& expected,
                               std::optional<uint64_t> actual_revision) {
  EsdbError error = Make(grpc::StatusCode::FAILED_PRECONDITION,
                         "wrong expected version", kExceptionWrongExpectedVersion);
  AddTrailer(&error, "stream-name", stream);
  error.trailers.emplace_back("expected-version", ExpectedVersionTrailer(expected));
  error.trailers.emplace_back("actual-version",
                              actual_revision ? std::to_string(*actual_revision)
                                              : std::to_string(kExpectedNoStream));
  return error;
}

EsdbError StreamDeleted(std::string_view stream) {
  EsdbError error = Make(grpc::StatusCode::FAILED_PRECONDITION, "stream is deleted",
                         kExceptionStreamDeleted);
  AddTrailer(&error, "stream-name", stream);
  return error;
}

EsdbError StreamNotFound(std::string_view stream) {
  EsdbError error = Make(grpc::StatusCode::NOT_FOUND, "stream not found",
                         kExceptionStreamNotFound);
  AddTrailer(&error, "stream-name", stream);
  return error;
}

EsdbError AccessDenied(std::string message) {
  return Make(grpc::StatusCode::PERMISSION_DENIED, std::move(message), kExceptionAccessDenied);
}

EsdbError NotAuthenticated(std::string message) {
  return Make(grpc::StatusCode::UNAUTHENTICATED, std::move(message), kExceptionNotAuthenticated);
}

EsdbError MaximumAppendSizeExceeded(uint64_t size_bytes_max, std::string message) {
  if (message.empty()) message = "maximum append size exceeded";
  EsdbError error = Make(grpc::StatusCode::INVALID_ARGUMENT, std::move(message),
                         kExceptionMaximumAppendSizeExceeded);
  error.trailers.emplace_back("maximum-append-size", std::to_string(size_bytes_max));
  return error;
}

EsdbError InvalidArgument(std::string message) {
  return Make(grpc::StatusCode::INVALID_ARGUMENT, std::move(message), kExceptionInvalidArgument);
}

EsdbError PersistentSubscriptionExists(std::string_view stream, std::string_view group) {
  return GroupError(grpc::StatusCode::ALREADY_EXISTS, "persistent subscription exists",
                    kExceptionPersistentSubscriptionExists, stream, group);
}

EsdbError PersistentSubscriptionDoesNotExist(std::string_view stream, std::string_view group) {
  // EventStoreDB's wording, which the clients' own tests compare (names are not personal data).
  std::string message = "Subscription group " + std::string(group) + " on stream " +
                        std::string(stream) + " does not exist.";
  return GroupError(grpc::StatusCode::NOT_FOUND, std::move(message),
                    kExceptionPersistentSubscriptionDoesNotExist, stream, group);
}

EsdbError PersistentSubscriptionDropped(std::string_view stream, std::string_view group,
                                        std::string_view reason) {
  EsdbError error = GroupError(grpc::StatusCode::CANCELLED, "persistent subscription dropped",
                               kExceptionPersistentSubscriptionDropped, stream, group);
  AddTrailer(&error, "reason", reason);
  return error;
}

EsdbError MaximumSubscribersReached(std::string_view stream, std::string_view group) {
  return GroupError(grpc::StatusCode::FAILED_PRECONDITION, "maximum subscribers reached",
                    kExceptionMaximumSubscribersReached, stream, group);
}

EsdbError FromStatus(const Status& status, std::string_view stream,
                     const engine::ExpectedVersion& expected,
                     std::optional<uint64_t> append_size_bytes_max) {
  assert(!status.ok());
  switch (status.code()) {
    case StatusCode::kWrongExpectedVersion: {
      std::optional<uint64_t> actual;
      if (status.detail() && *status.detail() >= 0) actual = static_cast<uint64_t>(*status.detail());
      return WrongExpectedVersion(stream, expected, actual);
    }
    case StatusCode::kStreamDeleted: return StreamDeleted(stream);
    case StatusCode::kNotFound: return StreamNotFound(stream);
    case StatusCode::kPermissionDenied: return AccessDenied(status.message());
    case StatusCode::kUnauthenticated: return NotAuthenticated(status.message());
    case StatusCode::kInvalidArgument: return InvalidArgument(status.message());
    case StatusCode::kResourceExhausted:
      // The size or the event-count limit (EventStoreDB has only the size one): the class the
      // clients know, with cairn's reason as the message.
      if (append_size_bytes_max) {
        return MaximumAppendSizeExceeded(*append_size_bytes_max, status.message());
      }
      break;
    default: break;
  }
  const grpc::Status mapped = ToGrpcStatus(status);  // cairn.v1's code and generic message
  EsdbError error;
  error.code = mapped.error_code();
  error.message = mapped.error_message();
  return error;
}

EsdbError FromGateStatus(const grpc::Status& status) {
  assert(!status.ok());
  switch (status.error_code()) {
    case grpc::StatusCode::PERMISSION_DENIED: return AccessDenied(status.error_message());
    case grpc::StatusCode::UNAUTHENTICATED: return NotAuthenticated(status.error_message());
    default: break;
  }
  EsdbError error;
  error.code = status.error_code();
  error.message = status.error_message();
  return error;
}

}  // namespace cairn::server::esdb
