// Field protection end to end through the real server: readers with read.pii see plaintext,
// others the mask, everyone the erased value after `forget` (also after a restart); the log still
// verifies; the raw data directory never holds a protected value in the clear.
#include <gtest/gtest.h>

#include "protect_rules.h"
#include "server_env.h"

namespace cairn::testing {
namespace CAIRN_UNITY_ID {

constexpr char kRules[] = R"(
[[rule]]
event_type = "CustomerRegistered"
subject = "/customerId"
fields = ["/email", "/name"]

[[rule]]
event_type = "NoteAdded"
subject = "$subject"
fields = ["/text"]
)";

// Roles of the test policy (ServerEnv): admin has read.pii; reader has only read on order-*.
v1::AppendRequest Customer(const std::string& stream, const std::string& id,
                           const std::string& email) {
  v1::AppendRequest request;
  request.set_stream(stream);
  auto* e = request.add_events();
  e->set_type("CustomerRegistered");
  e->set_data(R"({"customerId":")" + id + R"(","email":")" + email +
              R"(","name":"Name of )" + id + R"(","plan":"gold"})");
  return request;
}

std::vector<v1::RecordedEvent> ReadStream(Client& client, const std::string& stream,
                                          Status* status) {
  std::vector<v1::RecordedEvent> events;
  v1::ReadRequest request;
  request.set_stream(stream);
  *status = client.Read(request, [&](const v1::ReadResponse& chunk) {
    for (const auto& e : chunk.events()) events.push_back(e);
    return true;
  });
  return events;
}

class ServerProtectTest : public ::testing::Test {
 protected:
  void SetUp() override {
    env.extra_config = ProtectRulesConfig(env, kRules);
    ASSERT_TRUE(env.Start()) << env.server().output();
    admin = env.ClientWith(env.admin_key);
  }
  ServerEnv env;
  std::unique_ptr<Client> admin;
};

TEST_F(ServerProtectTest, PiiReadersSeePlaintextOthersTheMaskAndForgetErasesForEveryone) {
  ASSERT_TRUE(admin->Append(Customer("order-c1", "alice", "alice@example.com")).ok());
  ASSERT_TRUE(admin->Append(Customer("order-c2", "bob", "bob@example.com")).ok());
  Status s;
  auto plain = ReadStream(*admin, "order-c1", &s);
  ASSERT_TRUE(s.ok()) << s.ToString();
  ASSERT_EQ(plain.size(), 1u);
  EXPECT_NE(plain[0].data().find("alice@example.com"), std::string::npos) << plain[0].data();
  EXPECT_EQ(plain[0].masked_size(), 0);

  auto reader = env.ClientWith(env.TokenA("EdDSA", "reader"));  // no read.pii
  ASSERT_TRUE(admin->Append(Customer("order-c3", "carol", "carol@example.com")).ok());
  auto masked = ReadStream(*reader, "order-c1", &s);
  ASSERT_TRUE(s.ok()) << s.ToString();
  ASSERT_EQ(masked.size(), 0u) << "reader has no grant for CustomerRegistered";

  // forget alice: erased for everyone, bob untouched.
  auto forgot = admin->Forget("alice");
  ASSERT_TRUE(forgot.ok()) << forgot.status().ToString();
  EXPECT_GE(forgot->versions_destroyed(), 1u);
  EXPECT_FALSE(forgot->purge_pending());  // RocksDB purges before it answers
  auto erased = ReadStream(*admin, "order-c1", &s);
  ASSERT_TRUE(s.ok()) << s.ToString();
  ASSERT_EQ(erased.size(), 1u);
  EXPECT_EQ(erased[0].data().find("alice@example.com"), std::string::npos);
  EXPECT_EQ(erased[0].erased_size(), 2);
  auto bob = ReadStream(*admin, "order-c2", &s);
  ASSERT_EQ(bob.size(), 1u);
  EXPECT_NE(bob[0].data().find("bob@example.com"), std::string::npos);

  // After a restart the erasure holds and the log verifies offline.
  ASSERT_EQ(env.server().Stop(), 0);
  auto verify = RunCairn({"verify", "--data-dir", env.DataDir()});
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
  ASSERT_TRUE(env.Start()) << env.server().output();
  admin = env.ClientWith(env.admin_key);
  auto after = ReadStream(*admin, "order-c1", &s);
  ASSERT_TRUE(s.ok()) << s.ToString();
  ASSERT_EQ(after.size(), 1u);
  EXPECT_EQ(after[0].erased_size(), 2);
  // No protected value (nor the forgotten one) in the clear anywhere in the data directory.
  for (const auto& file : ListFiles(env.DataDir(), "")) {
    const std::string bytes = ReadFile(file);
    EXPECT_EQ(bytes.find("alice@example.com"), std::string::npos) << file;
    EXPECT_EQ(bytes.find("bob@example.com"), std::string::npos) << file;
  }
}

TEST_F(ServerProtectTest, ReaderWithoutReadPiiSeesTheMask) {
  // A policy where `reader` may read customers but has no read.pii.
  WriteFile(env.PolicyPath(), ReadFile(env.PolicyPath()) + R"(
[[role]]
name = "customer-reader"
grants = [ { actions = ["read"], streams = ["cust-*"], event_types = ["*"] } ]
[[binding]]
principal = "jwt:support"
roles = ["customer-reader"]
)");
  ASSERT_TRUE(admin->ReloadPolicy().ok());
  ASSERT_TRUE(admin->Append(Customer("cust-1", "dave", "dave@example.com")).ok());
  Status s;
  auto events = ReadStream(*env.ClientWith(env.TokenA("ES256", "support")), "cust-1", &s);
  ASSERT_TRUE(s.ok()) << s.ToString();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].data().find("dave@example.com"), std::string::npos) << events[0].data();
  EXPECT_NE(events[0].data().find("\"***\""), std::string::npos) << events[0].data();
  EXPECT_EQ(events[0].masked_size(), 2);
  EXPECT_NE(events[0].data().find("\"plan\":\"gold\""), std::string::npos);
}

TEST_F(ServerProtectTest, ProtectedTypeWithoutSubjectIsRejectedAndWritesNothing) {
  v1::AppendRequest request;
  request.set_stream("order-x");
  auto* ok = request.add_events();
  ok->set_type("OrderCreated");
  ok->set_data("{}");
  auto* bad = request.add_events();
  bad->set_type("CustomerRegistered");
  bad->set_data(R"({"email":"eve@example.com"})");  // no /customerId
  auto result = admin->Append(request);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(result.status().message().find("eve@example.com"), std::string::npos);
  EXPECT_EQ(admin->ServerInfo().value().tree_size(), 0u);
  // "$subject" rules take the append's subject attribute.
  v1::AppendRequest note;
  note.set_stream("order-n");
  auto* e = note.add_events();
  e->set_type("NoteAdded");
  e->set_data(R"({"text":"call me"})");
  EXPECT_EQ(admin->Append(note).status().code(), StatusCode::kInvalidArgument);
  e->set_subject("frank");
  EXPECT_TRUE(admin->Append(note).ok());
}

// `cairn bench append --payload customer` (bench/protect_net_bench.sh) writes events that the rules
// protect: 256-byte CustomerRegistered events whose /email and /name a reader without read.pii
// sees masked — so the benchmark measures protected appends, not plain ones.
TEST_F(ServerProtectTest, TheBenchmarksCustomerPayloadIsProtected) {
  WriteFile(env.PolicyPath(), ReadFile(env.PolicyPath()) + R"(
[[role]]
name = "bench-reader"
grants = [ { actions = ["read"], streams = ["bench-*"], event_types = ["*"] } ]
[[binding]]
principal = "jwt:support"
roles = ["bench-reader"]
)");
  ASSERT_TRUE(admin->ReloadPolicy().ok());
  auto bench = RunCairn({"bench", "append", "--server", env.server().target(), "--ca",
                         env.CaCert(), "--token", env.admin_key, "--payload", "customer",
                         "--clients", "1", "--batch", "10", "--events", "20", "--duration", "30",
                         "--json"});
  ASSERT_EQ(bench.exit_code, 0) << bench.out << bench.err;
  EXPECT_NE(bench.out.find("\"events\":20"), std::string::npos) << bench.out;

  auto read_all = [&](Client& client, Status* status) {
    std::vector<v1::RecordedEvent> events;
    *status = client.ReadAll(v1::ReadAllRequest(), [&](const v1::ReadResponse& chunk) {
      for (const auto& e : chunk.events()) {
        if (e.stream().rfind("bench-", 0) == 0) events.push_back(e);
      }
      return true;
    });
    return events;
  };
  Status s;
  auto plain = read_all(*admin, &s);
  ASSERT_TRUE(s.ok()) << s.ToString();
  ASSERT_EQ(plain.size(), 20u);
  for (size_t i = 0; i < plain.size(); ++i) {
    EXPECT_EQ(plain[i].type(), "CustomerRegistered");
    EXPECT_EQ(plain[i].data().size(), 256u) << plain[i].data();
    EXPECT_NE(plain[i].data().find("\"email\":\"customer" + std::to_string(i) + "@example.com\""),
              std::string::npos)
        << plain[i].data();
    EXPECT_EQ(plain[i].masked_size(), 0);
  }
  auto masked = read_all(*env.ClientWith(env.TokenA("ES256", "support")), &s);
  ASSERT_TRUE(s.ok()) << s.ToString();
  ASSERT_EQ(masked.size(), 20u);
  for (const auto& e : masked) {
    EXPECT_EQ(e.data().find("@example.com"), std::string::npos) << e.data();
    EXPECT_EQ(e.masked_size(), 2) << e.data();
  }
}

}  // namespace
}  // namespace cairn::testing

namespace cairn::testing {
namespace CAIRN_UNITY_ID {

// The production layout: the server's configuration (with [protect]) lives outside the data
// directory. An offline `cairn append` reads DIR/cairn.toml (or none) and so not the rules: it is
// refused, naming the fix; with CAIRN_CONFIG pointing at the server's configuration it appends,
// protected.
TEST_F(ServerProtectTest, AnOfflineAppendWithoutTheServersRulesIsRefused) {
  ASSERT_EQ(env.server().Stop(), 0) << env.server().output();
  const std::vector<std::string> append = {
      "append", "order-off", "--type", "CustomerRegistered", "--data-dir", env.DataDir(), "--data",
      R"({"customerId":"dave","email":"dave@example.com","name":"Dave"})"};
  const CommandResult refused = RunCairn(append);
  EXPECT_EQ(refused.exit_code, 1) << refused.out << refused.err;
  EXPECT_NE(refused.err.find("other protection rules"), std::string::npos) << refused.err;
  EXPECT_NE(refused.err.find("CAIRN_CONFIG"), std::string::npos) << refused.err;
  EXPECT_EQ(refused.err.find("dave@example.com"), std::string::npos) << refused.err;

  ::setenv("CAIRN_CONFIG", env.ConfigPath().c_str(), 1);
  const CommandResult accepted = RunCairn(append);
  const CommandResult stored = RunCairn({"read-all", "--json", "--limit", "0", "--data-dir", env.DataDir()});
  ::unsetenv("CAIRN_CONFIG");
  ASSERT_EQ(accepted.exit_code, 0) << accepted.out << accepted.err;
  ASSERT_EQ(stored.exit_code, 0) << stored.err;
  EXPECT_NE(stored.out.find("order-off"), std::string::npos) << stored.out;

  ASSERT_TRUE(env.Start()) << env.server().output();
  admin = env.ClientWith(env.admin_key);
  Client* reader = admin.get();
  Status s;
  auto events = ReadStream(*reader, "order-off", &s);
  ASSERT_TRUE(s.ok()) << s.ToString();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_NE(events[0].data().find("dave@example.com"), std::string::npos) << "read.pii reveals it";
  // Protected, not in the clear: erasing the subject erases it.
  ASSERT_TRUE(admin->Forget("dave").ok());
  events = ReadStream(*reader, "order-off", &s);
  ASSERT_TRUE(s.ok()) << s.ToString();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].data().find("dave@example.com"), std::string::npos) << events[0].data();
  EXPECT_EQ(events[0].erased_size(), 2) << events[0].data();
}

}  // namespace CAIRN_UNITY_ID
}  // namespace cairn::testing

namespace cairn::testing {
namespace CAIRN_UNITY_ID {

// `cairn forget @-` reads the subject from stdin, so that it never shows in the process list.
TEST_F(ServerProtectTest, ForgetReadsTheSubjectFromStdin) {
  ASSERT_TRUE(admin->Append(Customer("order-in", "erin", "erin@example.com")).ok());
  ASSERT_EQ(env.server().Stop(), 0) << env.server().output();
  ::setenv("CAIRN_CONFIG", env.ConfigPath().c_str(), 1);
  const CommandResult forgot = RunCairn({"forget", "--json", "--data-dir", env.DataDir(), "@-"}, "erin\n");
  const CommandResult empty = RunCairn({"forget", "--data-dir", env.DataDir(), "@-"}, "\n");
  ::unsetenv("CAIRN_CONFIG");
  ASSERT_EQ(forgot.exit_code, 0) << forgot.out << forgot.err;
  EXPECT_NE(forgot.out.find("\"versions_destroyed\":1"), std::string::npos) << forgot.out;
  EXPECT_EQ(empty.exit_code, 2) << empty.err;
  ASSERT_TRUE(env.Start()) << env.server().output();
  admin = env.ClientWith(env.admin_key);
  Status s;
  auto events = ReadStream(*admin, "order-in", &s);
  ASSERT_TRUE(s.ok()) << s.ToString();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].data().find("erin@example.com"), std::string::npos) << events[0].data();
}

}  // namespace CAIRN_UNITY_ID
}  // namespace cairn::testing
