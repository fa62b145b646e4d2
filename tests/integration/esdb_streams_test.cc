// event_store.client.streams.Streams (the EventStoreDB/KurrentDB protocol) end to end: the
// generated stub against the real `cairn serve` over TLS, with API keys as Basic credentials as
// the official clients send them. Appends with each expected state, reads forwards/backwards,
// `$all` with filters, the policy (a denied event type, a forbidden reader), masked protected
// fields, tombstones, and a subscription that sees a live append.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "audit/record.h"
#include "cairn/v1/common.pb.h"
#include "common/bytes.h"
#include "event_store/client/persistent.grpc.pb.h"
#include "event_store/client/streams.grpc.pb.h"
#include "loopback_http.h"
#include "prom_parser.h"
#include "protect_rules.h"
#include "server_env.h"

namespace cairn::testing {
namespace CAIRN_UNITY_ID {

namespace es = event_store::client;
namespace streams = event_store::client::streams;

constexpr char kRules[] = R"(
[[rule]]
event_type = "CustomerRegistered"
subject = "/customerId"
fields = ["/email"]
)";

// "cairn_<id>_<secret>" → "Basic base64(<id>:<key>)".
std::string BasicFor(const std::string& key) {
  const size_t id_end = key.find('_', 6);
  return "Basic " + Base64Encode(key.substr(6, id_end - 6) + ":" + key);
}

std::string Trailer(const grpc::ClientContext& context, const std::string& name) {
  const auto& trailers = context.GetServerTrailingMetadata();
  auto it = trailers.find(name);
  return it == trailers.end() ? "" : std::string(it->second.data(), it->second.size());
}

struct NewEvent {
  NewEvent(std::string type_in, std::string data_in, std::string custom_metadata_in = "")
      : type(std::move(type_in)), data(std::move(data_in)),
        custom_metadata(std::move(custom_metadata_in)) {}
  std::string type;
  std::string data;
  std::string custom_metadata;
  std::string id;  // empty: a fresh one
};

std::string UuidText(int n) {
  char buffer[40];
  std::snprintf(buffer, sizeof buffer, "1b4e28ba-2fa1-41d2-883f-%012x", n);
  return buffer;
}

template <class Message>
void FillProposed(const NewEvent& event, int n, Message* out) {
  out->mutable_id()->set_string(event.id.empty() ? UuidText(n) : event.id);
  (*out->mutable_metadata())["type"] = event.type;
  (*out->mutable_metadata())["content-type"] = "application/json";
  out->set_data(event.data);
  out->set_custom_metadata(event.custom_metadata);
}

struct AppendOutcome {
  grpc::Status status;
  streams::AppendResp response;
  std::string exception;  // the `exception` trailer
  std::string maximum_append_size;  // the `maximum-append-size` trailer
};

struct ReadOutcome {
  grpc::Status status;
  std::vector<streams::ReadResp> answers;
  std::string exception;
  std::vector<streams::ReadResp::ReadEvent::RecordedEvent> Events() const {
    std::vector<streams::ReadResp::ReadEvent::RecordedEvent> out;
    for (const auto& a : answers) {
      if (a.has_event()) out.push_back(a.event().event());
    }
    return out;
  }
};

class EsdbStreamsTest : public ::testing::Test {
 protected:
  void SetUp() override { Start(""); }

  // `extra_toml`: more top-level tables for the server's configuration (e.g. [audit]).
  void Start(const std::string& extra_toml) {
    env.extra_config = ProtectRulesConfig(env, kRules) + extra_toml;
    ASSERT_TRUE(env.Start()) << env.server().output();
    client = env.ClientWith("");
    stub = streams::Streams::NewStub(client->channel());
    admin = BasicFor(env.admin_key);
    bot = BasicFor(env.bot_key);
  }

  void Prepare(grpc::ClientContext* context, const std::string& authorization,
               int timeout_ms = 10000) {
    if (!authorization.empty()) context->AddMetadata("authorization", authorization);
    context->set_deadline(std::chrono::system_clock::now() +
                          std::chrono::milliseconds(timeout_ms));
  }

  // A streamed append, its options (any expected revision) sent and the call left open.
  std::unique_ptr<grpc::ClientWriter<streams::AppendReq>> OpenAppend(
      grpc::ClientContext* context, streams::AppendResp* response,
      const std::string& authorization, const std::string& stream, int timeout_ms) {
    Prepare(context, authorization, timeout_ms);
    auto writer = stub->Append(context, response);
    streams::AppendReq header;
    header.mutable_options()->mutable_any();
    header.mutable_options()->mutable_stream_identifier()->set_stream_name(stream);
    EXPECT_TRUE(writer->Write(header));
    return writer;
  }

  AppendOutcome Append(const std::string& authorization, const std::string& stream,
                       const streams::AppendReq::Options& expected,
                       const std::vector<NewEvent>& events) {
    grpc::ClientContext context;
    Prepare(&context, authorization);
    AppendOutcome out;
    auto writer = stub->Append(&context, &out.response);
    streams::AppendReq header;
    *header.mutable_options() = expected;
    header.mutable_options()->mutable_stream_identifier()->set_stream_name(stream);
    writer->Write(header);
    for (const auto& event : events) {
      streams::AppendReq message;
      FillProposed(event, ++event_counter_, message.mutable_proposed_message());
      if (!writer->Write(message)) break;
    }
    writer->WritesDone();
    out.status = writer->Finish();
    out.exception = Trailer(context, "exception");
    out.maximum_append_size = Trailer(context, "maximum-append-size");
    return out;
  }
  AppendOutcome AppendAny(const std::string& authorization, const std::string& stream,
                          const std::vector<NewEvent>& events) {
    streams::AppendReq::Options any;
    any.mutable_any();
    return Append(authorization, stream, any, events);
  }

  ReadOutcome Read(const std::string& authorization, const streams::ReadReq& request) {
    grpc::ClientContext context;
    Prepare(&context, authorization);
    ReadOutcome out;
    auto reader = stub->Read(&context, request);
    streams::ReadResp answer;
    while (reader->Read(&answer)) out.answers.push_back(answer);
    out.status = reader->Finish();
    out.exception = Trailer(context, "exception");
    return out;
  }

  static streams::ReadReq StreamRead(const std::string& stream, bool backwards, uint64_t count,
                                     int64_t from_revision = -1) {
    streams::ReadReq request;
    auto* options = request.mutable_options();
    auto* s = options->mutable_stream();
    s->mutable_stream_identifier()->set_stream_name(stream);
    if (from_revision >= 0) {
      s->set_revision(static_cast<uint64_t>(from_revision));
    } else if (backwards) {
      s->mutable_end();
    } else {
      s->mutable_start();
    }
    options->set_read_direction(backwards ? streams::ReadReq::Options::Backwards
                                          : streams::ReadReq::Options::Forwards);
    options->set_count(count);
    options->mutable_no_filter();
    options->mutable_uuid_option()->mutable_string();
    return request;
  }

  static streams::ReadReq AllRead(uint64_t count) {
    streams::ReadReq request;
    auto* options = request.mutable_options();
    options->mutable_all()->mutable_start();
    options->set_count(count);
    options->mutable_uuid_option()->mutable_string();
    return request;
  }

  ServerEnv env;
  std::unique_ptr<Client> client;
  std::unique_ptr<streams::Streams::Stub> stub;
  std::string admin, bot;
  int event_counter_ = 0;
};

std::vector<uint64_t> Revisions(const ReadOutcome& read) {
  std::vector<uint64_t> out;
  for (const auto& e : read.Events()) out.push_back(e.stream_revision());
  return out;
}

TEST_F(EsdbStreamsTest, AppendAnswersRevisionsAndWrongExpectedVersion) {
  streams::AppendReq::Options no_stream;
  no_stream.mutable_no_stream();
  auto first = Append(admin, "order-a1", no_stream,
                      {{"OrderCreated", R"({"n":1})"}, {"OrderCreated", R"({"n":2})"}});
  ASSERT_TRUE(first.status.ok()) << first.status.error_message();
  ASSERT_TRUE(first.response.has_success());
  EXPECT_EQ(first.response.success().current_revision(), 1u);
  const uint64_t position = first.response.success().position().commit_position();
  EXPECT_EQ(first.response.success().position().prepare_position(), position);

  streams::AppendReq::Options at0;
  at0.set_revision(0);
  auto wrong = Append(admin, "order-a1", at0, {{"OrderCreated", R"({"n":3})"}});
  ASSERT_TRUE(wrong.status.ok()) << wrong.status.error_message();
  ASSERT_TRUE(wrong.response.has_wrong_expected_version());
  EXPECT_EQ(wrong.response.wrong_expected_version().current_revision(), 1u);
  EXPECT_EQ(wrong.response.wrong_expected_version().expected_revision(), 0u);

  auto again = Append(admin, "order-a1", no_stream, {{"OrderCreated", R"({"n":3})"}});
  ASSERT_TRUE(again.response.has_wrong_expected_version());
  EXPECT_TRUE(again.response.wrong_expected_version().has_expected_no_stream());

  streams::AppendReq::Options exists;
  exists.mutable_stream_exists();
  auto missing = Append(admin, "order-a2", exists, {{"OrderCreated", R"({"n":1})"}});
  ASSERT_TRUE(missing.response.has_wrong_expected_version());
  EXPECT_TRUE(missing.response.wrong_expected_version().has_current_no_stream());

  streams::AppendReq::Options at1;
  at1.set_revision(1);
  auto right = Append(admin, "order-a1", at1, {{"OrderCreated", R"({"n":3})"}});
  ASSERT_TRUE(right.response.has_success());
  EXPECT_EQ(right.response.success().current_revision(), 2u);
  EXPECT_GT(right.response.success().position().commit_position(), position);
}

TEST_F(EsdbStreamsTest, ReadsForwardsAndBackwardsWithCountsAndMetadata) {
  std::vector<NewEvent> events;
  for (int i = 0; i < 5; ++i) {
    events.emplace_back("OrderCreated", "{\"n\":" + std::to_string(i) + "}", R"({"trace":"t"})");
  }
  events[0].id = "5f3b1c2a-0d4e-4f6a-9b8c-7d6e5f4a3b2c";
  ASSERT_TRUE(AppendAny(admin, "order-r1", events).response.has_success());

  auto forwards = Read(admin, StreamRead("order-r1", false, 100));
  ASSERT_TRUE(forwards.status.ok()) << forwards.status.error_message();
  EXPECT_EQ(Revisions(forwards), (std::vector<uint64_t>{0, 1, 2, 3, 4}));
  const auto first = forwards.Events().at(0);
  EXPECT_EQ(first.id().string(), "5f3b1c2a-0d4e-4f6a-9b8c-7d6e5f4a3b2c");
  EXPECT_EQ(first.stream_identifier().stream_name(), "order-r1");
  EXPECT_EQ(first.metadata().at("type"), "OrderCreated");
  EXPECT_EQ(first.metadata().at("content-type"), "application/json");
  const int64_t created_ticks = std::stoll(first.metadata().at("created"));
  const int64_t now_ticks = NowS() * 10'000'000;
  EXPECT_LT(std::llabs(created_ticks - now_ticks), int64_t{600} * 10'000'000);
  EXPECT_EQ(first.data(), R"({"n":0})");
  EXPECT_EQ(first.custom_metadata(), R"({"trace":"t"})");

  EXPECT_EQ(Revisions(Read(admin, StreamRead("order-r1", false, 2, 1))),
            (std::vector<uint64_t>{1, 2}));
  EXPECT_EQ(Revisions(Read(admin, StreamRead("order-r1", true, 3))),
            (std::vector<uint64_t>{4, 3, 2}));
  EXPECT_EQ(Revisions(Read(admin, StreamRead("order-r1", true, 10, 1))),
            (std::vector<uint64_t>{1, 0}));

  auto structured_request = StreamRead("order-r1", false, 1);
  structured_request.mutable_options()->mutable_uuid_option()->mutable_structured();
  auto structured = Read(admin, structured_request);
  ASSERT_EQ(structured.Events().size(), 1u);
  EXPECT_EQ(static_cast<uint64_t>(structured.Events()[0].id().structured().most_significant_bits()),
            0x5f3b1c2a0d4e4f6aull);

  auto missing = Read(admin, StreamRead("order-none", false, 10));
  ASSERT_TRUE(missing.status.ok()) << missing.status.error_message();
  ASSERT_EQ(missing.answers.size(), 1u);
  ASSERT_TRUE(missing.answers[0].has_stream_not_found());
  EXPECT_EQ(missing.answers[0].stream_not_found().stream_identifier().stream_name(), "order-none");
}

TEST_F(EsdbStreamsTest, ReadAllFiltersByStreamPrefixAndEventTypeRegex) {
  ASSERT_TRUE(AppendAny(admin, "order-f1", {{"OrderCreated", "{}"}, {"OrderCancelled", "{}"}})
                  .response.has_success());
  ASSERT_TRUE(AppendAny(admin, "invoice-f1", {{"InvoiceSent", "{}"}}).response.has_success());

  auto by_prefix = AllRead(100);
  auto* stream_filter = by_prefix.mutable_options()->mutable_filter();
  stream_filter->mutable_stream_identifier()->add_prefix("invoice-");
  stream_filter->mutable_count();
  auto invoices = Read(admin, by_prefix);
  ASSERT_TRUE(invoices.status.ok()) << invoices.status.error_message();
  ASSERT_EQ(invoices.Events().size(), 1u);
  EXPECT_EQ(invoices.Events()[0].metadata().at("type"), "InvoiceSent");

  auto by_regex = AllRead(100);
  by_regex.mutable_options()->mutable_filter()->mutable_event_type()->set_regex("^Order.*ed$");
  auto orders = Read(admin, by_regex);
  ASSERT_TRUE(orders.status.ok()) << orders.status.error_message();
  ASSERT_EQ(orders.Events().size(), 2u);
  EXPECT_EQ(orders.Events()[0].metadata().at("type"), "OrderCreated");
  EXPECT_EQ(orders.Events()[1].metadata().at("type"), "OrderCancelled");

  // A caller with no read grant at all may not read $all (it would learn the log's size).
  auto nobody = Read("Bearer " + env.TokenA("EdDSA", "nobody", "[]"), AllRead(100));
  EXPECT_EQ(nobody.status.error_code(), grpc::StatusCode::PERMISSION_DENIED)
      << nobody.status.error_message();
  EXPECT_EQ(nobody.exception, "access-denied");
  EXPECT_TRUE(nobody.Events().empty());

  auto backwards = AllRead(1);
  backwards.mutable_options()->mutable_all()->mutable_end();
  backwards.mutable_options()->set_read_direction(streams::ReadReq::Options::Backwards);
  auto last = Read(admin, backwards);
  ASSERT_EQ(last.Events().size(), 1u);
  EXPECT_EQ(last.Events()[0].stream_identifier().stream_name(), "invoice-f1");

  auto bad = AllRead(100);
  bad.mutable_options()->mutable_filter()->mutable_event_type()->set_regex("(a)\\1");
  auto refused = Read(admin, bad);
  EXPECT_EQ(refused.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  auto huge = AllRead(100);
  huge.mutable_options()->mutable_filter()->mutable_event_type()->set_regex(std::string(300, 'a'));
  EXPECT_EQ(Read(admin, huge).status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(EsdbStreamsTest, PublisherDeniedAnotherEventTypeWritesNothing) {
  auto allowed = AppendAny(bot, "order-p1", {{"OrderCreated", "{}"}});
  ASSERT_TRUE(allowed.status.ok()) << allowed.status.error_message();
  ASSERT_TRUE(allowed.response.has_success());

  auto denied = AppendAny(bot, "order-p1", {{"OrderCreated", "{}"}, {"OrderShipped", "{}"}});
  EXPECT_EQ(denied.status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(denied.exception, "access-denied");
  EXPECT_EQ(Revisions(Read(admin, StreamRead("order-p1", false, 100))),
            (std::vector<uint64_t>{0}));

  grpc::ClientContext anonymous;
  Prepare(&anonymous, "");
  streams::AppendResp response;
  auto writer = stub->Append(&anonymous, &response);
  writer->WritesDone();
  EXPECT_EQ(writer->Finish().error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(Trailer(anonymous, "exception"), "not-authenticated");
}

// A streamed Append is refused as soon as the policy can tell — after the options for a stream
// the caller may not append to, after the first event of a type it may not append — not after
// the client finished sending: a caller the policy refuses can neither hold a server thread nor
// have the server buffer its events. (Finish without WritesDone: the server ends the call.)
TEST_F(EsdbStreamsTest, AStreamedAppendIsRefusedAtTheFirstMessageThePolicyDenies) {
  auto open_append = [&](grpc::ClientContext* context, streams::AppendResp* response,
                         const std::string& stream) {
    return OpenAppend(context, response, bot, stream, /*timeout_ms=*/5000);
  };
  {
    grpc::ClientContext context;
    streams::AppendResp response;
    auto writer = open_append(&context, &response, "invoice-1");  // no append grant there
    EXPECT_EQ(writer->Finish().error_code(), grpc::StatusCode::PERMISSION_DENIED);
    EXPECT_EQ(Trailer(context, "exception"), "access-denied");
  }
  {
    grpc::ClientContext context;
    streams::AppendResp response;
    auto writer = open_append(&context, &response, "order-s1");
    streams::AppendReq event;
    FillProposed({"OrderShipped", "{}"}, ++event_counter_, event.mutable_proposed_message());
    writer->Write(event);  // a type bot may not append; the call stays open on the client side
    EXPECT_EQ(writer->Finish().error_code(), grpc::StatusCode::PERMISSION_DENIED);
  }
  // An event type longer than the limit is refused as it arrives, not buffered.
  auto long_type = AppendAny(bot, "order-s2", {{std::string(300, 'T'), "{}"}});
  EXPECT_EQ(long_type.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(long_type.status.error_message().find(std::string(300, 'T')), std::string::npos);
  EXPECT_TRUE(AppendAny(bot, "order-s1", {{"OrderCreated", "{}"}}).status.ok());
}

// A streamed append is served without a thread of its own: many calls held open do not keep
// another append from completing, and each completes once its client finishes. A call cancelled
// before the client half-closed ends CANCELLED (the server skips the append when it already knows
// of the cancel; gRPC does not order that against the failed read, so this is best effort).
TEST_F(EsdbStreamsTest, ACancelledAppendWritesNothingAndOpenAppendsHoldNoThread) {
  auto open_append = [&](grpc::ClientContext* context, streams::AppendResp* response,
                         const std::string& stream) {
    auto writer = OpenAppend(context, response, admin, stream, /*timeout_ms=*/20000);
    streams::AppendReq event;
    FillProposed({"OrderCreated", "{}"}, ++event_counter_, event.mutable_proposed_message());
    EXPECT_TRUE(writer->Write(event));
    return writer;
  };
  {
    grpc::ClientContext context;
    streams::AppendResp response;
    auto writer = open_append(&context, &response, "order-cancelled");
    std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the server has the event
    context.TryCancel();
    EXPECT_EQ(writer->Finish().error_code(), grpc::StatusCode::CANCELLED);
  }

  constexpr int kHeld = 64;
  std::vector<std::unique_ptr<grpc::ClientContext>> contexts(kHeld);
  std::vector<streams::AppendResp> responses(kHeld);
  std::vector<std::unique_ptr<grpc::ClientWriter<streams::AppendReq>>> writers;
  for (int i = 0; i < kHeld; ++i) {
    contexts[i] = std::make_unique<grpc::ClientContext>();
    writers.push_back(open_append(contexts[i].get(), &responses[i], "order-held-" + std::to_string(i)));
  }
  const auto started = std::chrono::steady_clock::now();
  EXPECT_TRUE(AppendAny(admin, "order-while-held", {{"OrderCreated", "{}"}}).response.has_success());
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(5));
  for (int i = 0; i < kHeld; ++i) {
    writers[i]->WritesDone();
    ASSERT_TRUE(writers[i]->Finish().ok());
    EXPECT_TRUE(responses[i].has_success());
  }
  auto held = Read(admin, StreamRead("order-held-" + std::to_string(kHeld - 1), false, 10));
  EXPECT_EQ(held.Events().size(), 1u);
}

TEST_F(EsdbStreamsTest, ForbiddenReaderGetsAccessDeniedAndTypeFilteredReaderSeesOnlyItsTypes) {
  ASSERT_TRUE(AppendAny(admin, "invoice-x1", {{"InvoiceSent", "{}"}}).response.has_success());
  auto stream_denied = Read(bot, StreamRead("invoice-x1", false, 10));
  EXPECT_EQ(stream_denied.status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(stream_denied.exception, "access-denied");
  EXPECT_TRUE(stream_denied.Events().empty());
  // $all: the bot reads order-* only; the invoice event is left out, not an error.
  auto all = Read(bot, AllRead(100));
  ASSERT_TRUE(all.status.ok()) << all.status.error_message();
  for (const auto& e : all.Events()) EXPECT_NE(e.stream_identifier().stream_name(), "invoice-x1");

  ASSERT_TRUE(AppendAny(admin, "order-x1", {{"OrderCreated", "{}"}, {"OrderShipped", "{}"}})
                  .response.has_success());
  const std::string reader = "Bearer " + env.TokenA("EdDSA", "reader");  // OrderCreated only
  auto filtered = Read(reader, StreamRead("order-x1", false, 10));
  ASSERT_TRUE(filtered.status.ok()) << filtered.status.error_message();
  ASSERT_EQ(filtered.Events().size(), 1u);
  EXPECT_EQ(filtered.Events()[0].metadata().at("type"), "OrderCreated");
  auto audit = Read(bot, StreamRead("$audit", false, 10));
  EXPECT_EQ(audit.status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
}

TEST_F(EsdbStreamsTest, ProtectedFieldIsMaskedWithoutReadPii) {
  ASSERT_TRUE(AppendAny(admin, "order-c1",
                        {{"CustomerRegistered",
                          R"({"customerId":"alice","email":"alice@example.com","plan":"gold"})"}})
                  .response.has_success());
  auto plain = Read(admin, StreamRead("order-c1", false, 10));
  ASSERT_EQ(plain.Events().size(), 1u);
  EXPECT_NE(plain.Events()[0].data().find("alice@example.com"), std::string::npos);

  auto masked = Read(bot, StreamRead("order-c1", false, 10));  // read, no read.pii
  ASSERT_TRUE(masked.status.ok()) << masked.status.error_message();
  ASSERT_EQ(masked.Events().size(), 1u);
  EXPECT_EQ(masked.Events()[0].data().find("alice@example.com"), std::string::npos);
  EXPECT_NE(masked.Events()[0].data().find("\"***\""), std::string::npos)
      << masked.Events()[0].data();
  EXPECT_NE(masked.Events()[0].data().find("gold"), std::string::npos);
}

// Long runs of protected events (revealed on two threads) with the count ending mid-page: every
// event in order, each in the reader's view, exactly `count` of them, forwards and backwards.
TEST_F(EsdbStreamsTest, LongRunsOfProtectedEventsAreRevealedInOrderUpToTheCount) {
  std::vector<NewEvent> events;
  for (int i = 0; i < 300; ++i) {
    const std::string id = "cust" + std::to_string(i % 40);
    events.emplace_back("CustomerRegistered", R"({"customerId":")" + id + R"(","email":")" + id +
                                                  R"(@example.com","n":)" + std::to_string(i) + "}");
  }
  ASSERT_TRUE(AppendAny(admin, "order-many", events).response.has_success());

  auto forwards = Read(admin, StreamRead("order-many", false, 250));
  ASSERT_TRUE(forwards.status.ok()) << forwards.status.error_message();
  const auto forwards_events = forwards.Events();  // Events() makes a copy
  ASSERT_EQ(forwards_events.size(), 250u);
  for (size_t i = 0; i < 250; ++i) {
    const auto& e = forwards_events[i];
    ASSERT_EQ(e.stream_revision(), i);
    EXPECT_NE(e.data().find("cust" + std::to_string(i % 40) + "@example.com"), std::string::npos)
        << e.data();
    EXPECT_NE(e.data().find("\"n\":" + std::to_string(i) + "}"), std::string::npos) << e.data();
  }
  auto backwards = Read(bot, StreamRead("order-many", true, 120));  // read, no read.pii
  ASSERT_TRUE(backwards.status.ok()) << backwards.status.error_message();
  const auto backwards_events = backwards.Events();
  ASSERT_EQ(backwards_events.size(), 120u);
  for (size_t i = 0; i < 120; ++i) {
    const auto& e = backwards_events[i];
    ASSERT_EQ(e.stream_revision(), 299 - i);
    EXPECT_EQ(e.data().find("@example.com"), std::string::npos) << e.data();
    EXPECT_NE(e.data().find("\"***\""), std::string::npos) << e.data();
  }
  auto all = Read(admin, AllRead(200));
  ASSERT_TRUE(all.status.ok()) << all.status.error_message();
  const auto all_events = all.Events();
  ASSERT_EQ(all_events.size(), 200u);
  for (size_t i = 1; i < all_events.size(); ++i) {
    EXPECT_LT(all_events[i - 1].commit_position(), all_events[i].commit_position());
  }
}

TEST_F(EsdbStreamsTest, TombstoneThenAppendAndReadSayStreamDeleted) {
  ASSERT_TRUE(AppendAny(admin, "order-t1", {{"OrderCreated", "{}"}}).response.has_success());
  grpc::ClientContext context;
  Prepare(&context, admin);
  streams::TombstoneReq request;
  request.mutable_options()->mutable_stream_identifier()->set_stream_name("order-t1");
  request.mutable_options()->set_revision(0);
  streams::TombstoneResp response;
  ASSERT_TRUE(stub->Tombstone(&context, request, &response).ok());
  EXPECT_TRUE(response.has_position());

  auto append = AppendAny(admin, "order-t1", {{"OrderCreated", "{}"}});
  EXPECT_EQ(append.exception, "stream-deleted");
  EXPECT_FALSE(append.status.ok());
  auto read = Read(admin, StreamRead("order-t1", false, 10));
  EXPECT_EQ(read.exception, "stream-deleted");

  // Delete (soft in EventStoreDB) is the same permanent delete here; it needs `delete`.
  ASSERT_TRUE(AppendAny(admin, "order-t2", {{"OrderCreated", "{}"}}).response.has_success());
  grpc::ClientContext bot_context;
  Prepare(&bot_context, bot);
  streams::DeleteReq del;
  del.mutable_options()->mutable_stream_identifier()->set_stream_name("order-t2");
  del.mutable_options()->mutable_any();
  streams::DeleteResp deleted;
  EXPECT_EQ(stub->Delete(&bot_context, del, &deleted).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  grpc::ClientContext admin_context;
  Prepare(&admin_context, admin);
  ASSERT_TRUE(stub->Delete(&admin_context, del, &deleted).ok());
  EXPECT_EQ(AppendAny(admin, "order-t2", {{"OrderCreated", "{}"}}).exception, "stream-deleted");
}

// The EventStoreDB clients keep one BatchAppend call open per channel: a policy reload must reach
// the call's next batch, not wait for a new call.
TEST_F(EsdbStreamsTest, APolicyReloadReachesTheNextBatchOfAnOpenBatchAppendCall) {
  grpc::ClientContext context;
  Prepare(&context, bot);
  auto call = stub->BatchAppend(&context);
  auto batch = [&](int correlation, const std::string& stream) {
    streams::BatchAppendReq request;
    request.mutable_correlation_id()->set_string(UuidText(2000 + correlation));
    request.mutable_options()->mutable_stream_identifier()->set_stream_name(stream);
    request.mutable_options()->mutable_any();
    FillProposed({"OrderCreated", "{}"}, ++event_counter_, request.add_proposed_messages());
    request.set_is_final(true);
    EXPECT_TRUE(call->Write(request));
    streams::BatchAppendResp answer;
    EXPECT_TRUE(call->Read(&answer));
    EXPECT_EQ(answer.correlation_id().string(), UuidText(2000 + correlation));
    return answer;
  };
  ASSERT_TRUE(batch(1, "order-r1").has_success());
  // The bot becomes a reader only; the admin reloads the policy.
  std::string policy = ReadFile(env.PolicyPath());
  const std::string bound = "principal = \"apikey:ci-bot\"\nroles = [\"order-service\"]";
  const size_t at = policy.find(bound);
  ASSERT_NE(at, std::string::npos);
  policy.replace(at, bound.size(), "principal = \"apikey:ci-bot\"\nroles = [\"order-reader\"]");
  WriteFile(env.PolicyPath(), policy);
  auto reloaded = env.ClientWith(env.admin_key)->ReloadPolicy();
  ASSERT_TRUE(reloaded.ok()) << reloaded.status().ToString();
  const streams::BatchAppendResp denied = batch(2, "order-r2");
  ASSERT_TRUE(denied.has_error()) << denied.DebugString();
  EXPECT_TRUE(denied.error().details().Is<es::AccessDenied>()) << denied.DebugString();
  call->WritesDone();
  streams::BatchAppendResp rest;
  while (call->Read(&rest)) {
  }
  EXPECT_TRUE(call->Finish().ok());
}

// A final BatchAppend chunk of one OrderCreated event to `stream`, any expected version.
streams::BatchAppendReq OneEventBatch(int correlation, const std::string& stream, int n) {
  streams::BatchAppendReq request;
  request.mutable_correlation_id()->set_string(UuidText(correlation));
  request.mutable_options()->mutable_stream_identifier()->set_stream_name(stream);
  request.mutable_options()->mutable_any();
  FillProposed({"OrderCreated", "{}"}, n, request.add_proposed_messages());
  request.set_is_final(true);
  return request;
}

// A removed API key (reloaded from the configuration) is refused at the next append of a
// BatchAppend call that it opened: the EventStoreDB clients keep that call open per channel.
TEST_F(EsdbStreamsTest, ARemovedApiKeyIsRefusedAtTheNextBatchOfAnOpenBatchAppendCall) {
  grpc::ClientContext context;
  Prepare(&context, bot);
  auto call = stub->BatchAppend(&context);
  auto batch = [&](int correlation) {
    EXPECT_TRUE(call->Write(OneEventBatch(3000 + correlation, "order-k1", ++event_counter_)));
    streams::BatchAppendResp answer;
    EXPECT_TRUE(call->Read(&answer));
    return answer;
  };
  ASSERT_TRUE(batch(1).has_success());
  std::string config = env.ConfigText();
  const size_t at = config.find("[[auth.api_keys]]\nid = \"ci-bot\"");
  ASSERT_NE(at, std::string::npos);
  config.erase(at, config.find("[[auth.api_keys]]", at + 1) - at);
  env.WriteConfig(config);
  auto reloaded = env.ClientWith(env.admin_key)->ReloadApiKeys();
  ASSERT_TRUE(reloaded.ok()) << reloaded.status().ToString();
  const streams::BatchAppendResp refused = batch(2);
  ASSERT_TRUE(refused.has_error()) << refused.DebugString();
  EXPECT_EQ(refused.error().code(), static_cast<int>(grpc::StatusCode::UNAUTHENTICATED))
      << refused.DebugString();
  call->WritesDone();
  streams::BatchAppendResp rest;
  while (call->Read(&rest)) {
  }
  call->Finish();
  EXPECT_EQ(Read(admin, StreamRead("order-k1", false, 10)).Events().size(), 1u);
}


// A long call outlives its credential: the next append of the call is refused and, like a failed
// login, audited (the record's log line here). The token expired 5 s ago, within the 30 s leeway
// that admitted the call.
TEST_F(EsdbStreamsTest, AnAppendAfterTheCallsTokenExpiredIsRefusedAndAudited) {
  grpc::ClientContext context;
  Prepare(&context, "Bearer " + env.TokenA("EdDSA", "short-lived", "[\"admin\"]", -5));
  auto call = stub->BatchAppend(&context);
  ASSERT_TRUE(call->Write(OneEventBatch(3001, "order-x9", ++event_counter_)));
  streams::BatchAppendResp answer;
  ASSERT_TRUE(call->Read(&answer));
  EXPECT_TRUE(answer.has_error()) << answer.DebugString();
  call->WritesDone();
  while (call->Read(&answer)) {
  }
  call->Finish();
  bool audited = false;
  for (int i = 0; i < 100 && !audited; ++i) {
    const std::string out = env.server().output();
    audited = out.find("\"message\":\"authentication failed\"") != std::string::npos &&
              out.find("\"cairn.reason\":\"token expired\"") != std::string::npos;
    if (!audited) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(audited) << env.server().output();
  EXPECT_TRUE(Read(admin, StreamRead("order-x9", false, 10)).Events().empty());
}

// A long read ends when its credential does: admitted within the leeway (expired 5 s ago), it
// gets its first page, then NotAuthenticated instead of reading on for as long as it likes.
TEST_F(EsdbStreamsTest, AReadThatOutlivesItsTokenEndsAfterItsFirstPage) {
  const std::vector<NewEvent> batch(1000, NewEvent("OrderCreated", "{}"));
  ASSERT_TRUE(AppendAny(admin, "order-long", batch).status.ok());
  ASSERT_TRUE(AppendAny(admin, "order-long", batch).status.ok());
  const std::string expired = "Bearer " + env.TokenA("EdDSA", "short-lived", "[\"admin\"]", -5);
  for (const streams::ReadReq& request : {StreamRead("order-long", false, 5000), AllRead(5000)}) {
    ReadOutcome read = Read(expired, request);
    EXPECT_EQ(read.status.error_code(), grpc::StatusCode::UNAUTHENTICATED)
        << read.status.error_message();
    EXPECT_EQ(read.exception, "not-authenticated");
    EXPECT_GT(read.Events().size(), 0u) << request.DebugString();
    EXPECT_LT(read.Events().size(), 2000u);
  }
  ReadOutcome valid = Read(admin, StreamRead("order-long", false, 5000));
  ASSERT_TRUE(valid.status.ok()) << valid.status.error_message();
  EXPECT_EQ(valid.Events().size(), 2000u);
}

// A first chunk whose first message is malformed (no type) is answered with an error; the
// server keeps serving (the per-event-type check needs an event that was added).
TEST_F(EsdbStreamsTest, BatchAppendWithAMalformedFirstMessageIsAnsweredNotFatal) {
  grpc::ClientContext context;
  Prepare(&context, bot);
  auto call = stub->BatchAppend(&context);
  streams::BatchAppendReq request = OneEventBatch(4001, "order-m1", ++event_counter_);
  request.mutable_proposed_messages(0)->mutable_metadata()->erase("type");
  ASSERT_TRUE(call->Write(request));
  streams::BatchAppendResp answer;
  ASSERT_TRUE(call->Read(&answer));
  EXPECT_TRUE(answer.has_error()) << answer.DebugString();
  call->WritesDone();
  while (call->Read(&answer)) {
  }
  EXPECT_TRUE(call->Finish().ok());
  EXPECT_EQ(AppendAny(admin, "order-m2", {{"OrderCreated", "{}"}}).status.error_code(), grpc::StatusCode::OK)
      << "the server is still up";
}

TEST_F(EsdbStreamsTest, BatchAppendAnswersEachCorrelationId) {
  grpc::ClientContext context;
  Prepare(&context, bot);
  auto call = stub->BatchAppend(&context);
  auto batch = [&](int correlation, const std::string& stream, int64_t expected,
                   const std::vector<NewEvent>& events, int64_t deadline_s = 0) {
    streams::BatchAppendReq request;
    if (deadline_s != 0) request.mutable_options()->mutable_deadline_21_10_0()->set_seconds(deadline_s);
    request.mutable_correlation_id()->set_string(UuidText(1000 + correlation));
    auto* options = request.mutable_options();
    options->mutable_stream_identifier()->set_stream_name(stream);
    if (expected < 0) {
      options->mutable_no_stream();
    } else {
      options->set_stream_position(static_cast<uint64_t>(expected));
    }
    for (const auto& e : events) FillProposed(e, ++event_counter_, request.add_proposed_messages());
    request.set_is_final(true);
    return call->Write(request);
  };
  ASSERT_TRUE(batch(1, "order-b1", -1, {{"OrderCreated", "{}"}, {"OrderCreated", "{}"}}));
  ASSERT_TRUE(batch(2, "order-b2", 5, {{"OrderCreated", "{}"}}));
  ASSERT_TRUE(batch(3, "order-b3", -1, {{"OrderShipped", "{}"}}));
  ASSERT_TRUE(batch(4, "order-b4", -1, {{"OrderCreated", "{}"}}, NowS() - 5));  // too late
  std::vector<NewEvent> too_many(1001, NewEvent("OrderCreated", "{}"));
  ASSERT_TRUE(batch(5, "order-b5", -1, too_many));
  call->WritesDone();
  std::map<std::string, streams::BatchAppendResp> answers;
  streams::BatchAppendResp answer;
  while (call->Read(&answer)) answers[answer.correlation_id().string()] = answer;
  ASSERT_TRUE(call->Finish().ok());
  ASSERT_EQ(answers.size(), 5u);

  const auto& ok = answers[UuidText(1001)];
  ASSERT_TRUE(ok.has_success()) << ok.DebugString();
  EXPECT_EQ(ok.success().current_revision(), 1u);
  EXPECT_EQ(ok.stream_identifier().stream_name(), "order-b1");

  const auto& wrong = answers[UuidText(1002)];
  ASSERT_TRUE(wrong.has_error());
  es::WrongExpectedVersion details;
  ASSERT_TRUE(wrong.error().details().UnpackTo(&details)) << wrong.DebugString();
  EXPECT_TRUE(details.has_current_no_stream());
  EXPECT_EQ(details.expected_stream_position(), 5u);

  const auto& denied = answers[UuidText(1003)];
  ASSERT_TRUE(denied.has_error());
  EXPECT_TRUE(denied.error().details().Is<es::AccessDenied>());
  EXPECT_TRUE(answers[UuidText(1004)].error().details().Is<es::Timeout>());
  es::MaximumAppendSizeExceeded too_big;
  ASSERT_TRUE(answers[UuidText(1005)].error().details().UnpackTo(&too_big));
  EXPECT_GT(too_big.maxappendsize(), 0u);
  for (const char* stream : {"order-b3", "order-b4", "order-b5"}) {
    EXPECT_TRUE(Read(admin, StreamRead(stream, false, 10)).answers.at(0).has_stream_not_found())
        << stream << ": nothing written";
  }
}

// An append refused at its first chunk (here: no options) is answered once, not once per chunk;
// the call goes on serving other appends.
TEST_F(EsdbStreamsTest, ARefusedBatchAppendIsAnsweredOnceForAllItsChunks) {
  grpc::ClientContext context;
  Prepare(&context, bot);
  auto call = stub->BatchAppend(&context);
  for (int i = 0; i < 3; ++i) {
    streams::BatchAppendReq chunk;
    chunk.mutable_correlation_id()->set_string(UuidText(7001));
    FillProposed({"OrderCreated", "{}"}, ++event_counter_, chunk.add_proposed_messages());
    chunk.set_is_final(i == 2);
    ASSERT_TRUE(call->Write(chunk));
  }
  ASSERT_TRUE(call->Write(OneEventBatch(7002, "order-r7", ++event_counter_)));
  call->WritesDone();
  std::vector<streams::BatchAppendResp> answers;
  streams::BatchAppendResp answer;
  while (call->Read(&answer)) answers.push_back(answer);
  ASSERT_TRUE(call->Finish().ok());
  ASSERT_EQ(answers.size(), 2u);
  EXPECT_EQ(answers[0].correlation_id().string(), UuidText(7001));
  EXPECT_TRUE(answers[0].has_error()) << answers[0].DebugString();
  EXPECT_EQ(answers[1].correlation_id().string(), UuidText(7002));
  EXPECT_TRUE(answers[1].has_success()) << answers[1].DebugString();
}

// A call remembers at most 8 refused appends whose chunks are still coming; a ninth ends the
// call, so that a forgotten one's later chunk (with options) could never open a new append of
// its correlation id and write part of what was refused.
TEST_F(EsdbStreamsTest, ANinthUnfinishedRefusedBatchAppendEndsTheCall) {
  grpc::ClientContext context;
  Prepare(&context, admin);
  auto call = stub->BatchAppend(&context);
  for (int i = 0; i < 9; ++i) {
    streams::BatchAppendReq refused;  // no options: refused, and never finished
    refused.mutable_correlation_id()->set_string(UuidText(7300 + i));
    FillProposed({"OrderCreated", "{}"}, ++event_counter_, refused.add_proposed_messages());
    refused.set_is_final(false);
    if (!call->Write(refused)) break;
  }
  std::vector<streams::BatchAppendResp> answers;
  streams::BatchAppendResp answer;
  while (call->Read(&answer)) answers.push_back(answer);
  EXPECT_EQ(answers.size(), 9u) << "each refused append answered once";
  const grpc::Status status = call->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << status.error_message();
  EXPECT_NE(status.error_message().find("too many refused batch appends"), std::string::npos);
}

// The newer clients' deadline is a Duration, counted from the batch's first chunk: a batch
// whose last chunk comes after it is answered Timeout and writes nothing; one within it is
// written.
TEST_F(EsdbStreamsTest, BatchAppendHonoursARelativeDeadline) {
  grpc::ClientContext context;
  Prepare(&context, bot);
  auto call = stub->BatchAppend(&context);
  auto chunk = [&](int correlation, const std::string& stream, int64_t deadline_ms, bool last) {
    streams::BatchAppendReq request;
    request.mutable_correlation_id()->set_string(UuidText(2000 + correlation));
    if (deadline_ms >= 0) {
      auto* options = request.mutable_options();
      options->mutable_stream_identifier()->set_stream_name(stream);
      options->mutable_any();
      options->mutable_deadline()->set_seconds(deadline_ms / 1000);
      options->mutable_deadline()->set_nanos(static_cast<int32_t>(deadline_ms % 1000) * 1000000);
    }
    FillProposed({"OrderCreated", "{}"}, ++event_counter_, request.add_proposed_messages());
    request.set_is_final(last);
    return call->Write(request);
  };
  ASSERT_TRUE(chunk(1, "order-d1", 200, false));   // 200 ms from here
  ASSERT_TRUE(chunk(2, "order-d2", 60000, false));  // a minute
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  ASSERT_TRUE(chunk(1, "", -1, true));
  ASSERT_TRUE(chunk(2, "", -1, true));
  call->WritesDone();
  std::map<std::string, streams::BatchAppendResp> answers;
  streams::BatchAppendResp answer;
  while (call->Read(&answer)) answers[answer.correlation_id().string()] = answer;
  ASSERT_TRUE(call->Finish().ok());
  ASSERT_EQ(answers.size(), 2u);
  EXPECT_TRUE(answers[UuidText(2001)].error().details().Is<es::Timeout>())
      << answers[UuidText(2001)].DebugString();
  EXPECT_TRUE(answers[UuidText(2002)].has_success()) << answers[UuidText(2002)].DebugString();
  EXPECT_TRUE(Read(admin, StreamRead("order-d1", false, 10)).answers.at(0).has_stream_not_found());
}

// Reads answers until one satisfies `done` (bounded by the call's deadline).
template <class Done>
bool ReadUntil(grpc::ClientReader<streams::ReadResp>* reader, std::vector<streams::ReadResp>* seen,
               Done done) {
  streams::ReadResp answer;
  while (reader->Read(&answer)) {
    seen->push_back(answer);
    if (done(answer)) return true;
  }
  return false;
}

TEST_F(EsdbStreamsTest, SubscriptionConfirmsCatchesUpThenSeesLiveAppend) {
  ASSERT_TRUE(AppendAny(admin, "order-s1", {{"OrderCreated", R"({"n":0})"}}).response.has_success());
  grpc::ClientContext context;
  Prepare(&context, bot, 20000);
  streams::ReadReq request = StreamRead("order-s1", false, 0);
  request.mutable_options()->mutable_subscription();
  auto reader = stub->Read(&context, request);
  std::vector<streams::ReadResp> seen;
  ASSERT_TRUE(ReadUntil(reader.get(), &seen, [](const auto& a) { return a.has_caught_up(); }));
  ASSERT_GE(seen.size(), 3u);
  EXPECT_TRUE(seen[0].has_confirmation());
  EXPECT_FALSE(seen[0].confirmation().subscription_id().empty());
  ASSERT_TRUE(seen[1].has_event());
  EXPECT_EQ(seen[1].event().event().stream_revision(), 0u);

  ASSERT_TRUE(AppendAny(admin, "order-s1", {{"OrderCreated", R"({"n":1})"}}).response.has_success());
  seen.clear();
  ASSERT_TRUE(ReadUntil(reader.get(), &seen, [](const auto& a) { return a.has_event(); }));
  EXPECT_EQ(seen.back().event().event().stream_revision(), 1u);
  EXPECT_EQ(seen.back().event().event().data(), R"({"n":1})");
  context.TryCancel();
  reader->Finish();

  // A reader without `subscribe` is refused with access-denied.
  grpc::ClientContext reader_context;
  Prepare(&reader_context, "Bearer " + env.TokenA("EdDSA", "reader"));
  auto refused = stub->Read(&reader_context, request);
  streams::ReadResp answer;
  EXPECT_FALSE(refused->Read(&answer));
  EXPECT_EQ(refused->Finish().error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(Trailer(reader_context, "exception"), "access-denied");
}

TEST_F(EsdbStreamsTest, FilteredAllSubscriptionSeesOnlyMatchingLiveEventsAndCheckpoints) {
  grpc::ClientContext context;
  Prepare(&context, admin, 20000);
  streams::ReadReq request;
  auto* options = request.mutable_options();
  options->mutable_all()->mutable_end();
  options->mutable_subscription();
  options->mutable_filter()->mutable_stream_identifier()->add_prefix("order-live");
  options->mutable_filter()->set_max(1);  // a checkpoint after every event considered
  options->mutable_filter()->set_checkpointintervalmultiplier(1);
  options->mutable_uuid_option()->mutable_string();
  auto reader = stub->Read(&context, request);
  std::vector<streams::ReadResp> seen;
  ASSERT_TRUE(ReadUntil(reader.get(), &seen, [](const auto& a) { return a.has_caught_up(); }));
  EXPECT_TRUE(seen[0].has_confirmation());

  ASSERT_TRUE(AppendAny(admin, "invoice-live", {{"InvoiceSent", "{}"}}).response.has_success());
  ASSERT_TRUE(AppendAny(admin, "order-live-1", {{"OrderCreated", "{}"}}).response.has_success());
  seen.clear();
  bool event_seen = false, checkpoint_seen = false;
  ASSERT_TRUE(ReadUntil(reader.get(), &seen, [&](const auto& a) {
    event_seen = event_seen || a.has_event();
    checkpoint_seen = checkpoint_seen || a.has_checkpoint();
    return event_seen && checkpoint_seen;
  }));
  for (const auto& a : seen) {
    if (a.has_event()) {
      EXPECT_EQ(a.event().event().stream_identifier().stream_name(), "order-live-1");
    }
  }
  // The skipped invoice event was considered too: a checkpoint at or after its position.
  EXPECT_TRUE(seen.front().has_checkpoint()) << seen.front().DebugString();
  context.TryCancel();
  reader->Finish();
}

// A read that scans many pages without an event to send (4-event pages here, so the scan
// crosses many turns) continues off the gRPC callback threads, turn by turn, and still answers
// exactly what it would have: the matching events, in order, up to the count.
class EsdbLongScanTest : public EsdbStreamsTest {
 protected:
  void SetUp() override { Start("[limits]\nread_batch_max = 4\n"); }
};

TEST_F(EsdbLongScanTest, AFilteredReadThatFindsLittleIsAnsweredInFull) {
  for (int i = 0; i < 12; ++i) {
    std::vector<NewEvent> batch;
    for (int j = 0; j < 25; ++j) batch.push_back({"InvoiceSent", "{}"});
    ASSERT_TRUE(AppendAny(admin, "invoice-l" + std::to_string(i), batch).response.has_success());
  }
  ASSERT_TRUE(AppendAny(admin, "order-l1", {{"OrderCreated", "{}"}}).response.has_success());
  ASSERT_TRUE(AppendAny(admin, "invoice-l99", {{"InvoiceSent", "{}"}}).response.has_success());
  ASSERT_TRUE(AppendAny(admin, "order-l1", {{"OrderCancelled", "{}"}}).response.has_success());
  auto request = AllRead(100);
  request.mutable_options()->mutable_filter()->mutable_stream_identifier()->add_prefix("order-l");
  request.mutable_options()->mutable_filter()->mutable_count();
  auto found = Read(admin, request);
  ASSERT_TRUE(found.status.ok()) << found.status.error_message();
  ASSERT_EQ(found.Events().size(), 2u);
  EXPECT_EQ(found.Events()[0].metadata().at("type"), "OrderCreated");
  EXPECT_EQ(found.Events()[1].metadata().at("type"), "OrderCancelled");
  // A caller who may read none of it (bot reads order-* only): a scan of 300 events, no answer.
  auto none = AllRead(100);
  none.mutable_options()->mutable_filter()->mutable_stream_identifier()->add_prefix("invoice-");
  none.mutable_options()->mutable_filter()->mutable_count();
  const auto turns = [&] {
    auto metrics = ParseOrFail(HttpBody(HttpGet(env.server().admin_port(), "/metrics")));
    return metrics.Value("cairn_esdb_long_scan_turns_total");
  };
  const double turns_before = turns();
  auto nothing = Read(bot, none);
  ASSERT_TRUE(nothing.status.ok()) << nothing.status.error_message();
  EXPECT_TRUE(nothing.Events().empty());
  // 300 events in 4-event pages: after 8 pages without an answer, the scan went on in turns of
  // 8 pages on the scan threads, not on the gRPC callback thread.
  EXPECT_GE(turns() - turns_before, 4.0);
}

// Engine reads end early by size (limits.read_size_bytes_max, its 64 KiB minimum here; each
// event is ~8 KiB, so a read holds ~8 events). Forwards a page only gets shorter; backwards a
// short page would leave a hole below the top of the range, so the top is read again. Every
// event comes exactly once, in order, both ways, for $all and for a stream.
class EsdbSizeBoundedReadTest : public EsdbStreamsTest {
 protected:
  void SetUp() override { Start("[limits]\nread_size_bytes_max = 65536\n"); }
};

TEST_F(EsdbSizeBoundedReadTest, LargeEventsAreReadInFullAndInOrderBothWays) {
  constexpr int kEvents = 60;
  for (int i = 0; i < kEvents; i += 10) {
    std::vector<NewEvent> batch;
    for (int j = i; j < i + 10; ++j) {
      batch.push_back({"OrderCreated", "{\"n\":" + std::to_string(j) + ",\"pad\":\"" +
                                           std::string(8000, 'p') + "\"}"});
    }
    ASSERT_TRUE(AppendAny(admin, "order-big", batch).response.has_success());
  }
  const auto numbers = [](const ReadOutcome& read) {
    std::vector<int> out;
    for (const auto& e : read.Events()) out.push_back(std::stoi(e.data().substr(5)));
    return out;
  };
  std::vector<int> ascending(kEvents), descending(kEvents);
  for (int i = 0; i < kEvents; ++i) ascending[i] = i, descending[i] = kEvents - 1 - i;

  auto all_forwards = Read(admin, AllRead(1000));
  ASSERT_TRUE(all_forwards.status.ok()) << all_forwards.status.error_message();
  EXPECT_EQ(numbers(all_forwards), ascending);
  auto backwards = AllRead(1000);
  backwards.mutable_options()->mutable_all()->mutable_end();
  backwards.mutable_options()->set_read_direction(streams::ReadReq::Options::Backwards);
  auto all_backwards = Read(admin, backwards);
  ASSERT_TRUE(all_backwards.status.ok()) << all_backwards.status.error_message();
  EXPECT_EQ(numbers(all_backwards), descending);
  auto stream_forwards = Read(admin, StreamRead("order-big", false, 1000));
  ASSERT_TRUE(stream_forwards.status.ok()) << stream_forwards.status.error_message();
  EXPECT_EQ(numbers(stream_forwards), ascending);
  auto stream_backwards = Read(admin, StreamRead("order-big", true, 1000));
  ASSERT_TRUE(stream_backwards.status.ok()) << stream_backwards.status.error_message();
  EXPECT_EQ(numbers(stream_backwards), descending);
}

// [limits]' append limits are the ones EventStoreDB clients meet and are told of: an append over
// them is refused (nothing written) with the configured size in `maximum-append-size`.
class EsdbAppendLimitTest : public EsdbStreamsTest {
 protected:
  void SetUp() override {
    Start("[limits]\nevent_size_bytes_max = 2048\nbatch_size_bytes_max = 4096\nbatch_events_max = 3\n");
  }
};

TEST_F(EsdbAppendLimitTest, AppendsOverTheConfiguredLimitsAreRefusedNamingThem) {
  const std::string pad(1500, 'p');
  const NewEvent mid{"OrderCreated", "{\"pad\":\"" + pad + "\"}"};
  auto too_big = AppendAny(admin, "order-lim", {mid, mid, mid});  // ~4.5 KB > 4096
  EXPECT_EQ(too_big.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << too_big.status.error_message();
  EXPECT_EQ(too_big.exception, "maximum-append-size-exceeded");
  EXPECT_EQ(too_big.maximum_append_size, "4096");
  const NewEvent small{"OrderCreated", "{}"};
  auto too_many = AppendAny(admin, "order-lim", {small, small, small, small});
  EXPECT_EQ(too_many.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(too_many.exception, "maximum-append-size-exceeded");
  EXPECT_TRUE(Read(admin, StreamRead("order-lim", false, 10)).answers.at(0).has_stream_not_found());
  auto fits = AppendAny(admin, "order-lim", {mid, mid, small});
  EXPECT_TRUE(fits.response.has_success()) << fits.status.error_message();
}

// The ESDB path goes through the same audit trail and metrics as cairn.v1: a denied append and a
// failed Basic login are each one `$audit` record (principal, method, action, stream, type; no
// credential), and the counters move by what the ESDB calls did.
class EsdbAuditTest : public EsdbStreamsTest {
 protected:
  void SetUp() override {
    env.audit_enabled = true;
    Start("[audit]\nenabled = true\n");
  }

  PromExposition Scrape() {
    return ParseOrFail(HttpBody(HttpGet(env.server().admin_port(), "/metrics")));
  }

  // The `$audit` records of `type` (read through cairn.v1 by the admin), waiting (bounded) for
  // at least `count` of them: records are written in the background.
  std::vector<audit::AuditRecord> WaitForAudit(std::string_view type, size_t count) {
    auto reader = env.ClientWith(env.admin_key);
    std::vector<audit::AuditRecord> found;
    for (int attempt = 0; attempt < 100 && found.size() < count; ++attempt) {
      if (attempt > 0) std::this_thread::sleep_for(std::chrono::milliseconds(50));
      found.clear();
      v1::ReadRequest request;
      request.set_stream("$audit");
      (void)reader->Read(request, [&](const v1::ReadResponse& chunk) {
        for (const auto& e : chunk.events()) {
          if (e.type() != type) continue;
          auto record = audit::DecodeAuditRecordJson(e.type(), e.data());
          EXPECT_TRUE(record.ok()) << e.data();
          if (record.ok()) found.push_back(*record);
        }
        return true;
      });
    }
    return found;
  }
};

TEST_F(EsdbAuditTest, DenialsAndFailedLoginsAreAuditedAndCountedLikeCairnV1Calls) {
  const PromExposition before = Scrape();
  ASSERT_TRUE(AppendAny(bot, "order-audit-1", {{"OrderCreated", R"({"n":1})"}}).status.ok());
  auto denied = AppendAny(bot, "order-audit-1", {{"RefundIssued", R"({"n":2})"}});
  ASSERT_EQ(denied.exception, "access-denied");
  ASSERT_EQ(Read(admin, StreamRead("order-audit-1", false, 10)).Events().size(), 1u);
  const std::string wrong_key = env.admin_key.substr(0, env.admin_key.size() - 6) + "AAAAAA";
  auto refused = Read(BasicFor(wrong_key), StreamRead("order-audit-1", false, 10));
  ASSERT_EQ(refused.status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  const PromExposition after = Scrape();  // before the audit reads below, which count as reads

  auto denials = WaitForAudit("$access.denied", 1);
  ASSERT_EQ(denials.size(), 1u);
  EXPECT_EQ(denials[0].principal, "apikey:ci-bot");
  EXPECT_EQ(denials[0].auth_method, "apikey");
  EXPECT_EQ(denials[0].action, "append");
  EXPECT_EQ(denials[0].resource, "order-audit-1");
  EXPECT_EQ(denials[0].event_type, "RefundIssued");
  EXPECT_EQ(denials[0].decision, "deny");
  auto failures = WaitForAudit("$auth.failure", 1);
  ASSERT_EQ(failures.size(), 1u);
  EXPECT_EQ(failures[0].auth_method, "apikey");
  EXPECT_EQ(failures[0].principal, "");
  EXPECT_EQ(failures[0].error_code, "UNAUTHENTICATED");
  EXPECT_EQ(failures[0].reason.find(wrong_key.substr(wrong_key.size() - 12)), std::string::npos);

  auto delta = [&](const std::string& name, const PromLabels& labels = {}) {
    const double b = before.Value(name, labels);
    return after.Value(name, labels) - (std::isnan(b) ? 0 : b);
  };
  EXPECT_EQ(delta("cairn_denials_total", {{"action", "append"}}), 1);
  EXPECT_GE(delta("cairn_append_calls_total"), 1) << "the ESDB append reached the engine";
  EXPECT_EQ(delta("cairn_read_calls_total"), 1) << "the refused read is not a read call";
  EXPECT_EQ(delta("cairn_auth_failures_total", {{"method", "apikey"}, {"reason", "bad_signature"}}),
            1) << "the wrong Basic password is counted as an API key failure";
  for (const std::string& value : after.AllLabelValues()) {
    EXPECT_EQ(value.find("order-audit-1"), std::string::npos) << value;
    EXPECT_EQ(value.find("ci-bot"), std::string::npos) << value;
  }
}

// An append quota ([[quota]] in the policy) holds EventStoreDB appends too: Append and
// BatchAppend past it are refused with RESOURCE_EXHAUSTED (not the size limit's exception, which
// the clients do not retry), nothing is written, and the refusal is audited and counted.
TEST_F(EsdbAuditTest, AnAppendQuotaRefusesAppendAndBatchAppendAlike) {
  WriteFile(env.PolicyPath(), ReadFile(env.PolicyPath()) +
                                  "\n[[quota]]\nprincipal = \"apikey:ci-bot\"\n"
                                  "append_events_per_s = 1\n");
  auto reloaded = env.ClientWith(env.admin_key)->ReloadPolicy();
  ASSERT_TRUE(reloaded.ok()) << reloaded.status().ToString();
  const NewEvent event{"OrderCreated", "{}"};
  // A full bucket (1 event) admits a batch of 11: 10 s of debt.
  const std::vector<NewEvent> eleven(11, event);
  ASSERT_TRUE(AppendAny(bot, "order-quota", eleven).response.has_success());
  auto refused = AppendAny(bot, "order-quota", {event});
  EXPECT_EQ(refused.status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
      << refused.status.error_message();
  EXPECT_NE(refused.status.error_message().find("append quota exceeded"), std::string::npos);
  EXPECT_EQ(refused.exception, "");
  EXPECT_EQ(refused.maximum_append_size, "");

  grpc::ClientContext context;
  Prepare(&context, bot);
  auto call = stub->BatchAppend(&context);
  ASSERT_TRUE(call->Write(OneEventBatch(4000, "order-quota", ++event_counter_)));
  streams::BatchAppendResp answer;
  ASSERT_TRUE(call->Read(&answer));
  ASSERT_TRUE(answer.has_error()) << answer.DebugString();
  EXPECT_EQ(answer.error().code(), static_cast<int>(grpc::StatusCode::RESOURCE_EXHAUSTED));
  v1::ErrorDetail detail;
  ASSERT_TRUE(answer.error().details().UnpackTo(&detail)) << answer.DebugString();
  EXPECT_EQ(detail.reason(), "QUOTA_EXCEEDED");
  EXPECT_GT(detail.retry_after_ms(), 5000u);
  EXPECT_LE(detail.retry_after_ms(), 10'000u);
  call->WritesDone();
  while (call->Read(&answer)) {
  }
  EXPECT_TRUE(call->Finish().ok());
  EXPECT_EQ(Read(admin, StreamRead("order-quota", false, 20)).Events().size(), 11u);

  const PromExposition metrics = Scrape();
  EXPECT_EQ(metrics.Value("cairn_quota_refusals_total", {{"limit", "append_events_per_s"}}), 2);
  auto denials = WaitForAudit("$access.denied", 1);
  ASSERT_EQ(denials.size(), 1u) << "two refusals within the window, one record";
  EXPECT_EQ(denials[0].principal, "apikey:ci-bot");
  EXPECT_EQ(denials[0].action, "append");
  EXPECT_EQ(denials[0].resource, "order-quota");
  EXPECT_EQ(denials[0].rule, "quota[0]");
  EXPECT_EQ(denials[0].error_code, "RESOURCE_EXHAUSTED");
}

// EventStoreDB Reads in progress are bounded like cairn.v1's (limits.reads_per_principal_max,
// limits.reads_max; a budget of their own): undrained reads each hold a page of answers.
class EsdbReadSlotsTest : public EsdbStreamsTest {
 protected:
  void SetUp() override { Start("[limits]\nreads_max = 4\nreads_per_principal_max = 2\n"); }
};

TEST_F(EsdbReadSlotsTest, APrincipalsThirdUndrainedReadIsRefusedAndReadsResumeAfter) {
  AppendLargeEvents(*env.ClientWith(env.admin_key), "bulk-1", 1000);
  std::vector<std::unique_ptr<grpc::ClientContext>> contexts;
  std::vector<std::unique_ptr<grpc::ClientReader<streams::ReadResp>>> held;
  for (int i = 0; i < 2; ++i) {
    contexts.push_back(std::make_unique<grpc::ClientContext>());
    Prepare(contexts.back().get(), admin, 60000);
    held.push_back(stub->Read(contexts.back().get(), AllRead(100000)));
    streams::ReadResp first;
    ASSERT_TRUE(held.back()->Read(&first));  // then stop reading
  }
  grpc::ClientContext third_context;
  Prepare(&third_context, admin, 60000);
  auto third = stub->Read(&third_context, AllRead(100000));
  streams::ReadResp answer;
  EXPECT_FALSE(third->Read(&answer));
  const grpc::Status refused = third->Finish();
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_NE(refused.error_message().find("limits.reads_per_principal_max = 2"), std::string::npos)
      << refused.error_message();
  // cairn.v1 reads have a budget of their own.
  v1::ReadRequest v1_read;
  v1_read.set_stream("bulk-1");
  v1_read.set_limit(1);
  EXPECT_TRUE(env.ClientWith(env.admin_key)->Read(v1_read, [](const v1::ReadResponse&) {
    return true;
  }).ok());

  for (auto& c : contexts) c->TryCancel();
  for (auto& r : held) {
    while (r->Read(&answer)) {
    }
    r->Finish();
  }
  // The slots come back when the server sees the cancellations.
  grpc::StatusCode code = grpc::StatusCode::RESOURCE_EXHAUSTED;
  for (int waited_ms = 0; waited_ms < 30000 && code == grpc::StatusCode::RESOURCE_EXHAUSTED;
       waited_ms += 100) {
    grpc::ClientContext again_context;
    Prepare(&again_context, admin, 60000);
    auto again = stub->Read(&again_context, StreamRead("bulk-1", false, 1));
    while (again->Read(&answer)) {
    }
    code = again->Finish().error_code();
    if (code == grpc::StatusCode::RESOURCE_EXHAUSTED) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  EXPECT_EQ(code, grpc::StatusCode::OK);
}

// A client that stops taking answers, or stops sending an append it has begun, holds memory on the
// server; after limits.write_stall_ms_max its call is cancelled, as a cairn.v1 ReadAll's is.
class EsdbStallTest : public EsdbStreamsTest {
 protected:
  void SetUp() override { Start("[limits]\nwrite_stall_ms_max = 1000\n"); }

  // 1000 events of 20 KB: a read of them all is far beyond any flow window.
  void AppendBulk() { AppendLargeEvents(*env.ClientWith(env.admin_key), "bulk-1", 1000); }

  double Counter(const std::string& name) {
    return ParseOrFail(HttpBody(HttpGet(env.server().admin_port(), "/metrics"))).Value(name);
  }
  // The counter once it reaches `want`, or its value after ~10 s.
  double WaitForCounter(const std::string& name, double want) {
    double value = Counter(name);
    for (int i = 0; i < 100 && !(value >= want); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      value = Counter(name);
    }
    return value;
  }
};

TEST_F(EsdbStallTest, AReadTheClientStopsReadingIsCancelledAfterTheBound) {
  AppendBulk();
  grpc::ClientContext context;
  Prepare(&context, admin, 60000);
  auto reader = stub->Read(&context, AllRead(100000));
  streams::ReadResp first;
  ASSERT_TRUE(reader->Read(&first));  // then stop reading
  EXPECT_EQ(WaitForCounter("cairn_read_stalls_cancelled_total", 1), 1.0);
  streams::ReadResp more;
  while (reader->Read(&more)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
}

TEST_F(EsdbStallTest, AnAppendTheClientStopsSendingIsCancelledAndWritesNothing) {
  grpc::ClientContext context;
  streams::AppendResp response;
  auto writer = OpenAppend(&context, &response, admin, "order-stalled", 60000);
  streams::AppendReq message;
  FillProposed({"OrderCreated", R"({"n":1})"}, ++event_counter_, message.mutable_proposed_message());
  ASSERT_TRUE(writer->Write(message));  // then neither more nor a half-close
  EXPECT_EQ(WaitForCounter("cairn_esdb_append_stalls_cancelled_total", 1), 1.0);
  EXPECT_EQ(writer->Finish().error_code(), grpc::StatusCode::CANCELLED);
  auto read = Read(admin, StreamRead("order-stalled", false, 10));
  EXPECT_TRUE(read.Events().empty()) << "the stalled append wrote nothing";
  // An append sent promptly is not touched by the watch.
  EXPECT_TRUE(AppendAny(admin, "order-stalled", {{"OrderCreated", R"({"n":2})"}}).status.ok());
  EXPECT_EQ(Read(admin, StreamRead("order-stalled", false, 10)).Events().size(), 1u);
}

// Slow is not stalled: an Append and a BatchAppend append sent a message every 300 ms for 3 s
// (three times the bound) complete untouched. (Reads are not tried here: a write waits for the
// client's HTTP/2 window updates, which a slow reader sends seconds apart, so a 1 s bound would
// cut a steady reader; the renewal itself is RenewedWatch's unit test.)
TEST_F(EsdbStallTest, SlowButSteadyAppendsAreNotCancelled) {
  {
    grpc::ClientContext context;
    streams::AppendResp response;
    auto writer = OpenAppend(&context, &response, admin, "order-slow", 60000);
    for (int i = 0; i < 10; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
      streams::AppendReq message;
      FillProposed({"OrderCreated", "{}"}, ++event_counter_, message.mutable_proposed_message());
      ASSERT_TRUE(writer->Write(message));
    }
    writer->WritesDone();
    EXPECT_TRUE(writer->Finish().ok());
    EXPECT_TRUE(response.has_success()) << response.DebugString();
  }
  {
    grpc::ClientContext context;
    Prepare(&context, admin, 60000);
    auto call = stub->BatchAppend(&context);
    for (int i = 0; i < 10; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
      streams::BatchAppendReq chunk = OneEventBatch(6001, "order-slow-batch", ++event_counter_);
      chunk.set_is_final(i == 9);
      ASSERT_TRUE(call->Write(chunk));
    }
    streams::BatchAppendResp answer;
    ASSERT_TRUE(call->Read(&answer));
    EXPECT_TRUE(answer.has_success()) << answer.DebugString();
    call->WritesDone();
    EXPECT_TRUE(call->Finish().ok());
  }
  EXPECT_EQ(Counter("cairn_esdb_append_stalls_cancelled_total"), 0.0);
  EXPECT_EQ(Read(admin, StreamRead("order-slow", false, 20)).Events().size(), 10u);
  EXPECT_EQ(Read(admin, StreamRead("order-slow-batch", false, 20)).Events().size(), 10u);
}

// The clients keep a BatchAppend call open and idle between appends: that is not a stall. Only
// a call that stops in the middle of an append (chunks held, no final one) is cancelled.
TEST_F(EsdbStallTest, ABatchAppendIsCancelledOnlyWhileAnAppendOfItIsUnfinished) {
  grpc::ClientContext context;
  Prepare(&context, admin, 60000);
  auto call = stub->BatchAppend(&context);
  ASSERT_TRUE(call->Write(OneEventBatch(5001, "order-b1", ++event_counter_)));
  streams::BatchAppendResp answer;
  ASSERT_TRUE(call->Read(&answer));
  EXPECT_TRUE(answer.has_success()) << answer.DebugString();
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));  // idle past the bound
  EXPECT_EQ(Counter("cairn_esdb_append_stalls_cancelled_total"), 0.0);
  ASSERT_TRUE(call->Write(OneEventBatch(5002, "order-b1", ++event_counter_)));
  ASSERT_TRUE(call->Read(&answer)) << "the idle call still serves";
  EXPECT_TRUE(answer.has_success()) << answer.DebugString();

  streams::BatchAppendReq partial = OneEventBatch(5003, "order-b2", ++event_counter_);
  partial.set_is_final(false);
  ASSERT_TRUE(call->Write(partial));  // and never the rest
  EXPECT_EQ(WaitForCounter("cairn_esdb_append_stalls_cancelled_total", 1), 1.0);
  while (call->Read(&answer)) {
  }
  EXPECT_EQ(call->Finish().error_code(), grpc::StatusCode::CANCELLED);
  EXPECT_TRUE(Read(admin, StreamRead("order-b2", false, 10)).Events().empty());
  EXPECT_EQ(Read(admin, StreamRead("order-b1", false, 10)).Events().size(), 2u);
}

// Empty chunks bring an unfinished append no nearer its end: they do not keep it from the watch.
TEST_F(EsdbStallTest, EmptyChunksDoNotKeepAnUnfinishedBatchAppendOpen) {
  grpc::ClientContext context;
  Prepare(&context, admin, 60000);
  auto call = stub->BatchAppend(&context);
  streams::BatchAppendReq partial = OneEventBatch(5101, "order-e1", ++event_counter_);
  partial.set_is_final(false);
  ASSERT_TRUE(call->Write(partial));
  streams::BatchAppendReq empty;
  empty.mutable_correlation_id()->set_string(UuidText(5101));
  empty.set_is_final(false);
  bool cancelled = false;
  for (int i = 0; i < 40 && !cancelled; ++i) {  // every 100 ms, for up to 4 s (the bound is 1 s)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    cancelled = !call->Write(empty) || Counter("cairn_esdb_append_stalls_cancelled_total") >= 1;
  }
  EXPECT_TRUE(cancelled) << "empty chunks renewed the watch";
  EXPECT_EQ(WaitForCounter("cairn_esdb_append_stalls_cancelled_total", 1), 1.0);
  streams::BatchAppendResp answer;
  while (call->Read(&answer)) {
  }
  EXPECT_EQ(call->Finish().error_code(), grpc::StatusCode::CANCELLED);
  EXPECT_TRUE(Read(admin, StreamRead("order-e1", false, 10)).Events().empty());
}

// A client that keeps an append unfinished by sending a little now and then (each message
// renews the stall watch) holds its share of the unfinished-append budget: after
// limits.append_open_ms_max the append is refused and nothing of it is written.
class EsdbAppendOpenTest : public EsdbStallTest {
 protected:
  void SetUp() override { Start("[limits]\nwrite_stall_ms_max = 1000\nappend_open_ms_max = 1500\n"); }
};

TEST_F(EsdbAppendOpenTest, AnAppendKeptOpenPastTheLimitIsRefusedAndWritesNothing) {
  grpc::ClientContext context;
  streams::AppendResp response;
  auto writer = OpenAppend(&context, &response, admin, "order-trickle", 60000);
  bool refused = false;
  for (int i = 0; i < 20 && !refused; ++i) {  // every 300 ms, for up to 6 s (the limit is 1.5 s)
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    streams::AppendReq message;
    FillProposed({"OrderCreated", "{}"}, ++event_counter_, message.mutable_proposed_message());
    refused = !writer->Write(message);
  }
  EXPECT_TRUE(refused) << "the trickled append was never refused";
  const grpc::Status status = writer->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << status.error_message();
  EXPECT_NE(status.error_message().find("limits.append_open_ms_max (1500 ms)"), std::string::npos)
      << status.error_message();
  EXPECT_EQ(Counter("cairn_esdb_appends_open_too_long_total"), 1.0);
  EXPECT_EQ(Counter("cairn_esdb_append_stalls_cancelled_total"), 0.0) << "refused, not stalled";
  EXPECT_TRUE(Read(admin, StreamRead("order-trickle", false, 30)).Events().empty());
  EXPECT_TRUE(AppendAny(admin, "order-trickle", {{"OrderCreated", "{}"}}).status.ok());
  EXPECT_EQ(Read(admin, StreamRead("order-trickle", false, 30)).Events().size(), 1u);
}

// On a BatchAppend call, only the append kept open is refused (answered once, its later chunks
// dropped); the call and the appends sent promptly on it go on.
TEST_F(EsdbAppendOpenTest, ABatchAppendKeptOpenPastTheLimitIsAnsweredAndTheCallServesOn) {
  grpc::ClientContext context;
  Prepare(&context, admin, 60000);
  auto call = stub->BatchAppend(&context);
  streams::BatchAppendReq chunk = OneEventBatch(7001, "order-trickle-b", ++event_counter_);
  chunk.set_is_final(false);
  ASSERT_TRUE(call->Write(chunk));
  for (int i = 0; i < 7; ++i) {  // 2.1 s of chunks, 300 ms apart: past the 1.5 s limit
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    chunk = OneEventBatch(7001, "order-trickle-b", ++event_counter_);
    chunk.set_is_final(false);
    ASSERT_TRUE(call->Write(chunk));
  }
  streams::BatchAppendResp answer;
  ASSERT_TRUE(call->Read(&answer));
  EXPECT_EQ(answer.correlation_id().string(), UuidText(7001));
  ASSERT_TRUE(answer.has_error()) << answer.DebugString();
  EXPECT_EQ(answer.error().code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_NE(answer.error().message().find("append_open_ms_max"), std::string::npos);
  // Its final chunk is dropped unanswered; the next append on the call is answered.
  ASSERT_TRUE(call->Write(OneEventBatch(7001, "order-trickle-b", ++event_counter_)));
  ASSERT_TRUE(call->Write(OneEventBatch(7002, "order-prompt-b", ++event_counter_)));
  ASSERT_TRUE(call->Read(&answer));
  EXPECT_EQ(answer.correlation_id().string(), UuidText(7002));
  EXPECT_TRUE(answer.has_success()) << answer.DebugString();
  call->WritesDone();
  EXPECT_TRUE(call->Finish().ok());
  EXPECT_EQ(Counter("cairn_esdb_appends_open_too_long_total"), 1.0);
  EXPECT_TRUE(Read(admin, StreamRead("order-trickle-b", false, 30)).Events().empty());
  EXPECT_EQ(Read(admin, StreamRead("order-prompt-b", false, 30)).Events().size(), 1u);
}

// A call that already remembers as many refused appends as it may (8) cannot have one more
// forgotten: an append that expires then ends the call, so that none of its later chunks can
// open a new append of the same correlation id and write part of what was refused.
TEST_F(EsdbAppendOpenTest, AnExpiredAppendThatCannotBeRememberedEndsTheCall) {
  grpc::ClientContext context;
  Prepare(&context, admin, 60000);
  auto call = stub->BatchAppend(&context);
  for (int i = 0; i < 8; ++i) {  // refused (no options) and never finished: remembered
    streams::BatchAppendReq refused;
    refused.mutable_correlation_id()->set_string(UuidText(7100 + i));
    FillProposed({"OrderCreated", "{}"}, ++event_counter_, refused.add_proposed_messages());
    refused.set_is_final(false);
    ASSERT_TRUE(call->Write(refused));
  }
  streams::BatchAppendReq chunk = OneEventBatch(7200, "order-forgotten", ++event_counter_);
  chunk.set_is_final(false);
  ASSERT_TRUE(call->Write(chunk));
  bool ended = false;
  for (int i = 0; i < 20 && !ended; ++i) {  // 300 ms apart: past the 1.5 s limit
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    chunk = OneEventBatch(7200, "order-forgotten", ++event_counter_);
    chunk.set_is_final(false);
    ended = !call->Write(chunk);
  }
  streams::BatchAppendResp answer;
  int refusals = 0;
  while (call->Read(&answer)) {
    EXPECT_TRUE(answer.has_error()) << answer.DebugString();
    ++refusals;
  }
  EXPECT_EQ(refusals, 8) << "the eight refused appends, each answered once";
  const grpc::Status status = call->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << status.error_message();
  EXPECT_NE(status.error_message().find("append_open_ms_max"), std::string::npos);
  EXPECT_TRUE(Read(admin, StreamRead("order-forgotten", false, 30)).Events().empty());
}

// An admin's ESDB group act is one `$admin` record with its outcome, as on cairn.v1 — also when
// the request names no valid group (the act is refused before it is judged, and still recorded).
TEST_F(EsdbAuditTest, AnEsdbGroupActWithAnInvalidNameIsAnAuditedFailure) {
  namespace ps = event_store::client::persistent_subscriptions;
  auto groups = ps::PersistentSubscriptions::NewStub(client->channel());
  for (const std::string& name : {std::string(""), std::string("billing")}) {
    ps::CreateReq request;
    request.mutable_options()->set_group_name(name);
    request.mutable_options()->mutable_stream_identifier()->set_stream_name("order-9");
    request.mutable_options()->mutable_settings()->set_max_retry_count(10);
    request.mutable_options()->mutable_settings()->set_message_timeout_ms(30000);
    request.mutable_options()->mutable_settings()->set_named_consumer_strategy(
        ps::CreateReq::RoundRobin);
    grpc::ClientContext context;
    Prepare(&context, admin);
    ps::CreateResp response;
    const grpc::Status s = groups->Create(&context, request, &response);
    EXPECT_EQ(s.error_code(), name.empty() ? grpc::StatusCode::INVALID_ARGUMENT
                                           : grpc::StatusCode::OK) << s.error_message();
  }
  auto acts = WaitForAudit("$admin", 2);
  ASSERT_EQ(acts.size(), 2u);
  EXPECT_EQ(acts[0].action, "group.create");
  EXPECT_EQ(acts[0].outcome, "failure");
  EXPECT_EQ(acts[0].error_code, "INVALID_ARGUMENT");
  EXPECT_EQ(acts[0].resource, "");
  EXPECT_EQ(acts[0].principal, "apikey:admin");
  EXPECT_EQ(acts[1].action, "group.create");
  EXPECT_EQ(acts[1].outcome, "success");
  EXPECT_FALSE(acts[1].resource.empty());  // the group's cairn name
  const std::pair<std::string, std::string> esdb_group{"esdb_group", "billing"};
  EXPECT_NE(std::find(acts[1].details.begin(), acts[1].details.end(), esdb_group),
            acts[1].details.end());
}

}  // namespace
}  // namespace cairn::testing

