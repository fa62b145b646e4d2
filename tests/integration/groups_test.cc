// Consumer groups through the real server: the position survives a restart, nack → retry → park
// → replay, load sharing, max in-flight, ack timeout, admin-only administration, and masked
// protected fields for a consumer without read.pii, deliveries taken back after a reload revokes
// their type or read.pii, and a consumer that stops reading dropped from its group.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <optional>
#include <set>
#include <thread>

#include <grpcpp/grpcpp.h>

#include "cairn/groups.h"
#include "cairn/v1/groups.grpc.pb.h"
#include "loopback_http.h"
#include "protect_rules.h"
#include "server_env.h"

namespace cairn::testing {
namespace CAIRN_UNITY_ID {

constexpr char kRules[] = R"(
[[rule]]
event_type = "CustomerRegistered"
subject = "/customerId"
fields = ["/email"]
)";

v1::GroupSettings Settings(const std::string& name, const std::string& source = "$all") {
  v1::GroupSettings s;
  s.set_name(name);
  s.set_source(source);
  return s;
}

void AppendN(Client& client, const std::string& stream, int n,
             const std::string& type = "OrderCreated") {
  for (int i = 0; i < n; ++i) {
    v1::AppendRequest request;
    request.set_stream(stream);
    auto* e = request.add_events();
    e->set_type(type);
    e->set_data("{\"n\":" + std::to_string(i) + "}");
    auto r = client.Append(request);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
  }
}

// Up to `n` events, each waited for at most timeout_ms.
std::vector<v1::GroupEvent> Take(GroupStream& stream, size_t n, int64_t timeout_ms = 5000) {
  std::vector<v1::GroupEvent> out;
  while (out.size() < n) {
    auto next = stream.Next(timeout_ms);
    if (!next.ok() || !*next) break;
    out.push_back(std::move(**next));
  }
  return out;
}

std::set<uint64_t> Positions(const std::vector<v1::GroupEvent>& events) {
  std::set<uint64_t> out;
  for (const auto& e : events) out.insert(e.event().position());
  return out;
}

std::vector<uint64_t> AckIds(const std::vector<v1::GroupEvent>& events) {
  std::vector<uint64_t> out;
  for (const auto& e : events) out.push_back(e.ack_id());
  return out;
}

std::optional<v1::GroupStatus> StatusOf(const Client& admin, const std::string& name) {
  auto list = Groups(admin).List();
  if (!list.ok()) return std::nullopt;
  for (const v1::GroupStatus& g : list->groups()) {
    if (g.settings().name() == name) return g;
  }
  return std::nullopt;
}

// Polls the group's status until `done` holds (at most ~10 s); the last status seen.
template <typename Done>
std::optional<v1::GroupStatus> WaitStatus(const Client& admin, const std::string& name, Done done) {
  std::optional<v1::GroupStatus> status;
  for (int i = 0; i < 200; ++i) {
    status = StatusOf(admin, name);
    if (status && done(*status)) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return status;
}

// A raw Connect that joins, takes the joined message and one event, and then reads no more.
struct StalledConsumer {
  StalledConsumer(const Client& client, const std::string& key, const std::string& group) {
    stub = v1::PersistentSubscriptions::NewStub(client.channel());
    context.AddMetadata("authorization", "Bearer " + key);
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    call = stub->Connect(&context);
    v1::GroupClientMessage join;
    join.mutable_join()->set_group(group);
    join.mutable_join()->set_max_in_flight(1000);
    EXPECT_TRUE(call->Write(join));
    v1::GroupServerMessage m;
    EXPECT_TRUE(call->Read(&m) && m.has_joined()) << m.DebugString();
    EXPECT_TRUE(call->Read(&m) && m.has_event()) << m.DebugString();
    positions.insert(m.event().event().position());
  }
  // Reads what is left (adding to `positions`); the call's final status.
  grpc::Status Drain() {
    v1::GroupServerMessage m;
    while (call->Read(&m)) {
      if (m.has_event()) positions.insert(m.event().event().position());
    }
    return call->Finish();
  }
  std::set<uint64_t> positions;  // of the events received
  std::unique_ptr<v1::PersistentSubscriptions::Stub> stub;
  grpc::ClientContext context;
  std::unique_ptr<grpc::ClientReaderWriter<v1::GroupClientMessage, v1::GroupServerMessage>> call;
};

class GroupsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    env.extra_config = ProtectRulesConfig(env, kRules);
    ASSERT_TRUE(env.Start()) << env.server().output();
    admin = env.ClientWith(env.admin_key);
  }
  // `cairn ARGS` against this server with `token`.
  CommandResult Cli(std::vector<std::string> args, const std::string& token) {
    for (const std::string& a : {std::string("--server"), env.server().target(),
                                 std::string("--ca"), env.CaCert(), std::string("--token"), token}) {
      args.push_back(a);
    }
    return RunCairn(args);
  }
  std::unique_ptr<GroupStream> ConnectOrDie(const Client& client, const std::string& group,
                                            uint32_t max_in_flight = 0) {
    auto stream = Groups(client).Connect(group, max_in_flight);
    EXPECT_TRUE(stream.ok()) << stream.status().ToString();
    return stream.ok() ? std::move(stream).value() : nullptr;
  }
  ServerEnv env;
  std::unique_ptr<Client> admin;
};

TEST_F(GroupsTest, AGroupResumesAfterAServerRestartWithoutLossAndWithoutRedeliveringAcked) {
  ASSERT_TRUE(Groups(*admin).Create(Settings("billing")).ok());
  AppendN(*admin, "order-1", 10);
  auto stream = ConnectOrDie(*admin, "billing");
  ASSERT_NE(stream, nullptr);
  auto first = Take(*stream, 10);
  ASSERT_EQ(first.size(), 10u);
  std::vector<v1::GroupEvent> acked(first.begin(), first.begin() + 4);
  acked.push_back(first[7]);
  ASSERT_TRUE(stream->Ack(AckIds(acked)).ok());
  ASSERT_TRUE(stream->Close().ok());
  stream.reset();
  ASSERT_EQ(env.server().Stop(), 0) << env.server().output();

  ASSERT_TRUE(env.server().Start({"--config", env.ConfigPath()})) << env.server().output();
  admin = env.ClientWith(env.admin_key);
  auto again = ConnectOrDie(*admin, "billing");
  ASSERT_NE(again, nullptr);
  auto rest = Take(*again, 5);
  std::set<uint64_t> expected;
  for (int i : {4, 5, 6, 8, 9}) expected.insert(first[i].event().position());
  EXPECT_EQ(Positions(rest), expected);
  EXPECT_TRUE(Take(*again, 1, 500).empty()) << "an acked event was delivered again";
}

// Event-type prefixes travel both ways on cairn.v1: a group created with them filters by them,
// lists them, and can be updated with the settings it listed (they were dropped on the way in
// and out, so such a group — e.g. one made through the EventStoreDB protocol — could not be).
TEST_F(GroupsTest, EventTypePrefixesAreKeptListedAndFilter) {
  v1::GroupSettings s = Settings("by-prefix");
  s.add_event_type_prefixes("Order");
  ASSERT_TRUE(Groups(*admin).Create(s).ok());
  auto listed = Groups(*admin).List();
  ASSERT_TRUE(listed.ok()) << listed.status().ToString();
  ASSERT_EQ(listed->groups_size(), 1);
  v1::GroupSettings shown = listed->groups(0).settings();
  ASSERT_EQ(shown.event_type_prefixes_size(), 1);
  EXPECT_EQ(shown.event_type_prefixes(0), "Order");
  shown.set_retry_limit(7);
  const Status updated = Groups(*admin).Update(shown);
  EXPECT_TRUE(updated.ok()) << updated.ToString();
  AppendN(*admin, "order-p1", 1, "InvoiceSent");
  AppendN(*admin, "order-p1", 1, "OrderCreated");
  auto stream = ConnectOrDie(*admin, "by-prefix");
  ASSERT_NE(stream, nullptr);
  auto got = Take(*stream, 1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].event().type(), "OrderCreated");
  EXPECT_TRUE(Take(*stream, 1, 300).empty());
}

TEST_F(GroupsTest, TheGroupsSectionOfTheConfigLimitsTheNumberOfGroups) {
  ASSERT_EQ(env.server().Stop(), 0) << env.server().output();
  ServerEnv limited;
  WriteFile(limited.dir().Sub("protect.toml"), kRules);
  limited.extra_config = "[protect]\nfile = \"protect.toml\"\n[groups]\ngroups_max = 1\n";
  ASSERT_TRUE(limited.Start()) << limited.server().output();
  auto client = limited.ClientWith(limited.admin_key);
  ASSERT_TRUE(Groups(*client).Create(Settings("first")).ok());
  const Status second = Groups(*client).Create(Settings("second"));
  EXPECT_EQ(second.code(), StatusCode::kResourceExhausted) << second.ToString();
  auto listed = Groups(*client).List();
  ASSERT_TRUE(listed.ok()) << listed.status().ToString();
  EXPECT_EQ(listed->groups_size(), 1);
}

TEST_F(GroupsTest, NackRetryParksAfterTheRetryLimitAndReplayDeliversTheParkedEvent) {
  v1::GroupSettings s = Settings("retry");
  s.set_retry_limit(2);
  ASSERT_TRUE(Groups(*admin).Create(s).ok());
  AppendN(*admin, "order-7", 1);
  auto stream = ConnectOrDie(*admin, "retry");
  ASSERT_NE(stream, nullptr);
  for (uint32_t attempt = 1; attempt <= 2; ++attempt) {
    auto got = Take(*stream, 1);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].attempt(), attempt);
    ASSERT_TRUE(stream->Nack({got[0].ack_id()}, v1::NACK_RETRY, "downstream timeout").ok());
  }
  EXPECT_TRUE(Take(*stream, 1, 500).empty()) << "delivered beyond the retry limit";

  std::vector<v1::RecordedEvent> parked;
  for (int i = 0; i < 50 && parked.empty(); ++i) {
    v1::ReadRequest read;
    read.set_stream("$parked-retry");
    (void)admin->Read(read, [&](const v1::ReadResponse& chunk) {
      for (const auto& e : chunk.events()) parked.push_back(e);
      return true;
    });
    if (parked.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_EQ(parked.size(), 1u);
  EXPECT_EQ(parked[0].type(), "$parked");
  EXPECT_NE(parked[0].data().find("\"stream\":\"order-7\""), std::string::npos) << parked[0].data();
  EXPECT_NE(parked[0].data().find("\"attempts\":2"), std::string::npos);
  EXPECT_EQ(parked[0].data().find("\"n\""), std::string::npos) << "the payload was copied";

  auto pending = Groups(*admin).ReplayParked("retry");
  ASSERT_TRUE(pending.ok()) << pending.status().ToString();
  EXPECT_EQ(*pending, 1u);
  auto replayed = Take(*stream, 1);
  ASSERT_EQ(replayed.size(), 1u);
  EXPECT_TRUE(replayed[0].replay());
  EXPECT_EQ(replayed[0].event().stream(), "order-7");
  EXPECT_EQ(replayed[0].event().data(), "{\"n\":0}");
  ASSERT_TRUE(stream->Ack({replayed[0].ack_id()}).ok());
  uint64_t replay_pending = 1;
  for (int i = 0; i < 50 && replay_pending != 0; ++i) {
    auto list = Groups(*admin).List();
    ASSERT_TRUE(list.ok());
    replay_pending = list->groups(0).replay_pending();
    if (replay_pending != 0) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(replay_pending, 0u);
}

TEST_F(GroupsTest, TwoConsumersShareTheLoadWithoutHoldingAnEventTwice) {
  v1::GroupSettings s = Settings("shared");
  s.set_max_in_flight(2);
  ASSERT_TRUE(Groups(*admin).Create(s).ok());
  auto a = ConnectOrDie(*admin, "shared");
  auto b = ConnectOrDie(*admin, "shared");
  ASSERT_TRUE(a && b);
  AppendN(*admin, "order-2", 20);
  std::set<uint64_t> seen_a, seen_b;
  for (int round = 0; round < 200 && seen_a.size() + seen_b.size() < 20; ++round) {
    auto got_a = Take(*a, 2, 50);
    auto got_b = Take(*b, 2, 50);
    for (uint64_t p : Positions(got_a)) EXPECT_EQ(Positions(got_b).count(p), 0u);
    for (const auto& e : got_a) EXPECT_TRUE(seen_a.insert(e.event().position()).second);
    for (const auto& e : got_b) EXPECT_TRUE(seen_b.insert(e.event().position()).second);
    ASSERT_TRUE(a->Ack(AckIds(got_a)).ok());
    ASSERT_TRUE(b->Ack(AckIds(got_b)).ok());
  }
  EXPECT_GT(seen_a.size(), 0u);
  EXPECT_GT(seen_b.size(), 0u);
  std::set<uint64_t> all = seen_a;
  all.insert(seen_b.begin(), seen_b.end());
  EXPECT_EQ(all.size(), 20u);
  EXPECT_EQ(seen_a.size() + seen_b.size(), 20u);
}

TEST_F(GroupsTest, MaxInFlightIsRespectedAndAnAckTimeoutRedelivers) {
  v1::GroupSettings s = Settings("slow");
  s.set_max_in_flight(3);
  s.set_ack_timeout_ms(1500);
  ASSERT_TRUE(Groups(*admin).Create(s).ok());
  AppendN(*admin, "order-3", 10);
  auto stream = ConnectOrDie(*admin, "slow");
  ASSERT_NE(stream, nullptr);
  EXPECT_EQ(stream->joined().max_in_flight(), 3u);
  auto first = Take(*stream, 3);
  ASSERT_EQ(first.size(), 3u);
  EXPECT_TRUE(Take(*stream, 1, 300).empty()) << "more than max in-flight delivered";
  ASSERT_TRUE(stream->Ack({first[0].ack_id(), first[1].ack_id()}).ok());
  auto next = Take(*stream, 2);
  ASSERT_EQ(next.size(), 2u);
  // first[2] is never acked: after the ack timeout it comes again, as attempt 2.
  std::vector<v1::GroupEvent> later;
  for (int i = 0; i < 10 && later.empty(); ++i) {
    for (auto& e : Take(*stream, 1, 1000)) {
      if (e.event().position() == first[2].event().position()) later.push_back(e);
    }
  }
  ASSERT_EQ(later.size(), 1u);
  EXPECT_EQ(later[0].attempt(), 2u);
}

TEST_F(GroupsTest, OnlyAdminsAdministerGroupsAndConsumersNeedSubscribeOnTheSource) {
  auto bot = env.ClientWith(env.bot_key);  // order-service: subscribe on order-*, no admin
  Status denied = Groups(*bot).Create(Settings("mine"));
  EXPECT_EQ(denied.code(), StatusCode::kPermissionDenied) << denied.ToString();
  EXPECT_EQ(Groups(*bot).List().status().code(), StatusCode::kPermissionDenied);
  ASSERT_TRUE(Groups(*admin).Create(Settings("audit-feed", "invoice-1")).ok());
  EXPECT_EQ(Groups(*bot).Delete("audit-feed").code(), StatusCode::kPermissionDenied);
  auto refused = Groups(*bot).Connect("audit-feed");
  EXPECT_EQ(refused.status().code(), StatusCode::kPermissionDenied);
  // The answer names the group the caller named, not its source stream (only admins list it).
  EXPECT_EQ(refused.status().message().find("invoice-1"), std::string::npos)
      << refused.status().message();
  auto anonymous = env.ClientWith("");
  EXPECT_EQ(Groups(*anonymous).Connect("audit-feed").status().code(), StatusCode::kUnauthenticated);
}

// A group that names its consumers: another principal with `subscribe` on the source (ci-bot on
// order-*) is refused, audited as a denial, and the answer names only the group. Through the CLI:
// create with --consumer, list shows the list, update --any-consumer opens it again.
TEST_F(GroupsTest, AGroupThatNamesItsConsumersRefusesOtherSubscribers) {
  auto cli = [&](std::vector<std::string> args, const std::string& token) {
    return Cli(std::move(args), token);
  };
  auto created = cli({"group", "create", "billing", "--stream", "$all", "--filter-prefix",
                      "order-", "--consumer", "apikey:admin"},
                     env.admin_key);
  ASSERT_EQ(created.exit_code, 0) << created.out << created.err;
  auto listed = cli({"group", "list", "--json"}, env.admin_key);
  EXPECT_NE(listed.out.find("\"allowed_consumers\":[\"apikey:admin\"]"), std::string::npos)
      << listed.out;
  AppendN(*admin, "order-1", 2, "OrderCreated");
  auto bot = env.ClientWith(env.bot_key);  // subscribe on order-*, not named
  auto refused = Groups(*bot).Connect("billing");
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(refused.status().message().find("admin"), std::string::npos) << refused.status().message();
  auto joined = cli({"group", "connect", "billing", "--json", "--count", "2"}, env.admin_key);
  ASSERT_EQ(joined.exit_code, 0) << joined.out << joined.err;
  EXPECT_EQ(std::count(joined.out.begin(), joined.out.end(), '\n'), 2) << joined.out;
  auto opened = cli({"group", "update", "billing", "--any-consumer"}, env.admin_key);
  ASSERT_EQ(opened.exit_code, 0) << opened.out << opened.err;
  AppendN(*admin, "order-1", 1, "OrderCreated");
  auto now_in = Groups(*bot).Connect("billing");
  ASSERT_TRUE(now_in.ok()) << now_in.status().ToString();
  EXPECT_TRUE((*now_in)->Close().ok());
  auto bad = cli({"group", "create", "x", "--stream", "$all", "--consumer", "billing"}, env.admin_key);
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.err.find("consumers"), std::string::npos) << bad.err;
}

// A caller who may not list groups cannot tell a missing group from one it may not join.
TEST_F(GroupsTest, AMissingGroupIsAnsweredAsDeniedToCallersWhoMayNotListGroups) {
  ASSERT_TRUE(Groups(*admin).Create(Settings("invoices", "invoice-1")).ok());
  auto bot = env.ClientWith(env.bot_key);
  auto existing = Groups(*bot).Connect("invoices");
  auto missing = Groups(*bot).Connect("invoicez");
  EXPECT_EQ(existing.status().code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(missing.status().code(), StatusCode::kPermissionDenied);
  std::string shape = missing.status().message();
  const size_t at = shape.find("invoicez");
  ASSERT_NE(at, std::string::npos) << shape;
  shape.replace(at, 8, "invoices");
  EXPECT_EQ(shape, existing.status().message());
  EXPECT_EQ(Groups(*admin).Connect("invoicez").status().code(), StatusCode::kNotFound);
}

TEST_F(GroupsTest, ASuccessfulJoinIsCountedAsAnAllowedSubscribe) {
  ASSERT_TRUE(Groups(*admin).Create(Settings("counted")).ok());
  auto allowed_subscribes = [&] {
    const std::string metrics = HttpGet(env.server().admin_port(), "/metrics");
    const std::string series = "cairn_calls_allowed_total{action=\"subscribe\"} ";
    const size_t at = metrics.find(series);
    return at == std::string::npos ? -1 : std::stol(metrics.substr(at + series.size()));
  };
  const long before = allowed_subscribes();
  ASSERT_GE(before, 0);
  auto stream = ConnectOrDie(*admin, "counted");
  ASSERT_NE(stream, nullptr);
  EXPECT_EQ(allowed_subscribes(), before + 1);
}

TEST_F(GroupsTest, UnauthenticatedConnectsCancelledAtOnceLeaveTheServerServing) {
  // A refused call that the client cancels before the refusal is sent: the server must finish it
  // once (gRPC aborts the process on a second Finish).
  auto anonymous = env.ClientWith("");
  auto stub = v1::PersistentSubscriptions::NewStub(anonymous->channel());
  for (int i = 0; i < 200; ++i) {
    grpc::ClientContext context;
    auto stream = stub->Connect(&context);
    context.TryCancel();
    v1::GroupServerMessage m;
    while (stream->Read(&m)) {
    }
    const grpc::StatusCode code = stream->Finish().error_code();
    EXPECT_TRUE(code == grpc::StatusCode::CANCELLED || code == grpc::StatusCode::UNAUTHENTICATED)
        << code;
  }
  auto info = admin->ServerInfo();
  EXPECT_TRUE(info.ok()) << info.status().ToString();
}

// A Connect that never sends its join holds an HTTP/2 stream and memory for nothing: it is
// cancelled QueuedBidiReactor::kFirstMessageMsMax (10 s) after its start. A consumer that joined
// stays however long it waits for events.
TEST_F(GroupsTest, AConnectThatNeverJoinsIsCancelledAndAJoinedOneStays) {
  ASSERT_TRUE(Groups(*admin).Create(Settings("patient")).ok());
  auto joined = ConnectOrDie(*admin, "patient");
  ASSERT_NE(joined, nullptr);
  auto stub = v1::PersistentSubscriptions::NewStub(admin->channel());
  grpc::ClientContext context;
  admin->PrepareContext(&context, 60000);
  const auto start = std::chrono::steady_clock::now();
  auto idle = stub->Connect(&context);  // and never a join
  v1::GroupServerMessage m;
  EXPECT_FALSE(idle->Read(&m)) << "the server sent something to a call that never joined";
  const auto waited = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(idle->Finish().error_code(), grpc::StatusCode::CANCELLED);
  EXPECT_GE(waited, std::chrono::milliseconds(9000)) << "cut before its 10 s";
  EXPECT_LT(waited, std::chrono::milliseconds(50000)) << "cut by the server, not the deadline";
  AppendN(*admin, "order-patient", 1);
  auto got = Take(*joined, 1);
  ASSERT_EQ(got.size(), 1u) << "the joined consumer, idle as long, still receives";
  EXPECT_TRUE(joined->Ack(AckIds(got)).ok());
}

TEST_F(GroupsTest, AConsumerWithoutReadPiiReceivesMaskedFields) {
  ASSERT_TRUE(Groups(*admin).Create(Settings("crm", "order-c1")).ok());
  v1::AppendRequest request;
  request.set_stream("order-c1");
  auto* e = request.add_events();
  e->set_type("CustomerRegistered");
  e->set_data(R"({"customerId":"alice","email":"alice@example.com"})");
  ASSERT_TRUE(admin->Append(request).ok());

  auto bot = env.ClientWith(env.bot_key);
  auto masked_stream = ConnectOrDie(*bot, "crm");
  ASSERT_NE(masked_stream, nullptr);
  auto masked = Take(*masked_stream, 1);
  ASSERT_EQ(masked.size(), 1u);
  EXPECT_EQ(masked[0].event().data().find("alice@example.com"), std::string::npos)
      << masked[0].event().data();
  ASSERT_EQ(masked[0].event().masked_size(), 1);
  EXPECT_EQ(masked[0].event().masked(0), "/email");
  ASSERT_TRUE(masked_stream->Nack({masked[0].ack_id()}, v1::NACK_RETRY, "").ok());
  ASSERT_TRUE(masked_stream->Close().ok());

  auto plain_stream = ConnectOrDie(*admin, "crm");  // admin has read.pii
  ASSERT_NE(plain_stream, nullptr);
  auto plain = Take(*plain_stream, 1);
  ASSERT_EQ(plain.size(), 1u);
  EXPECT_NE(plain[0].event().data().find("alice@example.com"), std::string::npos);
}

TEST_F(GroupsTest, TheCliCreatesConnectsParksAndReplays) {
  auto cli = [&](std::vector<std::string> args, const std::string& token) {
    return Cli(std::move(args), token);
  };
  auto created = cli({"group", "create", "jobs", "--stream", "$all", "--filter-prefix", "job-",
                      "--retry-limit", "3"}, env.admin_key);
  ASSERT_EQ(created.exit_code, 0) << created.out << created.err;
  auto refused = cli({"group", "create", "other", "--stream", "$all"}, env.bot_key);
  EXPECT_EQ(refused.exit_code, 1) << refused.out << refused.err;
  AppendN(*admin, "job-1", 2, "JobQueued");
  AppendN(*admin, "job-1", 1, "JobBroken");
  auto connected = cli({"group", "connect", "jobs", "--json", "--count", "3", "--nack-park-type",
                        "JobBroken"}, env.admin_key);
  ASSERT_EQ(connected.exit_code, 0) << connected.out << connected.err;
  EXPECT_EQ(std::count(connected.out.begin(), connected.out.end(), '\n'), 2) << connected.out;
  EXPECT_EQ(connected.out.find("JobBroken"), std::string::npos) << connected.out;
  auto listed = cli({"group", "list", "--json"}, env.admin_key);
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  EXPECT_NE(listed.out.find("\"parked\":1"), std::string::npos) << listed.out;
  auto replay = cli({"group", "replay-parked", "jobs"}, env.admin_key);
  ASSERT_EQ(replay.exit_code, 0) << replay.err;
  EXPECT_NE(replay.out.find("1 parked event"), std::string::npos) << replay.out;
  auto again = cli({"group", "connect", "jobs", "--json", "--count", "1"}, env.admin_key);
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.out.find("JobBroken"), std::string::npos) << again.out;
  auto deleted = cli({"group", "delete", "jobs"}, env.admin_key);
  ASSERT_EQ(deleted.exit_code, 0) << deleted.err;
  auto gone = cli({"group", "connect", "jobs", "--count", "1"}, env.admin_key);
  EXPECT_NE(gone.exit_code, 0);
}

// `cairn group connect` acks an event only once it is written out: with standard output on a
// full disk (/dev/full) it fails and the event is redelivered, not lost.
TEST_F(GroupsTest, TheCliNeverAcksAnEventItCouldNotWrite) {
  v1::GroupSettings settings = Settings("unwritten");
  ASSERT_TRUE(Groups(*admin).Create(settings).ok());
  AppendN(*admin, "order-u", 1, "OrderCreated");
  const std::string command = std::string(CAIRN_BIN) + " group connect unwritten --count 1 --server " +
                              env.server().target() + " --ca " + env.CaCert() + " --token " +
                              env.admin_key + " >/dev/full 2>/dev/null";
  const int status = std::system(command.c_str());
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 1) << "the write failure was not reported";
  auto stream = ConnectOrDie(*admin, "unwritten");
  ASSERT_NE(stream, nullptr);
  auto again = Take(*stream, 1);
  ASSERT_EQ(again.size(), 1u) << "the unwritten event was acked";
  // Nacked for a retry, then the CLI closed: 2, or 3 when the retry reached it before it closed.
  EXPECT_GE(again[0].attempt(), 2u);
}

}  // namespace
}  // namespace cairn::testing

namespace cairn::testing {
namespace CAIRN_UNITY_ID {

// The bot may subscribe to every type of order-*; a reload narrows that to OrderCancelled while
// its 1000 OrderCreated deliveries wait in its send queue (it does not read). What is still
// queued is taken back and goes to the next consumer, as a first attempt; without that, the bot
// would be sent them under the revoked grant (and they would stay with it until the ack timeout).
TEST_F(GroupsTest, APolicyReloadTakesBackQueuedDeliveriesOfTheRevokedType) {
  v1::GroupSettings s = Settings("revoked");
  s.set_max_in_flight(1000);
  s.set_ack_timeout_ms(600000);
  ASSERT_TRUE(Groups(*admin).Create(s).ok());
  AppendLargeEvents(*admin, "order-w", 1000);
  auto bot = env.ClientWith(env.bot_key);
  StalledConsumer stalled(*bot, env.bot_key, "revoked");
  auto held = WaitStatus(*admin, "revoked", [](const v1::GroupStatus& g) { return g.in_flight() == 1000; });
  ASSERT_TRUE(held.has_value());
  ASSERT_EQ(held->in_flight(), 1000u) << "every event handed to the bot";
  // The taker is connected (and ready) before the bot loses the type, so that what is withdrawn
  // has a consumer to go to instead of being parked.
  auto taker = ConnectOrDie(*admin, "revoked", 1000);
  ASSERT_NE(taker, nullptr);
  EXPECT_TRUE(Take(*taker, 1, 300).empty()) << "the bot holds every event";
  ASSERT_TRUE(env.NarrowBotSubscribeTo("OrderCancelled"));
  ASSERT_TRUE(admin->ReloadPolicy().ok());
  auto got = Take(*taker, 1000, 3000);
  EXPECT_GT(got.size(), 0u) << "nothing was taken back from the bot's queue";
  for (const v1::GroupEvent& e : got) EXPECT_EQ(e.attempt(), 1u) << e.event().position();
  auto after = StatusOf(*admin, "revoked");
  ASSERT_TRUE(after.has_value());
  EXPECT_EQ(after->withdrawn(), got.size());
  EXPECT_EQ(after->parked(), 0u);
  // The bot gets what its transport had taken before the reload, and nothing that was withdrawn:
  // together, every event once.
  stalled.call->WritesDone();
  EXPECT_TRUE(stalled.Drain().ok());
  const std::set<uint64_t> taken = Positions(got);
  for (uint64_t p : stalled.positions) EXPECT_EQ(taken.count(p), 0u) << p << " went to both";
  EXPECT_EQ(stalled.positions.size() + taken.size(), 1000u);
}

// A reload that revokes a consumer's read.pii takes back the deliveries queued for it with
// protected fields in clear, before they are sent; they are rendered again, masked. (Before,
// only a revoked type was taken back, and the consumer received its whole queue of plaintext
// after the reload.)
TEST_F(GroupsTest, APolicyReloadTakesBackQueuedPlaintextWhenReadPiiIsRevoked) {
  v1::GroupSettings s = Settings("pii", "order-pii");
  s.set_max_in_flight(1000);
  s.set_ack_timeout_ms(600000);
  ASSERT_TRUE(Groups(*admin).Create(s).ok());
  const int n = 300;
  const std::string pad(20000, 'x');
  for (int done = 0; done < n;) {
    v1::AppendRequest request;
    request.set_stream("order-pii");
    for (int i = 0; i < 50 && done < n; ++i, ++done) {
      auto* e = request.add_events();
      e->set_type("CustomerRegistered");
      e->set_data(R"({"customerId":"c)" + std::to_string(done) + R"(","email":"c)" +
                  std::to_string(done) + R"(@example.com","pad":")" + pad + R"("})");
    }
    ASSERT_TRUE(admin->Append(request).ok());
  }
  StalledConsumer stalled(*admin, env.admin_key, "pii");  // admin has read.pii, for now
  auto held = WaitStatus(*admin, "pii", [&](const v1::GroupStatus& g) { return g.in_flight() == n; });
  ASSERT_TRUE(held.has_value());
  ASSERT_EQ(held->in_flight(), static_cast<uint32_t>(n));
  std::string policy = ReadFile(env.PolicyPath());
  const size_t at = policy.find(R"("read.pii", )");
  ASSERT_NE(at, std::string::npos);
  WriteFile(env.PolicyPath(), policy.erase(at, 12));
  ASSERT_TRUE(admin->ReloadPolicy().ok());
  auto after = WaitStatus(*admin, "pii", [](const v1::GroupStatus& g) { return g.withdrawn() > 0; });
  ASSERT_TRUE(after.has_value());
  const uint64_t withdrawn = after->withdrawn();
  EXPECT_GT(withdrawn, 0u) << "nothing was taken back: the queued plaintext will be sent";
  stalled.call->WritesDone();
  size_t plaintext = 0, masked = 0;
  v1::GroupServerMessage m;
  while (stalled.call->Read(&m)) {
    if (!m.has_event()) continue;
    if (m.event().event().data().find("@example.com") != std::string::npos) ++plaintext;
    if (m.event().event().masked_size() > 0) ++masked;
  }
  stalled.call->Finish();
  // What the transport had taken before the reload (and the first event, read on joining) went
  // out in clear; nothing taken back did.
  EXPECT_LE(1 + plaintext + withdrawn, static_cast<size_t>(n)) << "masked: " << masked;
}

// A consumer that stops reading (limits.write_stall_ms_max = ack timeout = 1 s here) is dropped
// from its group: its slot is free, its deliveries go to another consumer, and its call ends.
TEST(GroupStallTest, AConsumerThatStopsReadingLeavesItsGroupAndItsCallEnds) {
  ServerEnv env;
  env.extra_config = "[limits]\nwrite_stall_ms_max = 1000\n";
  ASSERT_TRUE(env.Start()) << env.server().output();
  auto admin = env.ClientWith(env.admin_key);
  v1::GroupSettings s = Settings("stall");
  s.set_max_in_flight(1000);
  s.set_ack_timeout_ms(1000);  // the stall bound is the larger of the two
  ASSERT_TRUE(Groups(*admin).Create(s).ok());
  AppendLargeEvents(*admin, "order-s", 1000);
  StalledConsumer stalled(*admin, env.admin_key, "stall");
  auto left = WaitStatus(*admin, "stall", [](const v1::GroupStatus& g) { return g.consumers() == 0; });
  ASSERT_TRUE(left.has_value());
  EXPECT_EQ(left->consumers(), 0u) << "the stalled consumer still holds its slot";
  auto stream = Groups(*admin).Connect("stall", 1000);
  ASSERT_TRUE(stream.ok()) << stream.status().ToString();
  std::set<uint64_t> got;
  while (got.size() < 1000) {
    auto batch = Take(**stream, 100, 3000);
    if (batch.empty()) break;
    for (const auto& e : batch) got.insert(e.event().position());
    ASSERT_TRUE((*stream)->Ack(AckIds(batch)).ok());  // or the 1 s ack timeout redelivers them
  }
  EXPECT_EQ(got.size(), 1000u) << "its deliveries went to the next one";
  auto counted = StatusOf(*admin, "stall");
  ASSERT_TRUE(counted.has_value());
  EXPECT_EQ(counted->stalled(), 1u);
  const grpc::Status ended = stalled.Drain();
  EXPECT_TRUE(ended.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED ||
              ended.error_code() == grpc::StatusCode::CANCELLED)
      << ended.error_code() << " " << ended.error_message();
}

// A member that a group update no longer names is dropped at the group's next round, its call
// ends PERMISSION_DENIED, and the end is audited once as a denial of `subscribe` on the group's
// source with rule "group-consumers" (the policy still allows it: the group decided).
TEST(GroupsAuditTest, AMemberAnUpdateNoLongerNamesEndsAndIsAuditedOnce) {
  ServerEnv env;
  env.audit_enabled = true;
  ASSERT_TRUE(env.Start()) << env.server().output();
  auto admin = env.ClientWith(env.admin_key);
  auto bot = env.ClientWith(env.bot_key);
  v1::GroupSettings named = Settings("named", "order-g");
  named.add_consumers("apikey:ci-bot");
  ASSERT_TRUE(Groups(*admin).Create(named).ok());
  auto stream = Groups(*bot).Connect("named");
  ASSERT_TRUE(stream.ok()) << stream.status().ToString();

  named.clear_consumers();
  named.add_consumers("apikey:admin");
  ASSERT_TRUE(Groups(*admin).Update(named).ok());
  Status ended = Status::Ok();
  for (int i = 0; i < 20 && ended.ok(); ++i) {
    auto next = (*stream)->Next(500);
    if (!next.ok()) ended = next.status();
  }
  EXPECT_EQ(ended.code(), StatusCode::kPermissionDenied) << ended.ToString();
  EXPECT_TRUE(WaitForTrailRecord(*admin, "$access.denied", "group-consumers"));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // no second record follows
  EXPECT_EQ(TrailRecords(*admin, "$access.denied", "group-consumers"), 1u);
}

}  // namespace
}  // namespace cairn::testing
