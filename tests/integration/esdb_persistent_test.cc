// EventStoreDB persistent subscriptions (event_store.client.persistent_subscriptions) on cairn's
// consumer groups, through the real server over TLS with API keys as Basic credentials (issue 9):
// create to a stream and to $all, connect, receive, ack, nack retry → redelivered, nack park →
// parked, replay parked → redelivered, GetInfo/List, delete, the `exception` trailers the clients
// recognise, and cairn's authorization underneath (admin for administration, subscribe and the
// per-event-type policy for consumers), deliveries taken back after a reload revokes their type,
// and a consumer that stops reading dropped from its group.
#include <gtest/gtest.h>

#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include <grpcpp/grpcpp.h>

#include "auth/api_key.h"
#include "cairn/groups.h"
#include "common/bytes.h"
#include "event_store/client/persistent.grpc.pb.h"
#include "server_env.h"

namespace cairn::testing {
namespace CAIRN_UNITY_ID {

namespace ps = event_store::client::persistent_subscriptions;
using event_store::client::UUID;

// A role that may subscribe to order streams but only see OrderCreated events, and its binding.
constexpr char kTypedPolicy[] = R"(
[[role]]
name = "created-only"
grants = [ { actions = ["read", "subscribe"], streams = ["order-*"], event_types = ["OrderCreated"] } ]

[[binding]]
principal = "jwt:typed"
roles = ["created-only"]
)";

constexpr int64_t kWaitMs = 5000;
constexpr int64_t kQuietMs = 700;

std::string Basic(const std::string& id, const std::string& key) {
  return "Basic " + Base64Encode(id + ":" + key);
}

std::string Trailer(const grpc::ClientContext& context, const std::string& name) {
  const auto& trailers = context.GetServerTrailingMetadata();
  auto it = trailers.find(name);
  return it == trailers.end() ? "" : std::string(it->second.data(), it->second.size());
}

// Names the group of a request: (stream, group), or ($all, group) for nullopt.
template <class Options>
void NameGroup(Options* options, const std::optional<std::string>& stream,
               const std::string& group) {
  options->set_group_name(group);
  if (stream) {
    options->mutable_stream_identifier()->set_stream_name(*stream);
  } else {
    options->mutable_all();
  }
}

// One Read call: a thread reads the answers into a queue, so that waits are bounded. With
// `reads_max` it stops reading after that many answers (as a consumer that stalls) until Resume()
// or Close().
class Consumer {
 public:
  Consumer(ps::PersistentSubscriptions::Stub* stub, const std::string& authorization,
           const std::optional<std::string>& stream, const std::string& group,
           int32_t buffer_size = 10, size_t reads_max = SIZE_MAX)
      : reads_max_(reads_max) {
    context_.AddMetadata("authorization", authorization);
    context_.AddMetadata("connection-name", "consumer-" + group);
    call_ = stub->Read(&context_);
    ps::ReadReq request;
    auto* options = request.mutable_options();
    NameGroup(options, stream, group);
    options->set_buffer_size(buffer_size);
    options->mutable_uuid_option()->mutable_string();
    call_->Write(request);
    reader_ = std::thread([this] { ReadAll(); });
  }
  ~Consumer() { Close(); }

  // The next answer, or nullopt after `timeout_ms` or when the call ended.
  std::optional<ps::ReadResp> Next(int64_t timeout_ms = kWaitMs) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms), [&] { return !in_.empty() || done_; });
    if (in_.empty()) return std::nullopt;
    ps::ReadResp next = std::move(in_.front());
    in_.pop_front();
    return next;
  }
  // The next event, skipping the confirmation.
  std::optional<ps::ReadResp::ReadEvent> NextEvent(int64_t timeout_ms = kWaitMs) {
    for (int i = 0; i < 2; ++i) {
      auto next = Next(timeout_ms);
      if (!next) return std::nullopt;
      if (next->has_event()) return next->event();
    }
    return std::nullopt;
  }
  bool Ack(const std::vector<ps::ReadResp::ReadEvent>& events) {
    ps::ReadReq request;
    for (const auto& e : events) *request.mutable_ack()->add_ids() = e.event().id();
    return call_->Write(request);
  }
  bool Nack(ps::ReadReq::Nack::Action action, const ps::ReadResp::ReadEvent& event) {
    ps::ReadReq request;
    request.mutable_nack()->set_action(action);
    request.mutable_nack()->set_reason("test");
    *request.mutable_nack()->add_ids() = event.event().id();
    return call_->Write(request);
  }
  // Waits for the end of the call (bounded) and returns its status.
  grpc::Status Ended(int64_t timeout_ms = kWaitMs) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms), [&] { return done_; });
    if (!done_) return grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "still running");
    return status_;
  }
  std::string Exception() {
    Ended();
    return Trailer(context_, "exception");
  }
  void Resume() {
    std::lock_guard<std::mutex> lock(mu_);
    reads_max_ = SIZE_MAX;
    cv_.notify_all();
  }
  void Close() {
    if (closed_) return;
    closed_ = true;
    context_.TryCancel();
    Resume();
    reader_.join();
  }

 private:
  void ReadAll() {
    ps::ReadResp response;
    for (size_t reads = 0; call_->Read(&response);) {
      std::unique_lock<std::mutex> lock(mu_);
      in_.push_back(response);
      cv_.notify_all();
      ++reads;
      cv_.wait(lock, [&] { return reads < reads_max_; });
    }
    grpc::Status status = call_->Finish();
    std::lock_guard<std::mutex> lock(mu_);
    status_ = status;
    done_ = true;
    cv_.notify_all();
  }

  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReaderWriter<ps::ReadReq, ps::ReadResp>> call_;
  std::thread reader_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<ps::ReadResp> in_;
  bool done_ = false;
  bool closed_ = false;
  size_t reads_max_;  // guarded by mu_
  grpc::Status status_;
};

class EsdbPersistentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    WriteFile(env.PolicyPath(), ReadFile(env.PolicyPath()) + kTypedPolicy);
    ASSERT_TRUE(env.Start()) << env.server().output();
    cairn_admin = env.ClientWith(env.admin_key);
    stub = ps::PersistentSubscriptions::NewStub(cairn_admin->channel());
    admin = Basic("admin", env.admin_key);
    bot = Basic("ci-bot", env.bot_key);
  }

  void Append(const std::string& stream, const std::string& type, int n = 1) {
    for (int i = 0; i < n; ++i) {
      v1::AppendRequest request;
      request.set_stream(stream);
      auto* e = request.add_events();
      e->set_type(type);
      e->set_data("{\"n\":" + std::to_string(i) + "}");
      auto r = cairn_admin->Append(request);
      ASSERT_TRUE(r.ok()) << r.status().ToString();
    }
  }

  // Polls GetInfo until `done` holds (at most ~10 s); the last answer.
  template <typename Done>
  Result<ps::SubscriptionInfo> WaitInfo(const std::string& stream, const std::string& group,
                                        Done done) {
    Result<ps::SubscriptionInfo> info = Status::Internal("not asked");
    for (int i = 0; i < 200; ++i) {
      info = Info(stream, group);
      if (info.ok() && done(*info)) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return info;
  }
  // Creates a group on `stream` (nullopt: $all) from the start; returns the call's status and
  // its `exception` trailer.
  std::pair<grpc::Status, std::string> Create(const std::optional<std::string>& stream,
                                              const std::string& group,
                                              const std::string& authorization,
                                              ps::CreateReq request = {}) {
    auto* options = request.mutable_options();
    options->set_group_name(group);
    if (stream) {
      options->mutable_stream_identifier()->set_stream_name(*stream);
      options->mutable_settings()->set_revision(0);
    } else if (!options->has_all()) {
      options->mutable_all()->mutable_start();
    }
    auto* settings = options->mutable_settings();
    if (settings->max_retry_count() == 0) settings->set_max_retry_count(10);
    if (settings->message_timeout_ms() == 0) settings->set_message_timeout_ms(30000);
    settings->set_named_consumer_strategy(ps::CreateReq::RoundRobin);
    grpc::ClientContext context;
    context.AddMetadata("authorization", authorization);
    ps::CreateResp response;
    grpc::Status s = stub->Create(&context, request, &response);
    return {s, Trailer(context, "exception")};
  }

  std::pair<grpc::Status, std::string> Delete(const std::optional<std::string>& stream,
                                              const std::string& group) {
    ps::DeleteReq request;
    NameGroup(request.mutable_options(), stream, group);
    grpc::ClientContext context;
    context.AddMetadata("authorization", admin);
    ps::DeleteResp response;
    grpc::Status s = stub->Delete(&context, request, &response);
    return {s, Trailer(context, "exception")};
  }

  Result<ps::SubscriptionInfo> Info(const std::optional<std::string>& stream,
                                    const std::string& group, std::string* exception = nullptr) {
    ps::GetInfoReq request;
    NameGroup(request.mutable_options(), stream, group);
    grpc::ClientContext context;
    context.AddMetadata("authorization", admin);
    ps::GetInfoResp response;
    grpc::Status s = stub->GetInfo(&context, request, &response);
    if (exception) *exception = Trailer(context, "exception");
    if (!s.ok()) return Status::Internal(s.error_message());
    return response.subscription_info();
  }

  // GetInfo's parked count once it is `expected` (parking and acks are asynchronous), or the
  // last one seen after ~5 s.
  int64_t ParkedCount(const std::string& stream, const std::string& group, int64_t expected) {
    int64_t last = -1;
    for (int i = 0; i < 50 && last != expected; ++i) {
      if (i > 0) std::this_thread::sleep_for(std::chrono::milliseconds(100));
      auto info = Info(stream, group);
      if (info.ok()) last = info->parked_message_count();
    }
    return last;
  }

  grpc::Status ReplayParked(const std::string& stream, const std::string& group) {
    ps::ReplayParkedReq request;
    request.mutable_options()->set_group_name(group);
    request.mutable_options()->mutable_stream_identifier()->set_stream_name(stream);
    request.mutable_options()->mutable_no_limit();
    grpc::ClientContext context;
    context.AddMetadata("authorization", admin);
    ps::ReplayParkedResp response;
    return stub->ReplayParked(&context, request, &response);
  }

  ServerEnv env;
  std::unique_ptr<Client> cairn_admin;
  std::unique_ptr<ps::PersistentSubscriptions::Stub> stub;
  std::string admin, bot;
};

TEST_F(EsdbPersistentTest, AStreamGroupDeliversConfirmsAndForgetsAckedEventsAcrossConnections) {
  ASSERT_TRUE(Create("order-1", "billing", admin).first.ok());
  Append("order-1", "OrderCreated", 3);
  Append("order-2", "OrderCreated");  // another stream: not the group's
  auto consumer = std::make_unique<Consumer>(stub.get(), admin, "order-1", "billing");
  auto first = consumer->Next();
  ASSERT_TRUE(first && first->has_subscription_confirmation());
  EXPECT_EQ(first->subscription_confirmation().subscription_id(), "order-1::billing");
  std::vector<ps::ReadResp::ReadEvent> events;
  for (int i = 0; i < 3; ++i) {
    auto e = consumer->NextEvent();
    ASSERT_TRUE(e) << "event " << i;
    EXPECT_EQ(e->event().stream_identifier().stream_name(), "order-1");
    EXPECT_EQ(e->event().metadata().at("type"), "OrderCreated");
    EXPECT_EQ(e->retry_count(), 0);
    EXPECT_EQ(e->event().id().string().size(), 36u);
    events.push_back(*e);
  }
  std::set<uint64_t> revisions;
  for (const auto& e : events) revisions.insert(e.event().stream_revision());
  EXPECT_EQ(revisions, (std::set<uint64_t>{0, 1, 2}));
  EXPECT_FALSE(consumer->NextEvent(kQuietMs)) << "an event of another stream was delivered";
  ASSERT_TRUE(consumer->Ack({events[0], events[2]}));
  // Acks are asynchronous: wait until the group saw them (its in-flight count drops to 1).
  for (int i = 0; i < 50; ++i) {
    auto info = Info("order-1", "billing");
    if (info.ok() && info->total_in_flight_messages() == 1) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  consumer.reset();  // the unacked event goes back to the group

  Consumer again(stub.get(), admin, "order-1", "billing");
  auto redelivered = again.NextEvent();
  ASSERT_TRUE(redelivered);
  EXPECT_EQ(redelivered->event().stream_revision(), 1u);
  EXPECT_FALSE(again.NextEvent(kQuietMs)) << "an acked event was delivered again";
}

TEST_F(EsdbPersistentTest, NackRetryRedeliversNackParkParksAndReplayParkedRedelivers) {
  ASSERT_TRUE(Create("order-7", "shipping", admin).first.ok());
  Append("order-7", "OrderCreated");
  Consumer consumer(stub.get(), admin, "order-7", "shipping");
  auto e = consumer.NextEvent();
  ASSERT_TRUE(e);
  ASSERT_TRUE(consumer.Nack(ps::ReadReq::Nack::Retry, *e));
  auto retried = consumer.NextEvent();
  ASSERT_TRUE(retried) << "nack retry did not redeliver";
  EXPECT_EQ(retried->event().id().string(), e->event().id().string());
  EXPECT_EQ(retried->retry_count(), 1);

  ASSERT_TRUE(consumer.Nack(ps::ReadReq::Nack::Park, *retried));
  EXPECT_FALSE(consumer.NextEvent(kQuietMs)) << "a parked event was delivered again";
  EXPECT_EQ(ParkedCount("order-7", "shipping", 1), 1);

  ASSERT_TRUE(ReplayParked("order-7", "shipping").ok());
  auto replayed = consumer.NextEvent();
  ASSERT_TRUE(replayed) << "replay parked did not redeliver";
  EXPECT_EQ(replayed->event().id().string(), e->event().id().string());
  ASSERT_TRUE(consumer.Ack({*replayed}));
  EXPECT_FALSE(consumer.NextEvent(kQuietMs));
  EXPECT_EQ(ParkedCount("order-7", "shipping", 0), 0) << "an acked replay still counts as parked";
}

TEST_F(EsdbPersistentTest, AnAllGroupFollowsItsStreamPrefixFilterAndNackStopEndsTheConsumer) {
  ps::CreateReq request;
  auto* all = request.mutable_options()->mutable_all();
  all->mutable_start();
  all->mutable_filter()->mutable_stream_identifier()->add_prefix("order-");
  all->mutable_filter()->mutable_count();
  ASSERT_TRUE(Create(std::nullopt, "audit-orders", admin, request).first.ok());
  Append("invoice-1", "InvoiceSent");
  Append("order-9", "OrderCreated");
  Consumer consumer(stub.get(), admin, std::nullopt, "audit-orders");
  auto e = consumer.NextEvent();
  ASSERT_TRUE(e);
  EXPECT_EQ(e->event().stream_identifier().stream_name(), "order-9");
  EXPECT_EQ(e->event().commit_position(), e->event().prepare_position());
  EXPECT_FALSE(consumer.NextEvent(kQuietMs)) << "the filter let another stream through";

  ASSERT_TRUE(consumer.Nack(ps::ReadReq::Nack::Stop, *e));
  EXPECT_TRUE(consumer.Ended().ok()) << "nack stop did not end the consumer";
  Consumer next(stub.get(), admin, std::nullopt, "audit-orders");
  auto again = next.NextEvent();
  ASSERT_TRUE(again) << "the stopped consumer's event did not go back to the group";
  EXPECT_EQ(again->event().id().string(), e->event().id().string());
}

TEST_F(EsdbPersistentTest, GetInfoAndListAnswerInEsdbTerms) {
  ps::CreateReq request;
  request.mutable_options()->mutable_settings()->set_max_retry_count(7);
  request.mutable_options()->mutable_settings()->set_live_buffer_size(123);
  ASSERT_TRUE(Create("order-3", "reports", admin, request).first.ok());
  ASSERT_TRUE(Create(std::nullopt, "everything", admin).first.ok());
  Append("order-3", "OrderCreated", 2);
  Consumer consumer(stub.get(), admin, "order-3", "reports");
  auto first = consumer.NextEvent();
  auto second = consumer.NextEvent();
  ASSERT_TRUE(first && second);
  ASSERT_TRUE(consumer.Ack({*first, *second}));

  // The group's position moves asynchronously: wait (bounded) for the last checkpointed revision.
  Result<ps::SubscriptionInfo> info = Status::NotFound("not asked yet");
  for (int i = 0; i < 50; ++i) {
    info = Info("order-3", "reports");
    if (info.ok() && info->last_checkpointed_event_position() == "1") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->last_checkpointed_event_position(), "1");
  EXPECT_EQ(info->last_known_event_position(), "1");
  EXPECT_EQ(info->event_source(), "order-3");
  EXPECT_EQ(info->group_name(), "reports");
  EXPECT_EQ(info->start_from(), "0");
  EXPECT_EQ(info->max_retry_count(), 7);
  EXPECT_EQ(info->live_buffer_size(), 123);
  EXPECT_EQ(info->message_timeout_milliseconds(), 30000);
  EXPECT_EQ(info->named_consumer_strategy(), "RoundRobin");
  ASSERT_EQ(info->connections_size(), 1);
  EXPECT_EQ(info->connections(0).username(), "admin");
  EXPECT_EQ(info->connections(0).connection_name(), "consumer-reports");
  auto all_info = Info(std::nullopt, "everything");
  ASSERT_TRUE(all_info.ok());
  EXPECT_EQ(all_info->event_source(), "$all");
  EXPECT_EQ(all_info->start_from(), "C:0/P:0");

  grpc::ClientContext context;
  context.AddMetadata("authorization", admin);
  ps::ListReq list;
  list.mutable_options()->mutable_list_all_subscriptions();
  ps::ListResp listed;
  ASSERT_TRUE(stub->List(&context, list, &listed).ok());
  std::set<std::string> names;
  for (const auto& s : listed.subscriptions()) names.insert(s.event_source() + "/" + s.group_name());
  EXPECT_EQ(names, (std::set<std::string>{"order-3/reports", "$all/everything"}));

  grpc::ClientContext none_context;
  none_context.AddMetadata("authorization", admin);
  ps::ListReq for_stream;
  for_stream.mutable_options()->mutable_list_for_stream()->mutable_stream()->set_stream_name("x-1");
  ps::ListResp none;
  EXPECT_EQ(stub->List(&none_context, for_stream, &none).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Trailer(none_context, "exception"), "persistent-subscription-does-not-exist");
}

TEST_F(EsdbPersistentTest, ExistsAndDoesNotExistCarryTheirExceptionTrailers) {
  ASSERT_TRUE(Create("order-4", "dupe", admin).first.ok());
  auto [again, again_exception] = Create("order-4", "dupe", admin);
  EXPECT_EQ(again.error_code(), grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_EQ(again_exception, "persistent-subscription-exists");
  // The same group name on another stream is another group.
  EXPECT_TRUE(Create("order-5", "dupe", admin).first.ok());

  auto [missing, missing_exception] = Delete("order-4", "nope");
  EXPECT_EQ(missing.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(missing_exception, "persistent-subscription-does-not-exist");
  Consumer nobody(stub.get(), admin, "order-4", "nope");
  EXPECT_EQ(nobody.Ended().error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(nobody.Exception(), "persistent-subscription-does-not-exist");

  // Deleting a group drops its consumer, and the group is gone.
  Consumer consumer(stub.get(), admin, "order-4", "dupe");
  ASSERT_TRUE(consumer.Next());
  EXPECT_TRUE(Delete("order-4", "dupe").first.ok());
  EXPECT_EQ(consumer.Exception(), "persistent-subscription-dropped");
  std::string exception;
  EXPECT_FALSE(Info("order-4", "dupe", &exception).ok());
  EXPECT_EQ(exception, "persistent-subscription-does-not-exist");
  EXPECT_TRUE(Info("order-5", "dupe").ok());
}

TEST_F(EsdbPersistentTest, UpdateChangesRetriesAndTimeoutAndNamesAMissingGroup) {
  ASSERT_TRUE(Create("order-11", "tuned", admin).first.ok());
  auto update = [&](const std::string& group, int32_t retries, int32_t timeout_ms) {
    ps::UpdateReq request;
    auto* options = request.mutable_options();
    options->set_group_name(group);
    options->mutable_stream_identifier()->set_stream_name("order-11");
    options->mutable_settings()->set_revision(5);  // a new start: not taken (the group goes on)
    options->mutable_settings()->set_max_retry_count(retries);
    options->mutable_settings()->set_message_timeout_ms(timeout_ms);
    options->mutable_settings()->set_named_consumer_strategy(ps::UpdateReq::Pinned);
    grpc::ClientContext context;
    context.AddMetadata("authorization", admin);
    ps::UpdateResp response;
    grpc::Status s = stub->Update(&context, request, &response);
    return std::make_pair(s, Trailer(context, "exception"));
  };
  ASSERT_TRUE(update("tuned", 3, 5000).first.ok());
  auto info = Info("order-11", "tuned");
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->max_retry_count(), 3);
  EXPECT_EQ(info->message_timeout_milliseconds(), 5000);
  EXPECT_EQ(info->named_consumer_strategy(), "Pinned");
  EXPECT_EQ(info->start_from(), "0") << "the start the group was made with, which it uses";
  EXPECT_EQ(update("tuned", 1000, 5000).first.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
      << "a retry count beyond cairn's limit";
  auto [missing, exception] = update("untuned", 3, 5000);
  EXPECT_EQ(missing.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(exception, "persistent-subscription-does-not-exist");
}

TEST_F(EsdbPersistentTest, MaxSubscriberCountRefusesTheNextConsumer) {
  ps::CreateReq request;
  request.mutable_options()->mutable_settings()->set_max_subscriber_count(1);
  ASSERT_TRUE(Create("order-6", "solo", admin, request).first.ok());
  Consumer first(stub.get(), admin, "order-6", "solo");
  ASSERT_TRUE(first.Next());
  Consumer second(stub.get(), admin, "order-6", "solo");
  EXPECT_EQ(second.Ended().error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(second.Exception(), "maximum-subscribers-reached");
}

// A persistent Read that never sends its options is cancelled 10 s after its start
// (QueuedBidiReactor::kFirstMessageMsMax); a consumer that sent them stays however long it idles.
TEST_F(EsdbPersistentTest, AReadThatNeverSendsItsOptionsIsCancelledAndAConsumerStays) {
  ASSERT_TRUE(Create("order-9", "patient", admin).first.ok());
  Consumer consumer(stub.get(), admin, "order-9", "patient");
  auto confirmed = consumer.Next();
  ASSERT_TRUE(confirmed && confirmed->has_subscription_confirmation());
  grpc::ClientContext context;
  context.AddMetadata("authorization", admin);
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  const auto start = std::chrono::steady_clock::now();
  auto idle = stub->Read(&context);  // and never the options
  ps::ReadResp m;
  EXPECT_FALSE(idle->Read(&m)) << "the server answered a call that never sent its options";
  const auto waited = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(idle->Finish().error_code(), grpc::StatusCode::CANCELLED);
  EXPECT_GE(waited, std::chrono::milliseconds(9000)) << "cut before its 10 s";
  EXPECT_LT(waited, std::chrono::milliseconds(50000)) << "cut by the server, not the deadline";
  Append("order-9", "OrderCreated");
  auto event = consumer.NextEvent();
  ASSERT_TRUE(event) << "the consumer, idle as long, still receives";
  EXPECT_TRUE(consumer.Ack({*event}));
}

TEST_F(EsdbPersistentTest, AdministrationNeedsAdminAndCredentials) {
  auto [denied, denied_exception] = Create("order-8", "mine", bot);
  EXPECT_EQ(denied.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(denied_exception, "access-denied");
  auto [wrong, wrong_exception] = Create("order-8", "mine", Basic("admin", env.bot_key));
  EXPECT_EQ(wrong.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  auto [none, none_exception] = Create("order-8", "mine", "");
  EXPECT_EQ(none.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  std::string exception;
  EXPECT_FALSE(Info("order-8", "mine", &exception).ok()) << "a refused create made the group";
}

TEST_F(EsdbPersistentTest, ConsumersNeedSubscribeAndSeeOnlyTheEventTypesTheyMayRead) {
  ASSERT_TRUE(Create("order-10", "typed", admin).first.ok());
  // jwt:reader may read order streams but not subscribe.
  Consumer reader(stub.get(), "Bearer " + env.TokenA("RS256", "reader"), "order-10", "typed");
  EXPECT_EQ(reader.Ended().error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(reader.Exception(), "access-denied");
  // ... and cannot probe which groups exist: a missing group is denied alike.
  Consumer prober(stub.get(), "Bearer " + env.TokenA("RS256", "reader"), "order-10", "typez");
  EXPECT_EQ(prober.Ended().error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(prober.Exception(), "access-denied");

  // jwt:typed may subscribe, but only to OrderCreated.
  Consumer typed(stub.get(), "Bearer " + env.TokenA("RS256", "typed"), "order-10", "typed");
  ASSERT_TRUE(typed.Next());  // confirmation
  Append("order-10", "OrderCancelled");
  Append("order-10", "OrderCreated");
  auto e = typed.NextEvent();
  ASSERT_TRUE(e);
  EXPECT_EQ(e->event().metadata().at("type"), "OrderCreated");
  EXPECT_FALSE(typed.NextEvent(kQuietMs)) << "an event type the consumer may not read came through";
  // No connected consumer may receive the OrderCancelled: it waits for one that may (never
  // parked for that), and goes to the admin's consumer once it joins.
  EXPECT_EQ(ParkedCount("order-10", "typed", 0), 0);
  Consumer entitled(stub.get(), admin, "order-10", "typed");
  ASSERT_TRUE(entitled.Next());  // confirmation
  auto waited = entitled.NextEvent();
  ASSERT_TRUE(waited);
  EXPECT_EQ(waited->event().metadata().at("type"), "OrderCancelled");
  EXPECT_EQ(waited->retry_count(), 0);
}

// The bot may subscribe to every type of order-*; a reload narrows that to OrderCancelled while
// 1000 OrderCreated deliveries wait in its send queue (it does not read). What is still queued is
// taken back and goes to the next consumer as a first delivery (retry count 0).
TEST_F(EsdbPersistentTest, APolicyReloadTakesBackQueuedDeliveriesOfTheRevokedType) {
  ASSERT_TRUE(Create("order-e", "revoked", admin).first.ok());
  AppendLargeEvents(*cairn_admin, "order-e", 1000);
  Consumer stalled(stub.get(), bot, "order-e", "revoked", 1000, /*reads_max=*/2);
  auto held = WaitInfo("order-e", "revoked", [](const ps::SubscriptionInfo& i) {
    return i.total_in_flight_messages() == 1000;
  });
  ASSERT_TRUE(held.ok());
  ASSERT_EQ(held->total_in_flight_messages(), 1000) << "every event handed to the bot";
  // Connected before the bot loses the type: what is withdrawn goes to it, not to parking.
  Consumer taker(stub.get(), admin, "order-e", "revoked", 1000);
  EXPECT_FALSE(taker.NextEvent(300).has_value()) << "the bot holds every event";
  ASSERT_TRUE(env.NarrowBotSubscribeTo("OrderCancelled"));
  ASSERT_TRUE(cairn_admin->ReloadPolicy().ok());
  size_t got = 0;
  while (auto event = taker.NextEvent(3000)) {
    EXPECT_EQ(event->retry_count(), 0) << event->commit_position();
    ++got;
  }
  EXPECT_GT(got, 0u) << "nothing was taken back from the bot's queue";
  auto groups = Groups(*cairn_admin).List();
  ASSERT_TRUE(groups.ok());
  const v1::GroupStatus* group = nullptr;
  for (const auto& g : groups->groups()) {
    if (g.settings().source() == "order-e") group = &g;
  }
  ASSERT_NE(group, nullptr);
  EXPECT_EQ(group->withdrawn(), got);
  EXPECT_EQ(group->parked(), 0u);
  stalled.Close();
}

class EsdbPersistentStallTest : public EsdbPersistentTest {
 protected:
  void SetUp() override {
    env.extra_config = "[limits]\nwrite_stall_ms_max = 1000\n";
    EsdbPersistentTest::SetUp();
  }
};

// A consumer that stops reading (for max(limits.write_stall_ms_max = 1 s, message timeout = 3 s)
// here) is dropped from its group: it no longer counts as a connection (GetInfo,
// maxSubscriberCount), its deliveries go to another consumer, and its call ends. (With a 1 s
// bound the reading consumer itself could be taken for stalled on a loaded machine: seen once
// under ctest -j2.)
TEST_F(EsdbPersistentStallTest, AConsumerThatStopsReadingLeavesItsGroupAndItsCallEnds) {
  ps::CreateReq quick;
  quick.mutable_options()->mutable_settings()->set_message_timeout_ms(3000);  // the stall bound
  quick.mutable_options()->mutable_settings()->set_max_subscriber_count(1);  // a standby waits
  ASSERT_TRUE(Create("order-s", "stall", admin, quick).first.ok());
  AppendLargeEvents(*cairn_admin, "order-s", 1000);
  Consumer stalled(stub.get(), admin, "order-s", "stall", 1000, /*reads_max=*/2);
  // Joined first: on a loaded machine the join can come after a first look at the group, which
  // would then see no connection before the stalled consumer ever held the slot (seen once under
  // CI; the bound makes it leave no sooner than 3 s after it stops reading).
  auto joined = WaitInfo("order-s", "stall",
                         [](const ps::SubscriptionInfo& i) { return i.connections_size() == 1; });
  ASSERT_TRUE(joined.ok());
  ASSERT_EQ(joined->connections_size(), 1) << "the consumer never joined";
  auto left = WaitInfo("order-s", "stall",
                       [](const ps::SubscriptionInfo& i) { return i.connections_size() == 0; });
  ASSERT_TRUE(left.ok());
  EXPECT_EQ(left->connections_size(), 0) << "the stalled consumer still holds its slot";
  Consumer taker(stub.get(), admin, "order-s", "stall", 1000);  // refused if the slot were held
  std::set<uint64_t> got;
  while (got.size() < 1000) {
    auto event = taker.NextEvent(3000);
    if (!event) break;
    got.insert(event->commit_position());
    ASSERT_TRUE(taker.Ack({*event}));  // acked, or its 3 s timeout would deliver it again
  }
  EXPECT_EQ(got.size(), 1000u) << "its deliveries went to the next one";
  stalled.Resume();
  const grpc::Status ended = stalled.Ended(10000);
  EXPECT_NE(ended.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED) << ended.error_message();
  EXPECT_NE(ended.error_code(), grpc::StatusCode::OK);
}

// With the audit trail on: a consumer whose API key a reload removes is dropped from its group,
// its call ends, and the end is in $audit as an authentication failure ("api key revoked"), as
// for cairn.v1 group members and live subscriptions.
class EsdbPersistentAuditTest : public EsdbPersistentTest {
 protected:
  void SetUp() override {
    env.audit_enabled = true;
    EsdbPersistentTest::SetUp();
  }
};

TEST_F(EsdbPersistentAuditTest, AConsumerWhoseKeyARemovalRevokesEndsAndTheEndIsAudited) {
  ASSERT_TRUE(Create("order-k", "keyed", admin).first.ok());
  const auth::GeneratedApiKey member = auth::GenerateApiKey("esdb-member").value();
  const std::string block = "\n[[auth.api_keys]]\nid = \"esdb-member\"\nsecret_sha256 = \"" +
                            member.secret_sha256 + "\"\nroles = [\"admin\"]\n";
  env.WriteConfig(env.ConfigText() + block);
  ASSERT_TRUE(cairn_admin->ReloadApiKeys().ok());
  Consumer consumer(stub.get(), Basic("esdb-member", member.key), "order-k", "keyed");
  auto confirmation = consumer.Next();
  ASSERT_TRUE(confirmation && confirmation->has_subscription_confirmation());

  env.WriteConfig(env.ConfigText());  // without esdb-member
  auto reloaded = cairn_admin->ReloadApiKeys();
  ASSERT_TRUE(reloaded.ok()) << reloaded.status().ToString();
  ASSERT_EQ(reloaded->removed_size(), 1);
  const grpc::Status ended = consumer.Ended(10000);
  EXPECT_NE(ended.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED) << "the consumer still runs";
  EXPECT_NE(ended.error_code(), grpc::StatusCode::OK);

  EXPECT_TRUE(WaitForTrailRecord(*cairn_admin, "$auth.failure", "api key revoked"))
      << "no $auth.failure with reason 'api key revoked' in $audit";
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // no second record follows
  EXPECT_EQ(TrailRecords(*cairn_admin, "$auth.failure", "api key revoked"), 1u);
}

}  // namespace
}  // namespace cairn::testing
