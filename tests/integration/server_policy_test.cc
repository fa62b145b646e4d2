// Authorization against the real server: per event type, per stream, deny wins, reads filter,
// policy reloads (Admin.ReloadPolicy and SIGHUP) take effect for the next call.
#include <signal.h>

#include <gtest/gtest.h>

#include <thread>

#include "cairn/v1/common.pb.h"
#include "server_env.h"

namespace cairn::testing {
namespace CAIRN_UNITY_ID {

v1::AppendRequest Events(const std::string& stream, const std::vector<std::string>& types) {
  v1::AppendRequest request;
  request.set_stream(stream);
  for (const auto& type : types) {
    auto* event = request.add_events();
    event->set_type(type);
    event->set_data(R"({"amount":10})");
  }
  return request;
}

class ServerPolicyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(env.Start()) << env.server().output();
    admin = env.ClientWith(env.admin_key);
    bot = env.ClientWith(env.bot_key);
  }
  uint64_t StreamEvents(const std::string& stream) {
    auto info = admin->GetStreamInfo(stream);
    EXPECT_TRUE(info.ok()) << info.status().ToString();
    return info.ok() ? info->event_count() : 0;
  }
  uint64_t TreeSize() { return admin->ServerInfo().value().tree_size(); }

  ServerEnv env;
  std::unique_ptr<Client> admin, bot;
};

void ExpectDenied(const Result<v1::AppendResponse>& result, const std::string& what) {
  ASSERT_FALSE(result.ok()) << what;
  EXPECT_EQ(result.status().code(), StatusCode::kPermissionDenied) << what;
  EXPECT_EQ(result.status().message().find("role:"), std::string::npos)
      << "a denial must not reveal policy internals: " << result.status().message();
}

TEST_F(ServerPolicyTest, AppendIsLimitedToGrantedTypesAndStreams) {
  ASSERT_TRUE(bot->Append(Events("order-1", {"OrderCreated"})).ok());
  const uint64_t size = TreeSize();
  ExpectDenied(bot->Append(Events("order-1", {"RefundIssued"})), "RefundIssued to order-1");
  ExpectDenied(bot->Append(Events("payment-1", {"OrderCreated"})), "anything to payment-1");
  ExpectDenied(bot->Append(Events("order-1", {"OrderCreated", "RefundIssued", "OrderCancelled"})),
               "a batch with one denied type");
  EXPECT_EQ(TreeSize(), size) << "a denied append wrote something";
  EXPECT_EQ(StreamEvents("order-1"), 1u);
}

TEST_F(ServerPolicyTest, DenialNamesActionStreamAndTypeInDetails) {
  auto result = bot->Append(Events("order-1", {"RefundIssued"}));
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.status().message().find("append"), std::string::npos);
  EXPECT_NE(result.status().message().find("order-1"), std::string::npos);
  EXPECT_NE(result.status().message().find("RefundIssued"), std::string::npos);
}

TEST_F(ServerPolicyTest, DenyBeatsAllow) {
  // order-archive-1 matches the grant "order-*" and the deny "order-archive-*".
  ExpectDenied(bot->Append(Events("order-archive-1", {"OrderCreated"})), "order-archive-1");
  EXPECT_EQ(TreeSize(), 0u);
}

TEST_F(ServerPolicyTest, ReaderWithoutGrantForATypeReadsTheStreamWithoutThoseEvents) {
  ASSERT_TRUE(admin->Append(Events("order-1", {"OrderCreated", "RefundIssued", "OrderCancelled"})).ok());
  auto reader = env.ClientWith(env.TokenA("EdDSA", "reader"));
  v1::ReadRequest request;
  request.set_stream("order-1");
  std::vector<std::string> types;
  uint64_t filtered = 0;
  Status s = reader->Read(request, [&](const v1::ReadResponse& chunk) {
    for (const auto& e : chunk.events()) types.push_back(e.type());
    filtered += chunk.filtered_events();
    return true;
  });
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(types, (std::vector<std::string>{"OrderCreated", "OrderCancelled"}));
  EXPECT_EQ(filtered, 1u);
  // ReadAll filters the same way.
  types.clear();
  filtered = 0;
  s = reader->ReadAll(v1::ReadAllRequest(), [&](const v1::ReadResponse& chunk) {
    for (const auto& e : chunk.events()) types.push_back(e.type());
    filtered += chunk.filtered_events();
    return true;
  });
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(types, (std::vector<std::string>{"OrderCreated", "OrderCancelled"}));
  EXPECT_EQ(filtered, 1u);
  // A caller with no read grant at all may not read the whole log either (it would learn the
  // log's size and how much it may not see); the denial names only the action and "$all".
  auto nobody = env.ClientWith(env.TokenA("EdDSA", "nobody", "[]"));
  s = nobody->ReadAll(v1::ReadAllRequest(), [](const v1::ReadResponse&) { return true; });
  EXPECT_EQ(s.code(), StatusCode::kPermissionDenied) << s.ToString();
  EXPECT_NE(s.message().find("$all"), std::string::npos) << s.message();
  // And a stream it has no grant on at all is denied.
  v1::ReadRequest other;
  other.set_stream("payment-1");
  s = reader->Read(other, [](const v1::ReadResponse&) { return true; });
  EXPECT_EQ(s.code(), StatusCode::kPermissionDenied);
}

TEST_F(ServerPolicyTest, LargeEventsAreReadInChunksThatFitTheMessageLimit) {
  const std::string big = "{\"pad\":\"" + std::string(1000 * 1000, 'x') + "\"}";
  for (int i = 0; i < 5; ++i) {
    v1::AppendRequest request;
    request.set_stream("order-big");
    request.add_events()->set_type("OrderCreated");
    request.mutable_events(0)->set_data(big);
    auto appended = admin->Append(request);
    ASSERT_TRUE(appended.ok()) << appended.status().ToString();
  }
  v1::ReadRequest request;
  request.set_stream("order-big");
  uint64_t events = 0;
  Status s = admin->Read(request, [&](const v1::ReadResponse& chunk) {
    for (const auto& e : chunk.events()) events += e.data() == big;
    return true;
  });
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(events, 5u);
}

// A forward Read ends at the log's end as of its start (as ReadAll does): events appended while
// it runs are for the next read, which the policy of its own time judges. Large events keep the
// server's loop waiting on flow control while the append happens.
TEST_F(ServerPolicyTest, AForwardReadEndsAtTheLogsEndAsOfItsStart) {
  const std::string big = "{\"pad\":\"" + std::string(1000 * 1000, 'x') + "\"}";
  constexpr uint64_t kBig = 24;
  for (uint64_t i = 0; i < kBig; ++i) {
    v1::AppendRequest request = Events("order-grow", {"OrderCreated"});
    request.mutable_events(0)->set_data(big);
    ASSERT_TRUE(admin->Append(request).ok());
  }
  v1::ReadRequest request;
  request.set_stream("order-grow");
  uint64_t events = 0;
  bool appended = false;
  Status s = admin->Read(request, [&](const v1::ReadResponse& chunk) {
    events += static_cast<uint64_t>(chunk.events_size());
    if (!appended) {
      appended = admin->Append(Events("order-grow", {"OrderCreated", "OrderCreated"})).ok();
    }
    return true;
  });
  ASSERT_TRUE(s.ok()) << s.ToString();
  ASSERT_TRUE(appended);
  EXPECT_EQ(events, kBig);
  EXPECT_EQ(StreamEvents("order-grow"), kBig + 2);
}

// The count of an append is checked before any per-event work (a 4 MiB request of empty events
// holds ~2 million): one over the limit is RESOURCE_EXHAUSTED once the first event's type is
// allowed (the others are not looked at), and nothing is written.
TEST_F(ServerPolicyTest, AnAppendOverTheEventCountIsRefusedBeforeAnyPerEventWork) {
  std::vector<std::string> types(1001, "OrderCreated");
  types[1] = "RefundIssued";  // denied for the bot: not looked at
  auto result = bot->Append(Events("order-1", types));
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), StatusCode::kResourceExhausted) << result.status().ToString();
  EXPECT_NE(result.status().message().find("exceeds the limit of 1000"), std::string::npos);
  EXPECT_EQ(TreeSize(), 0u);
  EXPECT_TRUE(bot->Append(Events("order-1", std::vector<std::string>(1000, "OrderCreated"))).ok());
  // A caller that may not append to the stream at all is denied as such, also over the count.
  ExpectDenied(bot->Append(Events("payment-1", std::vector<std::string>(1001, "OrderCreated"))),
               "1001 events to payment-1");
}

// A long read ends when its credential does: a token admitted within the leeway (expired 5 s
// ago) gets its first page, then UNAUTHENTICATED, on Read and on ReadAll.
TEST_F(ServerPolicyTest, AReadThatOutlivesItsTokenEndsAfterItsFirstPage) {
  for (int i = 0; i < 2; ++i) {
    v1::AppendRequest request = Events("order-long", std::vector<std::string>(1000, "OrderCreated"));
    ASSERT_TRUE(admin->Append(request).ok());
  }
  auto expired = env.ClientWith(env.TokenA("EdDSA", "short-lived", "[\"admin\"]", -5));
  const auto count = [](uint64_t* events) {
    return [events](const v1::ReadResponse& chunk) {
      *events += static_cast<uint64_t>(chunk.events_size());
      return true;
    };
  };
  v1::ReadRequest stream;
  stream.set_stream("order-long");
  uint64_t events = 0;
  Status s = expired->Read(stream, count(&events));
  EXPECT_EQ(s.code(), StatusCode::kUnauthenticated) << s.ToString();
  EXPECT_GT(events, 0u);
  EXPECT_LT(events, 2000u);
  events = 0;
  s = expired->ReadAll(v1::ReadAllRequest(), count(&events));
  EXPECT_EQ(s.code(), StatusCode::kUnauthenticated) << s.ToString();
  EXPECT_GT(events, 0u);
  EXPECT_LT(events, 2000u);
  events = 0;
  s = admin->Read(stream, count(&events));
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(events, 2000u);
}

TEST_F(ServerPolicyTest, CliSaysHowManyEventsAReadLeftOut) {
  ASSERT_TRUE(admin->Append(Events("order-1", {"OrderCreated", "RefundIssued"})).ok());
  auto read = RunCairn({"read", "order-1", "--server", env.server().target(), "--ca",
                        env.CaCert(), "--token", env.TokenA("ES256", "reader")});
  EXPECT_EQ(read.exit_code, 0) << read.err;
  EXPECT_NE(read.out.find("OrderCreated"), std::string::npos) << read.out;
  EXPECT_EQ(read.out.find("RefundIssued"), std::string::npos) << read.out;
  EXPECT_NE(read.err.find("1 event(s) not shown"), std::string::npos) << read.err;
}

// A page the reader may see nothing of is not the end of the stream: with pages of 5, the ten
// hidden events ahead of the readable one are paged past (the CLI stopped at the first page).
// And a read-all over the network that cannot log in fails; it printed nothing and exited 0.
TEST_F(ServerPolicyTest, CliReadsPastWhollyHiddenPagesAndFailsOnABadLogin) {
  ASSERT_TRUE(admin->Append(Events("order-2", std::vector<std::string>(10, "RefundIssued"))).ok());
  ASSERT_TRUE(admin->Append(Events("order-2", {"OrderCreated"})).ok());
  const std::vector<std::string> conn = {"--server", env.server().target(), "--ca", env.CaCert()};
  std::vector<std::string> args = {"read", "order-2", "--limit", "5"};
  args.insert(args.end(), conn.begin(), conn.end());
  args.insert(args.end(), {"--token", env.TokenA("ES256", "reader")});
  auto read = RunCairn(args);
  EXPECT_EQ(read.exit_code, 0) << read.err;
  EXPECT_NE(read.out.find("OrderCreated"), std::string::npos) << read.out << read.err;
  EXPECT_NE(read.err.find("10 event(s) not shown"), std::string::npos) << read.err;

  std::vector<std::string> all = {"read-all"};
  all.insert(all.end(), conn.begin(), conn.end());
  all.insert(all.end(), {"--token", "cairn_nobody_" + std::string(43, 'A')});
  auto refused = RunCairn(all);
  EXPECT_EQ(refused.exit_code, 1) << refused.out << refused.err;
  EXPECT_NE(refused.err.find("invalid"), std::string::npos) << refused.err;
  EXPECT_TRUE(refused.out.empty()) << refused.out;
}

TEST_F(ServerPolicyTest, WrongExpectedVersionCarriesTheCurrentVersion) {
  ASSERT_TRUE(admin->Append(Events("order-7", {"OrderCreated", "OrderCreated"})).ok());
  auto request = Events("order-7", {"OrderCreated"});
  request.mutable_expected()->set_kind(v1::ExpectedVersion::EXACT);
  request.mutable_expected()->set_version(0);
  auto result = admin->Append(request);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), StatusCode::kWrongExpectedVersion);
  ASSERT_TRUE(result.status().detail().has_value());
  EXPECT_EQ(*result.status().detail(), 1);
}

const char kPolicyWithRefunds[] = R"(
[[role]]
name = "admin"
grants = [ { actions = ["append", "read", "proof", "admin"], streams = ["*", "$*"], event_types = ["*"] } ]
[[role]]
name = "order-service"
grants = [ { actions = ["append"], streams = ["order-*"], event_types = ["OrderCreated", "RefundIssued"] } ]
[[binding]]
principal = "apikey:admin"
roles = ["admin"]
[[binding]]
principal = "apikey:ci-bot"
roles = ["order-service"]
)";

TEST_F(ServerPolicyTest, ReloadTakesEffectForTheNextCall) {
  ExpectDenied(bot->Append(Events("order-1", {"RefundIssued"})), "before reload");
  WriteFile(env.PolicyPath(), kPolicyWithRefunds);
  auto denied_reload = bot->ReloadPolicy();
  EXPECT_EQ(denied_reload.status().code(), StatusCode::kPermissionDenied);
  auto reloaded = admin->ReloadPolicy();
  ASSERT_TRUE(reloaded.ok()) << reloaded.status().ToString();
  EXPECT_TRUE(bot->Append(Events("order-1", {"RefundIssued"})).ok());
}

TEST_F(ServerPolicyTest, InvalidPolicyIsRejectedAndTheOldOneStays) {
  WriteFile(env.PolicyPath(), "[[role]]\nname = \"x\"\ngrants = [ { actions = [\"fly\"] } ]\n");
  auto reloaded = admin->ReloadPolicy();
  ASSERT_FALSE(reloaded.ok());
  EXPECT_EQ(reloaded.status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(bot->Append(Events("order-1", {"OrderCreated"})).ok()) << "old policy lost";
  ExpectDenied(bot->Append(Events("order-1", {"RefundIssued"})), "old policy still denies");
}

TEST_F(ServerPolicyTest, SighupReloadsThePolicy) {
  WriteFile(env.PolicyPath(), kPolicyWithRefunds);
  const uint64_t generation = admin->ServerInfo().value().policy_generation();
  env.server().Signal(SIGHUP);
  for (int i = 0; i < 100 && admin->ServerInfo().value().policy_generation() == generation; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_GT(admin->ServerInfo().value().policy_generation(), generation);
  EXPECT_TRUE(bot->Append(Events("order-1", {"RefundIssued"})).ok());
  // An admin act like the RPC: its audit record (here as the log line every record makes).
  bool audited = false;
  for (int i = 0; i < 100 && !audited; ++i) {
    const std::string out = env.server().output();
    audited = out.find("\"message\":\"admin act\",\"event.action\":\"policy.reload\"") !=
              std::string::npos;
    if (!audited) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(audited) << env.server().output();
}

}  // namespace
}  // namespace cairn::testing
