// Errors in the shape the EventStoreDB/KurrentDB clients recognise (docs/eventstoredb-clients.md).
//
// The official clients read the `exception` trailer of a failed call ("wrong-expected-version",
// "stream-deleted", "access-denied", ...) and a few more trailers that some exceptions carry
// ("stream-name", "expected-version", "actual-version", "group-name", ...); when `exception` is
// absent they fall back to the gRPC status code. An EsdbError is that status plus its trailers;
// Finish() puts the trailers on the call and returns the status to end it with.
//
// Trailer values are printable ASCII (gRPC requires it of text metadata): a stream or group name
// with other bytes is percent-encoded. Messages never carry event data, secrets or policy rules.
//
// Thread safety: plain values and pure functions.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <grpcpp/server_context.h>
#include <grpcpp/support/status.h>

#include "common/status.h"
#include "engine/types.h"

namespace cairn::server::esdb {

// The exception names (values of the `exception` trailer).
inline constexpr std::string_view kExceptionWrongExpectedVersion = "wrong-expected-version";
inline constexpr std::string_view kExceptionStreamDeleted = "stream-deleted";
inline constexpr std::string_view kExceptionStreamNotFound = "stream-not-found";
inline constexpr std::string_view kExceptionAccessDenied = "access-denied";
inline constexpr std::string_view kExceptionNotAuthenticated = "not-authenticated";
inline constexpr std::string_view kExceptionMaximumAppendSizeExceeded =
    "maximum-append-size-exceeded";
inline constexpr std::string_view kExceptionInvalidArgument = "invalid-argument";
inline constexpr std::string_view kExceptionPersistentSubscriptionExists =
    "persistent-subscription-exists";
inline constexpr std::string_view kExceptionPersistentSubscriptionDoesNotExist =
    "persistent-subscription-does-not-exist";
inline constexpr std::string_view kExceptionPersistentSubscriptionDropped =
    "persistent-subscription-dropped";
inline constexpr std::string_view kExceptionMaximumSubscribersReached =
    "maximum-subscribers-reached";

// Trailer values longer than this are cut (a stream id may be 512 bytes, x3 when encoded).
inline constexpr size_t kTrailerValueSizeBytesMax = 2048;

struct EsdbError {
  grpc::StatusCode code = grpc::StatusCode::UNKNOWN;
  std::string message;
  std::vector<std::pair<std::string, std::string>> trailers;  // the first is "exception", if any
};

// Adds `error`'s trailers to `context` and returns its status. Call once, before finishing.
grpc::Status Finish(grpc::ServerContextBase* context, const EsdbError& error);

// `text` as a trailer value: printable ASCII kept, other bytes and '%' as %XX, at most
// kTrailerValueSizeBytesMax bytes.
std::string TrailerValue(std::string_view text);

// "any", "no-stream" ("-1"), "stream-exists" ("-4") or the revision, as the clients parse
// "expected-version" (a number: -2 any, -1 no stream, -4 stream exists).
std::string ExpectedVersionTrailer(const engine::ExpectedVersion& expected);

EsdbError WrongExpectedVersion(std::string_view stream, const engine::ExpectedVersion& expected,
                               std::optional<uint64_t> actual_revision);
EsdbError StreamDeleted(std::string_view stream);
EsdbError StreamNotFound(std::string_view stream);
// PERMISSION_DENIED, naming the action and resource (never the policy's internals).
EsdbError AccessDenied(std::string message);
EsdbError NotAuthenticated(std::string message);
// `message`: the reason ("" = "maximum append size exceeded"); the clients' class is the same for
// cairn's size and event-count limits.
EsdbError MaximumAppendSizeExceeded(uint64_t size_bytes_max, std::string message = "");
EsdbError InvalidArgument(std::string message);
EsdbError PersistentSubscriptionExists(std::string_view stream, std::string_view group);
EsdbError PersistentSubscriptionDoesNotExist(std::string_view stream, std::string_view group);
EsdbError PersistentSubscriptionDropped(std::string_view stream, std::string_view group,
                                        std::string_view reason);
EsdbError MaximumSubscribersReached(std::string_view stream, std::string_view group);

// A cairn Status of an operation on `stream` (append, delete, read) in the clients' terms:
// kWrongExpectedVersion (detail = current version, -1 none) → wrong-expected-version,
// kStreamDeleted → stream-deleted, kNotFound → stream-not-found, kPermissionDenied →
// access-denied, kUnauthenticated → not-authenticated, kResourceExhausted → RESOURCE_EXHAUSTED
// (maximum-append-size-exceeded when `append_size_bytes_max` is set), kInvalidArgument →
// INVALID_ARGUMENT, others → the code cairn.v1 uses with its generic message.
EsdbError FromStatus(const Status& status, std::string_view stream,
                     const engine::ExpectedVersion& expected = engine::ExpectedVersion::Any(),
                     std::optional<uint64_t> append_size_bytes_max = std::nullopt);

// The CallGate's refusal (UNAUTHENTICATED or PERMISSION_DENIED) in the clients' terms.
EsdbError FromGateStatus(const grpc::Status& status);

}  // namespace cairn::server::esdb
