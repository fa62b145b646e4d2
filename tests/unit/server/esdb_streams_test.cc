// The pure parts of the EventStoreDB Streams service: read filters (prefixes, RE2 regexes and
// their limits), what a ReadReq asks for, and the wire answers of appends (wrong expected
// version, BatchAppend error details).
#include <gtest/gtest.h>

#include <string>

#include "cairn/v1/common.pb.h"
#include "server/esdb/esdb_errors.h"
#include "server/esdb/streams_filter.h"
#include "server/esdb/streams_read.h"
#include "server/esdb/streams_wire.h"

namespace cairn::server::esdb {
namespace CAIRN_UNITY_ID {

namespace es = event_store::client;
namespace streams = event_store::client::streams;
using Options = streams::ReadReq::Options;

Options WithStreamRegex(const std::string& regex) {
  Options options;
  options.mutable_filter()->mutable_stream_identifier()->set_regex(regex);
  return options;
}

TEST(EsdbReadFilterTest, NoFilterMatchesEverything) {
  Options options;
  options.mutable_no_filter();
  auto filter = ReadFilter::Parse(options);
  ASSERT_TRUE(filter.ok());
  EXPECT_FALSE(filter->active());
  EXPECT_TRUE(filter->Matches("$audit", "$anything"));
}

TEST(EsdbReadFilterTest, PrefixesMatchTheChosenField) {
  Options options;
  auto* expression = options.mutable_filter()->mutable_event_type();
  expression->add_prefix("Order");
  expression->add_prefix("Invoice");
  auto filter = ReadFilter::Parse(options);
  ASSERT_TRUE(filter.ok());
  EXPECT_TRUE(filter->Matches("x", "OrderCreated"));
  EXPECT_TRUE(filter->Matches("x", "InvoiceSent"));
  EXPECT_FALSE(filter->Matches("Order-1", "Shipped"));  // the stream name is not looked at
  EXPECT_FALSE(filter->Matches("x", "order"));           // case matters
}

TEST(EsdbReadFilterTest, RegexSearchesUnanchoredUnlessAnchored) {
  auto filter = ReadFilter::Parse(WithStreamRegex("ord"));
  ASSERT_TRUE(filter.ok());
  EXPECT_TRUE(filter->Matches("an-order-1", "T"));
  EXPECT_FALSE(filter->Matches("invoice-1", "T"));
  Options exclude_system;
  exclude_system.mutable_filter()->mutable_event_type()->set_regex("^[^$].*");
  auto system = ReadFilter::Parse(exclude_system);
  ASSERT_TRUE(system.ok());
  EXPECT_TRUE(system->Matches("s", "OrderCreated"));
  EXPECT_FALSE(system->Matches("s", "$streamDeleted"));
}

TEST(EsdbReadFilterTest, RefusesPatternsAndListsOverTheLimits) {
  EXPECT_EQ(ReadFilter::Parse(WithStreamRegex(std::string(kFilterRegexBytesMax + 1, 'a')))
                .status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_TRUE(ReadFilter::Parse(WithStreamRegex(std::string(kFilterRegexBytesMax, 'a'))).ok());
  // Backreferences and lookaround need backtracking: RE2 refuses them.
  EXPECT_EQ(ReadFilter::Parse(WithStreamRegex("(a)\\1")).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(ReadFilter::Parse(WithStreamRegex("a(?=b)")).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(ReadFilter::Parse(WithStreamRegex("(")).status().code(), StatusCode::kInvalidArgument);

  Options many;
  for (size_t i = 0; i <= kFilterPrefixesMax; ++i) {
    many.mutable_filter()->mutable_stream_identifier()->add_prefix("p" + std::to_string(i));
  }
  EXPECT_EQ(ReadFilter::Parse(many).status().code(), StatusCode::kInvalidArgument);
  Options long_prefix;
  long_prefix.mutable_filter()->mutable_stream_identifier()->add_prefix(
      std::string(kFilterPrefixBytesMax + 1, 'p'));
  EXPECT_EQ(ReadFilter::Parse(long_prefix).status().code(), StatusCode::kInvalidArgument);
}

TEST(EsdbReadFilterTest, NestedQuantifiersDoNotBacktrack) {
  // Exponential for a backtracking engine on this input; RE2 answers in linear time.
  auto filter = ReadFilter::Parse(WithStreamRegex("^(a+)+$"));
  ASSERT_TRUE(filter.ok());
  EXPECT_FALSE(filter->Matches(std::string(500, 'a') + "b", "T"));
  EXPECT_TRUE(filter->Matches(std::string(500, 'a'), "T"));
}

TEST(EsdbReadSpecTest, StreamAndAllOptions) {
  streams::ReadReq request;
  auto* stream = request.mutable_options()->mutable_stream();
  stream->mutable_stream_identifier()->set_stream_name("order-1");
  stream->set_revision(7);
  request.mutable_options()->set_read_direction(Options::Backwards);
  request.mutable_options()->set_count(3);
  request.mutable_options()->mutable_uuid_option()->mutable_structured();
  auto spec = ParseReadSpec(request);
  ASSERT_TRUE(spec.ok());
  EXPECT_FALSE(spec->all);
  EXPECT_EQ(spec->stream, "order-1");
  EXPECT_EQ(spec->from, ReadSpec::From::kAt);
  EXPECT_EQ(spec->at, 7u);
  EXPECT_TRUE(spec->backwards);
  EXPECT_EQ(spec->count, 3u);
  EXPECT_FALSE(spec->subscription);
  EXPECT_TRUE(spec->structured_uuid);

  streams::ReadReq all;
  all.mutable_options()->mutable_all()->mutable_position()->set_commit_position(42);
  all.mutable_options()->mutable_subscription();
  auto all_spec = ParseReadSpec(all);
  ASSERT_TRUE(all_spec.ok());
  EXPECT_TRUE(all_spec->all);
  EXPECT_EQ(all_spec->stream, "$all");
  EXPECT_EQ(all_spec->at, 42u);
  EXPECT_TRUE(all_spec->subscription);
  EXPECT_FALSE(all_spec->structured_uuid);
  EXPECT_EQ(all_spec->checkpoint_events, kCheckpointWindowDefault);
}

TEST(EsdbReadSpecTest, CheckpointEveryWindowTimesMultiplierEvents) {
  streams::ReadReq request;
  request.mutable_options()->mutable_all()->mutable_start();
  auto* filter = request.mutable_options()->mutable_filter();
  filter->mutable_event_type()->add_prefix("Order");
  filter->mutable_count();
  filter->set_checkpointintervalmultiplier(2);
  auto counted = ParseReadSpec(request);
  ASSERT_TRUE(counted.ok());
  EXPECT_EQ(counted->checkpoint_events, 2 * kCheckpointWindowDefault);
  filter->set_max(5);
  EXPECT_EQ(ParseReadSpec(request)->checkpoint_events, 10u);
  filter->set_max(1u << 30);
  EXPECT_EQ(ParseReadSpec(request)->checkpoint_events, kCheckpointEventsMax);
}

TEST(EsdbReadSpecTest, RefusesRequestsWithoutAStream) {
  EXPECT_EQ(ParseReadSpec(streams::ReadReq()).status().code(), StatusCode::kInvalidArgument);
  streams::ReadReq unnamed;
  unnamed.mutable_options()->mutable_stream()->mutable_start();
  EXPECT_EQ(ParseReadSpec(unnamed).status().code(), StatusCode::kInvalidArgument);
  streams::ReadReq bad_filter;
  bad_filter.mutable_options()->mutable_all()->mutable_start();
  bad_filter.mutable_options()->mutable_filter()->mutable_event_type()->set_regex("(a)\\1");
  EXPECT_EQ(ParseReadSpec(bad_filter).status().code(), StatusCode::kInvalidArgument);
}

TEST(EsdbStreamsWireTest, WrongExpectedVersionCarriesCurrentAndExpected) {
  streams::AppendResp::WrongExpectedVersion append;
  ToWireWrongExpectedVersion(Status::WrongExpectedVersion("wev", 4),
                             engine::ExpectedVersion::Exact(2), &append);
  EXPECT_EQ(append.current_revision(), 4u);
  EXPECT_EQ(append.expected_revision(), 2u);

  es::WrongExpectedVersion shared;
  ToWireWrongExpectedVersion(Status::WrongExpectedVersion("wev", -1),
                             engine::ExpectedVersion::StreamExists(), &shared);
  EXPECT_TRUE(shared.has_current_no_stream());
  EXPECT_TRUE(shared.has_expected_stream_exists());
}

TEST(EsdbStreamsWireTest, BatchErrorsPackTheDetailsTheClientUnpacks) {
  auto wev = BatchErrorStatus(Status::WrongExpectedVersion("wev", 1), "s",
                              engine::ExpectedVersion::NoStream(), 1024);
  es::WrongExpectedVersion details;
  ASSERT_TRUE(wev.details().UnpackTo(&details));
  EXPECT_EQ(details.current_stream_revision(), 1u);
  EXPECT_TRUE(details.has_expected_no_stream());

  auto deleted = BatchErrorStatus(Status::StreamDeleted("gone"), "order-9",
                                  engine::ExpectedVersion::Any(), 1024);
  es::StreamDeleted stream_deleted;
  ASSERT_TRUE(deleted.details().UnpackTo(&stream_deleted));
  EXPECT_EQ(stream_deleted.stream_identifier().stream_name(), "order-9");

  auto denied = BatchErrorStatus(Status::PermissionDenied("append denied"), "s",
                                 engine::ExpectedVersion::Any(), 1024);
  EXPECT_EQ(denied.code(), google::rpc::PERMISSION_DENIED);
  EXPECT_TRUE(denied.details().Is<es::AccessDenied>());

  auto too_big = BatchErrorStatus(Status::ResourceExhausted("big"), "s",
                                  engine::ExpectedVersion::Any(), 1024);
  es::MaximumAppendSizeExceeded size;
  ASSERT_TRUE(too_big.details().UnpackTo(&size));
  EXPECT_EQ(size.maxappendsize(), 1024u);
  EXPECT_EQ(too_big.message(), "big") << "cairn's reason (size or event count) is kept";

  EXPECT_TRUE(BatchTimeoutStatus().details().Is<es::Timeout>());
}

TEST(EsdbStreamsWireTest, OtherBatchErrorsKeepCairnsReasonAndMessage) {
  // Not event_store.client.Unknown: the clients turn that into an error without a message.
  auto bad = BatchErrorStatus(Status::InvalidArgument("stream ids starting with '$' are reserved"),
                              "$$s", engine::ExpectedVersion::Any(), 1024);
  EXPECT_EQ(bad.code(), google::rpc::INVALID_ARGUMENT);
  EXPECT_EQ(bad.message(), "stream ids starting with '$' are reserved");
  EXPECT_FALSE(bad.details().Is<es::Unknown>());
  v1::ErrorDetail detail;
  ASSERT_TRUE(bad.details().UnpackTo(&detail));
  EXPECT_EQ(detail.reason(), "INVALID_ARGUMENT");

  auto internal = BatchErrorStatus(Status::IOError("/var/lib/cairn/000123.sst: EIO"), "s",
                                   engine::ExpectedVersion::Any(), 1024);
  EXPECT_EQ(internal.message(), "internal error") << "storage details never reach clients";
  ASSERT_TRUE(internal.details().UnpackTo(&detail));
  EXPECT_EQ(detail.reason(), "INTERNAL");
}

TEST(EsdbErrorsTest, MissingGroupIsWordedAsEventStoreDbWordsIt) {
  const EsdbError missing = PersistentSubscriptionDoesNotExist("order-1", "billing");
  EXPECT_EQ(missing.code, grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(missing.message, "Subscription group billing on stream order-1 does not exist.");
  ASSERT_FALSE(missing.trailers.empty());
  EXPECT_EQ(missing.trailers[0].second, "persistent-subscription-does-not-exist");
}

}  // namespace
}  // namespace cairn::server::esdb
