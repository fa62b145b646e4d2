#include "server/wire_convert.h"

#include <gtest/gtest.h>

#include "server/status_map.h"

namespace cairn::server {
namespace CAIRN_UNITY_ID {

engine::RecordedEvent SampleEvent() {
  engine::RecordedEvent e;
  e.entry.position = 41;
  e.entry.stream_id = "order-1";
  e.entry.stream_version = 3;
  e.entry.event_id = std::string(16, '\x07');
  e.entry.event_type = "OrderCreated";
  e.entry.content_type = "application/json";
  e.entry.recorded_at_ns = 1700000000123456789;
  e.entry.metadata_hash = crypto::Sha256("m");
  e.entry.data_hash = crypto::Sha256("d");
  e.entry.stream_prev = crypto::Sha256("p");
  e.leaf_hash = crypto::Sha256("l");
  e.data = "{\"a\":1}";
  e.metadata = "{}";
  return e;
}

TEST(WireConvert, RecordedEventRoundTripsEveryField) {
  const engine::RecordedEvent in = SampleEvent();
  v1::RecordedEvent wire;
  ToWire(in, &wire);
  auto out = FromWire(wire);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(out->entry, in.entry);
  EXPECT_EQ(out->leaf_hash, in.leaf_hash);
  EXPECT_EQ(out->data, in.data);
  EXPECT_EQ(out->metadata, in.metadata);
}

TEST(WireConvert, MalformedHashesAndIdsAreRejected) {
  v1::RecordedEvent wire;
  ToWire(SampleEvent(), &wire);
  v1::RecordedEvent short_hash = wire;
  short_hash.set_leaf_hash("abc");
  EXPECT_EQ(FromWire(short_hash).status().code(), StatusCode::kInvalidArgument);
  v1::RecordedEvent bad_id = wire;
  bad_id.set_id("123");
  EXPECT_EQ(FromWire(bad_id).status().code(), StatusCode::kInvalidArgument);
  v1::ProposedEvent proposed;
  proposed.set_id("not sixteen");
  EXPECT_EQ(FromWire(proposed).status().code(), StatusCode::kInvalidArgument);
  v1::InclusionProof proof;
  proof.set_leaf_hash(std::string(32, 'a'));
  proof.set_root(std::string(32, 'b'));
  proof.add_proof(std::string(31, 'c'));
  EXPECT_EQ(FromWire(proof).status().code(), StatusCode::kInvalidArgument);
}

TEST(WireConvert, ExpectedVersionKinds) {
  for (auto ev : {engine::ExpectedVersion::Any(), engine::ExpectedVersion::NoStream(),
                  engine::ExpectedVersion::StreamExists(), engine::ExpectedVersion::Exact(7)}) {
    v1::ExpectedVersion wire;
    ToWire(ev, &wire);
    const engine::ExpectedVersion back = FromWire(wire);
    EXPECT_EQ(back.kind, ev.kind);
    EXPECT_EQ(back.version, ev.version);
  }
}

v1::ErrorDetail DetailOf(const grpc::Status& s) {
  v1::ErrorDetail d;
  EXPECT_TRUE(d.ParseFromString(s.error_details()));
  return d;
}

TEST(StatusMap, WrongExpectedVersionCarriesTheCurrentVersion) {
  grpc::Status s = ToGrpcStatus(Status::WrongExpectedVersion("stream order-1 is at 4", 4));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::ABORTED);
  const v1::ErrorDetail d = DetailOf(s);
  EXPECT_EQ(d.reason(), "WRONG_EXPECTED_VERSION");
  ASSERT_TRUE(d.has_current_version());
  EXPECT_EQ(d.current_version(), 4);
}

TEST(StatusMap, StorageFailuresGetAGenericMessage) {
  grpc::Status s = ToGrpcStatus(Status::IOError("/var/lib/cairn/db/000012.log: disk full"));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INTERNAL);
  EXPECT_EQ(s.error_message().find("/var/lib"), std::string::npos);
}

TEST(StatusMap, DenialNamesActionResourceAndTypeOnly) {
  grpc::Status s = DeniedStatus("append", "order-1", "RefundIssued");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  const v1::ErrorDetail d = DetailOf(s);
  EXPECT_EQ(d.action(), "append");
  EXPECT_EQ(d.resource(), "order-1");
  EXPECT_EQ(d.event_type(), "RefundIssued");
  EXPECT_EQ(s.error_message().find("role"), std::string::npos);
}

// A caller cannot tell an unknown API key id from a wrong secret (which ids exist is not its to
// learn); other reasons, such as an expired token, stay as they are.
TEST(StatusMap, AnUnknownApiKeyIdReadsAsAnInvalidKey) {
  const grpc::Status unknown = UnauthenticatedStatus(Status::Unauthenticated("unknown api key"));
  const grpc::Status wrong = UnauthenticatedStatus(Status::Unauthenticated("api key invalid"));
  EXPECT_EQ(unknown.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(unknown.error_message(), wrong.error_message());
  EXPECT_EQ(DetailOf(unknown).reason(), "UNAUTHENTICATED");
  EXPECT_EQ(UnauthenticatedStatus(Status::Unauthenticated("token expired")).error_message(),
            "token expired");
}

TEST(StatusMap, EveryEngineCodeMapsToAStableReason) {
  const std::pair<Status, grpc::StatusCode> cases[] = {
      {Status::InvalidArgument("x"), grpc::StatusCode::INVALID_ARGUMENT},
      {Status::NotFound("x"), grpc::StatusCode::NOT_FOUND},
      {Status::AlreadyExists("x"), grpc::StatusCode::ALREADY_EXISTS},
      {Status::StreamDeleted("x"), grpc::StatusCode::FAILED_PRECONDITION},
      {Status::ResourceExhausted("x"), grpc::StatusCode::RESOURCE_EXHAUSTED},
      {Status::Unavailable("x"), grpc::StatusCode::UNAVAILABLE},
      {Status::DataLoss("x", 9), grpc::StatusCode::DATA_LOSS},
  };
  for (const auto& [status, code] : cases) {
    grpc::Status s = ToGrpcStatus(status);
    EXPECT_EQ(s.error_code(), code) << status.ToString();
    EXPECT_FALSE(DetailOf(s).reason().empty());
  }
  EXPECT_EQ(DetailOf(ToGrpcStatus(Status::DataLoss("x", 9))).position(), 9u);
  EXPECT_EQ(DetailOf(ToGrpcStatus(Status::StreamDeleted("x"))).reason(), "STREAM_DELETED");
}

}  // namespace
}  // namespace cairn::server
