// Live subscriptions against the real server: log order under concurrent appends, catch-up →
// live without loss or duplicates, filters, per-event `subscribe`, a policy reload that revokes a
// grant, masking without read.pii, a slow subscriber ended with RESOURCE_EXHAUSTED and resumed,
// refusals, and a server shutdown with open subscriptions.
#include <signal.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>

#include <google/protobuf/util/message_differencer.h>
#include <grpcpp/channel.h>
#include <grpcpp/generic/generic_stub.h>

#include "cairn/subscriptions.h"
#include "loopback_http.h"
#include "prom_parser.h"
#include "protect_rules.h"
#include "server_env.h"

namespace cairn::testing {
namespace CAIRN_UNITY_ID {

constexpr char kLivePolicy[] = R"(
[[role]]
name = "admin"
grants = [ { actions = ["append", "read", "subscribe", "read.pii", "delete", "forget", "proof", "audit.read", "admin"], streams = ["*", "$*"], event_types = ["*"] } ]

[[role]]
name = "handler"
grants = [ { actions = ["subscribe"], streams = ["*"], event_types = ["*"] } ]
denies = [ { actions = ["subscribe"], streams = ["*"], event_types = ["Secret"] } ]

[[role]]
name = "type-a"
grants = [ { actions = ["subscribe"], streams = ["*"], event_types = ["A"] } ]

[[role]]
name = "reader-only"
grants = [ { actions = ["read"], streams = ["*"], event_types = ["*"] } ]

[[binding]]
principal = "apikey:admin"
roles = ["admin"]

[[binding]]
principal = "jwt:handler"
roles = ["handler"]

[[binding]]
principal = "jwt:alice"
roles = ["type-a"]

[[binding]]
principal = "jwt:reader"
roles = ["reader-only"]

[[binding]]
principal = "apikey:ci-bot"
roles = ["handler"]
)";

constexpr char kRules[] = R"(
[[rule]]
event_type = "CustomerRegistered"
subject = "/customerId"
fields = ["/email"]
)";

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

v1::AppendRequest Batch(const std::string& stream, const std::string& type, int n,
                        const std::string& data = R"({"n":1})") {
  v1::AppendRequest request;
  request.set_stream(stream);
  for (int i = 0; i < n; ++i) {
    auto* e = request.add_events();
    e->set_type(type);
    e->set_data(data);
  }
  return request;
}

v1::SubscribeRequest All(std::optional<uint64_t> from = 0) {
  v1::SubscribeRequest r;
  r.set_stream("$all");
  if (from) {
    r.set_from_position(*from);
  } else {
    r.set_from_end(true);
  }
  return r;
}

// Reads a subscription on its own thread until it ends or `want` events arrived.
class Collector {
 public:
  // `reuse`: read with NextInto into one message (what a consumer at full speed does) instead
  // of Next().
  Collector(Client& client, const v1::SubscribeRequest& request, size_t want = SIZE_MAX,
            bool reuse = false)
      : want_(want), reuse_(reuse) {
    auto sub = Subscription::Start(client, request);
    EXPECT_TRUE(sub.ok()) << sub.status().ToString();
    sub_ = std::move(sub).value();
    thread_ = std::thread([this] { Run(); });
  }
  ~Collector() { Stop(); }

  // Waits until `n` events arrived or the subscription ended.
  bool WaitEvents(size_t n, int64_t timeout_ms = 20000) {
    return WaitUntil([&] { return events_.size() >= n || end_.has_value(); }, timeout_ms);
  }
  bool WaitCaughtUp(int64_t timeout_ms = 10000) {
    return WaitUntil([&] { return caught_up_ || end_.has_value(); }, timeout_ms);
  }
  bool WaitEnd(int64_t timeout_ms = 20000) {
    return WaitUntil([&] { return end_.has_value(); }, timeout_ms);
  }
  void Stop() {
    if (sub_) sub_->Cancel();
    if (thread_.joinable()) thread_.join();
  }

  std::vector<v1::RecordedEvent> events() {
    std::lock_guard<std::mutex> lock(mu_);
    return events_;
  }
  std::optional<Status> end() {
    std::lock_guard<std::mutex> lock(mu_);
    return end_;
  }
  uint64_t resume_position() { return sub_->resume_position(); }

 private:
  template <typename Pred>
  bool WaitUntil(Pred pred, int64_t timeout_ms) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms), pred);
  }
  void Run() {
    v1::SubscribeResponse reused;
    for (;;) {
      Result<v1::SubscribeResponse> next = reuse_ ? v1::SubscribeResponse() : sub_->Next();
      Status status = reuse_ ? sub_->NextInto(&reused) : next.status();
      const v1::SubscribeResponse* message = reuse_ ? &reused : (next.ok() ? &*next : nullptr);
      std::lock_guard<std::mutex> lock(mu_);
      if (!status.ok()) {
        end_ = status;
        cv_.notify_all();
        return;
      }
      if (message->has_caught_up()) caught_up_ = true;
      if (message->has_event()) events_.push_back(message->event());
      cv_.notify_all();
      if (events_.size() >= want_) return;
    }
  }

  const size_t want_;
  const bool reuse_;
  std::unique_ptr<Subscription> sub_;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<v1::RecordedEvent> events_;
  std::optional<Status> end_;
  bool caught_up_ = false;
};

void ExpectContiguous(const std::vector<v1::RecordedEvent>& events, uint64_t from, uint64_t n) {
  ASSERT_EQ(events.size(), n);
  for (uint64_t i = 0; i < n; ++i) ASSERT_EQ(events[i].position(), from + i) << "index " << i;
}

class SubscribeLiveTest : public ::testing::Test {
 protected:
  void Start(const std::string& extra_config = "") {
    WriteFile(env.PolicyPath(), kLivePolicy);
    env.extra_config = ProtectRulesConfig(env, kRules) + extra_config;
    ASSERT_TRUE(env.Start()) << env.server().output();
    admin = env.ClientWith(env.admin_key);
  }
  std::unique_ptr<Client> Jwt(const std::string& sub) {
    return env.ClientWith(env.TokenA("EdDSA", sub));
  }
  // `threads` writers, each appending `batches` batches of `batch` events to its own stream.
  void AppendFromThreads(int threads, int batches, int batch) {
    std::vector<std::thread> writers;
    for (int t = 0; t < threads; ++t) {
      writers.emplace_back([&, t] {
        auto client = env.ClientWith(env.admin_key);
        for (int i = 0; i < batches; ++i) {
          auto r = client->Append(Batch("load-" + std::to_string(t), "Tick", batch));
          ASSERT_TRUE(r.ok()) << r.status().ToString();
        }
      });
    }
    for (auto& w : writers) w.join();
  }
  uint64_t TreeSize() { return admin->ServerInfo().value().tree_size(); }

  ServerEnv env;
  std::unique_ptr<Client> admin;
};

TEST_F(SubscribeLiveTest, NextIntoAReusedMessageYieldsExactlyWhatNextYields) {
  Start();
  AppendFromThreads(2, 10, 30);  // 600 events to catch up on, in batches
  auto c1 = Jwt("handler");      // no read.pii: the protected event arrives masked
  auto c2 = Jwt("handler");
  Collector by_value(*c1, All(0)), reused(*c2, All(0), SIZE_MAX, /*reuse=*/true);
  ASSERT_TRUE(by_value.WaitCaughtUp());
  ASSERT_TRUE(reused.WaitCaughtUp());
  ASSERT_TRUE(admin->Append(Batch("c-1", "CustomerRegistered", 1,
                                  R"({"customerId":"c1","email":"c1@example.com"})")).ok());
  AppendFromThreads(3, 10, 25);  // 750 live events, in batches and interleaved
  ASSERT_TRUE(admin->Append(Batch("single", "Tick", 1, R"({"big":")" + std::string(70000, 'z') +
                                                           R"("})")).ok());
  const uint64_t total = TreeSize();
  ASSERT_EQ(total, 1352u);
  ASSERT_TRUE(by_value.WaitEvents(total));
  ASSERT_TRUE(reused.WaitEvents(total));
  const auto a = by_value.events();
  const auto b = reused.events();
  ExpectContiguous(b, 0, total);
  ASSERT_EQ(a.size(), b.size());
  size_t masked = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    ASSERT_TRUE(google::protobuf::util::MessageDifferencer::Equals(a[i], b[i]))
        << "position " << i << "\n" << a[i].DebugString() << "\n" << b[i].DebugString();
    masked += b[i].masked_size();
  }
  EXPECT_EQ(masked, 1u);
  EXPECT_EQ(b.back().data().size(), 70000u + 10);
}

TEST_F(SubscribeLiveTest, LiveDeliveryOrderEqualsLogOrderUnderConcurrentAppends) {
  Start();
  auto c1 = Jwt("handler");
  auto c2 = env.ClientWith(env.admin_key);
  Collector a(*c1, All(std::nullopt)), b(*c2, All(std::nullopt));
  ASSERT_TRUE(a.WaitCaughtUp());
  ASSERT_TRUE(b.WaitCaughtUp());
  AppendFromThreads(4, 25, 20);
  const uint64_t total = TreeSize();
  ASSERT_EQ(total, 2000u);
  for (Collector* c : {&a, &b}) {
    ASSERT_TRUE(c->WaitEvents(total));
    ExpectContiguous(c->events(), 0, total);
  }
}

TEST_F(SubscribeLiveTest, CatchUpToLiveLosesAndRepeatsNothingWhileAppendsRun) {
  Start();
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(admin->Append(Batch("before", "Tick", 200)).ok());
  std::thread writers([&] { AppendFromThreads(3, 30, 20); });
  Collector c(*admin, All(0));
  writers.join();
  const uint64_t total = TreeSize();
  ASSERT_EQ(total, 5800u);
  ASSERT_TRUE(c.WaitEvents(total));
  ExpectContiguous(c.events(), 0, total);
  EXPECT_FALSE(c.end().has_value());
}

TEST_F(SubscribeLiveTest, FiltersAndAStreamSubscriptionFromAVersion) {
  Start();
  ASSERT_TRUE(admin->Append(Batch("order-1", "Placed", 3)).ok());   // 0..2
  ASSERT_TRUE(admin->Append(Batch("invoice-1", "Paid", 2)).ok());   // 3..4
  ASSERT_TRUE(admin->Append(Batch("order-2", "Paid", 2)).ok());     // 5..6
  ASSERT_TRUE(admin->Append(Batch("order-1", "Paid", 1)).ok());     // 7
  v1::SubscribeRequest filtered = All(0);
  filtered.mutable_filter()->add_stream_prefixes("order-");
  filtered.mutable_filter()->add_event_types("Paid");
  Collector f(*admin, filtered);
  ASSERT_TRUE(f.WaitEvents(3));
  auto events = f.events();
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].position(), 5u);
  EXPECT_EQ(events[1].position(), 6u);
  EXPECT_EQ(events[2].position(), 7u);

  v1::SubscribeRequest stream;
  stream.set_stream("order-1");
  stream.set_from_version(2);
  Collector s(*admin, stream);
  ASSERT_TRUE(s.WaitEvents(2));
  ASSERT_TRUE(admin->Append(Batch("order-1", "Shipped", 1)).ok());  // 8
  ASSERT_TRUE(s.WaitEvents(3));
  events = s.events();
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].version(), 2u);
  EXPECT_EQ(events[1].version(), 3u);
  EXPECT_EQ(events[2].version(), 4u);
  EXPECT_EQ(events[2].position(), 8u);
  EXPECT_EQ(events[2].leaf_hash().size(), 32u) << "every entry field is delivered";
}

TEST_F(SubscribeLiveTest, EventTypesWithoutSubscribeAreSkipped) {
  Start();
  ASSERT_TRUE(admin->Append(Batch("x", "Public", 1)).ok());
  ASSERT_TRUE(admin->Append(Batch("x", "Secret", 2)).ok());
  ASSERT_TRUE(admin->Append(Batch("x", "Public", 1)).ok());
  auto handler = Jwt("handler");
  Collector c(*handler, All(0));
  ASSERT_TRUE(c.WaitCaughtUp());
  ASSERT_TRUE(c.WaitEvents(2));
  auto events = c.events();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].position(), 0u);
  EXPECT_EQ(events[1].position(), 3u);
  for (const auto& e : events) EXPECT_NE(e.type(), "Secret");
  EXPECT_GE(c.resume_position(), 4u);
}

TEST_F(SubscribeLiveTest, APolicyReloadThatRemovesTheGrantStopsDeliveryWithinOneSecond) {
  Start();
  auto alice = Jwt("alice");  // subscribe on type A only
  Collector c(*alice, All(std::nullopt));
  ASSERT_TRUE(c.WaitCaughtUp());
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    auto client = env.ClientWith(env.admin_key);
    while (!stop.load()) {
      ASSERT_TRUE(client->Append(Batch("x", "A", 5)).ok());
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  });
  ASSERT_TRUE(c.WaitEvents(20));
  std::string revoked = kLivePolicy;
  const std::string grant_a = R"(event_types = ["A"])";
  revoked.replace(revoked.find(grant_a), grant_a.size(), R"(event_types = ["B"])");
  WriteFile(env.PolicyPath(), revoked);
  ASSERT_TRUE(admin->ReloadPolicy().ok());
  const int64_t reloaded_ns = NowNs();
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));  // appends keep coming
  stop.store(true);
  writer.join();
  c.Stop();
  auto events = c.events();
  ASSERT_GE(events.size(), 20u);
  for (const auto& e : events) {
    EXPECT_LE(e.recorded_at_ns(), reloaded_ns + 1'000'000'000)
        << "event at position " << e.position() << " appended "
        << (e.recorded_at_ns() - reloaded_ns) / 1000000 << " ms after the reload was delivered";
  }
  EXPECT_GT(TreeSize(), events.back().position() + 50) << "appends continued after the reload";
}

// An API key removed from the configuration and reloaded (SIGHUP) ends a subscription that runs
// under it, as its expiry would: revocation reaches calls that are already open.
TEST_F(SubscribeLiveTest, ARemovedApiKeyEndsItsRunningSubscription) {
  Start();
  auto bot = env.ClientWith(env.bot_key);
  Collector c(*bot, All(std::nullopt));
  ASSERT_TRUE(c.WaitCaughtUp());
  std::string config = env.ConfigText();
  const size_t at = config.find("[[auth.api_keys]]\nid = \"ci-bot\"");
  ASSERT_NE(at, std::string::npos);
  config.erase(at, config.find("[[auth.api_keys]]", at + 1) - at);
  env.WriteConfig(config);
  env.server().Signal(SIGHUP);
  ASSERT_TRUE(c.WaitEnd()) << env.server().output();
  EXPECT_EQ(c.end()->code(), StatusCode::kUnauthenticated) << c.end()->ToString();
  EXPECT_EQ(bot->WhoAmI().status().code(), StatusCode::kUnauthenticated);
  // Audited as the authentication failure it is (its log line; the trail is off here).
  bool audited = false;
  for (int i = 0; i < 100 && !audited; ++i) {
    audited = env.server().output().find("\"cairn.reason\":\"api key revoked\"") !=
              std::string::npos;
    if (!audited) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(audited) << env.server().output();
}

// A reload that takes away every subscribe grant ends a running subscription with
// PERMISSION_DENIED, and the trail records the denial as it records a refused call.
TEST_F(SubscribeLiveTest, ASubscriptionEndedByAPolicyReloadIsAuditedAsADenial) {
  env.audit_enabled = true;
  Start();
  auto alice = Jwt("alice");
  Collector c(*alice, All(std::nullopt));
  ASSERT_TRUE(c.WaitCaughtUp());
  std::string revoked = kLivePolicy;
  const std::string bound = "principal = \"jwt:alice\"\nroles = [\"type-a\"]";
  ASSERT_NE(revoked.find(bound), std::string::npos);
  revoked.replace(revoked.find(bound), bound.size(), "principal = \"jwt:alice\"\nroles = [\"reader-only\"]");
  WriteFile(env.PolicyPath(), revoked);
  ASSERT_TRUE(admin->ReloadPolicy().ok());
  ASSERT_TRUE(c.WaitEnd());
  EXPECT_EQ(c.end()->code(), StatusCode::kPermissionDenied) << c.end()->ToString();
  bool audited = false;
  for (int i = 0; i < 100 && !audited; ++i) {
    v1::ReadRequest read;
    read.set_stream("$audit");
    admin->Read(read, [&](const v1::ReadResponse& chunk) {
      for (const auto& e : chunk.events()) {
        audited = audited || (e.type() == "$access.denied" &&
                              e.data().find("\"principal\":\"jwt:alice\"") != std::string::npos &&
                              e.data().find("\"action\":\"subscribe\"") != std::string::npos);
      }
      return true;
    });
    if (!audited) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(audited) << "the ended subscription left no $access.denied record";
}

TEST_F(SubscribeLiveTest, ProtectedFieldsAreMaskedWithoutReadPii) {
  Start();
  ASSERT_TRUE(admin->Append(Batch("customer-1", "CustomerRegistered", 1,
                                  R"({"customerId":"alice","email":"alice@example.com"})"))
                  .ok());
  auto handler = Jwt("handler");  // subscribe, no read.pii
  Collector masked(*handler, All(0)), plain(*admin, All(0));
  ASSERT_TRUE(masked.WaitEvents(1));
  ASSERT_TRUE(plain.WaitEvents(1));
  EXPECT_EQ(masked.events()[0].data().find("alice@example.com"), std::string::npos)
      << masked.events()[0].data();
  ASSERT_EQ(masked.events()[0].masked_size(), 1);
  EXPECT_EQ(masked.events()[0].masked(0), "/email");
  EXPECT_NE(plain.events()[0].data().find("alice@example.com"), std::string::npos);
  EXPECT_EQ(plain.events()[0].masked_size(), 0);
}

TEST_F(SubscribeLiveTest, ASlowSubscriberIsEndedAndResumesFromTheReportedPositionWithoutLoss) {
  Start("[subscriptions]\nring_events_max = 1024\nlag_events_max = 200\n");
  // A subscription that is not read: its first Next() only runs after the appends.
  auto sub = Subscription::Start(*admin, All(std::nullopt));
  ASSERT_TRUE(sub.ok());
  // Placed at the end of the log once the server counts it: appends after that are live.
  bool placed = false;
  for (int waited_ms = 0; waited_ms < 10000 && !placed; waited_ms += 20) {
    const auto metrics = ParseOrFail(HttpBody(HttpGet(env.server().admin_port(), "/metrics")));
    placed = metrics.Value("cairn_live_subscriptions") == 1;
    if (!placed) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_TRUE(placed);
  const std::string big = R"({"pad":")" + std::string(2000, 'p') + R"("})";
  for (int i = 0; i < 60; ++i) ASSERT_TRUE(admin->Append(Batch("x", "Tick", 100, big)).ok());
  const uint64_t total = TreeSize();
  std::vector<v1::RecordedEvent> received;
  Status end;
  for (size_t i = 0; i < total + 10; ++i) {
    auto message = (*sub)->Next();
    if (!message.ok()) {
      end = message.status();
      break;
    }
    if (message->has_event()) received.push_back(message->event());
  }
  ASSERT_EQ(end.code(), StatusCode::kResourceExhausted) << end.ToString();
  ASSERT_TRUE(end.detail().has_value());
  const uint64_t resume = static_cast<uint64_t>(*end.detail());
  EXPECT_LT(resume, total) << "it fell behind before the end";
  EXPECT_EQ(resume, (*sub)->resume_position());
  EXPECT_NE(end.message().find("resume from position " + std::to_string(resume)),
            std::string::npos) << end.message();
  Collector rest(*admin, All(resume));
  ASSERT_TRUE(rest.WaitEvents(total - resume));
  for (const auto& e : rest.events()) received.push_back(e);
  ExpectContiguous(received, 0, total);
}

TEST_F(SubscribeLiveTest, UnauthenticatedAndUnauthorizedSubscriptionsAreRefused) {
  Start();
  auto anonymous = env.ClientWith("");
  auto bad = env.ClientWith("cairn_admin_notthesecret");
  auto reader = Jwt("reader");  // read, no subscribe
  auto alice = Jwt("alice");
  struct Case {
    Client* client;
    v1::SubscribeRequest request;
    StatusCode code;
  };
  v1::SubscribeRequest stream;
  stream.set_stream("x");
  std::vector<Case> cases = {{anonymous.get(), All(0), StatusCode::kUnauthenticated},
                             {bad.get(), All(0), StatusCode::kUnauthenticated},
                             {reader.get(), All(0), StatusCode::kPermissionDenied},
                             {reader.get(), stream, StatusCode::kPermissionDenied}};
  for (auto& c : cases) {
    auto sub = Subscription::Start(*c.client, c.request);
    ASSERT_TRUE(sub.ok());
    auto first = (*sub)->Next();
    ASSERT_FALSE(first.ok());
    EXPECT_EQ(first.status().code(), c.code) << first.status().ToString();
  }
  v1::SubscribeRequest bad_start = All(0);
  bad_start.set_from_version(1);  // from_version on $all
  bad_start.set_stream("$all");
  auto sub = Subscription::Start(*alice, bad_start);
  ASSERT_TRUE(sub.ok());
  EXPECT_EQ((*sub)->Next().status().code(), StatusCode::kInvalidArgument);
}

TEST_F(SubscribeLiveTest, ServerShutdownWithOpenSubscriptionsCompletes) {
  Start();
  ASSERT_TRUE(admin->Append(Batch("x", "Tick", 10)).ok());
  Collector reading(*admin, All(0));
  ASSERT_TRUE(reading.WaitEvents(10));
  auto idle = Subscription::Start(*admin, All(0));  // never read
  ASSERT_TRUE(idle.ok());
  auto handler = Jwt("handler");
  Collector other(*handler, All(std::nullopt));
  ASSERT_TRUE(other.WaitCaughtUp());
  const auto started = std::chrono::steady_clock::now();
  EXPECT_EQ(env.server().Stop(), 0) << env.server().output();
  const auto took = std::chrono::steady_clock::now() - started;
  EXPECT_LT(took, std::chrono::seconds(10));
  ASSERT_TRUE(reading.WaitEnd());
  EXPECT_EQ(reading.end()->code(), StatusCode::kUnavailable) << reading.end()->ToString();
}

// Subscribe takes its request as bytes (the service writes raw frames): bytes that are not a
// SubscribeRequest get INVALID_ARGUMENT once the caller is authenticated, UNAUTHENTICATED before.
grpc::Status SubscribeWithRawRequest(Client& client, const std::string& request_bytes) {
  grpc::GenericStub stub(client.channel());
  grpc::ClientContext context;
  client.PrepareContext(&context, 10000);
  grpc::CompletionQueue cq;
  auto call = stub.PrepareCall(&context, "/cairn.v1.Subscriptions/Subscribe", &cq);
  void* tag = nullptr;
  bool ok = false;
  auto step = [&](intptr_t want) {
    EXPECT_TRUE(cq.Next(&tag, &ok));
    EXPECT_EQ(reinterpret_cast<intptr_t>(tag), want);
  };
  call->StartCall(reinterpret_cast<void*>(1));
  step(1);
  grpc::Slice slice(request_bytes);
  grpc::ByteBuffer buffer(&slice, 1);
  call->Write(buffer, grpc::WriteOptions().set_last_message(), reinterpret_cast<void*>(2));
  step(2);
  grpc::ByteBuffer response;
  call->Read(&response, reinterpret_cast<void*>(3));
  step(3);
  EXPECT_FALSE(ok) << "no message for a refused request";
  grpc::Status status;
  call->Finish(&status, reinterpret_cast<void*>(4));
  step(4);
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
  return status;
}

TEST_F(SubscribeLiveTest, AMalformedRequestIsRefusedAfterAuthentication) {
  Start();
  auto alice = Jwt("alice");
  auto anonymous = env.ClientWith("");
  const std::string garbage("\x0a\xff\xff\xff\xff\x0f", 6);  // a length beyond the message
  grpc::Status s = SubscribeWithRawRequest(*alice, garbage);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
  EXPECT_EQ(SubscribeWithRawRequest(*anonymous, garbage).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  // The same call path with a well-formed request is served (the stream opens and waits).
  v1::SubscribeRequest good = All(0);
  auto sub = Subscription::Start(*alice, good);
  ASSERT_TRUE(sub.ok());
  auto first = (*sub)->Next();
  EXPECT_TRUE(first.ok()) << first.status().ToString();
}

}  // namespace
}  // namespace cairn::testing
