#include "server/esdb/streams_wire.h"

#include <algorithm>
#include <cassert>
#include <limits>

#include "cairn/v1/common.pb.h"
#include "server/esdb/esdb_convert.h"
#include "server/esdb/esdb_errors.h"
#include "server/status_map.h"

namespace cairn::server::esdb {

namespace client = event_store::client;
using Kind = engine::ExpectedVersion::Kind;

namespace {

// The current version a kWrongExpectedVersion status carries; nullopt when the stream has none.
std::optional<uint64_t> CurrentVersionOf(const Status& status) {
  assert(status.code() == StatusCode::kWrongExpectedVersion);
  if (!status.detail() || *status.detail() < 0) return std::nullopt;
  return static_cast<uint64_t>(*status.detail());
}

}  // namespace

void ToWireWrongExpectedVersion(const Status& status, const engine::ExpectedVersion& expected,
                                client::streams::AppendResp::WrongExpectedVersion* out) {
  if (auto current = CurrentVersionOf(status)) {
    out->set_current_revision(*current);
  } else {
    out->mutable_current_no_stream();
  }
  switch (expected.kind) {
    case Kind::kExact: out->set_expected_revision(expected.version); break;
    case Kind::kAny: out->mutable_expected_any(); break;
    case Kind::kStreamExists: out->mutable_expected_stream_exists(); break;
    case Kind::kNoStream: out->mutable_expected_no_stream(); break;
  }
}

void ToWireWrongExpectedVersion(const Status& status, const engine::ExpectedVersion& expected,
                                client::WrongExpectedVersion* out) {
  if (auto current = CurrentVersionOf(status)) {
    out->set_current_stream_revision(*current);
  } else {
    out->mutable_current_no_stream();
  }
  switch (expected.kind) {
    case Kind::kExact: out->set_expected_stream_position(expected.version); break;
    case Kind::kAny: out->mutable_expected_any(); break;
    case Kind::kStreamExists: out->mutable_expected_stream_exists(); break;
    case Kind::kNoStream: out->mutable_expected_no_stream(); break;
  }
}

google::rpc::Status BatchTimeoutStatus() {
  google::rpc::Status out;
  out.set_code(google::rpc::DEADLINE_EXCEEDED);
  out.set_message("the append's deadline passed before it was complete");
  out.mutable_details()->PackFrom(client::Timeout());
  return out;
}

google::rpc::Status BatchStatusOf(const grpc::Status& status) {
  assert(!status.ok());
  google::rpc::Status out;
  out.set_code(static_cast<google::rpc::Code>(status.error_code()));
  out.set_message(status.error_message());
  v1::ErrorDetail detail;
  if (!status.error_details().empty() && detail.ParseFromString(status.error_details())) {
    out.mutable_details()->PackFrom(detail);
  }
  return out;
}

google::rpc::Status BatchErrorStatus(const Status& status, std::string_view stream,
                                     const engine::ExpectedVersion& expected,
                                     uint64_t append_size_bytes_max) {
  assert(!status.ok());
  const EsdbError mapped = FromStatus(status, stream, expected, append_size_bytes_max);
  google::rpc::Status out;
  out.set_code(static_cast<google::rpc::Code>(mapped.code));
  out.set_message(mapped.message);
  switch (status.code()) {
    case StatusCode::kWrongExpectedVersion: {
      client::WrongExpectedVersion details;
      ToWireWrongExpectedVersion(status, expected, &details);
      out.mutable_details()->PackFrom(details);
      break;
    }
    case StatusCode::kStreamDeleted: {
      client::StreamDeleted details;
      ToWireStream(stream, details.mutable_stream_identifier());
      out.mutable_details()->PackFrom(details);
      break;
    }
    case StatusCode::kPermissionDenied:
    case StatusCode::kUnauthenticated:
      out.mutable_details()->PackFrom(client::AccessDenied());
      break;
    case StatusCode::kResourceExhausted: {
      client::MaximumAppendSizeExceeded details;
      details.set_maxappendsize(static_cast<uint32_t>(
          std::min<uint64_t>(append_size_bytes_max, std::numeric_limits<uint32_t>::max())));
      out.mutable_details()->PackFrom(details);
      break;
    }
    default: {
      // Not an EventStoreDB error: cairn's own detail, so that the clients report the message
      // ("Could not recognize <message>") instead of an empty event_store.client.Unknown.
      v1::ErrorDetail detail;
      detail.set_reason(std::string(ReasonOf(status.code())));
      out.mutable_details()->PackFrom(detail);
      break;
    }
  }
  return out;
}

}  // namespace cairn::server::esdb
